// The netlink framing and attribute walkers: messages captured from a 6.18 kernel
// (test/support/ctnetlink-examples.ts) and from this machine's kernel (test/fixtures), the
// malformations a decoder must survive (docs/ctnetlink.md#attributes), and property tests
// (arbitrary bytes give a value or a DecodeError, never another exception).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  align4,
  encodeRequest,
  forEachAttribute,
  forEachMessage,
  readBe16,
  readBe32,
  readBe64,
  readErrorPayload,
  readNfGenMsg,
  readU8,
  walkMessages,
  NFNL_ATTR_OFFSET,
  type MessageView,
} from '../../src/netlink/codec.js';
import { DecodeError } from '../../src/netlink/errors.js';
import {
  ACK_AFTER_STATS,
  CPU_STATS_CPU1,
  DONE_AFTER_FLOW,
  DUMP_REQUEST_V4,
  ERROR_EINVAL,
  FLOW_TCP_ESTABLISHED,
} from '../support/ctnetlink-examples.js';
import { hex, loadFixture, rawView, viewOf } from '../support/fixtures.js';
import { runs } from '../support/property.js';

function messages(buf: Buffer): MessageView[] {
  const out: MessageView[] = [];
  forEachMessage(buf, (m) => out.push(m));
  return out;
}

interface Attr {
  type: number;
  start: number;
  end: number;
}

function attrs(buf: Buffer, start = 0, end = buf.length): Attr[] {
  const out: Attr[] = [];
  forEachAttribute(buf, start, end, (type, s, e) => out.push({ type, start: s, end: e }));
  return out;
}

/** An nlmsghdr (host order, little-endian here) followed by `payload`, unpadded. */
function nlmsg(type: number, flags: number, seq: number, payload: Buffer = Buffer.alloc(0), pid = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(16 + payload.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(pid, 12);
  return Buffer.concat([b, payload]);
}

function pad(buf: Buffer): Buffer {
  return Buffer.concat([buf, Buffer.alloc(align4(buf.length) - buf.length)]);
}

function expectDecodeError(fn: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DecodeError);
  expect((thrown as DecodeError).code).toBe('ERR_NETLINK_DECODE');
  expect((thrown as DecodeError).message).toMatch(message);
}

describe('align4', () => {
  it('rounds up to the next multiple of 4', () => {
    expect([0, 1, 2, 3, 4, 5, 20, 21, 284].map(align4)).toEqual([0, 4, 4, 4, 4, 8, 20, 24, 284]);
  });
});

describe('walkMessages: stopping in a datagram and continuing it', () => {
  it('returns the offset after the message it stopped at, and continues from there', () => {
    const a = nlmsg(0x0100, 0x02, 1, Buffer.from([2, 0, 0, 0, 0xaa]));
    const b = nlmsg(0x0001, 0, 2);
    const c = nlmsg(0x0003, 0x02, 3, Buffer.from([0, 0, 0, 0, 9]));
    const datagram = Buffer.concat([pad(a), pad(b), c]);
    const seqs: number[] = [];
    const stopAt = (seq: number) => (m: MessageView) => {
      seqs.push(m.seq);
      return m.seq === seq;
    };
    const after = walkMessages(datagram, 0, stopAt(2));
    expect(seqs).toEqual([1, 2]);
    expect(after).toBe(pad(a).length + pad(b).length);
    expect(walkMessages(datagram, after, stopAt(-1))).toBe(datagram.length);
    expect(seqs).toEqual([1, 2, 3]);
    // Stopping at the last message, unpadded, ends at the datagram's length.
    expect(walkMessages(datagram, after, stopAt(3))).toBe(datagram.length);
  });
});

