// Layer: netlink protocol. A NETLINK_NETFILTER socket for dumps on the project's addon
// (src/netlink/native.ts, native/nlmc.c), behind the transport's `RawSocket` interface. It reads
// on its own schedule: one recvmmsg(2) of up to SLOTS datagrams per event-loop turn, into one
// buffer it keeps, handed out as views into that buffer. So a dump allocates no memory per
// datagram (the `netlink` package's socket allocates 32 KiB for each and frees it only when the
// garbage collector finds its Buffer: about 10 MB in flight during a pass over 100k flows), and
// when the thread stops returning to its event loop nothing reads, so the kernel pauses the dump
// and keeps its place (net/netlink/af_netlink.c: the next batch is built by the next receive).
//
// A view is valid until the next read. The next read is always a later setImmediate than the
// delivery, so a consumer that decodes what it was handed in its own setImmediate, scheduled
// during delivery (as the flow walk does), runs first (Node runs immediates in creation order);
// a consumer that pauses the socket keeps its views valid until it resumes it.

import { NetlinkSocketError } from './errors.js';
import { nativeSocketApi, type DumpSocketApi } from './native.js';
import type { RawSocket } from './transport.js';

const NETLINK_NETFILTER = 12;
/** Datagrams one read takes at most. */
export const SLOTS = 16;
/** A dump batch never exceeds SKB_WITH_OVERHEAD(32768): 32 KiB slots take every batch whole. */
export const SLOT_BYTES = 32768;
/** Longest pause between reads that find nothing (the kernel stalled, or the dump is done). */
const MAX_IDLE_MS = 64;

type Listener<T> = (value: T) => void;

export interface PolledSocketOptions {
  readonly receiveBufferBytes?: number;
  /** Replaces the addon (unit tests script the kernel's answers). */
  readonly api?: DumpSocketApi;
}

export class PolledNetlinkSocket implements RawSocket {
  private readonly api: DumpSocketApi;
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(SLOTS * SLOT_BYTES);
  private readonly lengths = new Int32Array(SLOTS);
  private readonly messages: Listener<Buffer>[] = [];
  private readonly truncated: Listener<Buffer>[] = [];
  private readonly errors: Listener<Error>[] = [];
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private idleMs = 1;
  private paused = false;

  constructor(options: PolledSocketOptions = {}) {
    this.api = options.api ?? nativeSocketApi();
    try {
      this.fd = this.api.open(NETLINK_NETFILTER, [], options.receiveBufferBytes ?? 262144).fd;
    } catch (err) {
      throw new NetlinkSocketError(`netlink socket: ${(err as Error).message}`, { cause: err });
    }
  }

  on(event: 'message' | 'truncatedMessage', listener: Listener<Buffer>): this;
  on(event: 'error', listener: Listener<Error>): this;
  on(event: 'message' | 'truncatedMessage' | 'error', listener: Listener<Buffer> | Listener<Error>): this {
    if (event === 'error') this.errors.push(listener as Listener<Error>);
    else (event === 'message' ? this.messages : this.truncated).push(listener as Listener<Buffer>);
    return this;
  }

  send(buf: Uint8Array, _options?: undefined, callback?: (error?: Error) => void): void {
    const sent = this.fd === undefined ? -9 /* EBADF */ : this.api.send(this.fd, buf);
    const error = sent < 0 ? new NetlinkSocketError(`sendto: errno ${-sent}`) : undefined;
    process.nextTick(() => (callback ? callback(error) : error && this.fail(error)));
    if (!error) {
      this.idleMs = 1;
      this.schedule();
    }
  }

  /** No more reads until resume(): the kernel keeps the rest of a dump, and its place in it. */
  pause(): void {
    this.paused = true;
    this.stop();
  }

  resume(): void {
    this.paused = false;
    this.idleMs = 1;
    this.schedule();
  }

  close(): void {
    const fd = this.fd;
    this.fd = undefined;
    this.stop();
    if (fd !== undefined) this.api.close(fd);
  }

  private schedule(): void {
    if (this.fd === undefined || this.paused || this.immediate || this.timer) return;
    // Not unref'd: an unref'd immediate lets the event loop block in its poll phase first (for as
    // long as the next timer), so each batch would wait for some other event.
    this.immediate = setImmediate(this.read);
  }

  private stop(): void {
    if (this.immediate) clearImmediate(this.immediate);
    if (this.timer) clearTimeout(this.timer);
    this.immediate = this.timer = undefined;
  }

  private readonly read = (): void => {
    this.immediate = this.timer = undefined;
    if (this.fd === undefined) return;
    const n = this.api.read(this.fd, this.buffer, this.lengths);
    if (n < 0) {
      this.fail(new NetlinkSocketError(`recvmmsg: errno ${-n}`));
      return;
    }
    if (n === 0) {
      // Nothing queued: look again later, less and less often. An open socket waiting for the
      // kernel never keeps the process alive by itself.
      this.timer = setTimeout(this.read, this.idleMs);
      this.timer.unref();
      this.idleMs = Math.min(MAX_IDLE_MS, this.idleMs * 2);
      return;
    }
    this.idleMs = 1;
    // A listener may pause or close the socket: the rest of the batch is still handed out (it
    // was received), and the next read waits for resume().
    for (let i = 0; i < n && this.fd !== undefined; i++) {
      const length = this.lengths[i] ?? 0;
      const view = this.buffer.subarray(
        i * SLOT_BYTES,
        i * SLOT_BYTES + Math.min(Math.abs(length), SLOT_BYTES),
      );
      for (const l of length < 0 ? this.truncated : this.messages) l(view);
    }
    this.schedule();
  };

  private fail(err: Error): void {
    this.stop();
    for (const l of this.errors) l(err);
  }
}

let canPause: boolean | undefined;

/** True when dump sockets can pause (the addon loads); found out once. */
export function dumpSocketCanPause(): boolean {
  if (canPause === undefined) {
    try {
      nativeSocketApi();
      canPause = true;
    } catch {
      canPause = false;
    }
  }
  return canPause;
}

/** The flow walk's dump socket: this one, or the `netlink` package's when the addon is not built. */
export function openDumpSocket(fallback: () => RawSocket): RawSocket {
  try {
    return new PolledNetlinkSocket();
  } catch {
    return fallback();
  }
}
