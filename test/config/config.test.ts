// Configuration from the environment: defaults, every variable, every problem reported at once
// with the variable's name and what is valid, misspellings caught with a suggestion, the OTEL_*
// rules (endpoint, METRICS_ overrides, URL-decoded key=value lists), and a property test:
// any environment gives a Config or a ConfigError, never another exception.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COLLECTOR_NAMES,
  ConfigError,
  loadConfig,
  parseKeyValues,
  parseListenAddress,
  VARIABLES,
  type Config,
} from '../../src/config/config.js';
import { runs } from '../support/property.js';

function configError(env: NodeJS.ProcessEnv): ConfigError {
  let thrown: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  expect((thrown as ConfigError).code).toBe('ERR_CONFIG');
  return thrown as ConfigError;
}

const DEFAULT_FLOW: Config['flow'] = {
  intervalMs: 30000,
  maxFlowsPerPass: 50000,
  seriesBudget: 300,
  topK: 10,
  skipAboveUsage: 0,
  enableAccounting: false,
  podAttribution: false,
  addresses: { mode: 'full' },
};

const DEFAULTS: Config = {
  listen: { host: undefined, port: 9469 },
  metricsPath: '/metrics',
  webConfigFile: undefined,
  http: { maxConnections: 64, headersTimeoutMs: 10000, idleTimeoutMs: 65000 },
  ignoredVariables: [],
  logLevel: 'info',
  collectors: ['table', 'cpu_stats', 'expect_stats', 'sysctl', 'flows'],
  source: 'auto',
  procPath: '/proc',
  netlinkTimeoutMs: 5000,
  collectorTimeoutMs: 10000,
  collectorOptions: new Map<string, unknown>([
    ['flows', DEFAULT_FLOW],
    ['events', { receiveBufferBytes: 8388608, ports: [53, 80, 443, 6443], podAttribution: false }],
  ]),
  flow: DEFAULT_FLOW,
  shutdownTimeoutMs: 10000,
  releaseFilePagesAfterMs: 60000,
  exporters: { prometheus: true, otlp: false },
  otlp: {
    endpoint: 'http://localhost:4318/v1/metrics',
    protocol: 'http/protobuf',
    headers: {},
    timeoutMs: 10000,
    compression: 'none',
    intervalMs: 60000,
    exportTimeoutMs: 30000,
    temporality: 'cumulative',
  },
  resource: { serviceName: 'conntrack-exporter', attributes: {} },
};

describe('defaults', () => {
  it('an empty environment gives the documented defaults', () => {
    expect(loadConfig({})).toEqual(DEFAULTS);
  });

  it('ignores variables that are not ours, and treats empty values as unset', () => {
    expect(
      loadConfig({
        PATH: '/usr/bin',
        HOME: '/root',
        CONNTRACK_EXPORTER_LOG_LEVEL: '',
        OTEL_SERVICE_NAME: '',
      }),
    ).toEqual(DEFAULTS);
  });

  it('every variable has a description and a statement of what is valid', () => {
    for (const [name, spec] of Object.entries(VARIABLES)) {
      expect(spec.valid, name).not.toBe('');
      expect(spec.description, name).not.toBe('');
    }
  });
});

