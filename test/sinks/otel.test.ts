// The OpenTelemetry sink: a real MeterProvider and reader fed by a fake snapshot source, read
// through the SDK's in-memory exporter (mapping, temporality, isolation) and through a real
// OTLP/HTTP receiver on loopback (encodings, headers, retries, failure counting, final flush).

import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  type MetricData,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Collector } from '../../src/collectors/types.js';
import { loadConfig, type Config, type OtlpConfig } from '../../src/config/config.js';
import {
  CATALOG,
  FLOW_AGE_BUCKETS,
  OTEL_ATTRIBUTE,
  OTEL_PREFIX,
  buildInfo,
  collectorSuccess,
  cpuStats,
  entries,
  entriesLimit,
  flowAgeSeconds,
  flows,
  flowPasses,
  flowsByDstPort,
  otlpExportFailures,
} from '../../src/metrics/catalog.js';
import { sample, type Sample, type Snapshot, type SnapshotSource } from '../../src/metrics/sample.js';
import { Collection } from '../../src/scrape/collection.js';
import {
  OtlpExportHealth,
  buildResource,
  startOtlpPipeline,
  type OtlpPipeline,
} from '../../src/sinks/otel.js';
import {
  decodeExport,
  pointsOf,
  findMetric as findOtlp,
  startReceiver,
  type Receiver,
} from '../support/otlp.js';

interface LogLine {
  level: number;
  msg: string;
  code?: string;
  [key: string]: unknown;
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as LogLine);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const WARN = 40;
const INFO = 30;

function otlpConfig(overrides: Partial<OtlpConfig> = {}): OtlpConfig {
  return {
    endpoint: 'http://127.0.0.1:9/v1/metrics',
    protocol: 'http/protobuf',
    headers: {},
    timeoutMs: 10_000,
    compression: 'none',
    // Exports in these tests happen on forceFlush()/shutdown() only.
    intervalMs: 3_600_000,
    exportTimeoutMs: 30_000,
    temporality: 'cumulative',
    ...overrides,
  };
}

const RESOURCE: Config['resource'] = {
  serviceName: 'conntrack-exporter',
  attributes: { 'deployment.environment.name': 'test' },
  k8sNodeName: 'node-a',
  k8sPodName: 'conntrack-exporter-x1',
  k8sNamespaceName: 'monitoring',
};

class FakeSource implements SnapshotSource {
  calls = 0;
  constructor(public samples: () => Sample[]) {}
  collect(): Promise<Snapshot> {
    this.calls += 1;
    return Promise.resolve({ samples: this.samples(), takenAt: Date.now() });
  }
}

/** Cumulative le-counts for FLOW_AGE_BUCKETS: 1 flow <=1s, 2 more <=15s, 3 more <=3600s, 1 beyond. */
const AGE_CUMULATIVE = FLOW_AGE_BUCKETS.map((le) => (le < 1 ? 0 : le < 15 ? 1 : le < 3600 ? 3 : 6));

function baseSamples(found0 = 10): Sample[] {
  return [
    sample(entries, {}, 42),
    sample(entriesLimit, {}, 65536),
    sample(cpuStats.found, { cpu: '0' }, found0),
    sample(cpuStats.found, { cpu: '1' }, 20),
    sample(flows, { family: 'ipv4', protocol: 'tcp', state: 'established' }, 5),
    sample(flowsByDstPort, { protocol: 'tcp', port: '443' }, 4),
    sample(flowPasses, { result: 'ok' }, 3),
    {
      kind: 'histogram',
      metric: flowAgeSeconds,
      labels: { protocol: 'tcp' },
      bucketCounts: AGE_CUMULATIVE,
      count: 7,
      sum: 9000.5,
    },
    sample(collectorSuccess, { collector: 'table' }, 1),
    sample(collectorSuccess, { collector: 'cpu_stats' }, 1),
    sample(buildInfo, { version: '1.2.3', nodejs_version: 'v24.0.0' }, 1),
  ];
}

