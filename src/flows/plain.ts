// Layer: collectors (flows). Samples as plain data, so a pass's result crosses the worker boundary
// by structured cloning: the metric travels by name and is looked up in the catalogue again.

import type { Sample } from '../metrics/sample.js';
import { findMetric } from '../metrics/catalog.js';

export type PlainSample =
  | {
      readonly kind: 'value';
      readonly name: string;
      readonly labels: Record<string, string>;
      readonly value: number;
    }
  | {
      readonly kind: 'histogram';
      readonly name: string;
      readonly labels: Record<string, string>;
      readonly bucketCounts: readonly number[];
      readonly count: number;
      readonly sum: number;
    };

export interface PassOutput {
  readonly samples: readonly PlainSample[];
  /** Series folded into "other" under the budget. */
  readonly folded: number;
  /** Flow messages or datagrams that failed to decode (counted, skipped). */
  readonly malformed: number;
}

export function toPlain(s: Sample): PlainSample {
  const labels = { ...s.labels };
  if (s.kind === 'value') return { kind: 'value', name: s.metric.name, labels, value: s.value };
  return {
    kind: 'histogram',
    name: s.metric.name,
    labels,
    bucketCounts: [...s.bucketCounts],
    count: s.count,
    sum: s.sum,
  };
}

export function fromPlain(p: PlainSample): Sample {
  const metric = findMetric(p.name);
  if (!metric) throw new Error(`flow pass returned unknown metric ${p.name}`);
  return p.kind === 'value'
    ? { kind: 'value', metric, labels: p.labels, value: p.value }
    : {
        kind: 'histogram',
        metric,
        labels: p.labels,
        bucketCounts: p.bucketCounts,
        count: p.count,
        sum: p.sum,
      };
}
