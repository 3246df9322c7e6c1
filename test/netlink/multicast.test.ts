// Unit: the multicast listener over a scripted socket API fed with recorded kernel events: each
// message is delivered, overruns (ENOBUFS from a read, NLMSG_OVERRUN) are counted and reading
// goes on, truncated datagrams and broken framing are malformed, any other error closes the
// socket. The real addon on the real kernel: test/integration/multicast.test.ts and events.test.ts.

import { describe, expect, it } from 'vitest';
import { BATCH, MulticastListener } from '../../src/netlink/multicast.js';
import { loadFixture } from '../support/fixtures.js';
import { ScriptedApi, type Read } from '../support/scripted-api.js';

function listen(script: Read[], groups = [1, 3]) {
  const seen = { messages: [] as number[], overruns: 0, malformed: 0, errors: [] as string[] };
  const api = new ScriptedApi(script);
  const listener = new MulticastListener({
    protocol: 12,
    groups,
    receiveBufferBytes: 1 << 20,
    onMessage: (msg) => seen.messages.push(msg.type),
    onOverrun: () => (seen.overruns += 1),
    onMalformed: () => (seen.malformed += 1),
    onError: (err) => seen.errors.push(err.code),
    api,
  });
  return { listener, api, seen };
}

const events = loadFixture('events').corpus('events').datagrams;

describe('multicast listener', () => {
  it('opens one socket with its groups and reports the granted buffer', () => {
    const { listener, api } = listen([]);
    expect(api.opened).toEqual([{ protocol: 12, groups: [1, 3], bytes: 1 << 20 }]);
    expect(listener.receiveBufferBytes).toBe(2 << 20);
    expect(listener.forced).toBe(true);
  });

  it('delivers every recorded event, counts ENOBUFS and NLMSG_OVERRUN, and keeps reading', () => {
    const [a, b, ...rest] = events;
    const overrunMsg = Buffer.alloc(16);
    overrunMsg.writeUInt32LE(16, 0);
    overrunMsg.writeUInt16LE(4, 4);
    if (!a || !b) throw new Error('fixture too small');
    const { listener, api, seen } = listen([[a], -105, [overrunMsg, b, ...rest]]);
    // A short batch ends a poll; an overrun does not (the next read goes on in the same poll).
    expect(listener.poll()).toBe(1);
    expect(listener.poll()).toBe(events.length);
    expect(seen.messages).toHaveLength(events.length);
    expect(seen.overruns).toBe(2);
    expect(api.closed).toEqual([]);
    expect(listener.open).toBe(true);
  });

  it('reads batch after batch while batches come back full, and stops at the first short one', () => {
    const one = events[0];
    if (!one) throw new Error('fixture empty');
    const full = Array.from({ length: BATCH }, () => one);
    const { listener, api, seen } = listen([full, full, [one], [one]]);
    expect(listener.poll()).toBe(2 * BATCH + 1);
    expect(api.reads).toBe(3);
    expect(seen.messages).toHaveLength(2 * BATCH + 1);
  });

  it('counts a datagram with broken framing or a truncated read as malformed', () => {
    const { listener, seen } = listen([[Buffer.from([1, 2, 3]), 4096]]);
    listener.poll();
    expect(seen).toMatchObject({ malformed: 2, messages: [] });
  });

  it('closes and reports any other socket error', () => {
    const { listener, api, seen } = listen([-9]);
    listener.poll();
    expect(seen.errors).toEqual(['ERR_NETLINK_SOCKET']);
    expect(api.closed).toEqual([7]);
    expect(listener.open).toBe(false);
    expect(listener.poll()).toBe(0);
  });

  it('a refused membership fails construction with a typed error', () => {
    expect(() => listen([], [1, 99])).toThrow(expect.objectContaining({ code: 'ERR_NETLINK_SOCKET' }));
  });
});
