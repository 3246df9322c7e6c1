// Layer: netlink protocol. A receive-only multicast listener on one netlink protocol: joins the
// groups it is given, hands each message of each datagram to the caller, and reports receive-
// buffer overruns (ENOBUFS from recvmsg, or an NLMSG_OVERRUN message) as counts, not failures:
// the dropped messages are gone and reading goes on. It never sends, and it sets no socket option
// but SO_RCVBUF: in particular not NETLINK_BROADCAST_ERROR (which makes some senders hold state
// until a slow listener catches up) nor NETLINK_NO_ENOBUFS (which hides the loss).
// Knows nothing of ctnetlink messages or metrics.
// Reference: include/uapi/linux/netlink.h; net/netlink/af_netlink.c (netlink_overrun).
//
// With the `netlink` package (0.3.0), an overrun that epoll reports before recvmsg does
// (EPOLLERR while the thread was busy) ends in a C++ exception that aborts the whole process.
// Whoever owns this socket must therefore run it in a process that may die: see
// docs/events.md#overruns.

import { RawNetlinkSocket } from 'netlink';
import { forEachMessage, NLMSG_OVERRUN, type MessageView } from './codec.js';
import { DecodeError, NetlinkSocketError } from './errors.js';

const ENOBUFS = 105;

/** What the listener needs of a socket; RawNetlinkSocket satisfies it. */
export interface MulticastRawSocket {
  addMembership(group: number): void;
  getRecvBufferSize(): number;
  on(event: 'message', listener: (msg: Buffer) => void): unknown;
  on(event: 'truncatedMessage', listener: (msg: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error & { errno?: number; code?: string }) => void): unknown;
  close(): void;
}

export interface MulticastOptions {
  /** Netlink protocol number (socket(AF_NETLINK, SOCK_RAW, protocol)). */
  readonly protocol: number;
  /** Multicast groups to join (1-based group numbers, as NETLINK_ADD_MEMBERSHIP takes them). */
  readonly groups: readonly number[];
  /**
   * SO_RCVBUF request in bytes. The kernel caps it at net.core.rmem_max and doubles it;
   * `receiveBufferBytes` says what was granted.
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
  readonly socketFactory?: (protocol: number, options: RawSocketOptions) => MulticastRawSocket;
}

export interface RawSocketOptions {
  readonly messagePeeking: boolean;
  readonly msgBufferSize: number;
  readonly recvBufferSize: number;
  readonly sendBufferSize: number;
}

function openRawSocket(protocol: number, options: RawSocketOptions): MulticastRawSocket {
  return new RawNetlinkSocket(protocol, options);
}

export class MulticastListener {
  private socket: MulticastRawSocket | undefined;
  /** SO_RCVBUF as the kernel reports it after the request (already doubled). */
  readonly receiveBufferBytes: number;

  constructor(private readonly options: MulticastOptions) {
    const factory = options.socketFactory ?? openRawSocket;
    // No peeking: one recvmsg per datagram instead of two; events are small and one per datagram.
    const socket = factory(options.protocol, {
      messagePeeking: false,
      msgBufferSize: options.readBytes ?? 2048,
      recvBufferSize: options.receiveBufferBytes,
      sendBufferSize: 4096,
    });
    this.socket = socket;
    try {
      socket.on('message', (buf) => this.onDatagram(buf));
      socket.on('truncatedMessage', (buf) =>
        options.onMalformed(new DecodeError(`truncated datagram (${buf.length} bytes read)`)),
      );
      socket.on('error', (err) => this.onSocketError(err));
      for (const group of options.groups) socket.addMembership(group);
      this.receiveBufferBytes = socket.getRecvBufferSize();
    } catch (err) {
      this.close();
      throw new NetlinkSocketError(
        `joining netlink groups ${options.groups.join(',')}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    try {
      socket?.close();
    } catch {
      // Already closed by the addon after a poll error.
    }
  }

  private onDatagram(buf: Buffer): void {
    try {
      forEachMessage(buf, (msg) => {
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

  private onSocketError(err: Error & { errno?: number; code?: string }): void {
    if (err.code === 'ENOBUFS' || Math.abs(err.errno ?? 0) === ENOBUFS) {
      // netlink_overrun set sk_err; this recvmsg consumed it and the queue is intact: go on.
      this.options.onOverrun();
      return;
    }
    this.close();
    this.options.onError(new NetlinkSocketError(`netlink multicast socket: ${err.message}`, { cause: err }));
  }
}
