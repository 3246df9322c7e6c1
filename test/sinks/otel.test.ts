// The OpenTelemetry sink: a real MeterProvider and reader fed by a fake snapshot source, read
// through the SDK's in-memory exporter (mapping, temporality, isolation) and through a real
// OTLP/HTTP receiver on loopback (encodings, headers, retries, failure counting, final flush).

import { readFileSync } from 'node:fs';
import type { Attributes } from '@opentelemetry/api';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';
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
  LIFETIME_BUCKETS,
  OTEL_ATTRIBUTE,
  OTEL_PREFIX,
  buildInfo,
  collectorSuccess,
  connectionLifetime,
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
  gaugeHistogramNames,
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
import { waitFor } from '../support/wait.js';

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
  return { log: createLogger('debug', stream), lines };
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

/** An attribute set as a key independent of attribute order. */
function key(attributes: Attributes): string {
  return JSON.stringify(Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1))));
}

/** A metric's points by attribute set (each set at most once). */
function byAttributes(m: MetricData | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const p of m?.dataPoints ?? []) {
    const k = key(p.attributes);
    expect(out.has(k), `duplicate attribute set ${k}`).toBe(false);
    out.set(k, p.value);
  }
  return out;
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

describe('OpenTelemetry dependencies', () => {
  it('pins every 0.x OpenTelemetry package exactly (0.x minor releases break APIs)', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const otel = Object.entries(pkg.dependencies).filter(([name]) => name.startsWith('@opentelemetry/'));
    expect(otel.length).toBeGreaterThan(0);
    const unpinned = otel.filter(([, range]) => /^\D*0\./.test(range) && !/^0\.\d+\.\d+$/.test(range));
    expect(unpinned).toEqual([]);
  });
});

