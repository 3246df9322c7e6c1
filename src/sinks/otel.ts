// Layer: sinks. Pushes the same snapshot as /metrics over OTLP/HTTP with the OpenTelemetry metrics
// SDK. The data enters the SDK through its public MetricProducer interface (SnapshotProducer):
// every collect of the periodic reader takes one snapshot and turns exactly its samples into
// metric data, named by the catalogue's `otelName`. What the snapshot lacks (a failed collector, a
// port that left the top K) is not sent; nothing has to be filtered afterwards. Knows the catalogue
// and the Sample types; nothing of the kernel. Every OTLP setting comes from Config: nothing here
// reads OTEL_* variables, and the SDK's own environment readers are bypassed (createOtlpExporter).
//
// The wiring imports this module only when OTLP is on (main.ts): the SDK then costs nothing.

import { hostname } from 'node:os';
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import {
  AggregationTemporalityPreference,
  OTLPMetricExporterBase,
} from '@opentelemetry/exporter-metrics-otlp-http';
import {
  createOtlpHttpExportDelegate,
  httpAgentFactoryFromOptions,
} from '@opentelemetry/otlp-exporter-base/node-http';
import {
  JsonMetricsSerializer,
  MetricsExporterMetricsHelper,
  ProtobufMetricsSerializer,
} from '@opentelemetry/otlp-transformer';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type CollectionResult,
  type GaugeMetricData,
  type HistogramMetricData,
  type MetricCollectOptions,
  type MetricData,
  type MetricProducer,
  type PushMetricExporter,
  type ResourceMetrics,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log.js';
import { CATALOG, OTEL_ATTRIBUTE, type MetricDef } from '../metrics/catalog.js';
import type { HistogramSample, Labels, Sample, Snapshot, SnapshotSource } from '../metrics/sample.js';
import { EXPORT_FAILED, OtlpError, OtlpExportHealth, type ExportOutcome } from './otlp-health.js';

export { OtlpError, OtlpExportHealth };

/** Instrumentation scope of every metric we push. */
export const METER_NAME = 'conntrack-exporter';

/** Attributes the semantic conventions type as integers (cpu.logical_number is an int). */
const INT_ATTRIBUTES: ReadonlySet<string> = new Set(['cpu.logical_number']);

/** The OTLP settings this sink needs (config.ts fills them from the OTEL_* variables). */
export interface OtlpConfig {
  readonly endpoint: string;
  readonly protocol: 'http/protobuf' | 'http/json';
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly compression: 'gzip' | 'none';
  readonly intervalMs: number;
  readonly exportTimeoutMs: number;
  readonly temporality: 'cumulative' | 'delta' | 'lowmemory';
}

/** The resource settings (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, the downward API's K8S_*). */
export interface ResourceConfig {
  readonly serviceName: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly k8sNodeName?: string;
  readonly k8sPodName?: string;
  readonly k8sNamespaceName?: string;
}

/** Attribute of a gauge histogram bucket: its upper bound, as Prometheus' `le` (docs/otel.md). */
export const BUCKET_BOUND_ATTRIBUTE = 'le';

type ExportResult = Parameters<Parameters<PushMetricExporter['export']>[1]>[0];

/**
 * Wraps the exporter so every final export result (after retries) reaches OtlpExportHealth, and
 * so an export the reader gave up on is reported as timed out. The reader abandons an export at
 * its export timeout and tells only the SDK's diag logger; the request itself keeps its own
 * timeout (OTEL_EXPORTER_OTLP_TIMEOUT) and, while it hangs, the next export would be refused by
 * the delegate's queue as "Concurrent export limit reached" — which names no timeout at all.
 */
