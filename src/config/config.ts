// Layer: wiring. Configuration from environment variables, each checked against its spec (type,
// allowed values, range) and coerced, defaults filled in. Every problem is collected and reported
// at once, each with the variable's name and what would be valid; a misspelled
// CONNTRACK_EXPORTER_* variable is an error. The standard OTEL_* variables are validated here too,
// because nothing else reads them without sdk-node. Never exits: main.ts decides.
// (A JSON-schema validator did this before; checking the four types here costs nothing, where
// env-schema and ajv were about 17 MB of the exporter's resident memory: docs/flow-passes.md.)

import { isIP, isIPv6 } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { COLLECTORS } from '../collectors/index.js';
import type { FlowSettings } from '../collectors/flows.js';
import type { VariableSpec } from '../collectors/registry.js';
import { ExporterError } from '../errors.js';
import type { OtlpConfig, ResourceConfig } from '../sinks/otel.js';

/** Valid values of CONNTRACK_EXPORTER_COLLECTORS: every registered collector. */
export const COLLECTOR_NAMES: readonly string[] = COLLECTORS.map((c) => c.name);
export type EnabledCollector = string;
/** The collectors whose definition says defaultEnabled (netns is opt-in: it needs the host PID namespace). */
export const DEFAULT_COLLECTORS: readonly EnabledCollector[] = COLLECTORS.filter((c) => c.defaultEnabled).map(
  (c) => c.name,
);

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const SOURCES = ['auto', 'netlink', 'procfs'] as const;
const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const satisfies readonly OtlpConfig['protocol'][];
const COMPRESSIONS = ['gzip', 'none'] as const satisfies readonly OtlpConfig['compression'][];
const TEMPORALITIES = [
  'cumulative',
  'delta',
  'lowmemory',
] as const satisfies readonly OtlpConfig['temporality'][];
const METRICS_EXPORTERS = ['prometheus', 'otlp', 'none'] as const;

type VarSpec = VariableSpec;

const EXPORTER_VARIABLES: Readonly<Record<string, VarSpec>> = {
  CONNTRACK_EXPORTER_LISTEN_ADDRESS: {
    type: 'string',
    default: ':9469',
    valid: 'host:port, e.g. ":9469", "127.0.0.1:9469" or "[::1]:9469" (port 0-65535)',
    description: 'Address the HTTP server listens on (empty host: all interfaces).',
  },
  CONNTRACK_EXPORTER_METRICS_PATH: {
    type: 'string',
    default: '/metrics',
    valid: 'a path starting with "/", without "?" or "#", other than "/" and "/healthz"',
    description: 'Path of the Prometheus endpoint.',
  },
  CONNTRACK_EXPORTER_WEB_CONFIG_FILE: {
    type: 'string',
    valid: "the path of a web configuration file in exporter-toolkit's format (docs/security.md)",
    description:
      "TLS, client certificates, basic auth and response headers for the HTTP server, as node_exporter's --web.config.file; re-read when it or its certificates change.",
  },
  CONNTRACK_EXPORTER_HTTP_MAX_CONNECTIONS: {
    type: 'integer',
    default: 64,
    minimum: 1,
    maximum: 65535,
    valid: 'an integer from 1 to 65535',
    description: 'Open HTTP connections at most; a new one beyond it closes the oldest idle one.',
  },
  CONNTRACK_EXPORTER_HTTP_HEADER_TIMEOUT_SECONDS: {
    type: 'number',
    default: 10,
    minimum: 1,
    maximum: 300,
    valid: 'a number of seconds from 1 to 300',
    description: "Deadline for a request's headers (and the TLS handshake) from the connection's start.",
  },
  CONNTRACK_EXPORTER_HTTP_IDLE_TIMEOUT_SECONDS: {
    type: 'number',
    default: 65,
    minimum: 1,
    maximum: 3600,
    valid: 'a number of seconds from 1 to 3600',
    description: 'An idle keep-alive connection is closed after this.',
  },
  CONNTRACK_EXPORTER_LOG_LEVEL: {
    type: 'string',
    default: 'info',
    enum: LOG_LEVELS,
    valid: LOG_LEVELS.join(', '),
    description: 'Log level of the JSON logs on stderr.',
  },
  CONNTRACK_EXPORTER_COLLECTORS: {
    type: 'string',
    default: DEFAULT_COLLECTORS.join(','),
    valid: `a comma-separated subset of ${COLLECTOR_NAMES.join(', ')}`,
    description: 'Collectors to run.',
  },
  CONNTRACK_EXPORTER_SOURCE: {
    type: 'string',
    default: 'auto',
    enum: SOURCES,
    valid: SOURCES.join(', '),
    description:
      'auto: ctnetlink, falling back to sysctl/procfs without CAP_NET_ADMIN; netlink: ctnetlink only; procfs: never use ctnetlink.',
  },
  CONNTRACK_EXPORTER_PROC_PATH: {
    type: 'string',
    default: '/proc',
    valid: 'an absolute path',
    description: 'Where procfs is mounted (for the sysctl and /proc/net/stat fallbacks).',
  },
  CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS: {
    type: 'number',
    default: 5,
    minimum: 0.05,
    maximum: 300,
    valid: 'a number of seconds from 0.05 to 300',
    description:
      'Timeout of every ctnetlink call (for dumps: longest silence between two batches); twice this is the deadline of each collector in a collection.',
  },
};

