// Layer: sinks. Renders a Snapshot in the Prometheus text format or OpenMetrics with prom-client.
// A fresh dedicated Registry per render (never the global one) holds one read-only metric object
// per catalogue entry that has samples, so concurrent renders of different snapshots cannot mix.

import { Registry, type Metric, type RegistryContentType } from 'prom-client';
import { CATALOG, type MetricDef } from '../metrics/catalog.js';
import type { Sample, Snapshot } from '../metrics/sample.js';

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

/** True when the Accept header prefers OpenMetrics (as Prometheus sends it when it wants it). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept);
}

/** The shape prom-client's Registry reads from a metric's get() (registry.js getMetricsAsString). */
interface ExpositionValue {
  readonly metricName?: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

class SnapshotMetric {
  readonly aggregator = 'sum' as const;

  constructor(
    public name: string,
    readonly help: string,
    readonly type: string,
    private readonly values: ExpositionValue[],
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: ExpositionValue[] } {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.values,
    };
  }
}

function valuesOf(def: MetricDef, samples: readonly Sample[]): ExpositionValue[] {
  const values: ExpositionValue[] = [];
  for (const s of samples) {
    if (s.kind === 'value') {
      values.push({ labels: { ...s.labels }, value: s.value });
      continue;
    }
    const bounds = def.buckets ?? [];
    bounds.forEach((le, i) => {
      values.push({
        metricName: `${def.name}_bucket`,
        labels: { ...s.labels, le: String(le) },
        value: s.bucketCounts[i] ?? 0,
      });
    });
    values.push({ metricName: `${def.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
    values.push({ metricName: `${def.name}_sum`, labels: { ...s.labels }, value: s.sum });
    values.push({ metricName: `${def.name}_count`, labels: { ...s.labels }, value: s.count });
  }
  return values;
}

export async function renderPrometheus(snapshot: Snapshot, openMetrics: boolean): Promise<string> {
  // The constructor takes the content type (registry.js), which prom-client's typings omit.
  const RegistryWithType = Registry as unknown as new (contentType: RegistryContentType) => Registry;
  const registry = new RegistryWithType(openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE);
  const byMetric = new Map<MetricDef, Sample[]>();
  for (const s of snapshot.samples) {
    const list = byMetric.get(s.metric);
    if (list) list.push(s);
    else byMetric.set(s.metric, [s]);
  }
  for (const def of CATALOG) {
    const samples = byMetric.get(def);
    if (!samples) continue;
    const metric = new SnapshotMetric(def.name, def.help, def.type, valuesOf(def, samples));
    // Structurally what the registry reads; prom-client's Metric type also demands mutators we do not have.
    registry.registerMetric(metric as unknown as Metric);
  }
  return registry.metrics();
}