class CountingExporter implements PushMetricExporter {
  /** The export still waiting for its result, if any. */
  private pending: { timedOut: boolean } | undefined;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly health: OtlpExportHealth,
    /** The reader's export timeout: after it, the reader has given up on an export. */
    private readonly deadlineMs: number,
  ) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    if (this.pending) {
      // The previous export outlived the reader's timeout and still holds the only request slot.
      const error = new OtlpError(
        'ERR_OTLP_EXPORT_TIMEOUT',
        `OTLP export skipped: the previous export has had no answer for more than ${this.deadlineMs} ms (timed out)`,
      );
      const result: ExportResult = { code: EXPORT_FAILED, error };
      this.health.record(result satisfies ExportOutcome);
      resultCallback(result);
      return;
    }
    const current = { timedOut: false };
    this.pending = current;
    const timer = setTimeout(() => {
      current.timedOut = true;
      const error = new OtlpError(
        'ERR_OTLP_EXPORT_TIMEOUT',
        `OTLP export timed out after ${this.deadlineMs} ms`,
      );
      this.health.record({ code: EXPORT_FAILED, error } satisfies ExportOutcome);
    }, this.deadlineMs);
    timer.unref();
    this.inner.export(metrics, (result) => {
      clearTimeout(timer);
      if (this.pending === current) this.pending = undefined;
      // A result after the timeout was already counted as a failure; the reader no longer waits.
      if (!current.timedOut) this.health.record(result satisfies ExportOutcome);
      resultCallback(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(type) ?? AggregationTemporality.CUMULATIVE;
  }
}

const TEMPORALITY: Record<OtlpConfig['temporality'], AggregationTemporalityPreference> = {
  cumulative: AggregationTemporalityPreference.CUMULATIVE,
  delta: AggregationTemporalityPreference.DELTA,
  lowmemory: AggregationTemporalityPreference.LOWMEMORY,
};

/**
 * The OTLP/HTTP exporter, JSON or protobuf. Built from the delegate factory rather than
 * `new OTLPMetricExporter(config)`: that constructor merges OTEL_EXPORTER_OTLP_* from process.env
 * under our values (headers, TLS files), and its package offers JSON only. The delegate retries
 * 429/502/503/504 and network errors with backoff within `timeoutMillis`.
 */
export function createOtlpExporter(otlp: OtlpConfig, userAgent: string): PushMetricExporter {
  const json = otlp.protocol === 'http/json';
  const contentType = json ? 'application/json' : 'application/x-protobuf';
  const headers = { ...otlp.headers, 'Content-Type': contentType };
  const delegate = createOtlpHttpExportDelegate(
    {
      url: otlp.endpoint,
      headers: () => Promise.resolve(headers),
      agentFactory: httpAgentFactoryFromOptions({ keepAlive: true }),
      compression: otlp.compression,
      timeoutMillis: otlp.timeoutMs,
      // The reader never overlaps exports; one pending request is the most we can have.
      concurrencyLimit: 1,
      userAgent,
    },
    json ? JsonMetricsSerializer : ProtobufMetricsSerializer,
    'otlp_http_metric_exporter',
    MetricsExporterMetricsHelper,
    undefined,
  );
  return new OTLPMetricExporterBase(delegate, { temporalityPreference: TEMPORALITY[otlp.temporality] });
}

/**
 * Resource: service.name/version, host.name, the downward API's k8s.* names, then
 * OTEL_RESOURCE_ATTRIBUTES over them (an explicit setting beats detection), then service.name from
 * OTEL_SERVICE_NAME resolution (config.ts applies the spec's precedence).
 */
export function buildResource(resource: ResourceConfig, version: string, host = hostname()): Resource {
  const detected: Record<string, string> = {
    'service.version': version,
    'host.name': host,
    ...(resource.k8sNodeName !== undefined && { 'k8s.node.name': resource.k8sNodeName }),
    ...(resource.k8sPodName !== undefined && { 'k8s.pod.name': resource.k8sPodName }),
    ...(resource.k8sNamespaceName !== undefined && { 'k8s.namespace.name': resource.k8sNamespaceName }),
  };
  return defaultResource().merge(
    resourceFromAttributes({ ...detected, ...resource.attributes, 'service.name': resource.serviceName }),
  );
}

export function attributesOf(labels: Labels): Attributes {
  const out: Attributes = {};
  for (const [label, value] of Object.entries(labels)) {
    // Every catalogue label has a mapping (a unit test checks it); the fallback keeps our prefix.
    const key = OTEL_ATTRIBUTE[label] ?? `conntrack.${label}`;
    out[key] = INT_ATTRIBUTES.has(key) ? Number(value) : value;
  }
  return out;
}

function hrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

function seriesKey(name: string, attributes: Attributes): string {
  return `${name}\u0000${JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

/** OTLP names of a gauge histogram's three gauges (docs/otel.md). */
export function gaugeHistogramNames(def: MetricDef): { bucket: string; count: string; sum: string } {
  return { bucket: `${def.otelName}.bucket`, count: `${def.otelName}.count`, sum: `${def.otelName}.sum` };
}

/** Name, description and unit of each of a gauge histogram's three gauges: buckets, count, sum. */
export function gaugeHistogramDescriptors(
  def: MetricDef,
): readonly { name: string; description: string; unit: string }[] {
  const names = gaugeHistogramNames(def);
  return [
    {
      name: names.bucket,
      description: `${def.help} Flows now with a value up to ${BUCKET_BOUND_ATTRIBUTE} (a gauge histogram's buckets).`,
      unit: '{flows}',
    },
    { name: names.count, description: `Count of the ${def.otelName} gauge histogram.`, unit: '{flows}' },
    { name: names.sum, description: `Sum of the ${def.otelName} gauge histogram.`, unit: def.unit },
  ];
}