describe('forEachMessage: framing', () => {
  it('walks a datagram of several messages, each at the 4-byte aligned offset after the last', () => {
    // Lengths 21, 16 and 23: the second and third start on padded offsets 24 and 40.
    const a = nlmsg(0x0100, 0x02, 0x01abcdef, Buffer.from([2, 0, 0, 0, 0xaa]), 0x11223344);
    const b = nlmsg(0x0001, 0, 7);
    const c = nlmsg(0x0003, 0x02, 0x01abcdef, Buffer.from([0, 0, 0, 0, 9, 9, 9]));
    const datagram = Buffer.concat([pad(a), b, c]); // no padding after the last message
    const seen = messages(datagram);
    expect(
      seen.map(({ start, end, type, flags, seq, pid }) => ({ start, end, type, flags, seq, pid })),
    ).toEqual([
      { start: 0, end: 21, type: 0x0100, flags: 0x02, seq: 0x01abcdef, pid: 0x11223344 },
      { start: 24, end: 40, type: 0x0001, flags: 0, seq: 7, pid: 0 },
      { start: 40, end: 63, type: 0x0003, flags: 0x02, seq: 0x01abcdef, pid: 0 },
    ]);
    expect(seen.every((m) => m.buf === datagram)).toBe(true);
  });

  it('reads the captured 284-byte flow part and then DONE, header fields exact', () => {
    const [flow, done] = messages(Buffer.concat([FLOW_TCP_ESTABLISHED, DONE_AFTER_FLOW]));
    expect(flow).toMatchObject({
      start: 0,
      end: 284,
      type: 0x0100,
      flags: 0x0022,
      seq: 0x1234,
      pid: 0xeb113fb9,
    });
    expect(done).toMatchObject({
      start: 284,
      end: 304,
      type: 3,
      flags: 0x0002,
      seq: 0x1234,
      pid: 0xeb113fb9,
    });
  });

  it('splits every recorded datagram into exactly the recorded messages', () => {
    for (const [file, name] of [
      ['flows-acct', 'flows'],
      ['flows-nat', 'flows'],
      ['stats', 'ct_get_stats_cpu'],
      ['stats', 'ct_get_stats'],
      ['errors', 'empty_dump'],
    ] as const) {
      const corpus = loadFixture(file).corpus(name);
      const split = corpus.datagrams.flatMap((d) =>
        messages(d).map((m) => Buffer.from(m.buf.subarray(m.start, m.end))),
      );
      expect(split, `${file}/${name}`).toEqual(corpus.messages);
    }
  });

  it('accepts a DONE without its int32 status (16 bytes)', () => {
    expect(messages(nlmsg(3, 2, 5)).map((m) => [m.type, m.end])).toEqual([[3, 16]]);
  });

  it('calls nothing for an empty buffer', () => {
    expect(messages(Buffer.alloc(0))).toEqual([]);
  });

  it('refuses fewer bytes than a header', () => {
    expectDecodeError(() => messages(Buffer.alloc(15)), /truncated nlmsghdr: 15 bytes at offset 0/);
    // ... also after a good message: the tail is reported at its offset.
    expectDecodeError(
      () => messages(Buffer.concat([nlmsg(3, 2, 1), Buffer.alloc(3)])),
      /truncated nlmsghdr: 3 bytes at offset 16/,
    );
  });

  it('refuses nlmsg_len below the header size (0 would loop forever)', () => {
    for (const len of [0, 1, 15]) {
      const b = nlmsg(3, 2, 1);
      b.writeUInt32LE(len, 0);
      expectDecodeError(
        () => messages(b),
        new RegExp(`bad nlmsg_len ${len} at offset 0 of a 16-byte datagram`),
      );
    }
  });

  it('refuses nlmsg_len past the end of the datagram (truncated buffer)', () => {
    const whole = Buffer.concat([DONE_AFTER_FLOW, FLOW_TCP_ESTABLISHED]);
    const cut = whole.subarray(0, 20 + 200);
    const seen: number[] = [];
    expectDecodeError(
      () => forEachMessage(cut, (m) => seen.push(m.type)),
      /bad nlmsg_len 284 at offset 20 of a 220-byte datagram/,
    );
    // The messages before the break were delivered; nothing after it.
    expect(seen).toEqual([3]);
  });
});

describe('readNfGenMsg', () => {
  it('reads family and version as bytes and res_id big-endian', () => {
    const m = viewOf(nlmsg(0x0104, 2, 1, Buffer.from([10, 0, 0x01, 0x02])));
    expect(readNfGenMsg(m)).toEqual({ family: 10, version: 0, resId: 0x0102 });
    expect(readNfGenMsg(rawView(CPU_STATS_CPU1))).toEqual({ family: 0, version: 0, resId: 1 });
  });

  it('refuses a message without the 4-byte nfgenmsg', () => {
    expectDecodeError(
      () => readNfGenMsg(viewOf(nlmsg(0x0100, 2, 1, Buffer.alloc(3)))),
      /19 bytes has no nfgenmsg/,
    );
  });
});

