// Layer: netlink protocol. A request/dump transport over one NETLINK_NETFILTER socket (the
// `netlink` package's RawNetlinkSocket behind the small `RawSocket` interface). Replies are
// matched by sequence number; dumps stream to NLMSG_DONE; single requests end at their ACK;
// every call has an idle timeout; kernel errors become typed errors. Every outgoing buffer goes
// through the read-only guard the caller hands in (src/conntrack/readonly.ts for ctnetlink).
// Knows nothing of conntrack attributes, message names or metrics.
// Reference: net/netlink/af_netlink.c (dump batches), net/netfilter/nf_conntrack_netlink.c;
// docs/ctnetlink.md#sockets-and-reads, docs/ctnetlink.md#message-framing-and-when-a-reply-ends.

// The raw socket module alone: the package's index also loads its generic-netlink, nl80211,
// rtnetlink and WireGuard layers (1.6 MB of heap in every thread that imports it).
import { RawNetlinkSocket } from 'netlink/dist/raw.js';
import {
  encodeRequest,
  forEachMessage,
  readErrorPayload,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  type MessageView,
} from './codec.js';
import {
  DecodeError,
  NetlinkKernelError,
  NetlinkPermissionError,
  NetlinkSocketError,
  NetlinkTimeoutError,
} from './errors.js';
import type { RequestGuard } from './readonly.js';

const NETLINK_NETFILTER = 12;
const EPERM = 1;