describe('every variable, set to a non-default value', () => {
  it('reaches its field', () => {
    const config = loadConfig({
      CONNTRACK_EXPORTER_LISTEN_ADDRESS: '127.0.0.1:9555',
      CONNTRACK_EXPORTER_METRICS_PATH: '/conntrack',
      CONNTRACK_EXPORTER_WEB_CONFIG_FILE: '/etc/conntrack-exporter/web.yml',
      CONNTRACK_EXPORTER_HTTP_MAX_CONNECTIONS: '9',
      CONNTRACK_EXPORTER_HTTP_HEADER_TIMEOUT_SECONDS: '2.5',
      CONNTRACK_EXPORTER_HTTP_IDLE_TIMEOUT_SECONDS: '7',
      CONNTRACK_EXPORTER_LOG_LEVEL: 'debug',
      CONNTRACK_EXPORTER_COLLECTORS: ' flows, table ,flows',
      CONNTRACK_EXPORTER_SOURCE: 'procfs',
      CONNTRACK_EXPORTER_PROC_PATH: '/host/proc',
      CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS: '0.25',
      CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS: '12.5',
      CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS: '1234',
      CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET: '77',
      CONNTRACK_EXPORTER_FLOW_TOP_K: '7',
      CONNTRACK_EXPORTER_FLOW_SKIP_ABOVE_USAGE: '0.9',
      CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING: 'true',
      CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION: 'true',
      CONNTRACK_EXPORTER_FLOW_ADDRESSES: 'prefix',
      CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV4: '16',
      CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV6: '48',
      CONNTRACK_EXPORTER_EVENTS_RECEIVE_BUFFER_BYTES: '16777216',
      CONNTRACK_EXPORTER_EVENTS_PORTS: ' 53, 8080,53 ',
      CONNTRACK_EXPORTER_EVENTS_POD_ATTRIBUTION: 'true',
      CONNTRACK_EXPORTER_SHUTDOWN_TIMEOUT_SECONDS: '2.5',
      CONNTRACK_EXPORTER_RELEASE_FILE_PAGES_AFTER_SECONDS: '0',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.example:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s3cr%3Dt',
      OTEL_EXPORTER_OTLP_TIMEOUT: '4321',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_METRIC_EXPORT_INTERVAL: '15000',
      OTEL_METRIC_EXPORT_TIMEOUT: '5000',
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta',
      OTEL_SERVICE_NAME: 'ct',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
      K8S_NODE_NAME: 'node-7',
      K8S_POD_NAME: 'conntrack-exporter-abcde',
      K8S_NAMESPACE_NAME: 'monitoring',
    });
    const flow = {
      intervalMs: 12500,
      maxFlowsPerPass: 1234,
      seriesBudget: 77,
      topK: 7,
      skipAboveUsage: 0.9,
      enableAccounting: true,
      podAttribution: true,
      addresses: { mode: 'prefix', ipv4: 16, ipv6: 48 },
    };
    expect(config).toEqual({
      listen: { host: '127.0.0.1', port: 9555 },
      metricsPath: '/conntrack',
      webConfigFile: '/etc/conntrack-exporter/web.yml',
      http: { maxConnections: 9, headersTimeoutMs: 2500, idleTimeoutMs: 7000 },
      ignoredVariables: [],
      logLevel: 'debug',
      collectors: ['flows', 'table'],
      source: 'procfs',
      procPath: '/host/proc',
      netlinkTimeoutMs: 250,
      collectorTimeoutMs: 500,
      collectorOptions: new Map<string, unknown>([
        ['flows', flow],
        ['events', { receiveBufferBytes: 16777216, ports: [53, 8080], podAttribution: true }],
      ]),
      flow,
      shutdownTimeoutMs: 2500,
      releaseFilePagesAfterMs: 0,
      exporters: { prometheus: false, otlp: true },
      otlp: {
        endpoint: 'https://collector.example:4318/v1/metrics',
        protocol: 'http/json',
        headers: { 'api-key': 's3cr=t' },
        timeoutMs: 4321,
        compression: 'gzip',
        intervalMs: 15000,
        exportTimeoutMs: 5000,
        temporality: 'delta',
      },
      resource: {
        serviceName: 'ct',
        attributes: { 'deployment.environment': 'prod' },
        k8sNodeName: 'node-7',
        k8sPodName: 'conntrack-exporter-abcde',
        k8sNamespaceName: 'monitoring',
      },
    });
  });

  it.each([
    [':9469', { host: undefined, port: 9469 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['[::1]:65535', { host: '::1', port: 65535 }],
    ['[2001:db8::7]:80', { host: '2001:db8::7', port: 80 }],
    ['localhost:9469', { host: 'localhost', port: 9469 }],
  ])('listen address %s', (value, listen) => {
    expect(loadConfig({ CONNTRACK_EXPORTER_LISTEN_ADDRESS: value }).listen).toEqual(listen);
    expect(parseListenAddress(value)).toEqual(listen);
  });

  it.each(['9469', ':65536', '::1:9469', 'host:', 'a b:1', '[::1]', 'host:port'])(
    'refuses listen address %s',
    (value) => {
      expect(parseListenAddress(value)).toBeUndefined();
      expect(configError({ CONNTRACK_EXPORTER_LISTEN_ADDRESS: value }).problems).toEqual([
        `CONNTRACK_EXPORTER_LISTEN_ADDRESS: not a host:port address (got "${value}"); valid: ${VARIABLES.CONNTRACK_EXPORTER_LISTEN_ADDRESS?.valid}`,
      ]);
    },
  );

  it('OTEL_METRICS_EXPORTER: both, or none', () => {
    expect(loadConfig({ OTEL_METRICS_EXPORTER: 'prometheus, otlp' }).exporters).toEqual({
      prometheus: true,
      otlp: true,
    });
    expect(loadConfig({ OTEL_METRICS_EXPORTER: 'none' }).exporters).toEqual({
      prometheus: false,
      otlp: false,
    });
  });

  it('booleans: true and false only', () => {
    expect(loadConfig({ CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING: 'false' }).flow.enableAccounting).toBe(
      false,
    );
    expect(configError({ CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING: 'yes' }).problems).toEqual([
      'CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING: must be boolean (got "yes"); valid: true or false',
    ]);
  });
});

describe('problems: all at once, each with the name and what is valid', () => {
  it('lists every bad variable in one ConfigError', () => {
    const err = configError({
      CONNTRACK_EXPORTER_LISTEN_ADRESS: ':1',
      CONNTRACK_EXPORTER_LOG_LEVEL: 'loud',
      CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET: '2',
      CONNTRACK_EXPORTER_FLOW_TOP_K: 'ten',
      CONNTRACK_EXPORTER_COLLECTORS: 'table,conntrack_flows',
      CONNTRACK_EXPORTER_METRICS_PATH: 'metrics',
      CONNTRACK_EXPORTER_PROC_PATH: 'proc',
      CONNTRACK_EXPORTER_SOURCE: 'kernel',
      OTEL_METRICS_EXPORTER: 'prometheus,zipkin',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'sometimes',
      OTEL_RESOURCE_ATTRIBUTES: 'novalue',
    });
    const expected = [
      'CONNTRACK_EXPORTER_LISTEN_ADRESS: unknown variable (did you mean CONNTRACK_EXPORTER_LISTEN_ADDRESS?)',
      'CONNTRACK_EXPORTER_LOG_LEVEL: must be equal to one of the allowed values (got "loud"); valid: trace, debug, info, warn, error, fatal, silent',
      'CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET: must be >= 10 (got "2"); valid: an integer from 10 to 100000',
      'CONNTRACK_EXPORTER_FLOW_TOP_K: must be integer (got "ten"); valid: an integer from 1 to 1000',
      'CONNTRACK_EXPORTER_SOURCE: must be equal to one of the allowed values (got "kernel"); valid: auto, netlink, procfs',
      'CONNTRACK_EXPORTER_COLLECTORS: unknown collector conntrack_flows (got "table,conntrack_flows"); valid: a comma-separated subset of table, cpu_stats, expect_stats, sysctl, flows, netns, events',
      'CONNTRACK_EXPORTER_METRICS_PATH: must start with "/" (got "metrics"); valid: a path starting with "/", without "?" or "#", other than "/" and "/healthz"',
      'CONNTRACK_EXPORTER_PROC_PATH: must be absolute (got "proc"); valid: an absolute path',
      'OTEL_METRICS_EXPORTER: unsupported exporter zipkin (got "prometheus,zipkin"); valid: a comma-separated list of prometheus, otlp (or none)',
      'OTEL_EXPORTER_OTLP_ENDPOINT: not an http(s) URL (got "collector:4318"); valid: an http(s) URL; /v1/metrics is appended',
      'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: unknown temporality (got "sometimes"); valid: cumulative, delta, lowmemory (case-insensitive)',
      'OTEL_RESOURCE_ATTRIBUTES: not a list of key=value pairs (got "novalue"); valid: comma-separated key=value pairs (values URL-encoded)',
    ];
    expect([...err.problems].sort()).toEqual([...expected].sort());
    expect(err.message).toBe(`invalid configuration:\n${err.problems.map((p) => `  - ${p}`).join('\n')}`);
  });

  it.each([
    ['CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS', '0.01', 'must be >= 0.05'],
    ['CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS', '301', 'must be <= 300'],
    ['CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS', 'soon', 'must be number'],
    ['CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS', '1.5', 'must be integer'],
    ['CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS', '0', 'must be >= 1'],
    ['CONNTRACK_EXPORTER_FLOW_SKIP_ABOVE_USAGE', '1.01', 'must be <= 1'],
    ['CONNTRACK_EXPORTER_SHUTDOWN_TIMEOUT_SECONDS', '-1', 'must be >= 0'],
    ['CONNTRACK_EXPORTER_RELEASE_FILE_PAGES_AFTER_SECONDS', '3601', 'must be <= 3600'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', 'must be equal to one of the allowed values'],
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'zstd', 'must be equal to one of the allowed values'],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', '0', 'must be >= 1'],
    ['OTEL_METRIC_EXPORT_INTERVAL', '99', 'must be >= 100'],
  ])('%s=%s: %s', (name, value, message) => {
    expect(configError({ [name]: value }).problems).toEqual([
      `${name}: ${message} (got "${value}"); valid: ${VARIABLES[name]?.valid}`,
    ]);
  });

  // Regression (infinite numbers passed every range check): ajv coerces the text to a number and
  // then skips minimum/maximum for a non-finite one; a timeout of Infinity ms fires at once.
  it.each([
    ['CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS', 'Infinity'],
    ['CONNTRACK_EXPORTER_FLOW_SKIP_ABOVE_USAGE', '1e400'],
    ['CONNTRACK_EXPORTER_FLOW_TOP_K', '-Infinity'],
    ['OTEL_METRIC_EXPORT_INTERVAL', 'Infinity'],
  ])('regression (infinite numbers passed the range checks): %s=%s', (name, value) => {
    expect(configError({ [name]: value }).problems).toEqual([
      `${name}: must be finite (got "${value}"); valid: ${VARIABLES[name]?.valid}`,
    ]);
  });

  it('an empty collector list is a problem, not "no collectors"', () => {
    expect(configError({ CONNTRACK_EXPORTER_COLLECTORS: ' , ' }).problems).toEqual([
      `CONNTRACK_EXPORTER_COLLECTORS: unknown collector (empty list) (got " , "); valid: ${VARIABLES.CONNTRACK_EXPORTER_COLLECTORS?.valid}`,
    ]);
  });
});

describe('misspelled CONNTRACK_EXPORTER_* variables', () => {
  it.each([
    ['CONNTRACK_EXPORTER_LOGLEVEL', 'CONNTRACK_EXPORTER_LOG_LEVEL'],
    ['CONNTRACK_EXPORTER_FLOW_TOPK', 'CONNTRACK_EXPORTER_FLOW_TOP_K'],
    ['CONNTRACK_EXPORTER_COLLECTOR', 'CONNTRACK_EXPORTER_COLLECTORS'],
    ['CONNTRACK_EXPORTER_PROCPATH', 'CONNTRACK_EXPORTER_PROC_PATH'],
  ])('%s suggests %s', (typo, right) => {
    expect(configError({ [typo]: '1' }).problems).toEqual([
      `${typo}: unknown variable (did you mean ${right}?)`,
    ]);
  });

  it('a name far from every variable gets no suggestion', () => {
    expect(configError({ CONNTRACK_EXPORTER_SOMETHING_ELSE_ENTIRELY: 'x' }).problems).toEqual([
      'CONNTRACK_EXPORTER_SOMETHING_ELSE_ENTIRELY: unknown variable',
    ]);
  });

  it('is reported even when its value is empty', () => {
    expect(configError({ CONNTRACK_EXPORTER_LOG_LEVL: '' }).problems).toEqual([
      'CONNTRACK_EXPORTER_LOG_LEVL: unknown variable (did you mean CONNTRACK_EXPORTER_LOG_LEVEL?)',
    ]);
  });
});

describe('OTEL_* variables', () => {
  it.each([
    ['http://collector:4318', 'http://collector:4318/v1/metrics'],
    ['http://collector:4318/', 'http://collector:4318/v1/metrics'],
    ['http://collector:4318///', 'http://collector:4318/v1/metrics'],
    ['https://otlp.example.com/otlp/', 'https://otlp.example.com/otlp/v1/metrics'],
  ])('OTEL_EXPORTER_OTLP_ENDPOINT=%s sends to %s', (base, endpoint) => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: base }).otlp.endpoint).toBe(endpoint);
  });

  it('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as is, over the base', () => {
    const c = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://metrics:9999/custom/path',
    });
    expect(c.otlp.endpoint).toBe('http://metrics:9999/custom/path');
    expect(configError({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'ftp://x/' }).problems).toEqual([
      `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: not an http(s) URL (got "ftp://x/"); valid: an http(s) URL, used as is`,
    ]);
  });

  it('METRICS_ variants override protocol, timeout and compression', () => {
    const c = loadConfig({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
      OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '2000',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
      OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: 'gzip',
    });
    expect([c.otlp.protocol, c.otlp.timeoutMs, c.otlp.compression]).toEqual(['http/protobuf', 2000, 'gzip']);
    const base = loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TIMEOUT: '1000' });
    expect([base.otlp.protocol, base.otlp.timeoutMs]).toEqual(['http/json', 1000]);
  });

  it('headers are URL-decoded, trimmed, and METRICS_HEADERS win key by key', () => {
    const c = loadConfig({
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=abc%3D%3D, x-team = net%20ops,,tenant=a',
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'tenant=b,x-extra=k%3Dv=w',
    });
    expect(c.otlp.headers).toEqual({
      'api-key': 'abc==',
      'x-team': 'net ops',
      tenant: 'b',
      'x-extra': 'k=v=w',
    });
  });

  it('malformed header lists are problems: no "=", no key, broken escapes', () => {
    for (const bad of ['novalue', '=v', 'k=%E0%A4%A']) {
      expect(configError({ OTEL_EXPORTER_OTLP_METRICS_HEADERS: bad }).problems).toEqual([
        `OTEL_EXPORTER_OTLP_METRICS_HEADERS: not a list of key=value pairs (got "${bad}"); valid: comma-separated name=value pairs (values URL-encoded; names HTTP tokens, no framing headers)`,
      ]);
    }
  });

  it('resource attributes are URL-decoded; service.name from them unless OTEL_SERVICE_NAME is set', () => {
    const attrs = 'service.name=from%20attrs,k8s.cluster.name=prod%2Feu';
    const c = loadConfig({ OTEL_RESOURCE_ATTRIBUTES: attrs });
    expect(c.resource.attributes).toEqual({ 'service.name': 'from attrs', 'k8s.cluster.name': 'prod/eu' });
    expect(c.resource.serviceName).toBe('from attrs');
    expect(
      loadConfig({ OTEL_RESOURCE_ATTRIBUTES: attrs, OTEL_SERVICE_NAME: 'explicit' }).resource.serviceName,
    ).toBe('explicit');
  });

  it('temporality is case-insensitive', () => {
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'LowMemory' }).otlp.temporality,
    ).toBe('lowmemory');
  });

  it('parseKeyValues: undefined is empty, pairs are split on the first "="', () => {
    expect(parseKeyValues(undefined)).toEqual({});
    expect(parseKeyValues('a=1,b=x=y')).toEqual({ a: '1', b: 'x=y' });
    expect(parseKeyValues('a')).toBeUndefined();
  });
});