describe('OTLP pipeline (real MeterProvider and reader, in-memory exporter)', () => {
  let pipeline: OtlpPipeline | undefined;
  afterEach(async () => {
    await pipeline?.shutdown(1000);
    pipeline = undefined;
  });

  function start(
    source: SnapshotSource,
    temporality: AggregationTemporality,
    otlp: Partial<OtlpConfig> = {},
  ) {
    const exporter = new InMemoryMetricExporter(temporality);
    const { log, lines } = capturingLogger();
    const health = new OtlpExportHealth(log, 'memory');
    pipeline = startOtlpPipeline({
      source,
      otlp: otlpConfig(otlp),
      resource: RESOURCE,
      version: '1.2.3',
      health,
      log,
      exporter,
      hostname: 'host-a',
    });
    return { exporter, health, lines, pipeline };
  }

  it('pushes every sample under its otelName, unit, description, kind and attribute set', async () => {
    const source = new FakeSource(() => baseSamples());
    const { exporter, pipeline } = start(source, AggregationTemporality.CUMULATIVE);
    await pipeline.forceFlush();
    const got = metricsOf(exporter);

    const defs = [...new Set(baseSamples().map((s) => s.metric))];
    const expected = defs.flatMap((def) => {
      if (def.type !== 'gaugehistogram') return [{ name: def.otelName, def }];
      const n = gaugeHistogramNames(def);
      return [n.bucket, n.count, n.sum].map((name) => ({ name, def }));
    });
    expect(got.map((m) => m.descriptor.name).sort()).toEqual(expected.map((e) => e.name).sort());
    for (const { name, def } of expected.filter((e) => e.def.type !== 'gaugehistogram')) {
      const m = metric(got, name);
      expect({ name, unit: m?.descriptor.unit, description: m?.descriptor.description }).toEqual({
        name,
        unit: def.unit,
        description: def.help,
      });
      const kind = def.type === 'counter' ? DataPointType.SUM : DataPointType.GAUGE;
      expect({ name, kind: m?.dataPointType }).toEqual({ name, kind });
    }

    expect(byAttributes(metric(got, 'system.network.conntrack.count'))).toEqual(new Map([['{}', 42]]));
    expect(byAttributes(metric(got, 'system.network.conntrack.max'))).toEqual(new Map([['{}', 65536]]));
    // cpu.logical_number is an int attribute in the semantic conventions.
    expect(byAttributes(metric(got, 'conntrack.stat.found'))).toEqual(
      new Map([
        [key({ 'cpu.logical_number': 0 }), 10],
        [key({ 'cpu.logical_number': 1 }), 20],
      ]),
    );
    expect(byAttributes(metric(got, 'conntrack.flows'))).toEqual(
      new Map([
        [key({ 'network.type': 'ipv4', 'network.transport': 'tcp', 'conntrack.state': 'established' }), 5],
      ]),
    );
    expect(byAttributes(metric(got, 'conntrack.flows.by_dst_port'))).toEqual(
      new Map([[key({ 'network.transport': 'tcp', 'conntrack.port': '443' }), 4]]),
    );
    expect(byAttributes(metric(got, 'conntrack.scrape.collector.success'))).toEqual(
      new Map([
        [key({ 'conntrack.collector': 'table' }), 1],
        [key({ 'conntrack.collector': 'cpu_stats' }), 1],
      ]),
    );
    expect(byAttributes(metric(got, 'conntrack.exporter.build_info'))).toEqual(
      new Map([[key({ 'service.version': '1.2.3', 'process.runtime.version': 'v24.0.0' }), 1]]),
    );

    const found = metric(got, 'conntrack.stat.found');
    expect(found?.dataPointType === DataPointType.SUM && found.isMonotonic).toBe(true);
    expect(found?.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    expect(exporter.getMetrics()[0]?.scopeMetrics.map((s) => s.scope)).toEqual([
      { name: 'conntrack-exporter', version: '1.2.3' },
    ]);
  });

  it('sends the flow-age gauge histogram as gauges: buckets by le, count and sum', async () => {
    const { exporter, pipeline } = start(
      new FakeSource(() => baseSamples()),
      AggregationTemporality.CUMULATIVE,
    );
    await pipeline.forceFlush();
    const got = metricsOf(exporter);
    const names = gaugeHistogramNames(flowAgeSeconds);
    const buckets = metric(got, names.bucket);
    expect(buckets?.dataPointType).toBe(DataPointType.GAUGE);
    expect(buckets?.descriptor.unit).toBe('{flows}');
    const tcp = { 'network.transport': 'tcp' };
    expect(byAttributes(buckets)).toEqual(
      new Map([
        ...FLOW_AGE_BUCKETS.map((le, i): [string, number] => [
          key({ ...tcp, le: String(le) }),
          AGE_CUMULATIVE[i] ?? -1,
        ]),
        [key({ ...tcp, le: '+Inf' }), 7],
      ]),
    );
    expect(metric(got, names.count)?.dataPointType).toBe(DataPointType.GAUGE);
    expect(byAttributes(metric(got, names.count))).toEqual(new Map([[key(tcp), 7]]));
    expect(metric(got, names.sum)?.descriptor.unit).toBe('s');
    expect(byAttributes(metric(got, names.sum))).toEqual(new Map([[key(tcp), 9000.5]]));
    // Nothing cumulative that could go down: no OTLP histogram at all.
    expect(got.filter((m) => m.dataPointType === DataPointType.HISTOGRAM)).toEqual([]);
  });

  it('sends the connection lifetime as an explicit-bucket histogram, cumulative or delta', async () => {
    // 2 connections lived <= 0.5 s, 3 more <= 30 s (cumulative le-counts, as the collector keeps them).
    let grown = 0;
    const lifetime = (): Sample => ({
      kind: 'histogram',
      metric: connectionLifetime,
      labels: { protocol: 'udp' },
      bucketCounts: LIFETIME_BUCKETS.map((le) => (le < 0.5 ? 0 : le < 30 ? 2 : 5 + grown)),
      count: 5 + grown,
      sum: 61 + 30 * grown,
    });
    const udp = { 'network.transport': 'udp' };
    const countsOf = (m: MetricData | undefined) =>
      m?.dataPointType === DataPointType.HISTOGRAM ? m.dataPoints.map((p) => p.value) : [];
    const perBucket = (first: number, second: number) =>
      [...LIFETIME_BUCKETS, Infinity].map((le) => (le === 0.5 ? first : le === 30 ? second : 0));

    for (const temporality of [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]) {
      grown = 0;
      const { exporter, pipeline } = start(new FakeSource(() => [lifetime()]), temporality);
      await pipeline.forceFlush();
      grown = 1; // one more connection of 30 s
      await pipeline.forceFlush();
      const [first, second] = [metricsOf(exporter, 0), metricsOf(exporter, 1)];
      const m = metric(first, connectionLifetime.otelName);
      expect(m?.dataPointType).toBe(DataPointType.HISTOGRAM);
      expect(m?.aggregationTemporality).toBe(temporality);
      expect(m?.descriptor.unit).toBe('s');
      expect(m?.dataPoints[0]?.attributes).toEqual(udp);
      expect(countsOf(m)).toEqual([
        { buckets: { boundaries: [...LIFETIME_BUCKETS], counts: perBucket(2, 3) }, count: 5, sum: 61 },
      ]);
      expect(countsOf(metric(second, connectionLifetime.otelName))).toEqual(
        temporality === AggregationTemporality.DELTA
          ? [{ buckets: { boundaries: [...LIFETIME_BUCKETS], counts: perBucket(0, 1) }, count: 1, sum: 30 }]
          : [{ buckets: { boundaries: [...LIFETIME_BUCKETS], counts: perBucket(2, 4) }, count: 6, sum: 91 }],
      );
      await pipeline.shutdown(1000);
    }
  });

  it('takes one snapshot per export', async () => {
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

  it('sends what the snapshot has and nothing else: a failed collector and a port that left the top K', async () => {
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
    expect(byAttributes(metric(second, 'system.network.conntrack.count'))).toEqual(new Map([['{}', 42]]));
    // Back again: the cumulative total is the counter's value and keeps its start.
    failing = false;
    await pipeline.forceFlush();
    const third = metric(metricsOf(exporter), 'conntrack.stat.found');
    expect(byAttributes(third).get(key({ 'cpu.logical_number': 0 }))).toBe(10);
    const first = metric(metricsOf(exporter, 0), 'conntrack.stat.found');
    expect(third?.dataPoints.map((p) => p.startTime)).toEqual(first?.dataPoints.map((p) => p.startTime));
  });

  it('exports nothing of ours while the snapshot fails, says so once, and recovers', async () => {
    let fail = true;
    const source: SnapshotSource = {
      collect: () =>
        fail
          ? Promise.reject(Object.assign(new Error('collection broke'), { code: 'ERR_TEST' }))
          : Promise.resolve({ samples: baseSamples(), takenAt: Date.now() }),
    };
    const { exporter, lines, pipeline } = start(source, AggregationTemporality.CUMULATIVE);
    await pipeline.forceFlush();
    await pipeline.forceFlush();
    // No stale or empty export is sent: the reader skips an export without metrics.
    expect(exporter.getMetrics()).toEqual([]);
    const warnings = lines.filter((l) => l.level === WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      code: 'ERR_OTLP_COLLECT',
      cause: 'ERR_TEST',
      err: 'collection broke',
    });
    fail = false;
    await pipeline.forceFlush();
    expect(byAttributes(metric(metricsOf(exporter), 'system.network.conntrack.count'))).toEqual(
      new Map([['{}', 42]]),
    );
    expect(lines.filter((l) => l.level === INFO && l.msg === 'OTLP collection recovered')).toHaveLength(1);
  });

  it('gives up on a snapshot that does not arrive within the export timeout', async () => {
    let hang = true;
    const source: SnapshotSource = {
      collect: () =>
        hang
          ? new Promise<Snapshot>(() => undefined)
          : Promise.resolve({ samples: baseSamples(), takenAt: Date.now() }),
    };
    const { exporter, lines, pipeline } = start(source, AggregationTemporality.CUMULATIVE, {
      exportTimeoutMs: 200,
    });
    await pipeline.forceFlush();
    expect(exporter.getMetrics()).toEqual([]);
    expect(lines.filter((l) => l.code === 'ERR_OTLP_COLLECT_TIMEOUT')).toHaveLength(1);
    hang = false;
    await pipeline.forceFlush();
    expect(metric(metricsOf(exporter), 'system.network.conntrack.count')).toBeDefined();
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
    const cpu0 = key({ 'cpu.logical_number': 0 });
    const cpu1 = key({ 'cpu.logical_number': 1 });
    expect(byAttributes(metric(first, 'conntrack.stat.found'))).toEqual(
      new Map([
        [cpu0, 10],
        [cpu1, 20],
      ]),
    );
    expect(byAttributes(found)).toEqual(
      new Map([
        [cpu0, 5],
        [cpu1, 0],
      ]),
    );
    // Each delta point starts where the previous one of its series ended.
    const end1 = metric(first, 'conntrack.stat.found')?.dataPoints.map((p) => p.endTime);
    expect(found?.dataPoints.map((p) => p.startTime)).toEqual(end1);
    // Gauges (and the gauge histogram) have no temporality to choose: the current value.
    expect(byAttributes(metric(second, gaugeHistogramNames(flowAgeSeconds).count))).toEqual(
      new Map([[key({ 'network.transport': 'tcp' }), 7]]),
    );
  });

  it('treats a counter that went down as a new series (reset): new start, its total as delta', async () => {
    let found0 = 10;
    const cumulative = start(new FakeSource(() => baseSamples(found0)), AggregationTemporality.CUMULATIVE);
    await cumulative.pipeline.forceFlush();
    found0 = 3;
    await cumulative.pipeline.forceFlush();
    const before = metric(metricsOf(cumulative.exporter, 0), 'conntrack.stat.found');
    const after = metric(metricsOf(cumulative.exporter, 1), 'conntrack.stat.found');
    const at = (m: MetricData | undefined, cpu: number) =>
      m?.dataPoints.find((p) => p.attributes['cpu.logical_number'] === cpu);
    expect(at(after, 0)?.value).toBe(3);
    expect(at(after, 0)?.startTime).toEqual(at(before, 0)?.endTime);
    expect(at(after, 1)?.startTime).toEqual(at(before, 1)?.startTime);
    await cumulative.pipeline.shutdown(1000);

    found0 = 10;
    const delta = start(new FakeSource(() => baseSamples(found0)), AggregationTemporality.DELTA);
    await delta.pipeline.forceFlush();
    found0 = 3;
    await delta.pipeline.forceFlush();
    expect(at(metric(metricsOf(delta.exporter, 1), 'conntrack.stat.found'), 0)?.value).toBe(3);
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
    expect(byAttributes(metric(got, 'system.network.conntrack.count'))).toEqual(new Map([['{}', 7]]));
    expect(got.filter((m) => m.descriptor.name.startsWith('conntrack.stat.'))).toEqual([]);
    expect(byAttributes(metric(got, 'conntrack.scrape.collector.success'))).toEqual(
      new Map([
        [key({ 'conntrack.collector': 'table' }), 1],
        [key({ 'conntrack.collector': 'cpu_stats' }), 0],
      ]),
    );
    expect(byAttributes(metric(got, 'conntrack.otlp.export_failures'))).toEqual(new Map([['{}', 0]]));
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
    const age = gaugeHistogramNames(flowAgeSeconds);
    expect(findOtlp(decoded, age.bucket)?.kind).toBe('gauge');
    expect(pointsOf(decoded, age.bucket)).toHaveLength(FLOW_AGE_BUCKETS.length + 1);
    expect(
      pointsOf(decoded, age.bucket, { 'network.transport': 'tcp', le: '+Inf' }).map((p) => p.value),
    ).toEqual([7]);
    expect(pointsOf(decoded, age.count, { 'network.transport': 'tcp' }).map((p) => p.value)).toEqual([7]);
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

  it('a receiver that never answers: the export is logged as timed out, not as a concurrency limit (issue 11)', async () => {
    receiver = await startReceiver({ hang: true });
    // The request's own timeout (OTEL_EXPORTER_OTLP_TIMEOUT) outlives the reader's export timeout:
    // the reader gives up first, and the hung request still holds the delegate's only slot.
    const { health, lines } = start({ intervalMs: 400, exportTimeoutMs: 400, timeoutMs: 60_000 });
    await waitFor(() => health.failures >= 3, { what: 'three failed exports' });
    const warnings = lines.filter((l) => l.level >= WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      code: 'ERR_OTLP_EXPORT_TIMEOUT',
      err: 'OTLP export timed out after 400 ms',
    });
    expect(warnings[0]?.msg).toMatch(/^OTLP export failing: timed out/);
    expect(JSON.stringify(lines)).not.toMatch(/Concurrent export limit/);
    // Exports are not stacked on the hung one: the receiver saw one request.
    expect(receiver.requests).toHaveLength(1);
  });

  it("the request's own timeout (shorter than the export timeout) is logged as a timeout too", async () => {
    receiver = await startReceiver({ hang: true });
    const {
      health,
      lines,
      pipeline: p,
    } = start({ intervalMs: 3_600_000, exportTimeoutMs: 30_000, timeoutMs: 300 });
    await p.forceFlush();
    expect(health.failures).toBe(1);
    const warnings = lines.filter((l) => l.level >= WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'ERR_OTLP_EXPORT_TIMEOUT', err: 'Request timed out' });
  });

  it('a refused connection is a failure, not a timeout', async () => {
    const {
      health,
      lines,
      pipeline: p,
    } = start({ endpoint: 'http://127.0.0.1:9/v1/metrics', timeoutMs: 300 });
    await p.forceFlush();
    expect(health.failures).toBe(1);
    expect(lines.filter((l) => l.level >= WARN)[0]).toMatchObject({
      code: 'ERR_OTLP_EXPORT',
      cause: 'ECONNREFUSED',
    });
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
