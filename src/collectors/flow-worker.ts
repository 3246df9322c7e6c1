// Layer: collectors. The flow pass's two worker threads, so a pass over a million flows never
// blocks the thread that answers /metrics (its event loop would otherwise spend ~20 ms per turn
// in the kernel's dump callbacks), and decoding overlaps with the kernel filling the next batch:
//   main --pass--> reader (owns its own dump socket, samples, batches) --batches--> decoder
//   main <--summary-- reader <--aggregate-- decoder
// Each channel is one ordered port, so "end" always follows the last batch.

import { existsSync } from 'node:fs';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData, type ResourceLimits } from 'node:worker_threads';
import { ConntrackClient } from '../conntrack/client.js';
import type { AggregateOptions } from './flow-aggregate.js';
import { PassDecoder, type DecoderBackend, type PassOutput } from './flow-decoder.js';
import { readFlowPass, type PassParams, type PassSummary } from './flow-pass.js';

type Role = 'reader' | 'decoder';

type ToDecoder =
  | { readonly kind: 'begin'; readonly nowNs: number; readonly inFlight: SharedArrayBuffer }
  | { readonly kind: 'feed'; readonly batch: ArrayBuffer; readonly length: number }
  | { readonly kind: 'end'; readonly options: AggregateOptions; readonly scale: number };

type ToReader = { readonly kind: 'pass'; readonly params: PassParams; readonly timeoutMs: number };

type Reply<T> =
  { readonly kind: 'result'; readonly value: T } | { readonly kind: 'error'; readonly message: string };

const FILE = fileURLToPath(import.meta.url);
/**
 * Small heaps make V8 collect the transient buffers early instead of letting RSS grow: the reader
 * holds only the datagram it reads and the batch it fills; the decoder holds the aggregates, which
 * grow with distinct addresses up to the per-pass cap, so its old generation is left unbounded.
 */
const LIMITS: Readonly<Record<Role, ResourceLimits>> = {
  reader: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 },
  decoder: { maxYoungGenerationSizeMb: 8 },
};
/** Batches (256 KiB each) the reader may run ahead of the decoder. */
const MAX_IN_FLIGHT = 8;

/** This module's compiled file, if the code runs from dist/ (workers cannot load .ts sources). */
export function workerFile(): string | undefined {
  return FILE.endsWith('.js') && existsSync(FILE) ? FILE : undefined;
}

