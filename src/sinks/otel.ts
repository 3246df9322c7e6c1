// Layer: sinks. Pushes the same snapshot as /metrics over OTLP/HTTP with the OpenTelemetry metrics
// SDK: one instrument per catalogue entry (named by `otelName`), one batch observable callback per
// collector, so a failing source loses only its own instruments. Knows the catalogue and the Sample
// types; nothing of the kernel. Every OTLP setting comes from Config: nothing here reads OTEL_*
// variables, and the SDK's own environment readers are bypassed (see createOtlpExporter).

import { hostname } from 'node:os';
import { ValueType, type Attributes, type HrTime, type Observable } from '@opentelemetry/api';
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
  type HistogramMetricData,
  type MetricCollectOptions,
  type MetricData,
  type PushMetricExporter,
  type ResourceMetrics,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import { ExporterError } from '../errors.js';
import type { Logger } from '../log.js';
import { CATALOG, OTEL_ATTRIBUTE, type CollectorName, type MetricDef } from '../metrics/catalog.js';
import type { HistogramSample, Labels, Sample, Snapshot, SnapshotSource } from '../metrics/sample.js';

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

type ExportResult = Parameters<Parameters<PushMetricExporter['export']>[1]>[0];
/** ExportResultCode.SUCCESS of @opentelemetry/core (not a direct dependency). */
const EXPORT_SUCCESS = 0 as ExportResult['code'];

export class OtlpError extends ExporterError {}

/**
 * Counts exports that failed after the SDK's own retries (conntrack_otlp_export_failures_total)
 * and logs on state change only: a receiver down for an hour is one warning, not one per interval.
 */
export class OtlpExportHealth {
  private count = 0;
  private failing = false;

  constructor(
    private readonly log: Logger,
    private readonly endpoint: string,
  ) {}

  get failures(): number {
    return this.count;
  }

  record(result: ExportResult): void {
    if (result.code === EXPORT_SUCCESS) {
      if (this.failing) this.log.info({ endpoint: this.endpoint }, 'OTLP export recovered');
      this.failing = false;
      return;
    }
    this.count += 1;
    if (this.failing) return;
    this.failing = true;
    const cause = result.error;
    const err = new OtlpError('ERR_OTLP_EXPORT', `OTLP export to ${this.endpoint} failed`, { cause });
    this.log.warn(
      {
        code: err.code,
        endpoint: this.endpoint,
        // OTLPExporterError carries the HTTP status, network errors an errno name.
        cause: (cause as { code?: unknown } | undefined)?.code,
        err: cause?.message,
      },
      'OTLP export failing after retries; counted in conntrack_otlp_export_failures_total',
    );
  }
}