const PROCESS_VARIABLES: Readonly<Record<string, VarSpec>> = {
  CONNTRACK_EXPORTER_SHUTDOWN_TIMEOUT_SECONDS: {
    type: 'number',
    default: 10,
    minimum: 0,
    maximum: 300,
    valid: 'a number of seconds from 0 to 300',
    description: 'Deadline for the final OTLP export and closing connections on SIGTERM.',
  },
  CONNTRACK_EXPORTER_RELEASE_FILE_PAGES_AFTER_SECONDS: {
    type: 'number',
    default: 60,
    minimum: 0,
    maximum: 3600,
    valid: 'a number of seconds from 0 to 3600 (0: never)',
    description:
      "When, after start, the exporter stops mapping the node binary's clean pages that only the start used (they stay in the page cache and come back on use; about 20 MB less resident; docs/flow-passes.md#memory). 0: never.",
  },
  OTEL_METRICS_EXPORTER: {
    type: 'string',
    default: 'prometheus',
    valid: 'a comma-separated list of prometheus, otlp (or none)',
    description: 'Which exporters run: prometheus (the /metrics endpoint), otlp (push), or both.',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    type: 'string',
    default: 'http://localhost:4318',
    valid: 'an http(s) URL; /v1/metrics is appended',
    description: 'OTLP/HTTP base endpoint.',
  },
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: {
    type: 'string',
    valid: 'an http(s) URL, used as is',
    description: 'OTLP/HTTP metrics endpoint (overrides the base endpoint).',
  },
  OTEL_EXPORTER_OTLP_PROTOCOL: {
    type: 'string',
    default: 'http/protobuf',
    enum: OTLP_PROTOCOLS,
    valid: OTLP_PROTOCOLS.join(', '),
    description: 'OTLP encoding.',
  },
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: {
    type: 'string',
    enum: OTLP_PROTOCOLS,
    valid: OTLP_PROTOCOLS.join(', '),
    description: 'OTLP encoding for metrics (overrides OTEL_EXPORTER_OTLP_PROTOCOL).',
  },
  OTEL_EXPORTER_OTLP_HEADERS: {
    type: 'string',
    valid: 'comma-separated name=value pairs (values URL-encoded; names HTTP tokens, no framing headers)',
    description: 'Headers sent with every OTLP request.',
  },
  OTEL_EXPORTER_OTLP_METRICS_HEADERS: {
    type: 'string',
    valid: 'comma-separated name=value pairs (values URL-encoded; names HTTP tokens, no framing headers)',
    description: 'Headers for OTLP metrics requests (merged over OTEL_EXPORTER_OTLP_HEADERS).',
  },
  OTEL_EXPORTER_OTLP_TIMEOUT: {
    type: 'integer',
    default: 10000,
    minimum: 1,
    maximum: 600000,
    valid: 'milliseconds from 1 to 600000',
    description: 'Timeout of one OTLP request.',
  },
  OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: {
    type: 'integer',
    minimum: 1,
    maximum: 600000,
    valid: 'milliseconds from 1 to 600000',
    description: 'Timeout of one OTLP metrics request (overrides OTEL_EXPORTER_OTLP_TIMEOUT).',
  },
  OTEL_EXPORTER_OTLP_COMPRESSION: {
    type: 'string',
    default: 'none',
    enum: COMPRESSIONS,
    valid: COMPRESSIONS.join(', '),
    description: 'Compression of OTLP requests.',
  },
  OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: {
    type: 'string',
    enum: COMPRESSIONS,
    valid: COMPRESSIONS.join(', '),
    description: 'Compression of OTLP metrics requests (overrides OTEL_EXPORTER_OTLP_COMPRESSION).',
  },
  OTEL_METRIC_EXPORT_INTERVAL: {
    type: 'integer',
    default: 60000,
    minimum: 100,
    maximum: 86400000,
    valid: 'milliseconds from 100 to 86400000',
    description: 'Time between two OTLP exports.',
  },
  OTEL_METRIC_EXPORT_TIMEOUT: {
    type: 'integer',
    default: 30000,
    minimum: 1,
    maximum: 600000,
    valid: 'milliseconds from 1 to 600000',
    description: 'Deadline of one OTLP export, retries included.',
  },
  OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: {
    type: 'string',
    default: 'cumulative',
    valid: TEMPORALITIES.join(', ') + ' (case-insensitive)',
    description: 'Aggregation temporality of OTLP sums.',
  },
  OTEL_SERVICE_NAME: {
    type: 'string',
    default: 'conntrack-exporter',
    valid: 'a non-empty string',
    description: 'service.name of the OTLP resource.',
  },
  OTEL_RESOURCE_ATTRIBUTES: {
    type: 'string',
    valid: 'comma-separated key=value pairs (values URL-encoded)',
    description: 'Extra attributes of the OTLP resource.',
  },
  K8S_NODE_NAME: {
    type: 'string',
    valid: 'a node name (set from the downward API, spec.nodeName)',
    description: 'k8s.node.name of the OTLP resource.',
  },
  K8S_POD_NAME: {
    type: 'string',
    valid: 'a pod name (downward API, metadata.name)',
    description: 'k8s.pod.name of the OTLP resource.',
  },
  K8S_NAMESPACE_NAME: {
    type: 'string',
    valid: 'a namespace (downward API, metadata.namespace)',
    description: 'k8s.namespace.name of the OTLP resource.',
  },
};