function metricsOf(exporter: InMemoryMetricExporter, index = -1): MetricData[] {
  const all = exporter.getMetrics();
  const rm: ResourceMetrics | undefined = all.at(index);
  return rm ? rm.scopeMetrics.flatMap((s) => s.metrics) : [];
}

function metric(list: MetricData[], name: string): MetricData | undefined {
  return list.find((m) => m.descriptor.name === name);
}

function pointValues(m: MetricData | undefined): { attributes: unknown; value: unknown }[] {
  return (m?.dataPoints ?? []).map((p) => ({ attributes: p.attributes, value: p.value }));
}

describe('catalogue for OpenTelemetry', () => {
  it('maps every label to an attribute and names every metric once, under one prefix', () => {
    const labels = new Set(CATALOG.flatMap((m) => m.labels));
    expect([...labels].filter((label) => OTEL_ATTRIBUTE[label] === undefined)).toEqual([]);
    const names = CATALOG.map((m) => m.otelName);
    expect(new Set(names).size).toBe(names.length);
    const hostmetrics = ['system.network.conntrack.count', 'system.network.conntrack.max'];
    expect(names.filter((n) => !n.startsWith(OTEL_PREFIX)).sort()).toEqual(hostmetrics);
    expect(entries.otelName).toBe('system.network.conntrack.count');
    expect(entriesLimit.otelName).toBe('system.network.conntrack.max');
    expect([entries.unit, entriesLimit.unit]).toEqual(['{entries}', '{entries}']);
  });

  it('is what docs/otel.md documents (every label mapping, the prefix, the hostmetrics names)', () => {
    const doc = readFileSync(new URL('../../docs/otel.md', import.meta.url), 'utf8');
    for (const [label, attribute] of Object.entries(OTEL_ATTRIBUTE)) {
      expect(doc).toContain(`\`${label}\``);
      expect(doc).toContain(`\`${attribute}\``);
    }
    expect(doc).toContain(`\`${OTEL_PREFIX}*\``);
    expect(doc).toContain(`\`${entries.otelName}\``);
    expect(doc).toContain(`\`${entriesLimit.otelName}\``);
  });
});