describe('readErrorPayload', () => {
  it('reads -EINVAL and the seq of the echoed request, uncapped', () => {
    const m = viewOf(ERROR_EINVAL);
    expect(m.flags).toBe(0);
    expect(readErrorPayload(m)).toEqual({ errno: 22, requestSeq: 0x11 });
  });

  it('regression (ACK errno was -0): reads the CAPPED ACK after CT_GET_STATS as errno +0', () => {
    const m = viewOf(ACK_AFTER_STATS);
    expect(m.flags).toBe(0x0100);
    const payload = readErrorPayload(m);
    expect(payload).toEqual({ errno: 0, requestSeq: 0x0d });
    expect(Object.is(payload.errno, 0)).toBe(true);
  });

  it('reads the kernel-recorded EPERM, EINVAL and ACK with the seq of our own request', () => {
    const errors = loadFixture('errors');
    const stats = loadFixture('stats');
    for (const [corpus, index, errno] of [
      [errors.corpus('eperm'), 0, 1],
      [errors.corpus('einval'), 0, 22],
      [stats.corpus('ct_get_stats'), 1, 0],
    ] as const) {
      const msg = viewOf(corpus.messages[index] ?? Buffer.alloc(0));
      const requestSeq = corpus.request.readUInt32LE(8);
      expect(msg.type).toBe(2);
      expect(msg.seq).toBe(requestSeq);
      expect(readErrorPayload(msg)).toEqual({ errno, requestSeq });
    }
  });

  it('reads an error with extended-ack TLVs after a capped header (NLM_F_CAPPED|NLM_F_ACK_TLVS)', () => {
    const echoed = nlmsg(0x0101, 0x0301, 0x01abcdef);
    // NLMSGERR_ATTR_MSG "bad tuple\0" (nla_len 14, padded), NLMSGERR_ATTR_OFFS 20.
    const tlvs = hex('0e000100 62616420 7475706c 65000000 08000200 14000000');
    const payload = Buffer.concat([Buffer.from([0xea, 0xff, 0xff, 0xff]), echoed, tlvs]);
    const m = viewOf(nlmsg(2, 0x0300, 0x01abcdef, payload));
    expect(readErrorPayload(m)).toEqual({ errno: 22, requestSeq: 0x01abcdef });
  });

  it('refuses an error shorter than errno plus a request header', () => {
    const short = nlmsg(2, 0x100, 9, Buffer.alloc(19));
    expectDecodeError(() => readErrorPayload(viewOf(short)), /NLMSG_ERROR of 35 bytes is too short/);
  });
});

