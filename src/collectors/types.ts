// Layer: collectors. What every collector returns: samples for entries of the metric catalogue.
// Collectors read through the conntrack layer and know nothing of Prometheus or OpenTelemetry
// wire formats.

import type { ConntrackClient } from '../conntrack/client.js';
import type { CollectorName, MetricDef } from '../metrics/catalog.js';

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

/** Where a collector's values came from (conntrack_collector_source_info). */
export type Source = 'netlink' | 'procfs' | 'sysctl';

export interface CollectResult {
  readonly samples: readonly Sample[];
  readonly source: Source;
  /** Set when the collector failed but still has samples to report (e.g. its own pass counters). */
  readonly error?: Error;
}

export interface Collector {
  readonly name: Exclude<CollectorName, 'exporter'>;
  collect(): Promise<CollectResult>;
  /** Starts background work (the flow collector's passes). */
  start?(): void;
  /** Runs the background work once, inline (used by `once`). */
  runOnce?(): Promise<void>;
  stop?(): Promise<void>;
}

/** How the exporter reaches the kernel, decided once at start (see sources.ts). */
export interface CollectorContext {
  readonly client: ConntrackClient;
  /** false when ctnetlink is not to be used (no CAP_NET_ADMIN, or CONNTRACK_EXPORTER_SOURCE=procfs). */
  readonly netlink: boolean;
  readonly procPath: string;
  readonly kernelRelease: string;
  /** Timeout of every netlink call, for sockets opened outside the client (the flow reader). */
  readonly timeoutMs: number;
}

export function sample<L extends string>(
  metric: MetricDef<L>,
  labels: Record<L, string>,
  value: number,
): GaugeSample {
  return { kind: 'value', metric, labels, value };
}
