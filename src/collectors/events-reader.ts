// Layer: collectors. The event reader: a child process of the exporter that owns the ctnetlink
// event socket, decodes each NEW/DESTROY event with the flow decoder, tallies them, and sends the
// exporter deltas a few times a second over the IPC channel (a heartbeat when idle). It reads the
// socket every POLL_MS in batches (src/netlink/multicast.ts), so a burst costs a few system calls
// per poll rather than a wakeup per event. It is a separate process so that decoding a flood of
// events never delays a scrape, and so that anything fatal in the socket path ends only this
// process: the exporter reports it and starts a new one. Run by events.ts; never imported by the
// exporter itself.

import { setPriority } from 'node:os';
import { EVENT_GROUPS, decodeEvent } from '../conntrack/events.js';
import { NETLINK_NETFILTER } from '../conntrack/constants.js';
import { FlowFields, type AddressKey } from '../conntrack/flow.js';
import { BATCH, MAX_READS_PER_POLL, MulticastListener } from '../netlink/multicast.js';
import { EventTally, type TallyDelta } from './events-tally.js';

export interface ReaderConfig {
  /** SO_RCVBUF request in bytes. */
  readonly receiveBufferBytes: number;
  /** Destination ports counted on their own (CONNTRACK_EXPORTER_EVENTS_PORTS). */
  readonly ports: readonly number[];
}

/** The pods' addresses (each an index into `uids`), for counting NEW events by pod. */
export type ToReader = {
  readonly kind: 'pods';
  readonly uids: readonly string[];
  readonly addresses: readonly (readonly [AddressKey, number])[];
};

export type FromReader =
  | { readonly kind: 'ready'; readonly receiveBufferBytes: number; readonly forced: boolean }
  | {
      readonly kind: 'tick';
      readonly delta?: TallyDelta;
      readonly overruns: number;
      readonly malformed: number;
    }
  | { readonly kind: 'error'; readonly code: string; readonly message: string };

/** Deltas go out this often while events arrive; an idle reader still sends a heartbeat every HEARTBEAT_MS. */
export const FLUSH_MS = 200;
/**
 * The socket is read every BUSY_POLL_MS while events arrive and every IDLE_POLL_MS otherwise: the
 * receive buffer holds what arrives in between (docs/events.md#overruns), and an idle reader wakes
 * only ten times a second.
 */
export const BUSY_POLL_MS = 50;
export const IDLE_POLL_MS = 100;
export const HEARTBEAT_MS = 1000;

function send(msg: FromReader, then?: () => void): void {
  if (process.send) process.send(msg, undefined, {}, () => then?.());
  else then?.();
}

/** Reports a fatal error and exits once the exporter has it (exit right away would drop it). */
function fail(code: string, message: string): void {
  send({ kind: 'error', code, message }, () => process.exit(1));
  setTimeout(() => process.exit(1), 1000).unref();
}

/**
 * The reader's niceness: background work that must never compete with the node's own traffic for
 * CPU. When the node is busy the kernel keeps queuing events for it (and counts what the buffer
 * cannot hold), instead of the workload's packets waiting for our decoding.
 */
export const READER_NICENESS = 19;

function run(config: ReaderConfig): void {
  try {
    setPriority(READER_NICENESS);
  } catch {
    // Lowering one's own priority is always allowed; if not, run at the normal priority.
  }
  const tally = new EventTally(new Set(config.ports));
  const fields = new FlowFields();
  let overruns = 0;
  let malformed = 0;
  let lastSent = Date.now();

  const listener = new MulticastListener({
    protocol: NETLINK_NETFILTER,
    groups: EVENT_GROUPS,
    receiveBufferBytes: config.receiveBufferBytes,
    onMessage: (msg) => {
      const kind = decodeEvent(msg, fields);
      tally.add(kind, fields);
    },
    onOverrun: () => (overruns += 1),
    onMalformed: () => (malformed += 1),
    onError: (err) => {
      flush(true);
      fail(err.code, err.message);
    },
  });

  function flush(force: boolean): void {
    const delta = tally.takeDelta();
    const now = Date.now();
    if (!delta && overruns === 0 && malformed === 0) {
      if (!force && now - lastSent < HEARTBEAT_MS) return;
    }
    const msg: FromReader = {
      kind: 'tick',
      overruns,
      malformed,
      ...(delta ? { delta } : {}),
    };
    overruns = malformed = 0;
    lastSent = now;
    send(msg);
  }

  send({ kind: 'ready', receiveBufferBytes: listener.receiveBufferBytes, forced: listener.forced });
  const poll = (): void => {
    const n = listener.poll();
    // A poll that stopped at its read limit left more queued: go on right after other work.
    if (listener.open)
      setTimeout(poll, n >= BATCH * MAX_READS_PER_POLL ? 0 : n > 0 ? BUSY_POLL_MS : IDLE_POLL_MS);
  };
  setTimeout(poll, BUSY_POLL_MS);
  setInterval(() => flush(false), FLUSH_MS);
  process.on('message', (msg: ToReader) => {
    if (msg.kind === 'pods') tally.setPods(msg.uids, msg.addresses);
  });
  // The exporter went away: nothing would read our counts.
  process.on('disconnect', () => {
    listener.close();
    process.exit(0);
  });
}

if (process.argv[2] === '--events-reader' && process.send) {
  try {
    run(JSON.parse(process.argv[3] ?? '{}') as ReaderConfig);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    fail(e.code ?? 'ERR_EVENTS_READER', e.message ?? String(err));
  }
}
