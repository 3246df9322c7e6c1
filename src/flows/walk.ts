// Layer: collectors (flows). The table walk: one ctnetlink dump (IPCTNL_MSG_CT_GET, NLM_F_DUMP)
// read a budget of flows at a time. The kernel builds the next batch of a dump only when its
// reader receives (net/netlink/af_netlink.c, netlink_recvmsg -> netlink_dump), and remembers
// where it stopped (bucket and entry id, net/netfilter/nf_conntrack_netlink.c,
// ctnetlink_dump_table): a reader that stops reading pauses the walk, for as long as it likes,
// and the next read continues it. So a pass reads its budget, stops, and the next pass picks up
// where it stopped; at the end of the table the walk wraps around to a fresh dump. Over
// successive passes every flow is visited, and each pass costs only its sample.
//
// Pausing means not reading. The dump socket (src/netlink/polled.ts) reads only when asked, so
// on the main thread the walker pauses it after a pass and the next pass() resumes it; nothing
// blocks. Without the project's addon the `netlink` package's socket is used, which reads
// whenever the socket is readable: then the walker hands the pass's report to `awaitNext`, which
// blocks the thread (the flow worker, see worker.ts) until the next pass is asked for. See
// docs/flow-passes.md#threads.
//
// What a paused walk can meet, and what the walker does:
// - the entry it stopped at deleted: the kernel re-sends that bucket from its head; the leading
//   flows of each batch are checked against the last flows seen and duplicates are skipped;
// - the hash table resized (nf_conntrack_buckets), or the table now fits the budget: a fresh
//   walk from the start;
// - the end of the table: a fresh walk; a pass that wraps around stops when it meets its own
//   first flow again, so it never counts a flow twice;
// - a kernel error, a socket error, a read that times out (the namespace gone, the kernel
//   stuck): the pass fails with the typed error and the walk is dropped; the next pass starts a
//   fresh one.

import {
  encodeRequest,
  readErrorPayload,
  walkMessages,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  type MessageView,
} from '../netlink/codec.js';
import {
  DecodeError,
  NetlinkKernelError,
  NetlinkPermissionError,
  NetlinkSocketError,
  NetlinkTimeoutError,
} from '../netlink/errors.js';
import { assertReadOnly } from '../conntrack/readonly.js';
import { openDumpSocket } from '../netlink/polled.js';
import { openNetfilterSocket, type RawSocket } from '../netlink/transport.js';
import { CtMsg } from '../conntrack/constants.js';
import { decodeFlowFields, FlowFields, zoneOf } from '../conntrack/flow.js';
import type { AddressReporting } from '../conntrack/address-prefix.js';
import { FlowAggregator, type AddressCounts, type PortSample } from './aggregate.js';
import type { PodTable } from './pods.js';
import { toPlain, type PassOutput } from './plain.js';

const REQUEST = 'IPCTNL_MSG_CT_GET';
const EPERM = 1;

/** Why a pass started a fresh walk instead of continuing the last one. */
export type WalkStart = 'new' | 'fits' | 'resize' | 'end';
export const WALK_STARTS: readonly WalkStart[] = ['new', 'fits', 'resize', 'end'];

export interface PassRequest {
  /** Read at most this many flows. */
  readonly budget: number;
  /** Entries of the table at the start of the pass (CT_GET_STATS): the scale of a sample. */
  readonly entries: number;
  /** nf_conntrack_buckets at the start of the pass, if readable: a change restarts the walk. */
  readonly buckets?: number;
  /** Reference time for flow ages, ns since the epoch. */
  readonly nowNs: number;
  readonly topK: number;
  readonly seriesBudget: number;
  /** The pods' addresses, when pod attribution is on. */
  readonly pods?: PodTable;
  /** How addresses appear in labels; full when absent. */
  readonly addresses?: AddressReporting;
}

export interface PassReport {
  readonly kind: 'report';
  readonly output: PassOutput;
  /** Flow messages read (the sample, with duplicates and malformed ones). */
  readonly read: number;
  /** Flows aggregated. */
  readonly decoded: number;
  /** Flows skipped because the kernel sent them twice (a bucket re-sent after a deletion). */
  readonly duplicates: number;
  /** Every flow of the table was read in this pass: aggregates are exact, not scaled. */
  readonly complete: boolean;
  /** The walk is paused mid-table, to be continued by the next pass. */
  readonly held: boolean;
  /** Fresh walks this pass started, by reason. */
  readonly starts: readonly WalkStart[];
}

