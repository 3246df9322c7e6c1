// Layer: sinks. Renders a Snapshot in the Prometheus text format (0.0.4) or OpenMetrics 1.0 with
// prom-client's public API: registries built once, holding one real Gauge or Counter per catalogue
// entry, whose collect() reads the snapshot being rendered. Nothing here reads the kernel.
//
// One registry per exposition format, not one for both: prom-client binds the format to a registry
// (`new Registry(contentType)`, documented as "The format can be set per registry"), and an
// OpenMetrics render through `Registry.metrics()` renames counters in place (it strips `_total`
// from the metric object's name), so one set of counter objects cannot serve both formats. Each
// registry names its counters the way its format wants them (`x_total` in 0.0.4, the family `x`
// in OpenMetrics, whose samples prom-client suffixes with `_total`).
//
// The flow-age distribution is a gauge histogram: its buckets count the flows that exist now and
// go down when flows end (docs/metrics.md). OpenMetrics has the type (`gaugehistogram`, samples
// `_bucket`, `_gcount`, `_gsum`); prom-client has no metric class for it, so that family is written
// here by formatGaugeHistogram. The 0.0.4 text format has no such type: the same three series go
// out as three prom-client gauges, so both formats yield the same series names in Prometheus.
//
// The lifetime of finished connections is a cumulative histogram whose bucket counts arrive as
// totals from the events reader. prom-client's Histogram only takes single observations, so that
// family is written here too (formatHistogram), in the layout both formats share.

import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { OpenMetricsContentType, PrometheusContentType, RegistryContentType } from 'prom-client';
import { CATALOG, GAUGE_HISTOGRAM_SUFFIXES, type MetricDef } from '../metrics/catalog.js';
import type { HistogramSample, Sample, Snapshot } from '../metrics/sample.js';

// prom-client's registry and metric classes alone: its index also loads the Pushgateway
// (node:https, node:zlib), cluster aggregation, default process metrics and @opentelemetry/api,
// about 15 MB of resident memory that a render never uses.
const lib = createRequire(import.meta.url);
const Registry = lib('prom-client/lib/registry') as typeof PromClient.Registry;
const Gauge = lib('prom-client/lib/gauge') as typeof PromClient.Gauge;
const Counter = lib('prom-client/lib/counter') as typeof PromClient.Counter;
type Registry = PromClient.Registry;
type Gauge = PromClient.Gauge;
type Counter = PromClient.Counter;

export const PROMETHEUS_CONTENT_TYPE: PrometheusContentType = Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_CONTENT_TYPE: OpenMetricsContentType = Registry.OPENMETRICS_CONTENT_TYPE;

export type ExpositionFormat = 'prometheus' | 'openmetrics';

export const CONTENT_TYPE: Readonly<Record<ExpositionFormat, RegistryContentType>> = {
  prometheus: PROMETHEUS_CONTENT_TYPE,
  openmetrics: OPENMETRICS_CONTENT_TYPE,
};

/** True when the Accept header prefers OpenMetrics (as Prometheus sends it when it wants it). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept);
}

/** Series names of a gauge histogram (OpenMetrics `gaugehistogram`), the same in both formats. */
export function gaugeHistogramSeries(def: MetricDef): { bucket: string; gcount: string; gsum: string } {
  const [bucket, gcount, gsum] = GAUGE_HISTOGRAM_SUFFIXES;
  return { bucket: `${def.name}${bucket}`, gcount: `${def.name}${gcount}`, gsum: `${def.name}${gsum}` };
}

type Labels = Record<string, string>;

/** What a render reads: the snapshot's samples of one catalogue entry. */
type SamplesOf = (def: MetricDef) => readonly Sample[];

/** The cumulative `le` buckets of a histogram sample, +Inf last (its count). */
function buckets(def: MetricDef, s: HistogramSample): { le: string; value: number }[] {
  const out = (def.buckets ?? []).map((le, i) => ({ le: String(le), value: s.bucketCounts[i] ?? 0 }));
  out.push({ le: '+Inf', value: s.count });
  return out;
}

function valuesOf(samples: readonly Sample[]): { labels: Labels; value: number }[] {
  return samples.flatMap((s) => (s.kind === 'value' ? [{ labels: { ...s.labels }, value: s.value }] : []));
}

function histogramsOf(samples: readonly Sample[]): HistogramSample[] {
  return samples.filter((s): s is HistogramSample => s.kind === 'histogram');
}

/** One registry for one format: the metric objects, and the names to render per catalogue entry. */
class FormatRegistry {
  readonly registry = new Registry<RegistryContentType>();
  /** Registered metric names, in exposition order, per catalogue entry. */
  private readonly names = new Map<MetricDef, readonly string[]>();