/** Wraps the exporter so every final export result (after retries) reaches OtlpExportHealth. */
class CountingExporter implements PushMetricExporter {
  constructor(
    private readonly inner: PushMetricExporter,
    private readonly health: OtlpExportHealth,
  ) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    this.inner.export(metrics, (result) => {
      this.health.record(result);
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

function seriesKey(name: string, attributes: Attributes): string {
  return `${name}\u0000${JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

function hrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

/** One collect of the reader: the snapshot all callbacks read, and what they observed from it. */
interface Round {
  readonly snapshot: Promise<Snapshot>;
  readonly observed: Set<string>;
  byCollector?: Map<CollectorName, Sample[]>;
}

function newRound(source: SnapshotSource): Round {
  const snapshot = source.collect();
  // Callbacks and collect() await it; this only keeps a rejection from being "unhandled" meanwhile.
  snapshot.catch(() => undefined);
  return { snapshot, observed: new Set() };
}

function samplesOf(round: Round, snapshot: Snapshot, collector: CollectorName): readonly Sample[] {
  if (!round.byCollector) {
    round.byCollector = new Map();
    for (const s of snapshot.samples) {
      const list = round.byCollector.get(s.metric.collector);
      if (list) list.push(s);
      else round.byCollector.set(s.metric.collector, [s]);
    }
  }
  return round.byCollector.get(collector) ?? [];
}

/** OTel buckets count per bucket (n bounds, n+1 counts); the sample's are cumulative (Prometheus `le`). */
function histogramValue(def: MetricDef, s: HistogramSample) {
  const boundaries = [...(def.buckets ?? [])];
  const counts: number[] = [];
  let below = 0;
  boundaries.forEach((_, i) => {
    const cumulative = s.bucketCounts[i] ?? below;
    counts.push(cumulative - below);
    below = cumulative;
  });
  counts.push(s.count - below);
  return { buckets: { boundaries, counts }, count: s.count, sum: s.sum };
}

interface ReaderOptions {
  readonly exporter: PushMetricExporter;
  readonly intervalMs: number;
  readonly exportTimeoutMs: number;
  readonly source: SnapshotSource;
  /** otelName of every instrument whose stale series must be dropped. */
  readonly observableNames: ReadonlySet<string>;
}

/**
 * A periodic reader whose every collect takes exactly one snapshot (one Collection.collect(),
 * joined by a /metrics scrape in flight) shared by all callbacks of that collect. It also
 *  - drops series a callback did not observe this time: the SDK (3.1) keeps exporting every
 *    attribute set an asynchronous instrument ever saw under cumulative temporality, against the
 *    spec ("SHOULD NOT produce aggregated metric data for a previously-observed attribute set
 *    which is not observed during a successful callback"); without this a failed collector or a
 *    port that left the top K would be pushed with stale values forever;
 *  - adds the histograms, which the API cannot observe asynchronously (see histogramMetric).
 */
class SnapshotReader extends PeriodicExportingMetricReader {
  private round: Round | undefined;
  private readonly startedAt = Date.now();
  private lastCollectAt = this.startedAt;

  constructor(private readonly opts: ReaderOptions) {
    super({
      exporter: opts.exporter,
      exportIntervalMillis: opts.intervalMs,
      // The SDK refuses a timeout above the interval; a late export is skipped, not stacked.
      exportTimeoutMillis: Math.min(opts.exportTimeoutMs, opts.intervalMs),
    });
  }

  /** The round of the collect in progress; a callback run by anything else gets its own. */
  current(): Round {
    return this.round ?? newRound(this.opts.source);
  }

  override async collect(options?: MetricCollectOptions): Promise<CollectionResult> {
    const round = newRound(this.opts.source);
    this.round = round;
    try {
      const result = await super.collect(options);
      const now = Date.now();
      let snapshot: Snapshot | undefined;
      try {
        snapshot = await round.snapshot;
      } catch {
        // Every callback failed on it too; the SDK has recorded those errors.
      }
      const scopeMetrics = this.finish(result.resourceMetrics.scopeMetrics, round, snapshot, now);
      this.lastCollectAt = now;
      return { resourceMetrics: { ...result.resourceMetrics, scopeMetrics }, errors: result.errors };
    } finally {
      if (this.round === round) this.round = undefined;
    }
  }

  private finish(
    scopes: ScopeMetrics[],
    round: Round,
    snapshot: Snapshot | undefined,
    now: number,
  ): ScopeMetrics[] {
    const out: ScopeMetrics[] = [];
    let ours: ScopeMetrics | undefined;
    for (const scope of scopes) {
      if (scope.scope.name !== METER_NAME) {
        out.push(scope);
        continue;
      }
      const metrics: MetricData[] = [];
      for (const m of scope.metrics) {
        if (!this.opts.observableNames.has(m.descriptor.name)) {
          metrics.push(m);
          continue;
        }
        const fresh = m.dataPoints.filter((p) =>
          round.observed.has(seriesKey(m.descriptor.name, p.attributes)),
        );
        if (fresh.length > 0) metrics.push({ ...m, dataPoints: fresh } as MetricData);
      }
      ours = { ...scope, metrics };
      out.push(ours);
    }
    const histograms = snapshot ? this.histograms(snapshot, now) : [];
    if (histograms.length > 0) {
      if (ours) ours.metrics.push(...histograms);
      else out.push({ scope: { name: METER_NAME }, metrics: histograms });
    }
    return out.filter((s) => s.metrics.length > 0);
  }

  /**
   * The flow-age histogram describes the live flows now (a "gauge histogram": counts go down when
   * flows end). OTLP has no such type; it goes out as a Histogram carrying the current population
   * in every export, exactly what /metrics serves. Under cumulative temporality its start is the
   * process start (an OTLP->Prometheus path yields the same series as a scrape); under delta each
   * point covers the interval since the previous export.
   */
  private histograms(snapshot: Snapshot, now: number): HistogramMetricData[] {
    const temporality = this.selectAggregationTemporality(InstrumentType.HISTOGRAM);
    const start = hrTime(
      temporality === AggregationTemporality.CUMULATIVE ? this.startedAt : this.lastCollectAt,
    );
    const end = hrTime(now);
    const byDef = new Map<MetricDef, HistogramSample[]>();
    for (const s of snapshot.samples) {
      if (s.kind !== 'histogram') continue;
      const list = byDef.get(s.metric);
      if (list) list.push(s);
      else byDef.set(s.metric, [s]);
    }
    return [...byDef].map(([def, samples]) => ({
      descriptor: { name: def.otelName, description: def.help, unit: def.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: temporality,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: samples.map((s) => ({
        startTime: start,
        endTime: end,
        attributes: attributesOf(s.labels),
        value: histogramValue(def, s),
      })),
    }));
  }
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
  const exporter = new CountingExporter(
    options.exporter ?? createOtlpExporter(otlp, `conntrack-exporter/${options.version}`),
    options.health,
  );
  const observable = CATALOG.filter((def) => def.type !== 'histogram');
  const reader = new SnapshotReader({
    exporter,
    intervalMs: otlp.intervalMs,
    exportTimeoutMs: otlp.exportTimeoutMs,
    source: options.source,
    observableNames: new Set(observable.map((def) => def.otelName)),
  });
  const provider = new MeterProvider({
    resource: buildResource(options.resource, options.version, options.hostname),
    readers: [reader],
  });
  const meter = provider.getMeter(METER_NAME, options.version);

  const instruments = new Map<string, Observable>();
  const byCollector = new Map<CollectorName, Observable[]>();
  for (const def of observable) {
    const opts = { description: def.help, unit: def.unit, valueType: ValueType.DOUBLE };
    // Counters are monotonic sums; the SDK turns our cumulative totals into deltas when asked to.
    const instrument =
      def.type === 'counter'
        ? meter.createObservableCounter(def.otelName, opts)
        : meter.createObservableGauge(def.otelName, opts);
    instruments.set(def.name, instrument);
    const list = byCollector.get(def.collector);
    if (list) list.push(instrument);
    else byCollector.set(def.collector, [instrument]);
  }
  for (const [collector, own] of byCollector) {
    // One callback per collector: if it throws or times out, the SDK drops only these instruments.
    meter.addBatchObservableCallback(async (observer) => {
      const round = reader.current();
      const snapshot = await round.snapshot;
      for (const s of samplesOf(round, snapshot, collector)) {
        if (s.kind !== 'value') continue;
        const instrument = instruments.get(s.metric.name);
        if (!instrument) continue;
        const attributes = attributesOf(s.labels);
        observer.observe(instrument, s.value, attributes);
        round.observed.add(seriesKey(s.metric.otelName, attributes));
      }
    }, own);
  }

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
