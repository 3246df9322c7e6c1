// Layer: collectors (flows). The flow worker thread: it owns the dump socket and the table walk
// (walk.ts), and reads, decodes and aggregates a pass's sample itself, so a pass never blocks the
// thread that answers /metrics. Between passes that leave the walk mid-table it blocks in
// Atomics.wait: the socket is then not read and the kernel keeps its place. It takes the next
// pass with receiveMessageOnPort, and reports on the same port. Asked to close, it drops the
// walk and its socket and the thread ends by itself (terminating a thread while it runs inside
// the netlink addon's callback aborts the process, so only a hung worker is terminated; the
// walker never runs its own code inside that callback). Supervised by runner.ts.

import { setPriority } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { toPlainError, type PlainError } from './errors.js';
import { FlowWalker, type PassReport, type PassRequest } from './walk.js';

export interface WorkerData {
  readonly port: MessagePort;
  /** Int32 [0]: bumped by the supervisor after every request it posts. */
  readonly wake: SharedArrayBuffer;
  readonly timeoutMs: number;
}

/** A pass, or: drop the walk, close the socket and let the thread end. */
export type ToWorker = { readonly kind: 'pass'; readonly request: PassRequest } | { readonly kind: 'close' };
export type FromWorker = PassReport | { readonly kind: 'error'; readonly error: PlainError };

/**
 * Nice value of the flow worker. On Linux the nice value is per thread and who=0 is the calling
 * thread, so this lowers only this worker: scrapes on the main thread get the CPU first.
 */
const WORKER_NICE = 10;

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * V8's gc() for this thread, without --expose-gc on the command line (the flag only makes new
 * contexts carry the function), or undefined if this V8 refuses it.
 */
function gcFunction(): GcFunction | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as GcFunction) : undefined;
  } catch {
    return undefined;
  }
}

function serve(data: WorkerData): void {
  // A thread blocked in Atomics.wait never runs V8's idle-time memory reducer, so the garbage of
  // a pass and the heap pages it grew would stay resident until the next pass. One full,
  // memory-reducing collection after each pass that leaves the walk paused gives them back
  // (20-45 ms measured at the default budget, against about 500 ms for the pass itself). (The
  // worker runs only where the addon cannot load, so there is no malloc_trim to call here; the
  // collector calls it after every pass, for the process.)
  const gc = gcFunction();
  const { port } = data;
  const wake = new Int32Array(data.wake);
  const walker = new FlowWalker(
    { timeoutMs: data.timeoutMs },
    {
      report: (r) => {
        const msg: FromWorker = r.kind === 'error' ? { kind: 'error', error: toPlainError(r.error) } : r;
        port.postMessage(msg);
      },
      awaitNext: () => {
        gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
        // The supervisor posts, then bumps `wake`: read the counter first, so a request posted
        // between the check and the wait makes the wait return at once.
        for (;;) {
          const seen = Atomics.load(wake, 0);
          const next: { message: ToWorker } | undefined = receiveMessageOnPort(port);
          if (next && next.message.kind === 'pass') return next.message.request;
          if (next) {
            setImmediate(() => port.close());
            return undefined;
          }
          Atomics.wait(wake, 0, seen);
        }
      },
    },
  );
  port.on('message', (msg: ToWorker) => {
    if (msg.kind === 'close') {
      walker.close();
      port.close();
      return;
    }
    try {
      walker.pass(msg.request);
    } catch (err) {
      port.postMessage({ kind: 'error', error: toPlainError(err) } satisfies FromWorker);
    }
  });
}

if (!isMainThread && (workerData as Partial<WorkerData> | undefined)?.port) {
  try {
    setPriority(WORKER_NICE);
  } catch {
    // Not permitted here: the pass still runs, scrapes just compete with it for the CPU.
  }
  serve(workerData as WorkerData);
}