  constructor(
    readonly format: ExpositionFormat,
    catalog: readonly MetricDef[],
    samplesOf: SamplesOf,
  ) {
    this.registry.setContentType(CONTENT_TYPE[format]);
    const registers = [this.registry];
    for (const def of catalog) {
      if (def.type === 'gauge') {
        new Gauge({ name: def.name, help: def.help, labelNames: def.labels, registers, collect: fill(def) });
        this.names.set(def, [def.name]);
      } else if (def.type === 'counter') {
        // OpenMetrics names the family without `_total`; prom-client adds it to every sample.
        const name = format === 'openmetrics' ? def.name.replace(/_total$/, '') : def.name;
        new Counter({ name, help: def.help, labelNames: def.labels, registers, collect: fillCounter(def) });
        this.names.set(def, [name]);
      } else if (def.type === 'gaugehistogram' && format === 'prometheus') {
        // A gauge histogram in 0.0.4: three gauge families with the gaugehistogram's series names.
        const series = gaugeHistogramSeries(def);
        new Gauge({
          name: series.bucket,
          help: `${def.help} Gauge histogram: flows now with a value up to \`le\` (do not rate()).`,
          labelNames: [...def.labels, 'le'],
          registers,
          collect: fillBuckets(def),
        });
        new Gauge({
          name: series.gcount,
          help: `Count of the ${def.name} gauge histogram (equals its le="+Inf" bucket).`,
          labelNames: def.labels,
          registers,
          collect: fillHistogram(def, (s) => s.count),
        });
        new Gauge({
          name: series.gsum,
          help: `Sum of the ${def.name} gauge histogram.`,
          labelNames: def.labels,
          registers,
          collect: fillHistogram(def, (s) => s.sum),
        });
        this.names.set(def, [series.bucket, series.gcount, series.gsum]);
      }
      // OpenMetrics gauge histograms (formatGaugeHistogram) and cumulative histograms
      // (formatHistogram) are written here: no registry entry.
    }

    function fill(def: MetricDef) {
      return function (this: Gauge) {
        this.reset();
        for (const v of valuesOf(samplesOf(def))) this.set(v.labels, v.value);
      };
    }
    function fillCounter(def: MetricDef) {
      return function (this: Counter) {
        this.reset();
        // Our counters are cumulative totals read from the kernel: the value is the total.
        for (const v of valuesOf(samplesOf(def))) this.inc(v.labels, v.value);
      };
    }
    function fillBuckets(def: MetricDef) {
      return function (this: Gauge) {
        this.reset();
        for (const s of histogramsOf(samplesOf(def))) {
          for (const b of buckets(def, s)) this.set({ ...s.labels, le: b.le }, b.value);
        }
      };
    }
    function fillHistogram(def: MetricDef, value: (s: HistogramSample) => number) {
      return function (this: Gauge) {
        this.reset();
        for (const s of histogramsOf(samplesOf(def))) this.set({ ...s.labels }, value(s));
      };
    }
  }

  /** The families of one catalogue entry, as prom-client writes them. */
  async families(def: MetricDef): Promise<string[]> {
    const names = this.names.get(def) ?? [];
    return Promise.all(names.map((name) => this.registry.getSingleMetricAsString(name)));
  }
}

/** OpenMetrics escaping of label values and HELP text: backslash, double quote, newline. */
function escapeOm(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  return String(value);
}

function labelSet(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeOm(v)}"`);
  return parts.length > 0 ? `{${parts.join(',')}}` : '';
}

/** An OpenMetrics `gaugehistogram` family: buckets, `_gcount`, `_gsum` per label set. */
export function formatGaugeHistogram(def: MetricDef, samples: readonly HistogramSample[]): string {
  const series = gaugeHistogramSeries(def);
  const lines = [`# HELP ${def.name} ${escapeOm(def.help)}`, `# TYPE ${def.name} gaugehistogram`];
  for (const s of samples) {
    for (const b of buckets(def, s)) {
      lines.push(`${series.bucket}${labelSet({ ...s.labels, le: b.le })} ${formatNumber(b.value)}`);
    }
    lines.push(`${series.gcount}${labelSet({ ...s.labels })} ${formatNumber(s.count)}`);
    lines.push(`${series.gsum}${labelSet({ ...s.labels })} ${formatNumber(s.sum)}`);
  }
  return lines.join('\n');
}

