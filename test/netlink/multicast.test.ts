// Unit: the multicast listener over a scripted socket fed with recorded kernel events: each
// message is delivered, overruns (ENOBUFS from recvmsg, NLMSG_OVERRUN) are counted and reading
// goes on, broken framing is malformed, any other error closes the socket. The real socket is
// exercised by test/integration/events.test.ts.

import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  MulticastListener,
  type MulticastRawSocket,
  type RawSocketOptions,
} from '../../src/netlink/multicast.js';
import { loadFixture } from '../support/fixtures.js';

class ScriptedSocket extends EventEmitter implements MulticastRawSocket {
  readonly groups: number[] = [];
  closed = false;
  constructor(readonly options: RawSocketOptions) {
    super();
  }
  addMembership(group: number): void {
    if (group === 99) throw Object.assign(new Error('EPERM'), { code: 'EPERM' });
    this.groups.push(group);
  }
  getRecvBufferSize(): number {
    return Math.min(this.options.recvBufferSize, 212992) * 2;
  }
  close(): void {
    this.closed = true;
  }
}

function listen(groups = [1, 3]) {
  const seen = { messages: [] as number[], overruns: 0, malformed: 0, errors: [] as string[] };
  let socket: ScriptedSocket | undefined;
  const listener = new MulticastListener({
    protocol: 12,
    groups,
    receiveBufferBytes: 1 << 20,
    onMessage: (msg) => seen.messages.push(msg.type),
    onOverrun: () => (seen.overruns += 1),
    onMalformed: () => (seen.malformed += 1),
    onError: (err) => seen.errors.push(err.code),
    socketFactory: (_protocol, options) => (socket = new ScriptedSocket(options)),
  });
  if (!socket) throw new Error('no socket made');
  return { listener, socket, seen };
}

const events = loadFixture('events').corpus('events').datagrams;

describe('multicast listener', () => {
  it('joins the groups it is given, reads without peeking, and reports the granted buffer', () => {
    const { listener, socket } = listen();
    expect(socket.groups).toEqual([1, 3]);
    expect(socket.options.messagePeeking).toBe(false);
    expect(listener.receiveBufferBytes).toBe(425984);
  });

  it('delivers every recorded event, counts ENOBUFS and NLMSG_OVERRUN, and keeps reading', () => {
    const { socket, seen } = listen();
    const [a, b, ...rest] = events;
    socket.emit('message', a);
    socket.emit('error', Object.assign(new Error('recvmsg ENOBUFS'), { code: 'ENOBUFS', errno: 105 }));
    const overrunMsg = Buffer.alloc(16);
    overrunMsg.writeUInt32LE(16, 0);
    overrunMsg.writeUInt16LE(4, 4);
    socket.emit('message', overrunMsg);
    socket.emit('message', b);
    for (const d of rest) socket.emit('message', d);
    expect(seen.messages).toHaveLength(events.length);
    expect(seen.overruns).toBe(2);
    expect(socket.closed).toBe(false);
  });

  it('counts a datagram with broken framing or a truncated read as malformed', () => {
    const { socket, seen } = listen();
    socket.emit('message', Buffer.from([1, 2, 3]));
    socket.emit('truncatedMessage', Buffer.alloc(4096));
    expect(seen).toMatchObject({ malformed: 2, messages: [] });
  });

  it('closes and reports any other socket error', () => {
    const { socket, seen } = listen();
    socket.emit('error', Object.assign(new Error('poll error'), { code: 'EBADF', errno: 9 }));
    expect(seen.errors).toEqual(['ERR_NETLINK_SOCKET']);
    expect(socket.closed).toBe(true);
  });

  it('a refused membership fails construction with a typed error and closes the socket', () => {
    expect(() => listen([1, 99])).toThrow(expect.objectContaining({ code: 'ERR_NETLINK_SOCKET' }));
  });
});