/** What a counter series carried in the last collects: its start, its last total and when. */
interface CounterState {
  start: number;
  total: number;
  at: number;
  round: number;
}

/** Counter series unseen for this many collects are forgotten (a port that left the top K). */
const FORGET_AFTER_ROUNDS = 10;

export interface SnapshotProducerOptions {
  readonly source: SnapshotSource;
  /** The temporality the exporter wants for an instrument type (asked per collect). */
  readonly temporality: (type: InstrumentType) => AggregationTemporality;
  readonly version: string;
  readonly log: Logger;
  /** Unix ms the pipeline started: the start time of every series present at the first collect. */
  readonly startedAt?: number;
  readonly now?: () => number;
}

/**
 * The catalogue's samples as OTLP metric data, one snapshot per collect. Counters are the
 * kernel's cumulative totals: under cumulative temporality they go out as they are, with the time
 * the series was first seen (or last reset) as start; under delta temporality as the increase
 * since the series' previous export (its total when first seen). Gauges go out as gauges; a gauge
 * histogram as three gauges (buckets by `le`, count, sum), since OTLP has no gauge histogram and a
 * cumulative OTLP histogram must never go down.
 */
export class SnapshotProducer implements MetricProducer {
  private readonly counters = new Map<string, CounterState>();
  /** Per-bucket counts and sum of each histogram series at its last export (for delta). */
  private readonly histogramTotals = new Map<string, { counts: readonly number[]; sum: number }>();
  private round = 0;
  private lastCollectAt: number;
  private failing = false;
  private readonly now: () => number;

  constructor(private readonly opts: SnapshotProducerOptions) {
    this.now = opts.now ?? Date.now;
    this.lastCollectAt = opts.startedAt ?? this.now();
  }

  async collect(options?: MetricCollectOptions): Promise<CollectionResult> {
    let snapshot: Snapshot;
    try {
      snapshot = await this.snapshot(options?.timeoutMillis);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.noteFailure(error);
      // Nothing of ours in this export: a snapshot we could not take is never sent as fresh.
      return { resourceMetrics: { resource: resourceFromAttributes({}), scopeMetrics: [] }, errors: [error] };
    }
    if (this.failing) this.opts.log.info('OTLP collection recovered');
    this.failing = false;
    const metrics = this.metricData(snapshot, this.now());
    return {
      resourceMetrics: {
        resource: resourceFromAttributes({}),
        scopeMetrics:
          metrics.length > 0 ? [{ scope: { name: METER_NAME, version: this.opts.version }, metrics }] : [],
      },
      errors: [],
    };
  }