export interface WalkerHooks {
  /** A pass ended (with its report) or failed. */
  readonly report: (r: PassReport | { readonly kind: 'error'; readonly error: Error }) => void;
  /**
   * The walk is paused mid-table after a pass: wait (blocking the thread, so the socket is not
   * read) for the next pass and return it, or undefined to drop the walk. Without it, the walker
   * pauses its socket (when the socket can pause, else it drops the walk) and the next pass()
   * continues it.
   */
  readonly awaitNext?: () => PassRequest | undefined;
  /** Sees every flow a pass aggregates (tests use it to check what was visited). */
  readonly onFlow?: (f: FlowFields) => void;
}

export interface WalkerOptions {
  /** Longest silence of the kernel during a pass. */
  readonly timeoutMs: number;
  readonly socketFactory?: () => RawSocket;
}

/** How many recent flows a batch's leading flows are compared with (a re-sent bucket's length). */
const RING = 64;

/** The last flows read, as (id, family/proto, ports) triples: enough to tell a re-sent flow. */
class RecentFlows {
  private readonly ids = new Float64Array(RING).fill(-1);
  private readonly kinds = new Float64Array(RING);
  private readonly ports = new Float64Array(RING);
  private next = 0;

  private static kind(f: FlowFields): number {
    return f.family * 65536 * 256 + f.orig.proto * 65536 + (zoneOf(f) & 0xffff);
  }

  private static portsOf(f: FlowFields): number {
    return (f.orig.sport + 1) * 131072 + (f.orig.dport + 1) + (f.orig.icmpId + 1) * 2 ** 34;
  }

  has(f: FlowFields): boolean {
    if (f.id < 0) return false;
    for (let i = 0; i < RING; i++) {
      if (this.ids[i] === f.id) {
        if (this.kinds[i] === RecentFlows.kind(f) && this.ports[i] === RecentFlows.portsOf(f)) return true;
      }
    }
    return false;
  }

  record(f: FlowFields): void {
    this.ids[this.next] = f.id;
    this.kinds[this.next] = RecentFlows.kind(f);
    this.ports[this.next] = RecentFlows.portsOf(f);
    this.next = (this.next + 1) % RING;
  }

  clear(): void {
    this.ids.fill(-1);
  }
}

class PassState {
  /** Dropped when the pass ends: a paused walk must not keep a pass's tallies alive. */
  aggregator: FlowAggregator | undefined;
  read = 0;
  decoded = 0;
  duplicates = 0;
  malformed = 0;
  wrapped = false;
  complete = false;
  readonly starts: WalkStart[] = [];
  /** The pass's first flow, so a pass that wraps around stops when it meets it again. */
  first: { id: number; kind: string } | undefined;

  constructor(
    readonly request: PassRequest,
    /** The pass began with a fresh walk (so reaching the end means it read the whole table). */
    readonly fresh: boolean,
    /** The last pass's distinct addresses: the tallies start with room for as many. */
    expected: AddressCounts,
    /** The last sampled pass's port tallies, combined into this pass's port estimates. */
    previousPorts: readonly PortSample[],
  ) {
    this.aggregator = new FlowAggregator(
      request.nowNs,
      request.pods,
      request.addresses,
      expected,
      previousPorts,
    );
  }
}

/** A flow's identity: family, zone and original tuple (CTA_ID alone is not unique). */
export function identity(f: FlowFields): string {
  const o = f.orig;
  return `${f.family}/${zoneOf(f)}/${o.proto}/${o.src}/${o.dst}/${o.sport}/${o.dport}/${o.icmpId}/${o.icmpType}`;
}

export class FlowWalker {
  private socket: RawSocket | undefined;
  private seq = Math.floor(Math.random() * 0x7fff_ffff);
  /** A dump request is out and its DONE not yet seen. */
  private walking = false;
  /** No pass has succeeded since the walker was made or a pass failed. */
  private afresh = true;
  private buckets: number | undefined;
  private state: PassState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly fields = new FlowFields();
  private readonly recent = new RecentFlows();
  /** Distinct addresses of the last pass. */
  private addressCounts: AddressCounts = { src: 0, dst: 0 };
  /** The port tallies of the last pass, if it succeeded on a sample (not the whole table). */
  private previousPorts: readonly PortSample[] = [];
  /** Leading flows of the current batch still to compare with the recent ones. */
  private head = 0;
  /** Datagrams read from the current socket, not yet decoded; the first from `queueOffset`. */
  private queue: Buffer[] = [];
  private queueOffset = 0;
  private draining = false;
  /** Between passes without a blocking awaitNext: the socket paused, the queue kept. */
  private holding = false;

