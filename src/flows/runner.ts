// Layer: collectors (flows). Runs passes and supervises the thread that runs them: every pass has
// a deadline; a worker that dies (exit, crash, out of heap) or misses the deadline is terminated,
// the pass fails with a typed error, and the next pass gets a fresh worker (and a fresh walk).
// The worker lives only while it holds a walk paused mid-table: a table that fits the budget
// costs no thread between passes. Passes run inline, on the main thread, whenever the dump
// socket can pause (the project's addon is built, src/netlink/polled.ts): the walk is then held
// without blocking anything; the worker is for a build without the addon.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { FlowPassDeadlineError, FlowWorkerExitError, fromPlainError } from './errors.js';
import { FlowWalker, type PassReport, type PassRequest } from './walk.js';
import type { FromWorker, ToWorker, WorkerData } from './worker.js';

export interface PassRunner {
  /** One pass; rejects with the pass's error, or when the deadline passes. */
  run(request: PassRequest, deadlineMs: number): Promise<PassReport>;
  close(): Promise<void>;
}

const WORKER_FILE = fileURLToPath(new URL('./worker.js', import.meta.url));

/** The compiled worker, if the code runs from dist/ (workers cannot load .ts sources). */
export function workerFile(): string | undefined {
  return WORKER_FILE.endsWith('.js') && existsSync(WORKER_FILE) ? WORKER_FILE : undefined;
}

/** How a worker thread is made; tests substitute workers that die or hang. */
export type SpawnWorker = (data: WorkerData, transfer: MessagePort[]) => Worker;

export function spawnFlowWorker(file: string): SpawnWorker {
  return (data, transfer) =>
    new Worker(file, {
      workerData: data,
      transferList: transfer,
      // A small young generation keeps a pass's transient garbage from growing RSS.
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
}

interface Live {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly wake: Int32Array;
}

export class WorkerPassRunner implements PassRunner {
  private live: Live | undefined;

  constructor(
    private readonly spawn: SpawnWorker,
    private readonly timeoutMs: number,
  ) {}

  run(request: PassRequest, deadlineMs: number): Promise<PassReport> {
    const live = this.live ?? this.start();
    return new Promise<PassReport>((resolve, reject) => {
      const settle = (fn: () => void, keep: boolean): void => {
        clearTimeout(timer);
        live.port.off('message', onMessage);
        live.worker.off('exit', onExit);
        live.worker.off('error', onError);
        live.worker.unref();
        if (!keep) void this.retire(live);
        fn();
      };
      const onMessage = (msg: FromWorker): void => {
        if (msg.kind === 'report') settle(() => resolve(msg), msg.held);
        else settle(() => reject(fromPlainError(msg.error)), false);
      };
      const onExit = (code: number): void => {
        settle(() => reject(new FlowWorkerExitError(`exit code ${code}`)), false);
      };
      const onError = (err: Error): void => {
        settle(() => reject(new FlowWorkerExitError(err.message, { cause: err })), false);
      };
      const timer = setTimeout(() => {
        // Hung: it cannot be asked to close.
        void live.worker.terminate();
        settle(() => reject(new FlowPassDeadlineError(deadlineMs)), false);
      }, deadlineMs);
      live.port.on('message', onMessage);
      live.worker.on('exit', onExit);
      live.worker.on('error', onError);
      live.worker.ref();
      live.port.postMessage({ kind: 'pass', request } satisfies ToWorker);
      // Wakes a worker blocked between passes (worker.ts, awaitNext).
      Atomics.add(live.wake, 0, 1);
      Atomics.notify(live.wake, 0);
    });
  }

  async close(): Promise<void> {
    const live = this.live;
    if (live) await this.retire(live);
  }

  private start(): Live {
    const { port1, port2 } = new MessageChannel();
    const wake = new SharedArrayBuffer(4);
    const worker = this.spawn({ port: port2, wake, timeoutMs: this.timeoutMs }, [port2]);
    worker.unref();
    // An idle worker must never keep the process alive, nor its errors go unhandled.
    worker.on('error', () => undefined);
    port1.unref();
    this.live = { worker, port: port1, wake: new Int32Array(wake) };
    return this.live;
  }

  /** Asks the worker to close its walk and end; terminates it only if it does not within 2 s. */
  private retire(live: Live): Promise<void> {
    if (this.live === live) this.live = undefined;
    if (live.worker.threadId === -1) return Promise.resolve();
    const ended = new Promise<void>((resolve) => live.worker.once('exit', () => resolve()));
    try {
      live.port.postMessage({ kind: 'close' } satisfies ToWorker);
      Atomics.add(live.wake, 0, 1);
      Atomics.notify(live.wake, 0);
    } catch {
      // The port is already closed: the worker is ending.
    }
    const force = setTimeout(() => void live.worker.terminate(), 2000);
    force.unref();
    return ended.finally(() => {
      clearTimeout(force);
      live.port.close();
    });
  }
}

/**
 * Passes in this thread. Between passes that leave the walk mid-table the walker pauses its
 * socket (src/netlink/polled.ts reads only when asked), so nothing blocks and no thread is
 * needed; with a socket that cannot pause, every pass starts a fresh walk.
 */
export class InlinePassRunner implements PassRunner {
  private walker: FlowWalker | undefined;
  private settle: ((r: PassReport | { readonly kind: 'error'; readonly error: Error }) => void) | undefined;

  constructor(private readonly timeoutMs: number) {}

  run(request: PassRequest, deadlineMs: number): Promise<PassReport> {
    return new Promise<PassReport>((resolve, reject) => {
      const walker = (this.walker ??= new FlowWalker(
        { timeoutMs: this.timeoutMs },
        { report: (r) => this.settle?.(r) },
      ));
      const timer = setTimeout(() => {
        this.settle = undefined;
        void this.close();
        reject(new FlowPassDeadlineError(deadlineMs));
      }, deadlineMs);
      this.settle = (r) => {
        clearTimeout(timer);
        this.settle = undefined;
        if (r.kind === 'report') resolve(r);
        else reject(r.error);
      };
      try {
        walker.pass(request);
      } catch (err) {
        clearTimeout(timer);
        this.settle = undefined;
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  close(): Promise<void> {
    this.walker?.close();
    this.walker = undefined;
    return Promise.resolve();
  }
}