describe('OTLP pipeline (in-memory exporter)', () => {
  let pipeline: OtlpPipeline | undefined;
  afterEach(async () => {
    await pipeline?.shutdown(1000);
    pipeline = undefined;
  });

  function start(source: SnapshotSource, temporality: AggregationTemporality) {
    const exporter = new InMemoryMetricExporter(temporality);
    const { log, lines } = capturingLogger();
    const health = new OtlpExportHealth(log, 'memory');
    pipeline = startOtlpPipeline({
      source,
      otlp: otlpConfig(),
      resource: RESOURCE,
      version: '1.2.3',
      health,
      log,
      exporter,
      hostname: 'host-a',
    });
    return { exporter, health, lines, pipeline };
  }

  it('pushes every sample under its otelName, unit, description and attribute names', async () => {
    const source = new FakeSource(() => baseSamples());
    const { exporter, pipeline } = start(source, AggregationTemporality.CUMULATIVE);
    await pipeline.forceFlush();
    const got = metricsOf(exporter);

    const expectedDefs = [...new Set(baseSamples().map((s) => s.metric))];
    expect(got.map((m) => m.descriptor.name).sort()).toEqual(expectedDefs.map((d) => d.otelName).sort());
    for (const def of expectedDefs) {
      const m = metric(got, def.otelName);
      expect({
        name: def.otelName,
        unit: m?.descriptor.unit,
        description: m?.descriptor.description,
      }).toEqual({
        name: def.otelName,
        unit: def.unit,
        description: def.help,
      });
      const kind = {
        gauge: DataPointType.GAUGE,
        counter: DataPointType.SUM,
        histogram: DataPointType.HISTOGRAM,
      };
      expect({ name: def.otelName, kind: m?.dataPointType }).toEqual({
        name: def.otelName,
        kind: kind[def.type],
      });
    }

    expect(pointValues(metric(got, 'system.network.conntrack.count'))).toEqual([
      { attributes: {}, value: 42 },
    ]);
    expect(pointValues(metric(got, 'system.network.conntrack.max'))).toEqual([
      { attributes: {}, value: 65536 },
    ]);
    // cpu.logical_number is an int attribute in the semantic conventions.
    expect(pointValues(metric(got, 'conntrack.stat.found'))).toEqual([
      { attributes: { 'cpu.logical_number': 0 }, value: 10 },
      { attributes: { 'cpu.logical_number': 1 }, value: 20 },
    ]);
    expect(pointValues(metric(got, 'conntrack.flows'))).toEqual([
      {
        attributes: { 'network.type': 'ipv4', 'network.transport': 'tcp', 'conntrack.state': 'established' },
        value: 5,
      },
    ]);
    expect(pointValues(metric(got, 'conntrack.flows.by_dst_port'))).toEqual([
      { attributes: { 'network.transport': 'tcp', 'conntrack.port': '443' }, value: 4 },
    ]);
    expect(pointValues(metric(got, 'conntrack.scrape.collector.success'))).toContainEqual({
      attributes: { 'conntrack.collector': 'cpu_stats' },
      value: 1,
    });
    expect(pointValues(metric(got, 'conntrack.exporter.build_info'))).toEqual([
      { attributes: { 'service.version': '1.2.3', 'process.runtime.version': 'v24.0.0' }, value: 1 },
    ]);

    const found = metric(got, 'conntrack.stat.found');
    expect(found?.dataPointType === DataPointType.SUM && found.isMonotonic).toBe(true);
    expect(found?.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
  });

  it('turns the flow-age histogram into per-bucket counts with the catalogue bounds', async () => {
    const { exporter, pipeline } = start(
      new FakeSource(() => baseSamples()),
      AggregationTemporality.CUMULATIVE,
    );
    await pipeline.forceFlush();
    const age = metric(metricsOf(exporter), 'conntrack.flow.age');
    expect(age?.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(age?.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    expect(age?.descriptor.unit).toBe('s');
    const point = age?.dataPoints[0];
    expect(point?.attributes).toEqual({ 'network.transport': 'tcp' });
    const value = point?.value as {
      buckets: { boundaries: number[]; counts: number[] };
      count: number;
      sum: number;
    };
    expect(value.buckets.boundaries).toEqual([...FLOW_AGE_BUCKETS]);
    expect(value.count).toBe(7);
    expect(value.sum).toBe(9000.5);
    expect(value.buckets.counts).toHaveLength(FLOW_AGE_BUCKETS.length + 1);
    expect(value.buckets.counts.reduce((a, b) => a + b, 0)).toBe(7);
    // Back to Prometheus' cumulative le-counts: the same numbers /metrics serves.
    const cumulative = value.buckets.counts
      .slice(0, -1)
      .map((_, i, c) => c.slice(0, i + 1).reduce((a, b) => a + b, 0));
    expect(cumulative).toEqual(AGE_CUMULATIVE);
  });

  it('takes one snapshot per export, shared by every collector callback', async () => {
    const source = new FakeSource(() => baseSamples());
    const { pipeline } = start(source, AggregationTemporality.CUMULATIVE);
    await pipeline.forceFlush();
    expect(source.calls).toBe(1);
    await pipeline.forceFlush();
    expect(source.calls).toBe(2);
  });

  it('sets the resource: service, host, downward-API names, OTEL_RESOURCE_ATTRIBUTES', async () => {
    const { exporter, pipeline } = start(
      new FakeSource(() => baseSamples()),
      AggregationTemporality.CUMULATIVE,
    );
    await pipeline.forceFlush();
    const attrs = exporter.getMetrics()[0]?.resource.attributes;
    expect(attrs).toMatchObject({
      'service.name': 'conntrack-exporter',
      'service.version': '1.2.3',
      'host.name': 'host-a',
      'k8s.node.name': 'node-a',
      'k8s.pod.name': 'conntrack-exporter-x1',
      'k8s.namespace.name': 'monitoring',
      'deployment.environment.name': 'test',
      'telemetry.sdk.language': 'nodejs',
    });
  });

  it('drops the series of a collector that failed instead of repeating stale values (cumulative)', async () => {
    let failing = false;
    const source = new FakeSource(() =>
      baseSamples().filter(
        (s) => !(failing && (s.metric.collector === 'cpu_stats' || s.metric === flowsByDstPort)),
      ),
    );
    const { exporter, pipeline } = start(source, AggregationTemporality.CUMULATIVE);
    await pipeline.forceFlush();
    expect(metric(metricsOf(exporter), 'conntrack.stat.found')).toBeDefined();
    failing = true;
    await pipeline.forceFlush();
    const second = metricsOf(exporter);
    expect(metric(second, 'conntrack.stat.found')).toBeUndefined();
    expect(metric(second, 'conntrack.flows.by_dst_port')).toBeUndefined();
    expect(pointValues(metric(second, 'system.network.conntrack.count'))).toEqual([
      { attributes: {}, value: 42 },
    ]);
    // Back again: the cumulative total is the counter's value, not a sum of two reports.
    failing = false;
    await pipeline.forceFlush();
    expect(pointValues(metric(metricsOf(exporter), 'conntrack.stat.found'))[0]?.value).toBe(10);
  });

  it('loses only the instruments of a collector whose callback throws', async () => {
    // A label set that throws when read: the table callback fails, the others do not.
    const poisoned = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('poisoned labels');
        },
      },
    );
    const source = new FakeSource(() => [
      { kind: 'value', metric: entries, labels: poisoned, value: 1 },
      ...baseSamples().slice(1),
    ]);
    const { exporter, pipeline } = start(source, AggregationTemporality.CUMULATIVE);
    await pipeline.forceFlush();
    const got = metricsOf(exporter);
    expect(metric(got, 'system.network.conntrack.count')).toBeUndefined();
    expect(metric(got, 'system.network.conntrack.max')).toBeUndefined();
    expect(pointValues(metric(got, 'conntrack.stat.found'))).toHaveLength(2);
    expect(metric(got, 'conntrack.flows')).toBeDefined();
    expect(metric(got, 'conntrack.exporter.build_info')).toBeDefined();
  });

  it('reports deltas of the cumulative counters under delta temporality', async () => {
    let found0 = 10;
    const { exporter, pipeline } = start(
      new FakeSource(() => baseSamples(found0)),
      AggregationTemporality.DELTA,
    );
    await pipeline.forceFlush();
    found0 = 15;
    await pipeline.forceFlush();
    const [first, second] = [metricsOf(exporter, 0), metricsOf(exporter, 1)];
    const found = metric(second, 'conntrack.stat.found');
    expect(found?.aggregationTemporality).toBe(AggregationTemporality.DELTA);
    expect(found?.dataPointType === DataPointType.SUM && found.isMonotonic).toBe(true);
    expect(pointValues(metric(first, 'conntrack.stat.found'))).toEqual([
      { attributes: { 'cpu.logical_number': 0 }, value: 10 },
      { attributes: { 'cpu.logical_number': 1 }, value: 20 },
    ]);
    expect(pointValues(found)).toEqual([
      { attributes: { 'cpu.logical_number': 0 }, value: 5 },
      { attributes: { 'cpu.logical_number': 1 }, value: 0 },
    ]);
    // The histogram carries the current population in each interval.
    const age1 = metric(first, 'conntrack.flow.age');
    const age2 = metric(second, 'conntrack.flow.age');
    expect(age2?.aggregationTemporality).toBe(AggregationTemporality.DELTA);
    expect((age2?.dataPoints[0]?.value as { count: number }).count).toBe(7);
    expect(age2?.dataPoints[0]?.startTime).toEqual(age1?.dataPoints[0]?.endTime);
  });

  it('runs with the real Collection: a throwing collector only loses its own metrics', async () => {
    const { log } = capturingLogger();
    const collectors: Collector[] = [
      {
        name: 'table',
        collect: () => Promise.resolve({ samples: [sample(entries, {}, 7)], source: 'netlink' }),
      },
      { name: 'cpu_stats', collect: () => Promise.reject(new Error('EPERM')) },
    ];
    const collection = new Collection(collectors, () => [sample(otlpExportFailures, {}, 0)], log);
    const { exporter, pipeline } = start(collection, AggregationTemporality.CUMULATIVE);
    await pipeline.forceFlush();
    const got = metricsOf(exporter);
    expect(pointValues(metric(got, 'system.network.conntrack.count'))).toEqual([
      { attributes: {}, value: 7 },
    ]);
    expect(got.filter((m) => m.descriptor.name.startsWith('conntrack.stat.'))).toEqual([]);
    expect(pointValues(metric(got, 'conntrack.scrape.collector.success'))).toEqual([
      { attributes: { 'conntrack.collector': 'table' }, value: 1 },
      { attributes: { 'conntrack.collector': 'cpu_stats' }, value: 0 },
    ]);
    expect(pointValues(metric(got, 'conntrack.otlp.export_failures'))).toEqual([
      { attributes: {}, value: 0 },
    ]);
  });
});