describe('forEachAttribute', () => {
  it('walks the captured flow part in the kernel order, types masked, payload bounds exact', () => {
    const top = attrs(FLOW_TCP_ESTABLISHED, NFNL_ATTR_OFFSET);
    expect(top.map((a) => a.type)).toEqual([1, 2, 3, 8, 12, 11, 7, 4, 9, 10, 20]);
    expect(top.map((a) => [a.start, a.end])).toEqual([
      [0x18, 0x48],
      [0x4c, 0x7c],
      [0x80, 0x84],
      [0x88, 0x8c],
      [0x90, 0x94],
      [0x98, 0x9c],
      [0xa0, 0xa4],
      [0xa8, 0xd4],
      [0xd8, 0xf0],
      [0xf4, 0x10c],
      [0x110, 0x11c],
    ]);
    const b = FLOW_TCP_ESTABLISHED;
    const at = (i: number): Attr => top[i] ?? { type: -1, start: 0, end: 0 };
    expect(readBe32(b, at(2).start, at(2).end)).toBe(0x0e); // CTA_STATUS
    expect(readBe32(b, at(4).start, at(4).end)).toBe(0x595b4aab); // CTA_ID
    expect(readBe32(b, at(6).start, at(6).end)).toBe(431999); // CTA_TIMEOUT
    // CTA_TUPLE_ORIG > CTA_TUPLE_PROTO: num (u8, 3 bytes padding), ports (be16, 2 bytes padding).
    const [ip, proto] = attrs(b, at(0).start, at(0).end);
    expect(ip?.type).toBe(1);
    const ports = attrs(b, proto?.start ?? 0, proto?.end ?? 0);
    expect(ports.map((p) => [p.type, p.end - p.start])).toEqual([
      [1, 1],
      [2, 2],
      [3, 2],
    ]);
    expect(readU8(b, ports[0]?.start ?? 0, ports[0]?.end ?? 0)).toBe(6);
    expect(readBe16(b, ports[1]?.start ?? 0, ports[1]?.end ?? 0)).toBe(40201);
    expect(readBe16(b, ports[2]?.start ?? 0, ports[2]?.end ?? 0)).toBe(5201);
    // CTA_COUNTERS_ORIG: be64 packets 4, bytes 1216; CTA_TIMESTAMP START.
    const [pk, by] = attrs(b, at(8).start, at(8).end);
    expect([readBe64(b, pk?.start ?? 0, pk?.end ?? 0), readBe64(b, by?.start ?? 0, by?.end ?? 0)]).toEqual([
      4, 1216,
    ]);
    const [startAttr] = attrs(b, at(10).start, at(10).end);
    expect(readBe64(b, startAttr?.start ?? 0, startAttr?.end ?? 0)).toBe(Number(0x18ea8235f222bcdcn));
  });

  it('walks the captured per-CPU stats part: ten be32 counters, ids 2, 4, 8..15', () => {
    const list = attrs(CPU_STATS_CPU1, NFNL_ATTR_OFFSET);
    expect(list.map((a) => a.type)).toEqual([2, 4, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(list.every((a) => a.end - a.start === 4)).toBe(true);
  });

  it('walks a nest whose NLA_F_NESTED flag is missing (older kernels) like one that has it', () => {
    const flagged = hex('0c000180 08000100 01abcdef');
    const bare = hex('0c000100 08000100 01abcdef');
    for (const b of [flagged, bare]) {
      const [outer] = attrs(b);
      expect(outer).toEqual({ type: 1, start: 4, end: 12 });
      const [inner] = attrs(b, outer?.start, outer?.end);
      expect(readBe32(b, inner?.start ?? 0, inner?.end ?? 0)).toBe(0x01abcdef);
    }
  });

  it('masks NLA_F_NET_BYTEORDER and passes unknown ids (28..40) through for the caller to skip', () => {
    const unknown = [28, 33, 40].map((t) => hex(`0500${t.toString(16).padStart(2, '0')}00 07000000`));
    const b = Buffer.concat([hex('08000340 00000007'), ...unknown]);
    expect(attrs(b).map((a) => [a.type, a.end - a.start])).toEqual([
      [3, 4],
      [28, 1],
      [33, 1],
      [40, 1],
    ]);
  });

  it('passes a zero-length PAD attribute (CTA_COUNTERS_PAD) before a be64', () => {
    const b = hex('04000500 0c000100 00000000 0000002a');
    expect(attrs(b)).toEqual([
      { type: 5, start: 4, end: 4 },
      { type: 1, start: 8, end: 16 },
    ]);
    expect(readBe64(b, 8, 16)).toBe(42);
  });

  it('refuses nla_len 0, 1 and 3 (shorter than the 4-byte header)', () => {
    for (const len of [0, 1, 3]) {
      const b = hex('00000100 00000000');
      b.writeUInt16LE(len, 0);
      expectDecodeError(() => attrs(b), new RegExp(`bad nla_len ${len} at offset 0 \\(parent ends at 8\\)`));
    }
  });

  it('refuses a length past the end of its parent nest, even when the buffer goes on', () => {
    const b = hex('0c000180 0c000100 01abcdef 00000000');
    expectDecodeError(() => attrs(b, 4, 12), /bad nla_len 12 at offset 4 \(parent ends at 12\)/);
  });

  it('refuses 1 to 3 trailing bytes after the last attribute', () => {
    for (const n of [1, 2, 3]) {
      const b = Buffer.concat([hex('08000100 00000001'), Buffer.alloc(n)]);
      expectDecodeError(() => attrs(b), /truncated nlattr header at offset 8/);
    }
  });

  it('reads a last attribute whose padding is missing (unpadded end of the parent)', () => {
    const b = hex('05000100 06');
    expect(attrs(b)).toEqual([{ type: 1, start: 4, end: 5 }]);
  });
});

describe('fixed-size readers', () => {
  const b = hex('01abcdef 00000001 00000000 ff');

  it('read exact big-endian values', () => {
    expect(readU8(b, 12, 13)).toBe(0xff);
    expect(readBe16(b, 0, 2)).toBe(0x01ab);
    expect(readBe32(b, 0, 4)).toBe(0x01abcdef);
    expect(readBe64(b, 0, 8)).toBe(0x01abcdef * 2 ** 32 + 1);
    expect(readBe64(hex('00000001 00000000'), 0, 8)).toBe(2 ** 32);
    expect(readBe64(hex('001fffff ffffffff'), 0, 8)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuse any other payload length', () => {
    expectDecodeError(() => readU8(b, 0, 2), /u8 attribute: expected 1 payload bytes, got 2/);
    expectDecodeError(() => readBe16(b, 0, 1), /be16 attribute: expected 2 payload bytes, got 1/);
    expectDecodeError(() => readBe16(b, 0, 4), /be16 attribute: expected 2 payload bytes, got 4/);
    expectDecodeError(() => readBe32(b, 0, 8), /be32 attribute: expected 4 payload bytes, got 8/);
    expectDecodeError(() => readBe64(b, 0, 4), /be64 attribute: expected 8 payload bytes, got 4/);
  });
});

describe('encodeRequest', () => {
  it('builds the captured dump request byte for byte', () => {
    expect(encodeRequest({ type: 0x0101, flags: 0x0301, seq: 0x1234, family: 2 })).toEqual(DUMP_REQUEST_V4);
  });

  it('builds the requests the kernel answered in the recorded fixtures (seq aside)', () => {
    const stats = loadFixture('stats');
    for (const [name, type, flags] of [
      ['ct_get_stats', 0x0105, 0x0005],
      ['ct_get_stats_cpu', 0x0104, 0x0301],
      ['exp_get_stats_cpu', 0x0203, 0x0301],
    ] as const) {
      const recorded = stats.corpus(name).request;
      expect(encodeRequest({ type, flags, seq: recorded.readUInt32LE(8) })).toEqual(recorded);
    }
  });

  it('appends attributes, counts them in nlmsg_len, writes res_id big-endian and seq as u32', () => {
    const mark = hex('08000800 01abcdef');
    const b = encodeRequest({
      type: 0x0101,
      flags: 0x0301,
      seq: -1,
      family: 10,
      resId: 0x0107,
      attributes: mark,
    });
    expect(b).toEqual(hex('1c000000 0101 0103 ffffffff 00000000 0a 00 0107 08000800 01abcdef'));
  });

  it('defaults family and res_id to 0', () => {
    expect(encodeRequest({ type: 0x0105, flags: 0x0005, seq: 7 })).toEqual(
      hex('14000000 0501 0500 07000000 00000000 00000000'),
    );
  });
});

describe('property: arbitrary bytes give messages or a DecodeError, never another exception', () => {
  const anyBytes = fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a));
  /** Plausible framing with arbitrary contents: lengths mostly right, sometimes off. */
  const framed = fc
    .array(
      fc.record({
        type: fc.oneof(fc.constantFrom(1, 2, 3, 0x0100, 0x0104), fc.integer({ min: 0, max: 0xffff })),
        payload: fc.uint8Array({ maxLength: 64 }),
        lenDelta: fc.oneof(fc.constant(0), fc.integer({ min: -20, max: 20 })),
      }),
      { maxLength: 6 },
    )
    .map((parts) =>
      Buffer.concat(
        parts.map((p) => {
          const m = nlmsg(p.type, 0, 1, Buffer.from(p.payload));
          m.writeUInt32LE(Math.max(0, m.length + p.lenDelta), 0);
          return pad(m);
        }),
      ),
    );

  function onlyDecodeErrors(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }

  it('forEachMessage, readNfGenMsg and readErrorPayload on each message', () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes, framed), (buf) => {
        onlyDecodeErrors(() =>
          forEachMessage(buf, (m) => {
            expect(m.start).toBeGreaterThanOrEqual(0);
            expect(m.end).toBeLessThanOrEqual(buf.length);
            expect(m.end - m.start).toBeGreaterThanOrEqual(16);
            onlyDecodeErrors(() => readNfGenMsg(m));
            onlyDecodeErrors(() => readErrorPayload(m));
          }),
        );
      }),
      runs(3000),
    );
  });

  it('readErrorPayload on any message view, framing or not', () => {
    fc.assert(
      fc.property(anyBytes, (buf) => onlyDecodeErrors(() => readErrorPayload(rawView(buf, 2)))),
      runs(3000),
    );
  });

  it('forEachAttribute (recursively, as the decoders nest) stays inside its parent', () => {
    fc.assert(
      fc.property(anyBytes, fc.nat(), (buf, cut) => {
        const end = buf.length === 0 ? 0 : cut % (buf.length + 1);
        const walk = (start: number, stop: number, depth: number): void =>
          forEachAttribute(buf, start, stop, (_type, s, e) => {
            expect(s).toBeGreaterThanOrEqual(start);
            expect(e).toBeLessThanOrEqual(stop);
            if (depth < 4) onlyDecodeErrors(() => walk(s, e, depth + 1));
          });
        onlyDecodeErrors(() => walk(0, end, 0));
      }),
      runs(3000),
    );
  });
});
