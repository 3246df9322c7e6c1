// Layer: collectors. Decoding and aggregation of one flow pass, in whichever thread runs it. The
// pass's reader (the thread that owns the dump socket) hands over compact batches of the sampled
// flow messages; this decodes them and, at the end, returns the aggregate as plain data that can
// cross a worker boundary. The same class runs inline (tests, no worker file) and in
// flow-worker.ts, so there is one decoding path.

import { decodeFlowFields, FlowFields } from '../conntrack/flow.js';
import { forEachMessage } from '../netlink/codec.js';
import { DecodeError } from '../netlink/errors.js';
import { findMetric } from '../metrics/catalog.js';
import { FlowAggregator, type AggregateOptions } from './flow-aggregate.js';
import type { Sample } from '../metrics/sample.js';

/** A Sample with its metric by name, so it survives structured cloning. */
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
  readonly folded: number;
  /** Sampled messages that failed to decode (counted, skipped). */
  readonly malformed: number;
}

export class PassDecoder {
  private readonly aggregator: FlowAggregator;
  private readonly fields = new FlowFields();
  private malformed = 0;

  constructor(nowNs: number) {
    this.aggregator = new FlowAggregator(nowNs);
  }

  /** `batch` holds whole netlink flow messages back to back (4-byte aligned). */
  feed(batch: Buffer): void {
    try {
      forEachMessage(batch, (msg) => {
        try {
          this.aggregator.add(decodeFlowFields(msg, this.fields));
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          this.malformed += 1;
        }
      });
    } catch (err) {
      // The reader copied whole messages, so framing cannot break here; count it if it does.
      if (!(err instanceof DecodeError)) throw err;
      this.malformed += 1;
    }
  }

  finish(options: AggregateOptions, scale: number): PassOutput {
    const { samples, folded } = this.aggregator.result(options, scale);
    return { samples: samples.map(toPlain), folded, malformed: this.malformed };
  }
}

function toPlain(s: Sample): PlainSample {
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
  if (!metric) throw new Error(`flow decoder returned unknown metric ${p.name}`);
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

/** Where a pass's batches are decoded: inline, or in a worker thread. */
export interface DecoderBackend {
  begin(nowNs: number): void;
  /** Takes ownership of `batch`. */
  feed(batch: Buffer): void;
  end(options: AggregateOptions, scale: number): Promise<PassOutput>;
  close(): Promise<void>;
}

export class InlineBackend implements DecoderBackend {
  private decoder: PassDecoder | undefined;

  begin(nowNs: number): void {
    this.decoder = new PassDecoder(nowNs);
  }

  feed(batch: Buffer): void {
    this.decoder?.feed(batch);
  }

  end(options: AggregateOptions, scale: number): Promise<PassOutput> {
    const out = this.decoder?.finish(options, scale) ?? { samples: [], folded: 0, malformed: 0 };
    this.decoder = undefined;
    return Promise.resolve(out);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Copies sampled messages out of the reader's datagrams into large unpooled chunks and hands
 * each full chunk to the backend: one copy per message, one post per chunk.
 */
export class BatchWriter {
  private chunk: Buffer | undefined;
  private used = 0;

  constructor(
    private readonly backend: DecoderBackend,
    private readonly chunkSize = 256 * 1024,
  ) {}

  push(src: Buffer, start: number, end: number): void {
    const len = end - start;
    if (!this.chunk || this.used + len > this.chunk.length) {
      this.flush();
      this.chunk = Buffer.allocUnsafeSlow(Math.max(this.chunkSize, len));
    }
    src.copy(this.chunk, this.used, start, end);
    this.used += len;
  }

  flush(): void {
    if (this.chunk && this.used > 0) this.backend.feed(this.chunk.subarray(0, this.used));
    this.chunk = undefined;
    this.used = 0;
  }
}