  constructor(
    private readonly options: WalkerOptions,
    private readonly hooks: WalkerHooks,
  ) {}

  /**
   * Starts a pass while no pass runs: the first one, one after a pass that ended the walk, or,
   * without a blocking awaitNext, the next pass of a walk held paused.
   */
  pass(request: PassRequest): void {
    if (this.state) throw new Error('a flow pass is already running');
    const held = this.holding;
    this.holding = false;
    this.begin(request);
    if (held && this.socket && this.state) {
      // Continuing: first what was received but not yet decoded, then the socket again.
      this.socket.resume?.();
      this.scheduleDrain();
    }
  }

  /** Drops the walk and its socket. */
  close(): void {
    this.disarm();
    this.state = undefined;
    this.holding = false;
    this.previousPorts = [];
    this.afresh = true;
    this.retire();
  }

  private freshReason(r: PassRequest): WalkStart | undefined {
    // The first pass, or the first after a failed one.
    if (this.afresh) return 'new';
    if (r.buckets !== undefined && this.buckets !== undefined && r.buckets !== this.buckets) return 'resize';
    if (r.entries <= r.budget) return 'fits';
    // The last pass read to the end of the table (it fitted then): the walk starts over.
    if (!this.walking) return 'end';
    return undefined;
  }

  private begin(request: PassRequest): void {
    const reason = this.freshReason(request);
    this.state = new PassState(request, reason !== undefined, this.addressCounts, this.previousPorts);
    this.arm();
    if (reason) this.restart(reason);
    else this.buckets = request.buckets ?? this.buckets;
  }

  private restart(reason: WalkStart): void {
    const st = this.state;
    st?.starts.push(reason);
    this.retire();
    this.recent.clear();
    this.buckets = st?.request.buckets;
    this.seq = (this.seq + 1) >>> 0 || 1;
    const buf = encodeRequest({
      type: CtMsg.GET,
      flags: NLM_F_REQUEST | NLM_F_DUMP,
      seq: this.seq,
      family: 0,
    });
    assertReadOnly(buf);
    let socket: RawSocket;
    try {
      socket = this.options.socketFactory
        ? this.options.socketFactory()
        : openDumpSocket(openNetfilterSocket);
    } catch (err) {
      this.fail(new NetlinkSocketError(`open: ${(err as Error).message}`, { cause: err }));
      return;
    }
    socket.on('message', (b) => this.onDatagram(socket, b));
    socket.on('truncatedMessage', () => {
      if (this.socket === socket && this.state) this.state.malformed += 1;
    });
    socket.on('error', (err) => {
      if (this.socket === socket)
        this.fail(new NetlinkSocketError(`netlink socket error: ${err.message}`, { cause: err }));
    });
    this.socket = socket;
    this.walking = true;
    socket.send(buf, undefined, (err) => {
      if (err && this.socket === socket)
        this.fail(new NetlinkSocketError(`send ${REQUEST}: ${err.message}`, { cause: err }));
    });
  }

  /** Closes the socket after the current callback (the addon may still be in its read loop). */
  private retire(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.walking = false;
    this.queue = [];
    this.queueOffset = 0;
    if (socket) {
      setImmediate(() => {
        try {
          socket.close();
        } catch {
          // Already closed by the addon after a poll error.
        }
      });
    }
  }

