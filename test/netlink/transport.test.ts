// The request/dump transport, on a fake socket fed with recorded kernel datagrams: seq matching,
// terminators (DONE for dumps, the ACK for single requests), kernel errors, timeouts, malformed
// datagrams, socket errors and serialization. (The read-only guarantee on the real kernel:
// test/integration/read-only.test.ts.)

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MessageView } from '../../src/netlink/codec.js';
import {
  DecodeError,
  NetlinkKernelError,
  NetlinkPermissionError,
  NetlinkSocketError,
  NetlinkTimeoutError,
  ReadOnlyViolationError,
} from '../../src/netlink/errors.js';
import { NetlinkTransport, type TransportOptions } from '../../src/netlink/transport.js';
import { CTNETLINK_READ_ONLY } from '../../src/conntrack/readonly.js';
import { FakeKernel, seqOf, withSeq } from '../support/fake-socket.js';
import { loadFixture } from '../support/fixtures.js';

const CT_GET = { type: 0x0101, name: 'IPCTNL_MSG_CT_GET' } as const;
const CT_GET_STATS = { type: 0x0105, name: 'IPCTNL_MSG_CT_GET_STATS' } as const;
const CT_GET_STATS_CPU = { type: 0x0104, name: 'IPCTNL_MSG_CT_GET_STATS_CPU' } as const;

const flows = loadFixture('flows-acct').corpus('flows');
const stats = loadFixture('stats');
const statsReply = stats.corpus('ct_get_stats');
const cpuReply = stats.corpus('ct_get_stats_cpu');
const errors = loadFixture('errors');

function transport(kernel: FakeKernel, extra: Partial<TransportOptions> = {}): NetlinkTransport {
  return new NetlinkTransport({
    timeoutMs: 1000,
    guard: CTNETLINK_READ_ONLY,
    socketFactory: kernel.factory,
    ...extra,
  });
}