describe('OTLP pipeline over HTTP (loopback receiver)', () => {
  let receiver: Receiver | undefined;
  let pipeline: OtlpPipeline | undefined;
  const saved = { ...process.env };

  beforeEach(() => {
    // Values the SDK's own environment readers would pick up; ours must win (we pass everything).
    process.env.OTEL_EXPORTER_OTLP_HEADERS = 'x-leak=1';
    process.env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE = 'delta';
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://127.0.0.1:9';
    process.env.OTEL_EXPORTER_OTLP_COMPRESSION = 'gzip';
  });

  afterEach(async () => {
    await pipeline?.shutdown(1000);
    await receiver?.close();
    pipeline = undefined;
    receiver = undefined;
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  function start(
    otlp: Partial<OtlpConfig>,
    samples: (health: OtlpExportHealth) => Sample[] = () => baseSamples(),
  ) {
    const { log, lines } = capturingLogger();
    const endpoint = `${receiver?.url ?? ''}/v1/metrics`;
    const health = new OtlpExportHealth(log, endpoint);
    pipeline = startOtlpPipeline({
      source: new FakeSource(() => samples(health)),
      otlp: otlpConfig({ endpoint, ...otlp }),
      resource: RESOURCE,
      version: '1.2.3',
      health,
      log,
      hostname: 'host-a',
    });
    return { health, lines, pipeline };
  }

  it('sends protobuf with our headers, our temporality, and nothing from process.env', async () => {
    receiver = await startReceiver();
    const { pipeline } = start({ protocol: 'http/protobuf', headers: { 'x-tenant': 'a b' } });
    await pipeline.forceFlush();
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0];
    if (!req) throw new Error('no request');
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/metrics');
    expect(req.headers['content-type']).toBe('application/x-protobuf');
    expect(req.headers['content-encoding']).toBeUndefined();
    expect(req.headers['x-tenant']).toBe('a b');
    expect(req.headers['x-leak']).toBeUndefined();
    expect(req.headers['user-agent']).toMatch(/^conntrack-exporter\/1\.2\.3 /);
    const decoded = decodeExport(req.body, req.headers);
    expect(decoded[0]?.resource['service.name']).toBe('conntrack-exporter');
    expect(pointsOf(decoded, 'system.network.conntrack.count').map((p) => p.value)).toEqual([42]);
    expect(
      pointsOf(decoded, 'conntrack.stat.found', { 'cpu.logical_number': 1 }).map((p) => p.value),
    ).toEqual([20]);
    const found = findOtlp(decoded, 'conntrack.stat.found');
    expect({ temporality: found?.temporality, monotonic: found?.monotonic, unit: found?.unit }).toEqual({
      temporality: 2,
      monotonic: true,
      unit: '{events}',
    });
    const age = pointsOf(decoded, 'conntrack.flow.age')[0];
    expect(age?.bucketCounts).toHaveLength(FLOW_AGE_BUCKETS.length + 1);
    expect(age?.explicitBounds).toEqual([...FLOW_AGE_BUCKETS]);
  });

  it('sends gzip-compressed JSON when configured', async () => {
    receiver = await startReceiver();
    const { pipeline } = start({ protocol: 'http/json', compression: 'gzip', temporality: 'delta' });
    await pipeline.forceFlush();
    const req = receiver.requests[0];
    if (!req) throw new Error('no request');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['content-encoding']).toBe('gzip');
    const decoded = decodeExport(req.body, req.headers);
    expect(findOtlp(decoded, 'conntrack.stat.found')?.temporality).toBe(1);
    expect(pointsOf(decoded, 'conntrack.flows').map((p) => p.attributes)).toEqual([
      { 'network.type': 'ipv4', 'network.transport': 'tcp', 'conntrack.state': 'established' },
    ]);
  });

  it('retries a 503 (the SDK backs off) and counts no failure when the retry succeeds', async () => {
    receiver = await startReceiver({ statuses: [503, 200] });
    const { pipeline, health, lines } = start({ protocol: 'http/protobuf' });
    await pipeline.forceFlush();
    expect(receiver.requests.map((r) => r.status)).toEqual([503, 200]);
    expect(receiver.requests[1]?.body.equals(receiver.requests[0]?.body ?? Buffer.alloc(0))).toBe(true);
    expect(health.failures).toBe(0);
    expect(lines.filter((l) => l.level >= WARN)).toEqual([]);
  });

  it('counts failed exports, logs once per state change, and pushes the count too', async () => {
    receiver = await startReceiver({ statuses: [400, 400, 200] });
    const { pipeline, health, lines } = start({ protocol: 'http/json' }, (h) => [
      ...baseSamples(),
      sample(otlpExportFailures, {}, h.failures),
    ]);
    await pipeline.forceFlush();
    await pipeline.forceFlush();
    expect(health.failures).toBe(2);
    const warnings = lines.filter((l) => l.level === WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'ERR_OTLP_EXPORT', cause: 400 });
    await pipeline.forceFlush();
    expect(lines.filter((l) => l.level === INFO && l.msg === 'OTLP export recovered')).toHaveLength(1);
    const last = receiver.requests[2];
    if (!last) throw new Error('no third request');
    expect(pointsOf(decodeExport(last.body, last.headers), 'conntrack.otlp.export_failures')[0]?.value).toBe(
      2,
    );
  });

  it('delivers a last export on shutdown', async () => {
    receiver = await startReceiver();
    const { pipeline: p } = start({ protocol: 'http/protobuf' });
    pipeline = undefined;
    await p.shutdown(5000);
    expect(receiver.requests).toHaveLength(1);
  });

  it('gives up on the last export at the deadline when the receiver hangs', async () => {
    receiver = await startReceiver({ hang: true });
    const { pipeline: p, lines } = start({ protocol: 'http/protobuf' });
    pipeline = undefined;
    await p.shutdown(300);
    expect(receiver.requests).toHaveLength(1);
    expect(lines.filter((l) => l.code === 'ERR_OTLP_SHUTDOWN')).toHaveLength(1);
  });
});

describe('resource configuration', () => {
  it('follows the service.name precedence of the spec', () => {
    const base = { PATH: '' };
    expect(loadConfig(base).resource.serviceName).toBe('conntrack-exporter');
    expect(loadConfig({ ...base, OTEL_RESOURCE_ATTRIBUTES: 'service.name=edge' }).resource.serviceName).toBe(
      'edge',
    );
    expect(
      loadConfig({ ...base, OTEL_RESOURCE_ATTRIBUTES: 'service.name=edge', OTEL_SERVICE_NAME: 'ct' }).resource
        .serviceName,
    ).toBe('ct');
  });

  it('lets OTEL_RESOURCE_ATTRIBUTES override detected attributes but not service.name', () => {
    const resource = buildResource(
      {
        serviceName: 'ct',
        attributes: { 'host.name': 'explicit', 'service.name': 'ignored' },
        k8sNodeName: 'n1',
      },
      '9.9.9',
      'detected',
    );
    expect(resource.attributes).toMatchObject({
      'service.name': 'ct',
      'service.version': '9.9.9',
      'host.name': 'explicit',
      'k8s.node.name': 'n1',
    });
    expect(resource.attributes).not.toHaveProperty('k8s.pod.name');
  });
});
