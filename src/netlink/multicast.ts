// Layer: netlink protocol. A receive-only multicast listener on one netlink protocol: joins the
// groups it is given, reads every queued datagram in batches (one recvmmsg per up to
// BATCH datagrams, on the caller's schedule, see poll()), hands each message to the caller, and
// reports receive-buffer overruns (ENOBUFS, or an NLMSG_OVERRUN message) as counts, not
// failures: the dropped messages are gone and reading goes on. It never sends, and it sets no
// socket option but the receive buffer size: in particular not NETLINK_BROADCAST_ERROR (which
// makes some senders hold state until a slow listener catches up) nor NETLINK_NO_ENOBUFS (which
// hides the loss). Knows nothing of ctnetlink messages or metrics.
// The socket is the project's addon (src/netlink/native.ts, native/nlmc.c): reading on a timer
// instead of waking per datagram is what keeps a busy table's events cheap (docs/events.md).
// Reference: include/uapi/linux/netlink.h; net/netlink/af_netlink.c (netlink_overrun).

import { forEachMessage, NLMSG_OVERRUN, type MessageView } from './codec.js';
import { DecodeError, NetlinkSocketError } from './errors.js';
import { nativeSocketApi, type NetlinkSocketApi } from './native.js';

const ENOBUFS = 105;

/** Datagrams one read takes at most. */
export const BATCH = 256;
/** Reads one poll makes at most before it yields (the rest waits for the next poll). */
export const MAX_READS_PER_POLL = 64;

export interface MulticastOptions {
  /** Netlink protocol number (socket(AF_NETLINK, SOCK_RAW, protocol)). */
  readonly protocol: number;
  /** Multicast groups to join (1-based group numbers, as NETLINK_ADD_MEMBERSHIP takes them). */
  readonly groups: readonly number[];
  /**
   * Receive buffer request in bytes: forced past net.core.rmem_max with CAP_NET_ADMIN, else
   * capped by it; the kernel doubles it. `receiveBufferBytes` says what was granted.
   */
  readonly receiveBufferBytes: number;
  /** Largest datagram read whole; longer ones are reported as malformed (truncated). */
  readonly readBytes?: number;
  /** Each netlink message, in the datagram's own buffer (valid only during the call). */
  readonly onMessage: (msg: MessageView) => void;
  /** The kernel dropped messages because the receive buffer was full. */
  readonly onOverrun: () => void;
  /** A datagram or message that could not be framed, or was truncated. */
  readonly onMalformed: (err: DecodeError) => void;
  /** Any other socket error; the socket is closed after it. */
  readonly onError: (err: NetlinkSocketError) => void;
  /** Replaces the addon (unit tests script the kernel's answers). */
  readonly api?: NetlinkSocketApi;
}

export class MulticastListener {
  private fd: number | undefined;
  private readonly api: NetlinkSocketApi;
  private readonly buffer: Buffer;
  private readonly lengths = new Int32Array(BATCH);
  private readonly slot: number;
  /** The receive buffer as the kernel reports it after the request (already doubled). */
  readonly receiveBufferBytes: number;
  /** True when the request was forced past net.core.rmem_max (CAP_NET_ADMIN). */
  readonly forced: boolean;

  constructor(private readonly options: MulticastOptions) {
    this.api = options.api ?? nativeSocketApi();
    this.slot = options.readBytes ?? 2048;
    this.buffer = Buffer.alloc(this.slot * BATCH);
    try {
      const opened = this.api.open(options.protocol, options.groups, options.receiveBufferBytes);
      this.fd = opened.fd;
      this.receiveBufferBytes = opened.receiveBufferBytes;
      this.forced = opened.forced;
    } catch (err) {
      throw new NetlinkSocketError(
        `netlink socket for groups ${options.groups.join(',')}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** True until close() or a socket error. */
  get open(): boolean {
    return this.fd !== undefined;
  }

  /**
   * Reads and delivers what the kernel has queued, up to MAX_READS_PER_POLL batches; returns the
   * number of datagrams read (a full last batch means more may be waiting).
   */
  poll(): number {
    let total = 0;
    for (let reads = 0; reads < MAX_READS_PER_POLL && this.fd !== undefined; reads++) {
      const n = this.api.read(this.fd, this.buffer, this.lengths);
      if (n === -ENOBUFS) {
        // netlink_overrun set sk_err; this read consumed it and the queue is intact: go on.
        this.options.onOverrun();
        continue;
      }
      if (n < 0) {
        this.fail(-n);
        break;
      }
      for (let i = 0; i < n; i++) this.onDatagram(i);
      total += n;
      if (n < BATCH) break;
    }
    return total;
  }

  close(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) this.api.close(fd);
  }

  private onDatagram(i: number): void {
    const length = this.lengths[i] ?? 0;
    if (length < 0) {
      this.options.onMalformed(new DecodeError(`truncated datagram (${-length} bytes, read ${this.slot})`));
      return;
    }
    const datagram = this.buffer.subarray(i * this.slot, i * this.slot + length);
    try {
      forEachMessage(datagram, (msg) => {
        if (msg.type === NLMSG_OVERRUN) {
          this.options.onOverrun();
          return;
        }
        try {
          this.options.onMessage(msg);
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          this.options.onMalformed(err);
        }
      });
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.options.onMalformed(err);
    }
  }

  private fail(errno: number): void {
    this.close();
    this.options.onError(new NetlinkSocketError(`netlink multicast socket: recvmmsg failed, errno ${errno}`));
  }
}
