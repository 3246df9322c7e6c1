// Test support: an in-memory RawSocket and a fake kernel behind it, for transport tests without a
// kernel. Replies are real captured datagrams (test/fixtures) with their seq rewritten to the
// request's, so the transport is exercised on kernel bytes.

import type { RawSocket } from '../../src/netlink/transport.js';

type Listener = (arg: never) => void;

export class FakeSocket implements RawSocket {
  readonly sent: Buffer[] = [];
  closed = false;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(
    private readonly onSend: (request: Buffer, socket: FakeSocket) => void,
    private readonly sendError?: Error,
  ) {}

  send(buf: Uint8Array, _options?: undefined, callback?: (error?: Error) => void): void {
    const copy = Buffer.from(buf);
    this.sent.push(copy);
    // The addon completes sends asynchronously; so does this.
    queueMicrotask(() => {
      callback?.(this.sendError);
      if (!this.sendError) this.onSend(copy, this);
    });
  }

  on(event: 'message' | 'truncatedMessage', listener: (msg: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: string, listener: Listener): unknown {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  emit(event: 'message' | 'truncatedMessage', buf: Buffer): void;
  emit(event: 'error', err: Error): void;
  emit(event: string, arg: unknown): void {
    for (const l of this.listeners.get(event) ?? []) (l as (a: unknown) => void)(arg);
  }

  close(): void {
    this.closed = true;
  }
}

export function seqOf(request: Buffer): number {
  return request.readUInt32LE(8);
}

/**
 * A copy of `datagram` with every message's nlmsg_seq set to `seq`, and for NLMSG_ERROR the
 * echoed request's seq too (what the kernel would have sent for a request with that seq).
 */
export function withSeq(datagram: Buffer, seq: number): Buffer {
  const out = Buffer.from(datagram);
  let off = 0;
  while (off + 16 <= out.length) {
    const len = out.readUInt32LE(off);
    if (len < 16) break;
    out.writeUInt32LE(seq >>> 0, off + 8);
    if (out.readUInt16LE(off + 4) === 2 && len >= 36) out.writeUInt32LE(seq >>> 0, off + 16 + 4 + 8);
    off += (len + 3) & ~3;
  }
  return out;
}

/** Answers each request with datagrams from `respond`, seq rewritten; keeps every socket made. */
export class FakeKernel {
  readonly sockets: FakeSocket[] = [];
  readonly requests: Buffer[] = [];

  constructor(
    private respond: (request: Buffer) => readonly Buffer[] = () => [],
    private readonly sendError?: Error,
  ) {}

  /** The transport's socketFactory. */
  readonly factory = (): FakeSocket => {
    const socket = new FakeSocket((request, s) => {
      this.requests.push(request);
      for (const d of this.respond(request)) s.emit('message', withSeq(d, seqOf(request)));
    }, this.sendError);
    this.sockets.push(socket);
    return socket;
  };

  setResponder(respond: (request: Buffer) => readonly Buffer[]): void {
    this.respond = respond;
  }

  get last(): FakeSocket {
    const s = this.sockets[this.sockets.length - 1];
    if (!s) throw new Error('no socket yet');
    return s;
  }
}