/**
 * Every variable the exporter reads; a collector's own variables come from its registry definition.
 * The README's configuration table is generated from this.
 */
export const VARIABLES: Readonly<Record<string, VarSpec>> = {
  ...EXPORTER_VARIABLES,
  ...Object.fromEntries(COLLECTORS.flatMap((c) => Object.entries(c.settings?.variables ?? {}))),
  ...PROCESS_VARIABLES,
};

export type { OtlpConfig, ResourceConfig };

export interface Config {
  readonly listen: { readonly host: string | undefined; readonly port: number };
  readonly metricsPath: string;
  /** Absolute path of the web configuration file, if one is set. */
  readonly webConfigFile: string | undefined;
  readonly http: {
    readonly maxConnections: number;
    readonly headersTimeoutMs: number;
    readonly idleTimeoutMs: number;
  };
  /** Standard OTEL_* variables that are set but mean nothing to this exporter (main logs them). */
  readonly ignoredVariables: readonly string[];
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly collectors: readonly EnabledCollector[];
  readonly source: (typeof SOURCES)[number];
  readonly procPath: string;
  readonly netlinkTimeoutMs: number;
  /** Deadline of each collector in a collection: twice the netlink timeout. */
  readonly collectorTimeoutMs: number;
  /** Per collector name, what its settings' parse returned (every registered collector with settings). */
  readonly collectorOptions: ReadonlyMap<string, unknown>;
  /** The flows collector's settings (the same object as collectorOptions.get('flows')). */
  readonly flow: FlowSettings;
  readonly shutdownTimeoutMs: number;
  /** When the clean file pages are released after start (0: never). */
  readonly releaseFilePagesAfterMs: number;
  readonly exporters: { readonly prometheus: boolean; readonly otlp: boolean };
  readonly otlp: OtlpConfig;
  readonly resource: ResourceConfig;
}

