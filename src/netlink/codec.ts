// Layer: netlink protocol. nlmsghdr / nfgenmsg / nlattr framing: bytes in, offsets and typed
// values out. Allocation-free walkers (callbacks over one datagram) because a flow dump pushes
// ~300 MB per million flows through here. Knows nothing of conntrack semantics or metrics.
// Reference: include/uapi/linux/netlink.h, include/uapi/linux/netfilter/nfnetlink.h;
// docs/ctnetlink.md#message-framing-and-when-a-reply-ends, docs/ctnetlink.md#attributes.

import { endianness } from 'node:os';
import { DecodeError } from './errors.js';

export const NLMSG_HDRLEN = 16;
export const NFGENMSG_LEN = 4;
/** Attributes of an nfnetlink message start after nlmsghdr + nfgenmsg. */
export const NFNL_ATTR_OFFSET = NLMSG_HDRLEN + NFGENMSG_LEN;

export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_DUMP_FILTERED = 0x20;
/** NLM_F_ROOT | NLM_F_MATCH: the GET modifiers that make a request a dump. */
export const NLM_F_DUMP = 0x300;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

const NLA_HDRLEN = 4;
/** Strip NLA_F_NESTED (0x8000) and NLA_F_NET_BYTEORDER (0x4000): never route on those bits. */
export const NLA_TYPE_MASK = 0x3fff;

// The netlink framing is host order; ctnetlink payload integers are big-endian
// (docs/ctnetlink.md#attributes).
const HOST_LE = endianness() === 'LE';

export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** One netlink message inside a datagram, by offsets (no copy). */
export interface MessageView {
  readonly buf: Buffer;
  /** Offset of the nlmsghdr. */
  readonly start: number;
  /** Offset one past the message (start + nlmsg_len). */
  readonly end: number;
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
}

function readHostU32(buf: Buffer, off: number): number {
  return HOST_LE ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
}

function readHostU16(buf: Buffer, off: number): number {
  return HOST_LE ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
}

function readHostI32(buf: Buffer, off: number): number {
  return HOST_LE ? buf.readInt32LE(off) : buf.readInt32BE(off);
}

/**
 * Calls `onMessage` for each netlink message in a datagram. Throws DecodeError when the framing
 * is broken (a bad length makes everything after it unreadable).
 */
export function forEachMessage(buf: Buffer, onMessage: (msg: MessageView) => void): void {
  walkMessages(buf, 0, (msg) => {
    onMessage(msg);
    return false;
  });
}

const NO_BYTES = Buffer.alloc(0);

/** A MessageView filled by walkMessages (and updated in place with `reuse`). */
class View implements MessageView {
  buf: Buffer = NO_BYTES;
  start = 0;
  end = 0;
  type = 0;
  flags = 0;
  seq = 0;
  pid = 0;
}
const REUSED = new View();

/**
 * Like forEachMessage, from offset `from`, until `onMessage` returns true: returns the offset of
 * the next message then (buf.length when every message was seen), so a reader can stop in the
 * middle of a datagram and continue it later. With `reuse`, one view object is updated for every
 * message (none allocated: the flow walk's hot path): it is valid only during the call, and a
 * caller must not walk another datagram from inside `onMessage`.
 */
export function walkMessages(
  buf: Buffer,
  from: number,
  onMessage: (msg: MessageView) => boolean,
  reuse = false,
): number {
  let off = from;
  while (off < buf.length) {
    if (buf.length - off < NLMSG_HDRLEN) {
      throw new DecodeError(`truncated nlmsghdr: ${buf.length - off} bytes at offset ${off}`);
    }
    const len = readHostU32(buf, off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new DecodeError(`bad nlmsg_len ${len} at offset ${off} of a ${buf.length}-byte datagram`);
    }
    const view = reuse ? REUSED : new View();
    view.buf = buf;
    view.start = off;
    view.end = off + len;
    view.type = readHostU16(buf, off + 4);
    view.flags = readHostU16(buf, off + 6);
    view.seq = readHostU32(buf, off + 8);
    view.pid = readHostU32(buf, off + 12);
    const stop = onMessage(view);
    off += align4(len);
    if (stop) return Math.min(off, buf.length);
  }
  return buf.length;
}

export interface NfGenMsg {
  readonly family: number;
  readonly version: number;
  /** Big-endian; the CPU number in per-CPU stats replies. */
  readonly resId: number;
}

export function readNfGenMsg(msg: MessageView): NfGenMsg {
  const o = nfGenOffset(msg);
  return { family: msg.buf[o] ?? 0, version: msg.buf[o + 1] ?? 0, resId: msg.buf.readUInt16BE(o + 2) };
}

/** The nfgenmsg's family alone, without an object (the flow decoder's hot path). */
export function nfGenFamily(msg: MessageView): number {
  return msg.buf[nfGenOffset(msg)] ?? 0;
}

function nfGenOffset(msg: MessageView): number {
  if (msg.end - msg.start < NFNL_ATTR_OFFSET) {
    throw new DecodeError(`nfnetlink message of ${msg.end - msg.start} bytes has no nfgenmsg`);
  }
  return msg.start + NLMSG_HDRLEN;
}

/** NLMSG_ERROR payload: errno (0 = ACK) and the seq of the request it answers. */
export interface ErrorPayload {
  readonly errno: number;
  readonly requestSeq: number;
}

export function readErrorPayload(msg: MessageView): ErrorPayload {
  // int32 error, then the offending request's nlmsghdr (always at least its header).
  if (msg.end - msg.start < NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) {
    throw new DecodeError(`NLMSG_ERROR of ${msg.end - msg.start} bytes is too short`);
  }
  const base = msg.start + NLMSG_HDRLEN;
  // 0 - x rather than -x: an ACK's errno is +0, not -0 (which Object.is and toEqual tell apart).
  return { errno: 0 - readHostI32(msg.buf, base), requestSeq: readHostU32(msg.buf, base + 4 + 8) };
}