/** A worker answering one request at a time; idle workers never keep the process alive. */
class WorkerClient<T> {
  private readonly worker: Worker;
  private pending: { resolve: (v: T) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(role: Role) {
    this.worker = new Worker(FILE, {
      workerData: { role } satisfies { role: Role },
      resourceLimits: LIMITS[role],
    });
    this.worker.unref();
    this.worker.on('message', (msg: Reply<T>) => {
      const p = this.pending;
      this.pending = undefined;
      this.worker.unref();
      if (msg.kind === 'result') p?.resolve(msg.value);
      else p?.reject(new Error(`flow ${role} worker: ${msg.message}`));
    });
    this.worker.on('error', (err: Error) => {
      this.failure = err;
      this.pending?.reject(err);
      this.pending = undefined;
    });
  }

  post(msg: unknown, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(msg, transfer);
  }

  request(msg: unknown): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.ref();
      this.post(msg);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Decoding in the decoder worker. */
export class WorkerBackend implements DecoderBackend {
  private readonly client = new WorkerClient<PassOutput>('decoder');
  /** Batches posted and not yet decoded; the decoder decrements it and notifies. */
  private readonly inFlight = new Int32Array(new SharedArrayBuffer(4));

  begin(nowNs: number): void {
    Atomics.store(this.inFlight, 0, 0);
    this.client.post({
      kind: 'begin',
      nowNs,
      inFlight: this.inFlight.buffer,
    } satisfies ToDecoder);
  }

  feed(batch: Buffer): void {
    // Backpressure: block this (reader) thread while the decoder is behind. The reader then stops
    // reading, and the kernel, whose dump is flow-controlled, waits too: memory stays bounded by
    // MAX_IN_FLIGHT batches instead of growing with the table.
    for (let n = Atomics.load(this.inFlight, 0); n >= MAX_IN_FLIGHT; n = Atomics.load(this.inFlight, 0)) {
      Atomics.wait(this.inFlight, 0, n, 1000);
    }
    Atomics.add(this.inFlight, 0, 1);
    // Batches start at offset 0 of an unpooled ArrayBuffer (BatchWriter): it moves without a copy.
    const ab = batch.buffer as ArrayBuffer;
    this.client.post({ kind: 'feed', batch: ab, length: batch.length } satisfies ToDecoder, [ab]);
  }

  end(options: AggregateOptions, scale: number): Promise<PassOutput> {
    return this.client.request({ kind: 'end', options, scale } satisfies ToDecoder);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** Whole passes in the reader worker, which feeds its own decoder worker. */
export class WorkerPassRunner {
  private readonly client = new WorkerClient<PassSummary>('reader');

  run(params: PassParams, timeoutMs: number): Promise<PassSummary> {
    return this.client.request({ kind: 'pass', params, timeoutMs } satisfies ToReader);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function serveDecoder(port: NonNullable<typeof parentPort>): void {
  let decoder: PassDecoder | undefined;
  let inFlight: Int32Array | undefined;
  // A failure mid-pass is reported when the pass ends, so the reader gets exactly one answer.
  let failure: string | undefined;
  port.on('message', (msg: ToDecoder) => {
    try {
      if (msg.kind === 'begin') {
        decoder = new PassDecoder(msg.nowNs);
        inFlight = new Int32Array(msg.inFlight);
        failure = undefined;
      } else if (msg.kind === 'feed') {
        try {
          if (!failure) decoder?.feed(Buffer.from(msg.batch, 0, msg.length));
        } finally {
          if (inFlight) {
            Atomics.sub(inFlight, 0, 1);
            Atomics.notify(inFlight, 0);
          }
        }
      } else if (failure) {
        port.postMessage({ kind: 'error', message: failure } satisfies Reply<PassOutput>);
      } else {
        const value = decoder?.finish(msg.options, msg.scale) ?? { samples: [], folded: 0, malformed: 0 };
        port.postMessage({ kind: 'result', value } satisfies Reply<PassOutput>);
      }
    } catch (err) {
      failure = (err as Error).message;
      if (msg.kind === 'end')
        port.postMessage({ kind: 'error', message: failure } satisfies Reply<PassOutput>);
    }
    if (msg.kind === 'end') decoder = undefined;
  });
}

function serveReader(port: NonNullable<typeof parentPort>): void {
  let client: ConntrackClient | undefined;
  const backend = new WorkerBackend();
  port.on('message', (msg: ToReader) => {
    client ??= new ConntrackClient({ timeoutMs: msg.timeoutMs });
    readFlowPass(client, backend, msg.params).then(
      (value) => port.postMessage({ kind: 'result', value } satisfies Reply<PassSummary>),
      (err: unknown) => {
        // A failed dump leaves the socket mid-dump: the next pass starts on a fresh client.
        client?.close();
        client = undefined;
        port.postMessage({ kind: 'error', message: (err as Error).message } satisfies Reply<PassSummary>);
      },
    );
  });
}

/**
 * Nice value of the pass threads. On Linux the nice value is per thread, and who=0 means the
 * calling thread, so this lowers only this worker: on a busy node (and on 2 cores, where the
 * reader and decoder could take both) scrapes on the main thread still get the CPU at once.
 */
const WORKER_NICE = 10;

if (!isMainThread && parentPort) {
  try {
    setPriority(WORKER_NICE);
  } catch {
    // Not permitted in this sandbox: the pass still runs, scrapes just compete for CPU with it.
  }
  const role = (workerData as { role?: Role } | undefined)?.role;
  if (role === 'decoder') serveDecoder(parentPort);
  else if (role === 'reader') serveReader(parentPort);
}
