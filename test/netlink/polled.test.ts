// Unit: the dump socket over a scripted addon. It reads only after a request or resume(), one
// batch per event-loop turn, hands out each datagram as a view of its one buffer (truncated ones
// as truncatedMessage), stops reading while paused (the kernel keeps the dump), backs off while
// nothing is queued, and turns a failed send or read into an error. The real addon on the real
// kernel: test/integration/flow-walk.test.ts (mode `paused`) and the flow collector's tests.

import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { PolledNetlinkSocket, SLOT_BYTES, SLOTS } from '../../src/netlink/polled.js';
import { ScriptedApi } from '../support/scripted-api.js';

const dgram = (byte: number, length = 20): Buffer => Buffer.alloc(length, byte);

function socket(api: ScriptedApi) {
  const s = new PolledNetlinkSocket({ api, receiveBufferBytes: 1 << 18 });
  const got: { kind: string; first: number; length: number }[] = [];
  const errors: string[] = [];
  s.on('message', (b) => got.push({ kind: 'message', first: b[0] ?? -1, length: b.length }));
  s.on('truncatedMessage', (b) => got.push({ kind: 'truncated', first: b[0] ?? -1, length: b.length }));
  s.on('error', (e) => errors.push(e.message));
  return { s, got, errors };
}

describe('PolledNetlinkSocket', () => {
  it('opens a NETLINK_NETFILTER socket with no groups, and reads nothing before a request', async () => {
    const api = new ScriptedApi([[dgram(1)]]);
    const { s } = socket(api);
    expect(api.opened).toEqual([{ protocol: 12, groups: [], bytes: 1 << 18 }]);
    await tick();
    await tick();
    expect(api.reads).toBe(0);
    s.close();
    expect(api.closed).toEqual([7]);
  });

  it('after a request, one batch per turn, each datagram a view of the socket buffer', async () => {
    const api = new ScriptedApi([
      [dgram(1), dgram(2, 100)],
      [dgram(3), SLOT_BYTES + 10],
    ]);
    const { s, got } = socket(api);
    const sent: (Error | undefined)[] = [];
    s.send(Buffer.from([20, 0, 0, 0]), undefined, (err) => sent.push(err));
    expect(api.sent).toEqual([Buffer.from([20, 0, 0, 0])]);
    await tick();
    expect(sent).toEqual([undefined]);
    expect(api.reads).toBe(1);
    expect(got).toEqual([
      { kind: 'message', first: 1, length: 20 },
      { kind: 'message', first: 2, length: 100 },
    ]);
    await tick();
    expect(api.reads).toBe(2);
    expect(got.slice(2)).toEqual([
      { kind: 'message', first: 3, length: 20 },
      // Longer than its slot: reported truncated, at the slot's length (its bytes are whatever
      // the reused slot holds; a truncated datagram is counted as malformed, never decoded).
      { kind: 'truncated', first: 2, length: SLOT_BYTES },
    ]);
    s.close();
  });

  it('reads nothing while paused, and continues after resume()', async () => {
    const api = new ScriptedApi([[dgram(1)], [dgram(2)], [dgram(3)]]);
    const { s, got } = socket(api);
    s.on('message', (b) => {
      if (b[0] === 1) s.pause();
    });
    s.send(Buffer.from([1]));
    for (let i = 0; i < 5; i++) await tick();
    expect(api.reads).toBe(1);
    expect(got.map((g) => g.first)).toEqual([1]);
    s.resume();
    await tick();
    await tick();
    expect(got.map((g) => g.first)).toEqual([1, 2, 3]);
    s.close();
  });

  it('looks again later when nothing is queued, less and less often', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    try {
      const api = new ScriptedApi([[], [], [], []]);
      const { s, got } = socket(api);
      s.send(Buffer.from([1]));
      vi.advanceTimersByTime(0);
      expect(api.reads).toBe(1);
      // Empty reads: the next one after 1, then 2, then 4 ms.
      vi.advanceTimersByTime(1);
      expect(api.reads).toBe(2);
      vi.advanceTimersByTime(1);
      expect(api.reads).toBe(2);
      vi.advanceTimersByTime(1);
      expect(api.reads).toBe(3);
      vi.advanceTimersByTime(3);
      expect(api.reads).toBe(3);
      api.push([dgram(9)], [dgram(10)]);
      vi.advanceTimersByTime(1);
      expect(api.reads).toBe(4); // the last empty one
      vi.advanceTimersByTime(8);
      expect(got.map((g) => g.first)).toEqual([9]);
      // Data again: the next read is the next thing to run, with no pause.
      vi.advanceTimersToNextTimer();
      expect(got.map((g) => g.first)).toEqual([9, 10]);
      s.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a failed send or read is an error; a closed socket reads nothing more', async () => {
    const api = new ScriptedApi([-105]);
    api.sendResult = -1;
    const { s, errors } = socket(api);
    const sent: (Error | undefined)[] = [];
    s.send(Buffer.from([1]), undefined, (err) => sent.push(err));
    await tick();
    expect(sent[0]?.message).toBe('sendto: errno 1');
    expect(api.reads).toBe(0);
    api.sendResult = undefined;
    s.send(Buffer.from([1]));
    await tick();
    expect(errors).toEqual(['recvmmsg: errno 105']);
    s.close();
    s.resume();
    await tick();
    expect(api.reads).toBe(1);
  });

  it('reads at most SLOTS datagrams a turn into one buffer of SLOTS slots', () => {
    expect(SLOTS * SLOT_BYTES).toBe(16 * 32768);
  });
});