/** HELP text escaping: 0.0.4 escapes backslash and newline, OpenMetrics also the double quote. */
function escapeHelp(text: string, format: ExpositionFormat): string {
  return format === 'openmetrics' ? escapeOm(text) : text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A cumulative `histogram` family: `_bucket` by `le`, `_count`, `_sum` per label set. */
export function formatHistogram(
  def: MetricDef,
  samples: readonly HistogramSample[],
  format: ExpositionFormat,
): string {
  const lines = [`# HELP ${def.name} ${escapeHelp(def.help, format)}`, `# TYPE ${def.name} histogram`];
  for (const s of samples) {
    for (const b of buckets(def, s)) {
      lines.push(`${def.name}_bucket${labelSet({ ...s.labels, le: b.le })} ${formatNumber(b.value)}`);
    }
    lines.push(`${def.name}_count${labelSet({ ...s.labels })} ${formatNumber(s.count)}`);
    lines.push(`${def.name}_sum${labelSet({ ...s.labels })} ${formatNumber(s.sum)}`);
  }
  return lines.join('\n');
}

/**
 * The Prometheus sink: one registry per format, built once, on the first render in that format.
 * Renders run one at a time (each sets the snapshot the metric objects' collect() reads), so
 * concurrent renders of different snapshots never mix. Metrics without samples in the snapshot are left out entirely: absent is not zero.
 */
export class PrometheusSink {
  /** Built on the first render in their format (a scraper asks for one format, as a rule). */
  private readonly registries: Partial<Record<ExpositionFormat, FormatRegistry>> = {};
  private readonly samplesOf: SamplesOf = (def) => this.current.get(def) ?? [];
  private current = new Map<MetricDef, Sample[]>();
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Per format and metric, the samples of the last render and their text. Samples are immutable,
   * so the same sample objects render to the same text: the flow metrics (most of the series)
   * come from the last pass, the same objects for every scrape until the next pass (20 scrapes
   * of a 30 s interval at a scrape every 1.5 s), and are written once per pass.
   */
  private readonly rendered: Record<ExpositionFormat, Map<MetricDef, Rendered>> = {
    prometheus: new Map(),
    openmetrics: new Map(),
  };

  constructor(private readonly catalog: readonly MetricDef[] = CATALOG) {}

  private registry(format: ExpositionFormat): FormatRegistry {
    return (this.registries[format] ??= new FormatRegistry(format, this.catalog, this.samplesOf));
  }

  /** The exposition of `snapshot` in `format` (a complete body, `# EOF` included for OpenMetrics). */
  render(snapshot: Snapshot, format: ExpositionFormat): Promise<string> {
    const run = this.queue.then(() => this.renderNow(snapshot, format));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async renderNow(snapshot: Snapshot, format: ExpositionFormat): Promise<string> {
    const byMetric = new Map<MetricDef, Sample[]>();
    for (const s of snapshot.samples) {
      const list = byMetric.get(s.metric);
      if (list) list.push(s);
      else byMetric.set(s.metric, [s]);
    }
    this.current = byMetric;
    try {
      const families: string[] = [];
      const registry = this.registry(format);
      const rendered = this.rendered[format];
      for (const def of this.catalog) {
        const samples = byMetric.get(def);
        if (!samples) {
          rendered.delete(def);
          continue;
        }
        const last = rendered.get(def);
        if (last && sameSamples(last.samples, samples)) {
          families.push(...last.text);
          continue;
        }
        let text: string[];
        if (def.type === 'gaugehistogram' && format === 'openmetrics') {
          text = [formatGaugeHistogram(def, histogramsOf(samples))];
        } else if (def.type === 'histogram') {
          text = [formatHistogram(def, histogramsOf(samples), format)];
        } else {
          text = await registry.families(def);
        }
        rendered.set(def, { samples, text });
        families.push(...text);
      }
      // The joins of prom-client's Registry.metrics() for each format.
      return format === 'openmetrics' ? `${families.join('\n')}\n# EOF\n` : `${families.join('\n\n')}\n`;
    } finally {
      this.current = new Map();
    }
  }
}

interface Rendered {
  readonly samples: readonly Sample[];
  readonly text: readonly string[];
}

/** The same sample objects, in the same order. */
function sameSamples(a: readonly Sample[], b: readonly Sample[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let shared: PrometheusSink | undefined;

/**
 * Renders a snapshot with the process's one PrometheusSink (created on first use). The stable
 * entry point for /metrics, `once` and any cache in front of them: same snapshot and format, same
 * text.
 */
export function renderPrometheus(snapshot: Snapshot, openMetrics: boolean): Promise<string> {
  shared ??= new PrometheusSink();
  return shared.render(snapshot, openMetrics ? 'openmetrics' : 'prometheus');
}