/** The bytes of each delivered message, copied (views are valid only during the callback). */
function collector(): { seen: Buffer[]; onMessage: (m: MessageView) => void } {
  const seen: Buffer[] = [];
  return { seen, onMessage: (m) => seen.push(Buffer.from(m.buf.subarray(m.start, m.end))) };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Lets queued microtasks and I/O callbacks run. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

afterEach(() => {
  vi.useRealTimers();
});

describe('replies matched to requests', () => {
  it('streams a recorded flow dump to NLMSG_DONE: every part delivered once, DONE not delivered', async () => {
    const kernel = new FakeKernel(() => flows.datagrams);
    const { seen, onMessage } = collector();
    await transport(kernel).dump(CT_GET, onMessage);
    // 10 flow parts (the last recorded message is DONE), byte for byte, seq rewritten.
    expect(flows.messages.length).toBe(11);
    const request = kernel.requests[0] ?? Buffer.alloc(0);
    expect(seen).toEqual(flows.messages.slice(0, 10).map((m) => withSeq(m, seqOf(request))));
    // The request is a CT_GET dump: REQUEST|DUMP, AF_UNSPEC.
    expect(request.subarray(4, 8)).toEqual(Buffer.from([0x01, 0x01, 0x01, 0x03]));
    expect(request.subarray(16, 20)).toEqual(Buffer.alloc(4));
  });

  it('ends CT_GET_STATS at the ACK, not at its NLM_F_MULTI reply (which has no DONE)', async () => {
    const kernel = new FakeKernel(() => []);
    const { seen, onMessage } = collector();
    let done = false;
    const call = transport(kernel)
      .request(CT_GET_STATS, onMessage)
      .then(() => (done = true));
    await tick();
    const seq = seqOf(kernel.requests[0] ?? Buffer.alloc(0));
    kernel.last.emit('message', withSeq(statsReply.datagrams[0] ?? Buffer.alloc(0), seq));
    await tick();
    expect(seen.length).toBe(1);
    expect(done).toBe(false);
    kernel.last.emit('message', withSeq(statsReply.datagrams[1] ?? Buffer.alloc(0), seq));
    await call;
    expect(seen).toEqual([withSeq(statsReply.messages[0] ?? Buffer.alloc(0), seq)]);
    // REQUEST|ACK
    expect(kernel.requests[0]?.readUInt16LE(6)).toBe(0x0005);
  });

  it('ignores replies with another seq (stale parts of an earlier call), even inside the same datagram', async () => {
    const kernel = new FakeKernel(() => []);
    const { seen, onMessage } = collector();
    const call = transport(kernel).dump(CT_GET_STATS_CPU, onMessage);
    await tick();
    const seq = seqOf(kernel.requests[0] ?? Buffer.alloc(0));
    const [part0, part1, done] = cpuReply.messages;
    if (!part0 || !part1 || !done) throw new Error('fixture');
    // A stale DONE must not end the dump; a stale part must not be delivered.
    kernel.last.emit('message', Buffer.concat([withSeq(part0, seq - 1), withSeq(done, seq - 1)]));
    kernel.last.emit('message', Buffer.concat([withSeq(part0, seq), withSeq(part1, seq + 1)]));
    await tick();
    expect(seen.length).toBe(1);
    kernel.last.emit('message', Buffer.concat([withSeq(part1, seq), withSeq(done, seq)]));
    await call;
    expect(seen).toEqual([withSeq(part0, seq), withSeq(part1, seq)]);
  });

  it('uses a new seq for every call', async () => {
    const kernel = new FakeKernel(() => errors.corpus('empty_dump').datagrams);
    const t = transport(kernel);
    await t.dump(CT_GET, () => undefined);
    await t.dump(CT_GET, () => undefined);
    const [a, b] = kernel.requests.map(seqOf);
    expect(b).toBe(((a ?? 0) + 1) >>> 0);
  });

  it('does not end a single request at a DONE, nor a dump at a NOOP', async () => {
    const kernel = new FakeKernel(() => []);
    const t = transport(kernel, { timeoutMs: 200 });
    const call = t.request(CT_GET_STATS, () => undefined);
    await tick();
    const seq = seqOf(kernel.requests[0] ?? Buffer.alloc(0));
    const done = errors.corpus('empty_dump').messages[0] ?? Buffer.alloc(0);
    kernel.last.emit('message', withSeq(done, seq));
    const noop = Buffer.from(done.subarray(0, 16));
    noop.writeUInt32LE(16, 0);
    noop.writeUInt16LE(1, 4);
    kernel.last.emit('message', withSeq(noop, seq));
    expect(await rejection(call)).toBeInstanceOf(NetlinkTimeoutError);
  });
});

describe('kernel errors', () => {
  it('turns a recorded -EINVAL into NetlinkKernelError with the errno', async () => {
    const kernel = new FakeKernel(() => errors.corpus('einval').datagrams);
    const err = await rejection(transport(kernel).request(CT_GET, () => undefined));
    expect(err).toBeInstanceOf(NetlinkKernelError);
    expect(err).not.toBeInstanceOf(NetlinkPermissionError);
    expect(err).toMatchObject({
      code: 'ERR_NETLINK_KERNEL',
      errno: 22,
      message: 'kernel refused IPCTNL_MSG_CT_GET: EINVAL (22)',
    });
  });

  it('turns a recorded -EPERM into NetlinkPermissionError naming CAP_NET_ADMIN', async () => {
    const kernel = new FakeKernel(() => errors.corpus('eperm').datagrams);
    const err = await rejection(transport(kernel).request(CT_GET_STATS, () => undefined));
    expect(err).toBeInstanceOf(NetlinkPermissionError);
    expect(err).toBeInstanceOf(NetlinkKernelError);
    expect(err).toMatchObject({ code: 'ERR_NETLINK_PERMISSION', errno: 1, name: 'NetlinkPermissionError' });
    expect(err.message).toBe(
      'kernel refused IPCTNL_MSG_CT_GET_STATS: EPERM, the process lacks CAP_NET_ADMIN in its network namespace',
    );
  });

  it('fails a dump that the kernel refuses to start (ERROR instead of parts and DONE)', async () => {
    const eperm = errors.corpus('eperm').datagrams;
    const kernel = new FakeKernel(() => eperm);
    expect(await rejection(transport(kernel).dump(CT_GET, () => undefined))).toBeInstanceOf(
      NetlinkPermissionError,
    );
  });

  it('turns NLMSG_OVERRUN into NetlinkSocketError', async () => {
    const done = errors.corpus('empty_dump').messages[0] ?? Buffer.alloc(0);
    const overrun = Buffer.from(done);
    overrun.writeUInt16LE(4, 4);
    const kernel = new FakeKernel(() => [overrun]);
    const err = await rejection(transport(kernel).dump(CT_GET, () => undefined));
    expect(err).toBeInstanceOf(NetlinkSocketError);
    expect(err).toMatchObject({ code: 'ERR_NETLINK_SOCKET', message: 'IPCTNL_MSG_CT_GET: NLMSG_OVERRUN' });
  });
});

describe('timeouts', () => {
  it('fails with NetlinkTimeoutError, closes the socket, and the next call gets a fresh socket', async () => {
    vi.useFakeTimers();
    const kernel = new FakeKernel(() => []);
    const t = transport(kernel, { timeoutMs: 50 });
    const call = rejection(t.dump(CT_GET, () => undefined));
    await vi.advanceTimersByTimeAsync(49);
    expect(kernel.sockets[0]?.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const err = await call;
    expect(err).toBeInstanceOf(NetlinkTimeoutError);
    expect(err).toMatchObject({
      code: 'ERR_NETLINK_TIMEOUT',
      message: 'no reply to IPCTNL_MSG_CT_GET within 50 ms',
    });
    expect(kernel.sockets[0]?.closed).toBe(true);

    kernel.setResponder(() => statsReply.datagrams);
    const { seen, onMessage } = collector();
    const next = t.request(CT_GET_STATS, onMessage);
    // A late reply to the timed-out dump, on the old socket, is not taken for the new call.
    kernel.sockets[0]?.emit(
      'message',
      withSeq(
        errors.corpus('empty_dump').datagrams[0] ?? Buffer.alloc(0),
        seqOf(kernel.requests[0] ?? Buffer.alloc(0)),
      ),
    );
    await vi.advanceTimersByTimeAsync(0);
    await next;
    expect(kernel.sockets.length).toBe(2);
    expect(kernel.sockets[1]?.closed).toBe(false);
    expect(seen.length).toBe(1);
  });

  it('is an idle timeout: a dump whose datagrams keep coming never times out', async () => {
    vi.useFakeTimers();
    const kernel = new FakeKernel(() => []);
    const { seen, onMessage } = collector();
    let settled = false;
    const call = transport(kernel, { timeoutMs: 50 })
      .dump(CT_GET, onMessage)
      .finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    const seq = seqOf(kernel.requests[0] ?? Buffer.alloc(0));
    for (const m of flows.messages.slice(0, 10)) {
      await vi.advanceTimersByTimeAsync(40);
      kernel.last.emit('message', withSeq(m, seq));
    }
    expect(settled).toBe(false); // 400 ms in, well past one timeout
    kernel.last.emit('message', withSeq(flows.messages[10] ?? Buffer.alloc(0), seq));
    await call;
    expect(seen.length).toBe(10);
  });
});

describe('malformed input is counted and skipped', () => {
  it('skips a datagram with broken framing and completes on the next', async () => {
    const malformed: DecodeError[] = [];
    const kernel = new FakeKernel(() => []);
    const call = transport(kernel, { onMalformed: (e) => malformed.push(e) }).request(
      CT_GET_STATS,
      () => undefined,
    );
    await tick();
    const seq = seqOf(kernel.requests[0] ?? Buffer.alloc(0));
    const broken = withSeq(statsReply.datagrams[0] ?? Buffer.alloc(0), seq);
    broken.writeUInt32LE(4096, 0); // nlmsg_len past the end
    kernel.last.emit('message', broken);
    kernel.last.emit('message', Buffer.alloc(7));
    kernel.last.emit('message', withSeq(statsReply.datagrams[1] ?? Buffer.alloc(0), seq));
    await call;
    expect(malformed.map((e) => [e.constructor, e.message])).toEqual([
      [DecodeError, 'bad nlmsg_len 4096 at offset 0 of a 36-byte datagram'],
      [DecodeError, 'truncated nlmsghdr: 7 bytes at offset 0'],
    ]);
  });

  it('counts a message the caller cannot decode (DecodeError) and goes on with the dump', async () => {
    const malformed: DecodeError[] = [];
    const kernel = new FakeKernel(() => flows.datagrams);
    let calls = 0;
    await transport(kernel, { onMalformed: (e) => malformed.push(e) }).dump(CT_GET, () => {
      calls += 1;
      if (calls % 3 === 0) throw new DecodeError(`part ${calls}`);
    });
    expect(calls).toBe(10);
    expect(malformed.map((e) => e.message)).toEqual(['part 3', 'part 6', 'part 9']);
  });

  it('counts a truncated datagram from the socket', async () => {
    const malformed: DecodeError[] = [];
    const kernel = new FakeKernel(() => []);
    const call = transport(kernel, { onMalformed: (e) => malformed.push(e) }).dump(CT_GET, () => undefined);
    await tick();
    kernel.last.emit('truncatedMessage', Buffer.alloc(64));
    kernel.last.emit(
      'message',
      withSeq(flows.datagrams[1] ?? Buffer.alloc(0), seqOf(kernel.requests[0] ?? Buffer.alloc(0))),
    );
    await call;
    expect(malformed.map((e) => e.message)).toEqual(['truncated datagram']);
  });

  it('aborts the call on any other error from the callback, and resets the socket', async () => {
    const kernel = new FakeKernel(() => flows.datagrams);
    const boom = new TypeError('collector bug');
    const t = transport(kernel);
    expect(
      await rejection(
        t.dump(CT_GET, () => {
          throw boom;
        }),
      ),
    ).toBe(boom);
    expect(kernel.sockets[0]?.closed).toBe(true);
    await t.dump(CT_GET, () => undefined);
    expect(kernel.sockets.length).toBe(2);
  });
});

describe('socket failures', () => {
  it("turns the socket's 'error' event into NetlinkSocketError, with the cause, and reopens next time", async () => {
    const kernel = new FakeKernel(() => []);
    const t = transport(kernel);
    const call = t.dump(CT_GET, () => undefined);
    await tick();
    const enobufs = Object.assign(new Error('recvmsg ENOBUFS'), { code: 'ENOBUFS' });
    kernel.last.emit('error', enobufs);
    const err = await rejection(call);
    expect(err).toBeInstanceOf(NetlinkSocketError);
    expect(err).toMatchObject({
      code: 'ERR_NETLINK_SOCKET',
      message: 'netlink socket error: recvmsg ENOBUFS',
    });
    expect(err.cause).toBe(enobufs);
    expect(kernel.sockets[0]?.closed).toBe(true);
    kernel.setResponder(() => errors.corpus('empty_dump').datagrams);
    await t.dump(CT_GET, () => undefined);
    expect(kernel.sockets.length).toBe(2);
  });

  it('turns a failed send into NetlinkSocketError', async () => {
    const kernel = new FakeKernel(() => [], new Error('sendmsg EPERM'));
    const err = await rejection(transport(kernel).request(CT_GET_STATS, () => undefined));
    expect(err).toBeInstanceOf(NetlinkSocketError);
    expect(err.message).toBe('send IPCTNL_MSG_CT_GET_STATS: sendmsg EPERM');
  });

  it('turns a socket that cannot be opened into NetlinkSocketError', async () => {
    const t = new NetlinkTransport({
      timeoutMs: 1000,
      guard: CTNETLINK_READ_ONLY,
      socketFactory: () => {
        throw new Error('socket: EMFILE');
      },
    });
    const err = await rejection(t.request(CT_GET_STATS, () => undefined));
    expect(err).toBeInstanceOf(NetlinkSocketError);
    expect(err.message).toBe('send IPCTNL_MSG_CT_GET_STATS: socket: EMFILE');
  });

  it('close() fails the call in flight and every later call', async () => {
    const kernel = new FakeKernel(() => []);
    const t = transport(kernel);
    const call = t.dump(CT_GET, () => undefined);
    await tick();
    t.close();
    expect(await rejection(call)).toMatchObject({ code: 'ERR_NETLINK_SOCKET', message: 'transport closed' });
    expect(kernel.last.closed).toBe(true);
    expect(await rejection(t.request(CT_GET_STATS, () => undefined))).toMatchObject({
      message: 'transport closed',
    });
    expect(kernel.requests.length).toBe(1);
  });
});

describe('serialization', () => {
  it('sends the next request only once the call before it has finished, failed ones included', async () => {
    const kernel = new FakeKernel(() => []);
    const t = transport(kernel);
    const order: string[] = [];
    const a = t.dump(CT_GET, () => order.push('a part')).then(() => order.push('a done'));
    const b = rejection(t.request(CT_GET_STATS, () => undefined)).then((e) => order.push(`b ${e.name}`));
    const c = t.dump(CT_GET_STATS_CPU, () => order.push('c part')).then(() => order.push('c done'));
    await tick();
    expect(kernel.requests.length).toBe(1);
    const seqA = seqOf(kernel.requests[0] ?? Buffer.alloc(0));
    for (const d of flows.datagrams) kernel.last.emit('message', withSeq(d, seqA));
    await tick();
    expect(kernel.requests.length).toBe(2);
    expect(kernel.requests[1]?.readUInt16LE(4)).toBe(0x0105);
    kernel.last.emit(
      'message',
      withSeq(
        errors.corpus('einval').datagrams[0] ?? Buffer.alloc(0),
        seqOf(kernel.requests[1] ?? Buffer.alloc(0)),
      ),
    );
    await tick();
    expect(kernel.requests.length).toBe(3);
    for (const d of cpuReply.datagrams)
      kernel.last.emit('message', withSeq(d, seqOf(kernel.requests[2] ?? Buffer.alloc(0))));
    await Promise.all([a, b, c]);
    expect(order).toEqual([
      ...Array<string>(10).fill('a part'),
      'a done',
      'b NetlinkKernelError',
      'c part',
      'c part',
      'c done',
    ]);
  });
});

describe('the read-only guard on the send path', () => {
  it.each([
    ['CT_NEW', 0x0100, 'request'],
    ['CT_DELETE (flush)', 0x0102, 'request'],
    ['CT_DELETE', 0x0102, 'dump'],
    ['CT_GET_CTRZERO', 0x0103, 'dump'],
    ['EXP_NEW', 0x0200, 'request'],
    ['EXP_DELETE', 0x0202, 'request'],
  ] as const)('refuses %s (%s, %s) before any socket exists', async (_name, type, kind) => {
    const kernel = new FakeKernel(() => []);
    const t = transport(kernel);
    const spec = { type, name: 'write' };
    const err = await rejection(
      kind === 'dump' ? t.dump(spec, () => undefined) : t.request(spec, () => undefined),
    );
    expect(err).toBeInstanceOf(ReadOnlyViolationError);
    expect(err).toMatchObject({ code: 'ERR_READ_ONLY' });
    expect(kernel.sockets.length).toBe(0);
    // The refusal does not wedge the queue.
    kernel.setResponder(() => statsReply.datagrams);
    await t.request(CT_GET_STATS, () => undefined);
    expect(kernel.requests.map((r) => r.readUInt16LE(4))).toEqual([0x0105]);
  });
});
