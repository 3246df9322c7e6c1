// Layer: collectors. The flow decoder's worker thread: it decodes and aggregates the batches the
// reader posts, so a pass over a million flows never blocks the thread that answers /metrics, and
// decoding overlaps with the kernel filling the next dump batch (two cores, one pipeline).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import type { AggregateOptions } from './flow-aggregate.js';
import { PassDecoder, type DecoderBackend, type PassOutput } from './flow-decoder.js';

type ToWorker =
  | { readonly kind: 'begin'; readonly nowNs: number }
  | { readonly kind: 'feed'; readonly batch: ArrayBuffer; readonly length: number }
  | { readonly kind: 'end'; readonly options: AggregateOptions; readonly scale: number };

type FromWorker =
  | { readonly kind: 'result'; readonly output: PassOutput }
  | { readonly kind: 'error'; readonly message: string };

export class WorkerBackend implements DecoderBackend {
  private readonly worker: Worker;
  private pending: { resolve: (o: PassOutput) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(file: string) {
    this.worker = new Worker(file);
    // Idle between passes: the worker must not keep `once` or a shutting-down process alive.
    this.worker.unref();
    this.worker.on('message', (msg: FromWorker) => {
      const p = this.pending;
      this.pending = undefined;
      if (msg.kind === 'result') p?.resolve(msg.output);
      else p?.reject(new Error(`flow decoder worker: ${msg.message}`));
    });
    this.worker.on('error', (err: Error) => {
      this.failure = err;
      this.pending?.reject(err);
      this.pending = undefined;
    });
  }

  begin(nowNs: number): void {
    this.post({ kind: 'begin', nowNs });
  }

  feed(batch: Buffer): void {
    // Batches start at offset 0 of an unpooled ArrayBuffer (BatchWriter), so it moves without a copy.
    const ab = batch.buffer as ArrayBuffer;
    this.worker.postMessage({ kind: 'feed', batch: ab, length: batch.length } satisfies ToWorker, [ab]);
  }

  end(options: AggregateOptions, scale: number): Promise<PassOutput> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.ref();
      this.post({ kind: 'end', options, scale });
    }).finally(() => this.worker.unref()) as Promise<PassOutput>;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }
}

/** The compiled worker file next to this module, if the code runs from dist/ (not under vitest). */
export function workerFile(): string | undefined {
  const file = fileURLToPath(new URL('./flow-worker.js', import.meta.url));
  return existsSync(file) && import.meta.url.endsWith('.js') ? file : undefined;
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  let decoder: PassDecoder | undefined;
  // A failure mid-pass is reported when the pass ends, so the reader gets exactly one answer.
  let failure: string | undefined;
  port.on('message', (msg: ToWorker) => {
    try {
      if (msg.kind === 'begin') {
        decoder = new PassDecoder(msg.nowNs);
        failure = undefined;
      } else if (msg.kind === 'feed') {
        if (!failure) decoder?.feed(Buffer.from(msg.batch, 0, msg.length));
      } else if (failure) {
        port.postMessage({ kind: 'error', message: failure } satisfies FromWorker);
      } else {
        const output = decoder?.finish(msg.options, msg.scale) ?? { samples: [], folded: 0, malformed: 0 };
        port.postMessage({ kind: 'result', output } satisfies FromWorker);
      }
    } catch (err) {
      failure = (err as Error).message;
      if (msg.kind === 'end') port.postMessage({ kind: 'error', message: failure } satisfies FromWorker);
    }
    if (msg.kind === 'end') decoder = undefined;
  });
}