export class ConfigError extends ExporterError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('ERR_CONFIG', `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

type Raw = Record<string, string | number | boolean | undefined>;

/**
 * Variables Kubernetes injects for a Service named conntrack-exporter in the pod's namespace
 * (enableServiceLinks): not typos, so not errors.
 */
const KUBERNETES_SERVICE_LINK =
  /^CONNTRACK_EXPORTER_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/;

/**
 * Standard OpenTelemetry SDK variables (opentelemetry-specification, sdk-environment-variables)
 * that concern traces, logs or SDK internals: set for other processes of a pod, they are not
 * errors, but main.ts logs that they have no effect here.
 */
const OTEL_NOT_FOR_US =
  /^OTEL_(SDK_DISABLED|LOG_LEVEL|PROPAGATORS|TRACES_SAMPLER(_ARG)?|TRACES_EXPORTER|LOGS_EXPORTER|(BSP|BLRP)_(SCHEDULE_DELAY|EXPORT_TIMEOUT|MAX_QUEUE_SIZE|MAX_EXPORT_BATCH_SIZE)|(SPAN_|LOGRECORD_)?ATTRIBUTE_(VALUE_LENGTH|COUNT)_LIMIT|(SPAN_EVENT|SPAN_LINK|EVENT_ATTRIBUTE|LINK_ATTRIBUTE)_COUNT_LIMIT|METRICS_EXEMPLAR_FILTER|EXPORTER_OTLP_(TRACES|LOGS)_(ENDPOINT|HEADERS|PROTOCOL|TIMEOUT|COMPRESSION|CERTIFICATE|CLIENT_KEY|CLIENT_CERTIFICATE|INSECURE)|EXPORTER_(ZIPKIN|JAEGER|PROMETHEUS)_\w+|NODE_RESOURCE_DETECTORS|NODE_ENABLED_INSTRUMENTATIONS|NODE_DISABLED_INSTRUMENTATIONS|SEMCONV_STABILITY_OPT_IN|SERVICE_VERSION)$/;

/** Headers an OTLP request cannot carry from configuration: the HTTP client and the exporter set them. */
const RESERVED_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'content-encoding',
  'content-type',
  'connection',
  'keep-alive',
  'upgrade',
  'host',
  'te',
  'trailer',
  'expect',
  'proxy-connection',
]);
/** An HTTP token (RFC 9110's tchar). */
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Problems of an OTLP header list, each naming the header (never its value, which may be a secret). */
export function headerProblems(headers: Readonly<Record<string, string>>): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!HTTP_TOKEN.test(name)) problems.push(`header name "${name}" is not an HTTP token`);
    else if (RESERVED_HEADERS.has(name.toLowerCase()))
      problems.push(`header ${name} is set by the exporter and cannot be configured`);
    // RFC 9110: CR, LF and NUL are never valid in a field value (they would split the request).
    else if (hasControlCharacter(value))
      problems.push(`header ${name} has a control character (CR, LF, NUL...) in its value`);
  }
  return problems;
}

/** Any C0 control but tab, or DEL. */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/** Decimal notation only: "0x10", "1e3", "0b1" or " 5" are refused rather than read as 16, 1000, 1, 5. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** One set variable's value after its spec's checks, or why it failed them. */
type Checked = { readonly value: string | number | boolean } | { readonly error: string };

/** A set variable's value checked against its spec: type (coerced from the text), enum, range. */
function checkValue(spec: VarSpec, text: string): Checked {
  let value: string | number | boolean = text;
  if (spec.type === 'boolean') {
    if (text !== 'true' && text !== 'false') return { error: 'must be boolean' };
    value = text === 'true';
  } else if (spec.type === 'integer' || spec.type === 'number') {
    const n = text.trim() === '' ? NaN : Number(text);
    if (Number.isNaN(n)) return { error: `must be ${spec.type}` };
    if (spec.type === 'integer' && !Number.isInteger(n)) return { error: 'must be integer' };
    if (spec.minimum !== undefined && n < spec.minimum) return { error: `must be >= ${spec.minimum}` };
    if (spec.maximum !== undefined && n > spec.maximum) return { error: `must be <= ${spec.maximum}` };
    value = n;
  }
  if (spec.enum && !spec.enum.includes(String(value))) {
    return { error: 'must be equal to one of the allowed values' };
  }
  return { value };
}

/** Every variable's value: the set ones checked, the others their default (or absent). */
function checkVariables(data: Readonly<Record<string, string>>): {
  raw: Raw;
  errors: { name: string; message: string }[];
} {
  const raw: Raw = {};
  const errors: { name: string; message: string }[] = [];
  for (const [name, spec] of Object.entries(VARIABLES)) {
    const text = data[name];
    const checked = text === undefined ? undefined : checkValue(spec, text);
    if (checked && 'error' in checked) errors.push({ name, message: checked.error });
    // A rejected value is replaced by the default, so every other problem is still listed.
    raw[name] = checked && 'value' in checked ? checked.value : spec.default;
  }
  return { raw, errors };
}

/** Parses and validates the environment. Throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  const ignoredVariables: string[] = [];
  const known = new Set(Object.keys(VARIABLES));
  const knownOtel = [...known].filter((k) => k.startsWith('OTEL_'));
  for (const key of Object.keys(env)) {
    if (known.has(key)) continue;
    if (key.startsWith('CONNTRACK_EXPORTER_') && !KUBERNETES_SERVICE_LINK.test(key)) {
      const suggestion = closest(key, [...known]);
      problems.push(`${key}: unknown variable${suggestion ? ` (did you mean ${suggestion}?)` : ''}`);
    } else if (key.startsWith('OTEL_')) {
      if (OTEL_NOT_FOR_US.test(key)) {
        ignoredVariables.push(key);
        continue;
      }
      const suggestion = closest(key, knownOtel);
      problems.push(
        `${key}: unknown or unsupported OpenTelemetry variable${suggestion ? ` (did you mean ${suggestion}?)` : ''}; this exporter reads ${knownOtel.join(', ')}`,
      );
    }
  }
  // Empty values mean "unset", as in the OpenTelemetry spec and most shells' habits.
  const data: Record<string, string> = {};
  for (const name of known) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    // "Infinity" or "1e400" would pass as numbers: refused by name.
    const spec = VARIABLES[name];
    if ((spec?.type === 'number' || spec?.type === 'integer') && Math.abs(Number(value)) === Infinity) {
      problems.push(`${name}: must be finite (got "${value}"); valid: ${spec.valid}`);
      continue;
    }
    // Number() reads "0x10", "1e3", "0b1" and " 5 " too; anything it would not read is left to the schema.
    if (
      (spec?.type === 'number' || spec?.type === 'integer') &&
      Number.isFinite(Number(value)) &&
      !DECIMAL.test(value)
    ) {
      problems.push(`${name}: not a decimal number (got "${value}"); valid: ${spec.valid}`);
      continue;
    }
    data[name] = value;
  }
  const { raw, errors } = checkVariables(data);
  for (const e of errors) {
    problems.push(
      `${e.name}: ${e.message} (got "${data[e.name] ?? ''}"); valid: ${VARIABLES[e.name]?.valid ?? '?'}`,
    );
  }

  const str = (name: string): string => String(raw[name] ?? '');
  const num = (name: string): number => Number(raw[name]);
  const opt = (name: string): string | undefined => (raw[name] === undefined ? undefined : str(name));
  const problem = (name: string, why: string): void => {
    problems.push(`${name}: ${why} (got "${data[name] ?? ''}"); valid: ${VARIABLES[name]?.valid ?? '?'}`);
  };

  const listen = parseListenAddress(str('CONNTRACK_EXPORTER_LISTEN_ADDRESS'));
  if (!listen) problem('CONNTRACK_EXPORTER_LISTEN_ADDRESS', 'not a host:port address');

  const metricsPath = str('CONNTRACK_EXPORTER_METRICS_PATH');
  const pathProblem = metricsPathProblem(metricsPath);
  if (pathProblem) problem('CONNTRACK_EXPORTER_METRICS_PATH', pathProblem);

  const webConfigFile = opt('CONNTRACK_EXPORTER_WEB_CONFIG_FILE');

  const procPath = str('CONNTRACK_EXPORTER_PROC_PATH');
  if (!procPath.startsWith('/')) problem('CONNTRACK_EXPORTER_PROC_PATH', 'must be absolute');

  const collectors = splitList(str('CONNTRACK_EXPORTER_COLLECTORS'));
  const badCollectors = collectors.filter((c) => !COLLECTOR_NAMES.includes(c));
  if (badCollectors.length > 0 || collectors.length === 0) {
    problem(
      'CONNTRACK_EXPORTER_COLLECTORS',
      `unknown collector ${badCollectors.join(', ') || '(empty list)'}`,
    );
  }

  const exporterNames = splitList(str('OTEL_METRICS_EXPORTER'));
  const badExporters = exporterNames.filter((e) => !(METRICS_EXPORTERS as readonly string[]).includes(e));
  if (badExporters.length > 0 || exporterNames.length === 0) {
    problem('OTEL_METRICS_EXPORTER', `unsupported exporter ${badExporters.join(', ') || '(empty list)'}`);
  }

  const metricsEndpoint = opt('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');
  const baseEndpoint = str('OTEL_EXPORTER_OTLP_ENDPOINT');
  for (const [name, value] of [
    ['OTEL_EXPORTER_OTLP_ENDPOINT', baseEndpoint],
    ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', metricsEndpoint],
  ] as const) {
    if (value !== undefined && !isHttpUrl(value)) problem(name, 'not an http(s) URL');
  }

  const headers: Record<string, string> = {};
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_METRICS_HEADERS']) {
    const parsed = parseKeyValues(opt(name));
    if (parsed === undefined) {
      problem(name, 'not a list of key=value pairs');
      continue;
    }
    // Values are secrets (API keys): the problem names the header, never quotes the variable.
    for (const p of headerProblems(parsed))
      problems.push(`${name}: ${p}; valid: ${VARIABLES[name]?.valid ?? '?'}`);
    Object.assign(headers, parsed);
  }
  const resourceAttributes = parseKeyValues(opt('OTEL_RESOURCE_ATTRIBUTES'));
  if (resourceAttributes === undefined) problem('OTEL_RESOURCE_ATTRIBUTES', 'not a list of key=value pairs');

  const temporality = str('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE').toLowerCase();
  if (!(TEMPORALITIES as readonly string[]).includes(temporality)) {
    problem('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', 'unknown temporality');
  }
  if (str('OTEL_SERVICE_NAME').trim() === '') problem('OTEL_SERVICE_NAME', 'empty');

  const collectorOptions = new Map<string, unknown>();
  for (const c of COLLECTORS) {
    if (!c.settings) continue;
    collectorOptions.set(c.name, c.settings.parse({ get: (name) => raw[name], problem }));
  }

  if (problems.length > 0 || !listen) throw new ConfigError(problems);

  return {
    listen,
    metricsPath,
    webConfigFile: webConfigFile === undefined ? undefined : resolvePath(webConfigFile),
    http: {
      maxConnections: num('CONNTRACK_EXPORTER_HTTP_MAX_CONNECTIONS'),
      headersTimeoutMs: Math.round(num('CONNTRACK_EXPORTER_HTTP_HEADER_TIMEOUT_SECONDS') * 1000),
      idleTimeoutMs: Math.round(num('CONNTRACK_EXPORTER_HTTP_IDLE_TIMEOUT_SECONDS') * 1000),
    },
    ignoredVariables,
    logLevel: str('CONNTRACK_EXPORTER_LOG_LEVEL') as Config['logLevel'],
    collectors: [...new Set(collectors)],
    source: str('CONNTRACK_EXPORTER_SOURCE') as Config['source'],
    procPath,
    netlinkTimeoutMs: Math.round(num('CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS') * 1000),
    // Twice the netlink timeout: a collector's own kernel call fails with its specific error first.
    collectorTimeoutMs: 2 * Math.round(num('CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS') * 1000),
    collectorOptions,
    flow: collectorOptions.get('flows') as FlowSettings,
    shutdownTimeoutMs: Math.round(num('CONNTRACK_EXPORTER_SHUTDOWN_TIMEOUT_SECONDS') * 1000),
    releaseFilePagesAfterMs: Math.round(num('CONNTRACK_EXPORTER_RELEASE_FILE_PAGES_AFTER_SECONDS') * 1000),
    exporters: { prometheus: exporterNames.includes('prometheus'), otlp: exporterNames.includes('otlp') },
    otlp: {
      endpoint: metricsEndpoint ?? `${baseEndpoint.replace(/\/+$/, '')}/v1/metrics`,
      protocol: (opt('OTEL_EXPORTER_OTLP_METRICS_PROTOCOL') ??
        str('OTEL_EXPORTER_OTLP_PROTOCOL')) as OtlpConfig['protocol'],
      headers,
      timeoutMs: num(
        raw.OTEL_EXPORTER_OTLP_METRICS_TIMEOUT !== undefined
          ? 'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT'
          : 'OTEL_EXPORTER_OTLP_TIMEOUT',
      ),
      compression: (opt('OTEL_EXPORTER_OTLP_METRICS_COMPRESSION') ??
        str('OTEL_EXPORTER_OTLP_COMPRESSION')) as OtlpConfig['compression'],
      intervalMs: num('OTEL_METRIC_EXPORT_INTERVAL'),
      exportTimeoutMs: num('OTEL_METRIC_EXPORT_TIMEOUT'),
      temporality: temporality as OtlpConfig['temporality'],
    },
    resource: {
      // The spec: OTEL_SERVICE_NAME beats service.name in OTEL_RESOURCE_ATTRIBUTES, which beats
      // the default; the schema default alone must not hide the attribute.
      serviceName:
        data.OTEL_SERVICE_NAME !== undefined
          ? str('OTEL_SERVICE_NAME')
          : (resourceAttributes?.['service.name'] ?? str('OTEL_SERVICE_NAME')),
      attributes: resourceAttributes ?? {},
      ...(opt('K8S_NODE_NAME') !== undefined && { k8sNodeName: str('K8S_NODE_NAME') }),
      ...(opt('K8S_POD_NAME') !== undefined && { k8sPodName: str('K8S_POD_NAME') }),
      ...(opt('K8S_NAMESPACE_NAME') !== undefined && { k8sNamespaceName: str('K8S_NAMESPACE_NAME') }),
    },
  };
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** "host:port", ":port", "[v6]:port". Returns undefined when malformed (e.g. "[:::]:9469"). */
export function parseListenAddress(value: string): { host: string | undefined; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined && !isIPv6(m[1])) return undefined;
  const host = m[1] ?? m[2];
  if (host !== undefined && host !== '' && !isIP(host) && !HOSTNAME.test(host)) return undefined;
  return { host: host === '' ? undefined : host, port };
}

/** RFC 1123 host names (labels of letters, digits and inner hyphens). */
const HOSTNAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Why a metrics path cannot work, or undefined. */
export function metricsPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (path.includes('?') || path.includes('#'))
    return 'a query or fragment is never part of the matched path';
  if (path === '/' || path === '/healthz') return `"${path}" is taken by the exporter's own endpoint`;
  // RFC 3986 path characters; anything else would arrive percent-encoded and never match.
  if (!/^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]+$/.test(path))
    return 'has characters that are not valid in a URL path';
  return undefined;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** W3C-baggage-like "k=v,k2=v2" as the OTel spec defines for headers and resource attributes. */
export function parseKeyValues(value: string | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (value === undefined) return out;
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return out;
}

/** The known name nearest to a misspelling (Levenshtein distance ≤ 4). */
function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 5;
  for (const c of candidates) {
    const d = levenshtein(name, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