describe('property: any environment gives a Config or a ConfigError', () => {
  const names = Object.keys(VARIABLES);
  const key = fc.oneof(
    fc.constantFrom(...names),
    fc.constantFrom(...names).map((n) => n.replace(/_[A-Z]/, (m) => m.slice(1))),
    fc.stringMatching(/^CONNTRACK_EXPORTER_[A-Z_]{0,12}$/),
    fc.stringMatching(/^OTEL_[A-Z_]{0,20}$/),
    fc.string({ maxLength: 12 }),
  );
  const value = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constantFrom(
      '',
      '0',
      '1',
      '-1',
      '1e3',
      'NaN',
      'Infinity',
      'true',
      'false',
      ':9469',
      '[::1]:0',
      'http://x:1',
      'a=b',
      '%',
      ' 5 ',
    ),
    fc.double().map(String),
    fc.integer().map(String),
  );

  it('never throws anything else, and a Config respects every bound', () => {
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 10 }), (env) => {
        let config: Config;
        try {
          config = loadConfig(env);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          expect(err.problems.length).toBeGreaterThan(0);
          for (const p of err.problems)
            expect(names.some((n) => p.startsWith(n)) || /^(CONNTRACK_EXPORTER_|OTEL_)/.test(p)).toBe(true);
          return;
        }
        expect(config.listen.port).toBeGreaterThanOrEqual(0);
        expect(config.listen.port).toBeLessThanOrEqual(65535);
        expect(config.collectors.length).toBeGreaterThan(0);
        for (const c of config.collectors) expect(COLLECTOR_NAMES).toContain(c);
        expect(config.netlinkTimeoutMs).toBeGreaterThanOrEqual(50);
        expect(config.netlinkTimeoutMs).toBeLessThanOrEqual(300000);
        expect(Number.isInteger(config.flow.topK) && config.flow.topK >= 1 && config.flow.topK <= 1000).toBe(
          true,
        );
        expect(config.flow.seriesBudget).toBeGreaterThanOrEqual(10);
        expect(config.flow.skipAboveUsage).toBeGreaterThanOrEqual(0);
        expect(config.flow.skipAboveUsage).toBeLessThanOrEqual(1);
        expect(config.metricsPath.startsWith('/')).toBe(true);
        expect(/^https?:\/\//.test(config.otlp.endpoint)).toBe(true);
        expect(['cumulative', 'delta', 'lowmemory']).toContain(config.otlp.temporality);
      }),
      // loadConfig builds a fresh ajv validator per call (~10 ms): fewer runs than the decoders.
      runs(400),
    );
  });
});