  private arm(): void {
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.fail(new NetlinkTimeoutError(REQUEST, this.options.timeoutMs));
      }, this.options.timeoutMs);
    }
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * The addon's read callback only queues: decoding (and blocking between passes) happens in
   * `drain`, outside any native frame, so a worker can always be stopped safely. The addon reads
   * at most 32 datagrams per turn, so the queue stays under a megabyte.
   */
  private onDatagram(socket: RawSocket, buf: Buffer): void {
    if (socket !== this.socket) return; // a retired socket's last reads
    if (this.state) this.arm();
    this.queue.push(buf);
    if (!this.holding) this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (!this.draining && this.queue.length > 0) {
      this.draining = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.draining = false;
    while (!this.holding) {
      const buf = this.queue[0];
      if (!buf) break;
      const socket = this.socket;
      // A new datagram is a new batch; the rest of one continued after a hold is not.
      if (this.queueOffset === 0) this.head = RING;
      let next = buf.length;
      try {
        next = walkMessages(
          buf,
          this.queueOffset,
          (msg) => {
            if (socket !== this.socket || msg.seq !== this.seq) return false;
            if (msg.type === NLMSG_DONE) this.walkEnded();
            else if (msg.type === NLMSG_ERROR) {
              const { errno } = readErrorPayload(msg);
              if (errno !== 0)
                this.fail(
                  errno === EPERM
                    ? new NetlinkPermissionError(REQUEST)
                    : new NetlinkKernelError(errno, REQUEST),
                );
            } else if (msg.type === NLMSG_OVERRUN)
              this.fail(new NetlinkSocketError(`${REQUEST}: NLMSG_OVERRUN`));
            else if (msg.type !== NLMSG_NOOP) this.flow(msg);
            return this.holding;
          },
          true,
        );
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        // Broken framing: the rest of this datagram is unreadable; the pass's timeout still guards it.
        if (this.state) this.state.malformed += 1;
      }
      if (this.queue[0] !== buf) continue; // the walk restarted: a new socket, a new queue
      if (this.holding && next < buf.length) this.queueOffset = next;
      else {
        this.queue.shift();
        this.queueOffset = 0;
      }
    }
  }

  private flow(msg: MessageView): void {
    const st = this.state;
    if (!st) return;
    st.read += 1;
    let f: FlowFields;
    try {
      f = decodeFlowFields(msg, this.fields);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      st.malformed += 1;
      this.checkBudget(st);
      return;
    }
    if (this.head > 0) {
      this.head -= 1;
      if (this.recent.has(f)) {
        st.duplicates += 1;
        this.checkBudget(st);
        return;
      }
    }
    this.recent.record(f);
    if (st.first === undefined) st.first = { id: f.id, kind: identity(f) };
    else if (st.wrapped && f.id === st.first.id && identity(f) === st.first.kind) {
      // Around the whole table and back to where this pass began.
      st.read -= 1;
      st.complete = true;
      this.endPass(st, true);
      return;
    }
    st.aggregator?.add(f);
    this.hooks.onFlow?.(f);
    st.decoded += 1;
    this.checkBudget(st);
  }

  private checkBudget(st: PassState): void {
    if (st.read >= st.request.budget) this.endPass(st, true);
  }

  private walkEnded(): void {
    this.walking = false;
    const st = this.state;
    if (!st) return;
    if (st.fresh && !st.wrapped) {
      st.complete = true;
      this.endPass(st, false);
    } else if (!st.wrapped) {
      st.wrapped = true;
      this.restart('end');
    } else {
      this.endPass(st, false);
    }
  }

  private endPass(st: PassState, held: boolean): void {
    this.disarm();
    this.state = undefined;
    this.afresh = false;
    // A walk is held by blocking in awaitNext, or by pausing a socket that can pause.
    const canHold = this.hooks.awaitNext !== undefined || this.socket?.pause !== undefined;
    const stillHeld = held && this.walking && canHold;
    if (!stillHeld) this.retire();
    this.report(st, stillHeld);
    if (!stillHeld) return;
    if (!this.hooks.awaitNext) {
      this.holding = true;
      this.socket?.pause?.();
      return;
    }
    const next = this.hooks.awaitNext();
    if (next) this.begin(next);
    else this.close();
  }

  /** Reports a pass; its own frame, so nothing of the pass stays reachable while the walk waits. */
  private report(st: PassState, held: boolean): void {
    const { topK, seriesBudget, entries } = st.request;
    const scale = st.complete || st.decoded === 0 ? 1 : entries / st.decoded;
    const aggregator = st.aggregator ?? new FlowAggregator(st.request.nowNs);
    st.aggregator = undefined;
    this.addressCounts = aggregator.addressCounts();
    const { samples, folded } = aggregator.result({ topK, seriesBudget }, scale);
    this.previousPorts = scale !== 1 ? aggregator.portWindow() : [];
    this.hooks.report({
      kind: 'report',
      output: { samples: samples.map(toPlain), folded, malformed: st.malformed },
      read: st.read,
      decoded: st.decoded,
      duplicates: st.duplicates,
      complete: st.complete,
      held,
      starts: st.starts,
    });
  }

  private fail(error: Error): void {
    const had = this.state !== undefined;
    // As after close(): the next pass starts a new walk, alone.
    this.close();
    if (had) this.hooks.report({ kind: 'error', error });
  }
}
