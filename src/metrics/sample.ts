// Layer: metrics. The data of a scrape: samples for entries of the metric catalogue, and the
// snapshot both sinks read. Collectors produce these; sinks consume them. Knows nothing of the
// kernel, of collectors, or of Prometheus and OpenTelemetry wire formats.

import type { MetricDef } from './catalog.js';

export type Labels = Readonly<Record<string, string>>;

export interface GaugeSample {
  readonly kind: 'value';
  readonly metric: MetricDef;
  readonly labels: Labels;
  readonly value: number;
}

export interface HistogramSample {
  readonly kind: 'histogram';
  readonly metric: MetricDef;
  readonly labels: Labels;
  /** Cumulative counts, one per metric.buckets entry (the +Inf bucket is `count`). */
  readonly bucketCounts: readonly number[];
  readonly count: number;
  readonly sum: number;
}

export type Sample = GaugeSample | HistogramSample;

export function sample<L extends string>(
  metric: MetricDef<L>,
  labels: Record<L, string>,
  value: number,
): GaugeSample {
  return { kind: 'value', metric, labels, value };
}

export interface Snapshot {
  readonly samples: readonly Sample[];
  /** Unix time in ms when the collection finished. */
  readonly takenAt: number;
}

/** What the sinks read from: one collection shared by every caller that waits for it. */
export interface SnapshotSource {
  collect(): Promise<Snapshot>;
}