describe('configuration that could not work fails at start, naming the variable (issue 11)', () => {
  it.each([
    ['OTEL_EXPORTER_OTLP_HEADERS', 'bad name=1', /header name "bad name" is not an HTTP token/],
    [
      'OTEL_EXPORTER_OTLP_HEADERS',
      'x-api-key=a%0D%0AX-Injected: 1',
      /header x-api-key has a control character/,
    ],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'x-api-key=a%0Ab', /control character/],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'Content-Length=10', /header Content-Length is set by the exporter/],
    ['OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'transfer-encoding=chunked', /set by the exporter/],
    ['OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'a(b)=1', /not an HTTP token/],
    ['CONNTRACK_EXPORTER_METRICS_PATH', '/metrics?x=1', /a query or fragment/],
    ['CONNTRACK_EXPORTER_METRICS_PATH', '/metrics#top', /a query or fragment/],
    ['CONNTRACK_EXPORTER_METRICS_PATH', '/healthz', /taken by the exporter's own endpoint/],
    ['CONNTRACK_EXPORTER_METRICS_PATH', '/', /taken by the exporter's own endpoint/],
    ['CONNTRACK_EXPORTER_METRICS_PATH', '/my metrics', /not valid in a URL path/],
    ['CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS', '0x10', /not a decimal number \(got "0x10"\)/],
    ['CONNTRACK_EXPORTER_FLOW_TOP_K', '1e1', /not a decimal number/],
    ['CONNTRACK_EXPORTER_FLOW_TOP_K', '0b11', /not a decimal number/],
    ['CONNTRACK_EXPORTER_FLOW_TOP_K', ' 5', /not a decimal number/],
    ['CONNTRACK_EXPORTER_LISTEN_ADDRESS', '[:::]:9469', /not a host:port address/],
    ['CONNTRACK_EXPORTER_LISTEN_ADDRESS', 'bad_host!:9469', /not a host:port address/],
  ])('%s=%j', (name, value, why) => {
    const problems = configError({ [name]: value }).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]?.startsWith(`${name}: `)).toBe(true);
    expect(problems[0]).toMatch(why);
  });

  it('never quotes an OTLP header value (it may be a secret)', () => {
    const problems = configError({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cr3t%0A' }).problems;
    expect(problems.join('\n')).not.toContain('s3cr3t');
  });

  it("a host name is a valid listen host; resolving it is the listener's job", () => {
    expect(loadConfig({ CONNTRACK_EXPORTER_LISTEN_ADDRESS: 'nosuch.invalid:9469' }).listen).toEqual({
      host: 'nosuch.invalid',
      port: 9469,
    });
  });

  it('a misspelled OTEL_* variable is an error that lists the known ones', () => {
    const [problem] = configError({ OTEL_EXPORTER_OTLP_ENDPIONT: 'http://x:4318' }).problems;
    expect(problem).toMatch(
      /^OTEL_EXPORTER_OTLP_ENDPIONT: unknown or unsupported OpenTelemetry variable \(did you mean OTEL_EXPORTER_OTLP_ENDPOINT\?\); this exporter reads OTEL_METRICS_EXPORTER, /,
    );
    // A certificate setting the exporter cannot honour must not be ignored silently either.
    expect(configError({ OTEL_EXPORTER_OTLP_CERTIFICATE: '/ca.pem' }).problems[0]).toMatch(/unsupported/);
  });

  it('standard SDK variables for traces and logs are accepted and reported as unused', () => {
    const config = loadConfig({
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_PROPAGATORS: 'tracecontext',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://x',
    });
    expect(config.ignoredVariables).toEqual([
      'OTEL_TRACES_EXPORTER',
      'OTEL_PROPAGATORS',
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    ]);
  });

  it('FLOW_ADDRESSES: full, prefix with its lengths (24/64 by default), none', () => {
    expect(loadConfig({ CONNTRACK_EXPORTER_FLOW_ADDRESSES: 'none' }).flow.addresses).toEqual({
      mode: 'none',
    });
    expect(loadConfig({ CONNTRACK_EXPORTER_FLOW_ADDRESSES: 'prefix' }).flow.addresses).toEqual({
      mode: 'prefix',
      ipv4: 24,
      ipv6: 64,
    });
    expect(
      loadConfig({
        CONNTRACK_EXPORTER_FLOW_ADDRESSES: 'prefix',
        CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV4: '0',
        CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV6: '128',
      }).flow.addresses,
    ).toEqual({ mode: 'prefix', ipv4: 0, ipv6: 128 });
  });

  it('FLOW_ADDRESSES and its prefix lengths: every bad value listed at once, each named', () => {
    const problems = configError({
      CONNTRACK_EXPORTER_FLOW_ADDRESSES: 'masked',
      CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV4: '33',
      CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV6: '/64',
    }).problems;
    expect(problems).toHaveLength(3);
    expect(problems.find((p) => p.startsWith('CONNTRACK_EXPORTER_FLOW_ADDRESSES: '))).toMatch(
      /full, prefix or none/,
    );
    expect(problems.find((p) => p.startsWith('CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV4: '))).toMatch(
      /from 0 to 32/,
    );
    expect(problems.find((p) => p.startsWith('CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV6: '))).toMatch(
      /from 0 to 128/,
    );
    for (const [name, value] of [
      ['CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV4', '-1'],
      ['CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV4', '24.5'],
      ['CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV6', '0x40'],
      ['CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV6', '129'],
    ] as const) {
      const [problem, ...more] = configError({
        CONNTRACK_EXPORTER_FLOW_ADDRESSES: 'prefix',
        [name]: value,
      }).problems;
      expect(more).toEqual([]);
      expect(problem?.startsWith(`${name}: `)).toBe(true);
    }
  });

  it('EVENTS_PORTS: 53,80,443,6443 by default; a bad or too long list is a problem naming the variable', () => {
    expect(loadConfig({}).collectorOptions.get('events')).toMatchObject({ ports: [53, 80, 443, 6443] });
    expect(loadConfig({ CONNTRACK_EXPORTER_EVENTS_PORTS: ',' }).collectorOptions.get('events')).toMatchObject(
      {
        ports: [],
      },
    );
    for (const value of [
      '53,dns',
      '0',
      '65536',
      '53;80',
      Array.from({ length: 33 }, (_, i) => i + 1).join(','),
    ]) {
      const [problem, ...more] = configError({ CONNTRACK_EXPORTER_EVENTS_PORTS: value }).problems;
      expect(more).toEqual([]);
      expect(problem?.startsWith('CONNTRACK_EXPORTER_EVENTS_PORTS: ')).toBe(true);
    }
  });

  it('the web configuration path is made absolute', () => {
    expect(loadConfig({ CONNTRACK_EXPORTER_WEB_CONFIG_FILE: 'web.yml' }).webConfigFile).toBe(
      `${process.cwd()}/web.yml`,
    );
  });
});
