// Test support: the project's socket addon (src/netlink/native.ts) scripted: each read returns
// the next entry of a script (datagrams, truncated lengths, or -errno); sends and closes are
// recorded. Unit tests of the multicast listener and of the dump socket run on it.

import { expect } from 'vitest';
import type { DumpSocketApi, OpenedSocket } from '../../src/netlink/native.js';

/** What one read returns: datagrams (a number: truncated to that real length) or -errno. */
export type Read = readonly (Buffer | number)[] | number;

export class ScriptedApi implements DumpSocketApi {
  readonly opened: { protocol: number; groups: readonly number[]; bytes: number }[] = [];
  readonly sent: Buffer[] = [];
  closed: number[] = [];
  reads = 0;
  /** What send() returns (bytes, or -errno); by default the request's length. */
  sendResult: number | undefined;
  constructor(private readonly script: Read[]) {}
  open(protocol: number, groups: readonly number[], bytes: number): OpenedSocket {
    if (groups.includes(99)) throw Object.assign(new Error('EPERM: not permitted'), { code: 'EPERM' });
    this.opened.push({ protocol, groups, bytes });
    return { fd: 7, receiveBufferBytes: bytes * 2, forced: true };
  }
  read(fd: number, buffer: Uint8Array, lengths: Int32Array): number {
    expect(fd).toBe(7);
    this.reads += 1;
    const next = this.script.shift() ?? [];
    if (typeof next === 'number') return next;
    const slot = buffer.length / lengths.length;
    next.forEach((d, i) => {
      if (typeof d === 'number') lengths[i] = -d;
      else {
        buffer.set(d, i * slot);
        lengths[i] = d.length;
      }
    });
    return next.length;
  }
  send(fd: number, buffer: Uint8Array): number {
    expect(fd).toBe(7);
    this.sent.push(Buffer.from(buffer));
    return this.sendResult ?? buffer.length;
  }
  /** Adds reads to the end of the script. */
  push(...reads: Read[]): void {
    this.script.push(...reads);
  }
  close(fd: number): void {
    this.closed.push(fd);
  }
}