  private snapshot(timeoutMs: number | undefined): Promise<Snapshot> {
    const pending = this.opts.source.collect();
    if (timeoutMs === undefined) return pending;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new OtlpError(
              'ERR_OTLP_COLLECT_TIMEOUT',
              `no snapshot within the export timeout (${timeoutMs} ms)`,
            ),
          ),
        timeoutMs,
      );
    });
    // A late snapshot is dropped; only keep its rejection from being "unhandled".
    pending.catch(() => undefined);
    return Promise.race([pending, deadline]).finally(() => clearTimeout(timer));
  }

  private noteFailure(error: Error): void {
    if (this.failing) return;
    this.failing = true;
    const code = error instanceof OtlpError ? error.code : 'ERR_OTLP_COLLECT';
    this.opts.log.warn(
      { code, cause: (error as { code?: unknown }).code, err: error.message },
      'OTLP collection failed; this export carries no conntrack metrics',
    );
  }

  /** The snapshot as metric data, in catalogue order. Advances the counter state. */
  private metricData(snapshot: Snapshot, now: number): MetricData[] {
    const byDef = new Map<MetricDef, Sample[]>();
    for (const s of snapshot.samples) {
      const list = byDef.get(s.metric);
      if (list) list.push(s);
      else byDef.set(s.metric, [s]);
    }
    this.round += 1;
    const counterTemporality = this.opts.temporality(InstrumentType.OBSERVABLE_COUNTER);
    const out: MetricData[] = [];
    for (const def of CATALOG) {
      const samples = byDef.get(def);
      if (!samples) continue;
      if (def.type === 'gauge') out.push(this.gauge(def.otelName, def.help, def.unit, values(samples), now));
      else if (def.type === 'counter') out.push(this.counter(def, values(samples), counterTemporality, now));
      else if (def.type === 'histogram') {
        const temporality = this.opts.temporality(InstrumentType.HISTOGRAM);
        out.push(this.histogram(def, histograms(samples), temporality, now));
      } else out.push(...this.gaugeHistogram(def, histograms(samples), now));
    }
    for (const [key, state] of this.counters) {
      if (this.round - state.round >= FORGET_AFTER_ROUNDS) {
        this.counters.delete(key);
        this.histogramTotals.delete(key);
      }
    }
    this.lastCollectAt = now;
    return out;
  }

  private gauge(
    name: string,
    description: string,
    unit: string,
    points: readonly { attributes: Attributes; value: number }[],
    now: number,
  ): GaugeMetricData {
    const startTime = hrTime(this.lastCollectAt);
    const endTime = hrTime(now);
    return {
      descriptor: { name, description, unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.GAUGE,
      dataPoints: points.map((p) => ({ startTime, endTime, attributes: p.attributes, value: p.value })),
    };
  }

  /**
   * The times of one point of a cumulative series (a counter or a histogram, keyed by `key`), and
   * the total it had at the previous export when the series continues (for delta temporality).
   * A total below the last one is a new series under the same attributes (a reset).
   */
  private cumulativePoint(
    key: string,
    total: number,
    temporality: AggregationTemporality,
    now: number,
  ): { startTime: HrTime; endTime: HrTime; previous: CounterState | undefined } {
    const delta = temporality === AggregationTemporality.DELTA;
    const previous = this.counters.get(key);
    const continues = previous !== undefined && total >= previous.total;
    const start = continues ? previous.start : this.lastCollectAt;
    this.counters.set(key, { start, total, at: now, round: this.round });
    return {
      startTime: hrTime(delta ? (continues ? previous.at : this.lastCollectAt) : start),
      endTime: hrTime(now),
      previous: delta && continues ? previous : undefined,
    };
  }

  private counter(
    def: MetricDef,
    points: readonly { attributes: Attributes; value: number }[],
    temporality: AggregationTemporality,
    now: number,
  ): SumMetricData {
    const dataPoints = points.map(({ attributes, value }) => {
      const p = this.cumulativePoint(seriesKey(def.otelName, attributes), value, temporality, now);
      return {
        startTime: p.startTime,
        endTime: p.endTime,
        attributes,
        value: p.previous ? value - p.previous.total : value,
      };
    });
    return {
      descriptor: { name: def.otelName, description: def.help, unit: def.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: temporality,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints,
    };
  }

  /**
   * A cumulative histogram (finished connections' lifetimes) as an OTLP explicit-bucket histogram:
   * per-bucket counts (not cumulative) with the catalogue's bounds. Under delta temporality each
   * bucket, the count and the sum go out as their increase since the previous export.
   */
  private histogram(
    def: MetricDef,
    samples: readonly HistogramSample[],
    temporality: AggregationTemporality,
    now: number,
  ): HistogramMetricData {
    const boundaries = [...(def.buckets ?? [])];
    const dataPoints = samples.map((s) => {
      const attributes = attributesOf(s.labels);
      const key = seriesKey(def.otelName, attributes);
      const cumulative = [...boundaries.map((_, i) => s.bucketCounts[i] ?? 0), s.count];
      const counts = cumulative.map((c, i) => c - (i > 0 ? (cumulative[i - 1] ?? 0) : 0));
      const p = this.cumulativePoint(key, s.count, temporality, now);
      const last = this.histogramTotals.get(key);
      this.histogramTotals.set(key, { counts, sum: s.sum });
      const base = p.previous && last ? last : undefined;
      return {
        startTime: p.startTime,
        endTime: p.endTime,
        attributes,
        value: {
          buckets: { boundaries, counts: counts.map((c, i) => c - (base?.counts[i] ?? 0)) },
          count: s.count - (p.previous?.total ?? 0),
          sum: s.sum - (base?.sum ?? 0),
        },
      };
    });
    return {
      descriptor: { name: def.otelName, description: def.help, unit: def.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: temporality,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }

  private gaugeHistogram(
    def: MetricDef,
    samples: readonly HistogramSample[],
    now: number,
  ): GaugeMetricData[] {
    const bounds = [...(def.buckets ?? []).map(String), '+Inf'];
    const buckets = samples.flatMap((s) => {
      const attributes = attributesOf(s.labels);
      return bounds.map((le, i) => ({
        attributes: { ...attributes, [BUCKET_BOUND_ATTRIBUTE]: le },
        value: i < bounds.length - 1 ? (s.bucketCounts[i] ?? 0) : s.count,
      }));
    });
    const per = (value: (s: HistogramSample) => number) =>
      samples.map((s) => ({ attributes: attributesOf(s.labels), value: value(s) }));
    const points = [buckets, per((s) => s.count), per((s) => s.sum)];
    return gaugeHistogramDescriptors(def).map((d, i) =>
      this.gauge(d.name, d.description, d.unit, points[i] ?? [], now),
    );
  }
}

function values(samples: readonly Sample[]): { attributes: Attributes; value: number }[] {
  return samples.flatMap((s) =>
    s.kind === 'value' ? [{ attributes: attributesOf(s.labels), value: s.value }] : [],
  );
}

function histograms(samples: readonly Sample[]): HistogramSample[] {
  return samples.filter((s): s is HistogramSample => s.kind === 'histogram');
}

export interface OtlpPipelineOptions {
  readonly source: SnapshotSource;
  readonly otlp: OtlpConfig;
  readonly resource: ResourceConfig;
  readonly version: string;
  readonly health: OtlpExportHealth;
  readonly log: Logger;
  /** Replaces the OTLP/HTTP exporter (tests use the SDK's in-memory exporter). */
  readonly exporter?: PushMetricExporter;
  readonly hostname?: string;
}

export interface OtlpPipeline {
  /** Collects and exports now (tests; the periodic reader does it on its own). */
  forceFlush(): Promise<void>;
  /** Stops the timer and delivers a last export, giving up after `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

/** Starts the periodic OTLP push. Exports begin after one interval. */
export function startOtlpPipeline(options: OtlpPipelineOptions): OtlpPipeline {
  const { otlp, log } = options;
  // The SDK refuses a timeout above the interval; a late export is skipped, not stacked.
  const exportTimeoutMs = Math.min(otlp.exportTimeoutMs, otlp.intervalMs);
  const exporter = new CountingExporter(
    options.exporter ?? createOtlpExporter(otlp, `conntrack-exporter/${options.version}`),
    options.health,
    exportTimeoutMs,
  );
  const producer = new SnapshotProducer({
    source: options.source,
    temporality: (type) => exporter.selectAggregationTemporality(type),
    version: options.version,
    log,
  });
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: otlp.intervalMs,
    exportTimeoutMillis: exportTimeoutMs,
    metricProducers: [producer],
  });
  // The provider binds the reader and gives the export its resource; it has no instruments.
  const provider = new MeterProvider({
    resource: buildResource(options.resource, options.version, options.hostname),
    readers: [reader],
  });

  log.info(
    {
      endpoint: otlp.endpoint,
      protocol: otlp.protocol,
      intervalMs: otlp.intervalMs,
      temporality: otlp.temporality,
    },
    'OTLP metric export started',
  );

  return {
    forceFlush: () => provider.forceFlush(),
    async shutdown(timeoutMs: number): Promise<void> {
      try {
        await provider.shutdown({ timeoutMillis: timeoutMs });
      } catch (err) {
        const e = new OtlpError('ERR_OTLP_SHUTDOWN', 'final OTLP export did not complete', { cause: err });
        log.warn({ code: e.code, timeoutMs, err: (err as Error).message }, e.message);
      }
    },
  };
}