/**
 * Walks the attributes between `start` and `end` without allocating per attribute: after each
 * successful next(), `type` (masked with NLA_TYPE_MASK), `start` and `end` describe one payload.
 * Throws DecodeError on a bad length. The flow decoder's hot loop runs on this.
 */
export class AttrCursor {
  type = 0;
  start = 0;
  end = 0;
  private off: number;

  constructor(
    public buf: Buffer,
    from: number,
    private limit: number,
  ) {
    this.off = from;
  }

  /** Re-aims the cursor (decoders keep one per nesting depth instead of allocating). */
  reset(buf: Buffer, from: number, limit: number): this {
    this.buf = buf;
    this.off = from;
    this.limit = limit;
    return this;
  }

  next(): boolean {
    const { buf, off, limit } = this;
    if (off >= limit) return false;
    if (limit - off < NLA_HDRLEN) {
      // Trailing bytes shorter than a header: the kernel never sends this.
      throw new DecodeError(`truncated nlattr header at offset ${off}`);
    }
    // Plain byte reads: the bounds are checked above, and this runs ~30 times per flow.
    const b0 = buf[off] as number;
    const b1 = buf[off + 1] as number;
    const b2 = buf[off + 2] as number;
    const b3 = buf[off + 3] as number;
    const len = HOST_LE ? b0 | (b1 << 8) : (b0 << 8) | b1;
    if (len < NLA_HDRLEN || off + len > limit) {
      throw new DecodeError(`bad nla_len ${len} at offset ${off} (parent ends at ${limit})`);
    }
    this.type = (HOST_LE ? b2 | (b3 << 8) : (b2 << 8) | b3) & NLA_TYPE_MASK;
    this.start = off + NLA_HDRLEN;
    this.end = off + len;
    this.off = off + align4(len);
    return true;
  }
}

/**
 * Calls `onAttr(type, start, end)` for each attribute between `start` and `end`, the type masked
 * with NLA_TYPE_MASK and [start, end) the payload. Unknown types are the caller's to skip.
 */
export function forEachAttribute(
  buf: Buffer,
  start: number,
  end: number,
  onAttr: (type: number, payloadStart: number, payloadEnd: number) => void,
): void {
  const cursor = new AttrCursor(buf, start, end);
  while (cursor.next()) onAttr(cursor.type, cursor.start, cursor.end);
}

function expectLength(start: number, end: number, want: number, what: string): void {
  if (end - start !== want) {
    throw new DecodeError(`${what}: expected ${want} payload bytes, got ${end - start}`);
  }
}

export function readU8(buf: Buffer, start: number, end: number): number {
  expectLength(start, end, 1, 'u8 attribute');
  return buf[start] ?? 0;
}

// Byte arithmetic instead of Buffer#readUInt*BE: the length check already bounds the read, and
// these run millions of times per flow pass.
export function readBe16(buf: Buffer, start: number, end: number): number {
  expectLength(start, end, 2, 'be16 attribute');
  return ((buf[start] as number) << 8) | (buf[start + 1] as number);
}

function be32At(buf: Buffer, at: number): number {
  return (
    (((buf[at] as number) << 24) |
      ((buf[at + 1] as number) << 16) |
      ((buf[at + 2] as number) << 8) |
      (buf[at + 3] as number)) >>>
    0
  );
}

export function readBe32(buf: Buffer, start: number, end: number): number {
  expectLength(start, end, 4, 'be32 attribute');
  return be32At(buf, start);
}

/** be32 as a signed int32: stays a small integer in V8, for use as a map key (IPv4 addresses). */
export function readBe32Signed(buf: Buffer, start: number, end: number): number {
  expectLength(start, end, 4, 'be32 attribute');
  return be32At(buf, start) | 0;
}

/** be64 as a double: exact below 2^53, which byte and packet counters reach only after 8 PiB. */
export function readBe64(buf: Buffer, start: number, end: number): number {
  expectLength(start, end, 8, 'be64 attribute');
  return be32At(buf, start) * 0x1_0000_0000 + be32At(buf, start + 4);
}

export interface RequestSpec {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly family?: number;
  readonly resId?: number;
  /** Already-encoded attributes (4-byte aligned). */
  readonly attributes?: Buffer;
}

/** nlmsghdr + nfgenmsg (+ attributes). nlmsg_pid stays 0: the kernel fills in the sender. */
export function encodeRequest(spec: RequestSpec): Buffer {
  const attrs = spec.attributes ?? Buffer.alloc(0);
  const len = NFNL_ATTR_OFFSET + attrs.length;
  const buf = Buffer.alloc(len);
  if (HOST_LE) {
    buf.writeUInt32LE(len, 0);
    buf.writeUInt16LE(spec.type, 4);
    buf.writeUInt16LE(spec.flags, 6);
    buf.writeUInt32LE(spec.seq >>> 0, 8);
  } else {
    buf.writeUInt32BE(len, 0);
    buf.writeUInt16BE(spec.type, 4);
    buf.writeUInt16BE(spec.flags, 6);
    buf.writeUInt32BE(spec.seq >>> 0, 8);
  }
  buf[16] = spec.family ?? 0;
  buf[17] = 0; // NFNETLINK_V0
  buf.writeUInt16BE(spec.resId ?? 0, 18);
  attrs.copy(buf, NFNL_ATTR_OFFSET);
  return buf;
}