/** What the transport needs of a socket; RawNetlinkSocket satisfies it. */
export interface RawSocket {
  send(buf: Uint8Array, options?: undefined, callback?: (error?: Error) => void): void;
  on(event: 'message', listener: (msg: Buffer) => void): unknown;
  on(event: 'truncatedMessage', listener: (msg: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(): void;
  /**
   * Stops and restarts reading, for sockets that read on their own schedule
   * (src/netlink/polled.ts): while paused nothing is received, so a dump waits in the kernel.
   * Absent when the socket reads whenever it is readable.
   */
  pause?(): void;
  resume?(): void;
}

export interface TransportOptions {
  /** A call fails when no datagram for it arrives for this long. */
  readonly timeoutMs: number;
  /** Checks every outgoing buffer before it reaches the socket; there is no default. */
  readonly guard: RequestGuard;
  /** Called for every malformed message or datagram that was skipped. */
  readonly onMalformed?: (err: DecodeError) => void;
  readonly socketFactory?: () => RawSocket;
}

/**
 * Large reads, no peeking: the kernel then fills ~32 KiB batches (about 104 flows) instead of
 * 4 KiB ones, cutting datagrams per million flows from ~83k to ~10k (netlink_dump() in
 * net/netlink/af_netlink.c; docs/ctnetlink.md#sockets-and-reads). A batch never
 * exceeds SKB_WITH_OVERHEAD(32768), so 32 KiB reads get every batch whole while each received
 * Buffer pins half the memory a 64 KiB read would (it matters for RSS during a pass).
 */
export function openNetfilterSocket(): RawSocket {
  return new RawNetlinkSocket(NETLINK_NETFILTER, {
    messagePeeking: false,
    msgBufferSize: 32768,
    recvBufferSize: 262144,
    sendBufferSize: 65536,
  });
}

interface Pending {
  readonly seq: number;
  readonly name: string;
  /** Returns true when the call is complete. */
  readonly onMessage: (msg: MessageView) => boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export interface RequestSpec {
  /** Full nlmsg_type, (subsystem << 8) | message. */
  readonly type: number;
  /** Kernel name of the request, for errors and logs. */
  readonly name: string;
  readonly family?: number;
}

export class NetlinkTransport {
  private socket: RawSocket | undefined;
  private pending: Pending | undefined;
  private seq = Math.floor(Math.random() * 0x7fff_ffff);
  /** Calls run one at a time: a socket can hold only one dump (EBUSY otherwise). */
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: TransportOptions) {}

  /**
   * A single request answered by zero or more messages and an ACK (CT_GET_STATS replies with one
   * message and never a DONE, so the ACK is the only reliable terminator). `onMessage` as in dump().
   */
  request(spec: RequestSpec, onMessage: (msg: MessageView) => void): Promise<void> {
    return this.serialize(() => this.run(spec, NLM_F_REQUEST | NLM_F_ACK, onMessage));
  }

  /**
   * A dump: `onMessage` sees each reply part as it arrives, in the datagram's own buffer (valid
   * only during the call). A DecodeError thrown by `onMessage` skips that message and is counted;
   * anything else aborts the dump.
   */
  dump(spec: RequestSpec, onMessage: (msg: MessageView) => void): Promise<void> {
    return this.serialize(() => this.run(spec, NLM_F_REQUEST | NLM_F_DUMP, onMessage));
  }

  close(): void {
    this.closed = true;
    this.fail(new NetlinkSocketError('transport closed'));
    this.resetSocket();
  }

  private serialize<T>(op: () => Promise<T>): Promise<T> {
    const result = this.tail.then(op, op);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private run(spec: RequestSpec, flags: number, deliver: (msg: MessageView) => void): Promise<void> {
    if (this.closed) return Promise.reject(new NetlinkSocketError('transport closed'));
    this.seq = (this.seq + 1) >>> 0 || 1;
    const seq = this.seq;
    const buf = encodeRequest({ type: spec.type, flags, seq, family: spec.family ?? 0 });
    this.options.guard.assert(buf);
    const isDump = (flags & NLM_F_DUMP) !== 0;

    return new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        seq,
        name: spec.name,
        resolve,
        reject,
        timer: undefined,
        onMessage: (msg) => {
          if (msg.type === NLMSG_DONE) return isDump;
          if (msg.type === NLMSG_ERROR) {
            const { errno } = readErrorPayload(msg);
            if (errno === 0) return true; // the ACK
            throw errno === EPERM
              ? new NetlinkPermissionError(spec.name)
              : new NetlinkKernelError(errno, spec.name);
          }
          if (msg.type === NLMSG_NOOP) return false;
          if (msg.type === NLMSG_OVERRUN) throw new NetlinkSocketError(`${spec.name}: NLMSG_OVERRUN`);
          try {
            deliver(msg);
          } catch (err) {
            if (!(err instanceof DecodeError)) throw err;
            this.options.onMalformed?.(err);
          }
          return false;
        },
      };
      this.pending = pending;
      this.armTimer(pending);
      try {
        this.ensureSocket().send(buf, undefined, (err) => {
          if (err) this.fail(new NetlinkSocketError(`send ${spec.name}: ${err.message}`, { cause: err }));
        });
      } catch (err) {
        this.fail(new NetlinkSocketError(`send ${spec.name}: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  private armTimer(pending: Pending): void {
    // Re-armed on every datagram of a dump: refresh() restarts the same timer without a new one.
    if (pending.timer) {
      pending.timer.refresh();
      return;
    }
    pending.timer = setTimeout(() => {
      // The kernel may still be sending this dump: a new socket avoids EBUSY and stale parts.
      this.resetSocket();
      this.fail(new NetlinkTimeoutError(pending.name, this.options.timeoutMs), pending);
    }, this.options.timeoutMs);
  }

  private ensureSocket(): RawSocket {
    if (this.socket) return this.socket;
    const factory = this.options.socketFactory ?? openNetfilterSocket;
    const socket = factory();
    socket.on('message', (buf) => this.onDatagram(buf));
    socket.on('truncatedMessage', () => {
      this.options.onMalformed?.(new DecodeError('truncated datagram'));
    });
    socket.on('error', (err) => {
      this.resetSocket();
      this.fail(new NetlinkSocketError(`netlink socket error: ${err.message}`, { cause: err }));
    });
    this.socket = socket;
    return socket;
  }

  private resetSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      try {
        socket.close();
      } catch {
        // Already closed by the addon after a poll error; nothing left to release.
      }
    }
  }

  private onDatagram(buf: Buffer): void {
    const pending = this.pending;
    if (!pending) return; // a stale reply to a call that already timed out
    try {
      forEachMessage(buf, (msg) => {
        if (this.pending !== pending || msg.seq !== pending.seq) return;
        if (pending.onMessage(msg)) this.finish(pending);
      });
    } catch (err) {
      if (err instanceof DecodeError) {
        // Broken framing: the rest of this datagram is unreadable; the call's timeout still guards it.
        this.options.onMalformed?.(err);
      } else {
        this.resetSocket();
        this.fail(err as Error, pending);
        return;
      }
    }
    if (this.pending === pending) this.armTimer(pending);
  }

  private finish(pending: Pending): void {
    if (pending.timer) clearTimeout(pending.timer);
    this.pending = undefined;
    pending.resolve();
  }

  private fail(err: Error, only?: Pending): void {
    const pending = this.pending;
    if (!pending || (only && pending !== only)) return;
    if (pending.timer) clearTimeout(pending.timer);
    this.pending = undefined;
    pending.reject(err);
  }
}
