// Layer: conntrack model. Decodes one flow message (a dump part, or a NEW/UPDATE/DESTROY event;
// they share one schema): both tuples, protocol, status, protocol state, timeout, mark, zone,
// acct counters, timestamps (start; stop in DESTROY events), labels. Arbitrary bytes give a result or a DecodeError, never
// another exception. Absent attributes stay absent (absent is not zero).
//
// Two shapes, one decoder: `decodeFlowFields` fills a reusable FlowFields with raw values
// (IPv4 addresses as numbers, IPv6 as 16-char latin1 keys, -1 for absent) without allocating per
// attribute: the flow pass runs it a million times. `decodeFlow` turns that into a readable Flow.
// Reference: enum ctattr_type and its nests in include/uapi/linux/netfilter/nfnetlink_conntrack.h,
// ctnetlink_fill_info() in net/netfilter/nf_conntrack_netlink.c; docs/ctnetlink.md#flow-messages.

import {
  AttrCursor,
  readBe16,
  readBe32,
  readBe32Signed,
  readBe64,
  nfGenFamily,
  readU8,
  NFNL_ATTR_OFFSET,
  type MessageView,
} from '../netlink/codec.js';
import { DecodeError } from '../netlink/errors.js';
import {
  AF_INET,
  AF_INET6,
  Cta,
  CtaCounters,
  CtaIp,
  CtaProto,
  CtaProtoinfo,
  CtaTuple,
  CtMsg,
  CTA_PROTOINFO_TCP_STATE,
  CTA_TIMESTAMP_START,
  CTA_TIMESTAMP_STOP,
  DCCP_STATES,
  L4_PROTO_NAMES,
  SCTP_STATES,
  TCP_STATES,
} from './constants.js';

/** An address as decoded: IPv4 as an int32 (small-integer map keys), IPv6 as its 16 bytes in a latin1 string. */
export type AddressKey = number | string;

/** One direction's tuple in raw form; -1 marks an absent number. */
export class TupleFields {
  src: AddressKey = -1;
  dst: AddressKey = -1;
  proto = -1;
  sport = -1;
  dport = -1;
  icmpId = -1;
  icmpType = -1;
  icmpCode = -1;
  zone = -1;

  reset(): void {
    this.src = this.dst = -1;
    this.proto = this.sport = this.dport = this.icmpId = this.icmpType = this.icmpCode = this.zone = -1;
  }
}

/** A decoded flow in raw form, reused across messages. -1 marks an absent number. */
export class FlowFields {
  family = 0;
  readonly orig = new TupleFields();
  readonly reply = new TupleFields();
  status = -1;
  /** Protocol state name as conntrack prints it (ESTABLISHED), or undefined. */
  protoState: string | undefined = undefined;
  timeout = -1;
  mark = -1;
  zone = -1;
  id = -1;
  origPackets = -1;
  origBytes = -1;
  replyPackets = -1;
  replyBytes = -1;
  /** CTA_TIMESTAMP_START in ns since the epoch, as a double (µs precision). */
  startNs = -1;
  /** CTA_TIMESTAMP_STOP (DESTROY events only): when the entry expired or was deleted. */
  stopNs = -1;
  labelsStart = -1;
  labelsEnd = -1;

  reset(): void {
    this.family = 0;
    this.orig.reset();
    this.reply.reset();
    this.status = this.timeout = this.mark = this.zone = this.id = -1;
    this.protoState = undefined;
    this.origPackets = this.origBytes = this.replyPackets = this.replyBytes = this.startNs = this.stopNs = -1;
    this.labelsStart = this.labelsEnd = -1;
  }
}

function readAddress(buf: Buffer, start: number, end: number, family: 4 | 6): AddressKey {
  if (family === 4) {
    return readBe32Signed(buf, start, end);
  }
  if (end - start !== 16) throw new DecodeError(`IPv6 address of ${end - start} bytes`);
  return buf.toString('latin1', start, end);
}

// One cursor per nesting depth, reused: decoding is synchronous and never re-entered.
const EMPTY = Buffer.alloc(0);
const depth0 = new AttrCursor(EMPTY, 0, 0);
const depth1 = new AttrCursor(EMPTY, 0, 0);
const depth2 = new AttrCursor(EMPTY, 0, 0);

function decodeTupleInto(buf: Buffer, start: number, end: number, t: TupleFields): void {
  // Presence is tracked apart from the values: 255.255.255.255 reads as int32 -1, the "absent" mark.
  let haveSrc = false;
  let haveDst = false;
  const c = depth1.reset(buf, start, end);
  while (c.next()) {
    if (c.type === CtaTuple.IP) {
      const ip = depth2.reset(buf, c.start, c.end);
      while (ip.next()) {
        if (ip.type === CtaIp.V4_SRC || ip.type === CtaIp.V6_SRC) {
          t.src = readAddress(buf, ip.start, ip.end, ip.type === CtaIp.V4_SRC ? 4 : 6);
          haveSrc = true;
        } else if (ip.type === CtaIp.V4_DST || ip.type === CtaIp.V6_DST) {
          t.dst = readAddress(buf, ip.start, ip.end, ip.type === CtaIp.V4_DST ? 4 : 6);
          haveDst = true;
        }
      }
    } else if (c.type === CtaTuple.PROTO) {
      const p = depth2.reset(buf, c.start, c.end);
      while (p.next()) {
        switch (p.type) {
          case CtaProto.NUM:
            t.proto = readU8(buf, p.start, p.end);
            break;
          case CtaProto.SRC_PORT:
            t.sport = readBe16(buf, p.start, p.end);
            break;
          case CtaProto.DST_PORT:
            t.dport = readBe16(buf, p.start, p.end);
            break;
          case CtaProto.ICMP_ID:
          case CtaProto.ICMPV6_ID:
            t.icmpId = readBe16(buf, p.start, p.end);
            break;
          case CtaProto.ICMP_TYPE:
          case CtaProto.ICMPV6_TYPE:
            t.icmpType = readU8(buf, p.start, p.end);
            break;
          case CtaProto.ICMP_CODE:
          case CtaProto.ICMPV6_CODE:
            t.icmpCode = readU8(buf, p.start, p.end);
            break;
        }
      }
    } else if (c.type === CtaTuple.ZONE) {
      t.zone = readBe16(buf, c.start, c.end);
    }
  }
  if (t.proto < 0) throw new DecodeError('tuple without CTA_PROTO_NUM');
  if (!haveSrc || !haveDst) throw new DecodeError('tuple without addresses');
}

/** Returns [packets, bytes] into the flow's fields for one direction. */
function decodeCountersInto(buf: Buffer, start: number, end: number, f: FlowFields, reply: boolean): void {
  let packets = -1;
  let bytes = -1;
  const c = depth1.reset(buf, start, end);
  while (c.next()) {
    if (c.type === CtaCounters.PACKETS) packets = readBe64(buf, c.start, c.end);
    else if (c.type === CtaCounters.BYTES) bytes = readBe64(buf, c.start, c.end);
    else if (c.type === CtaCounters.PACKETS32) packets = readBe32(buf, c.start, c.end);
    else if (c.type === CtaCounters.BYTES32) bytes = readBe32(buf, c.start, c.end);
  }
  if (packets < 0 || bytes < 0) throw new DecodeError('counters without packets or bytes');
  // Plain stores: no array per flow on the hot path.
  if (reply) {
    f.replyPackets = packets;
    f.replyBytes = bytes;
  } else {
    f.origPackets = packets;
    f.origBytes = bytes;
  }
}

function decodeProtoinfo(buf: Buffer, start: number, end: number): string | undefined {
  let state: string | undefined;
  const c = depth1.reset(buf, start, end);
  while (c.next()) {
    const names =
      c.type === CtaProtoinfo.TCP
        ? TCP_STATES
        : c.type === CtaProtoinfo.SCTP
          ? SCTP_STATES
          : c.type === CtaProtoinfo.DCCP
            ? DCCP_STATES
            : undefined;
    if (!names) continue;
    const child = depth2.reset(buf, c.start, c.end);
    while (child.next()) {
      // TCP, SCTP and DCCP all number their state attribute 1; unknown values print as NONE.
      if (child.type === CTA_PROTOINFO_TCP_STATE)
        state = names[readU8(buf, child.start, child.end)] ?? 'NONE';
    }
  }
  return state;
}

function decodeTimestampInto(buf: Buffer, start: number, end: number, f: FlowFields): void {
  const c = depth1.reset(buf, start, end);
  while (c.next()) {
    if (c.type === CTA_TIMESTAMP_START) f.startNs = readBe64(buf, c.start, c.end);
    else if (c.type === CTA_TIMESTAMP_STOP) f.stopNs = readBe64(buf, c.start, c.end);
  }
}

/** Decodes a flow message (IPCTNL_MSG_CT_NEW, or CT_DELETE for DESTROY events) into `f`. */
export function decodeFlowFields(msg: MessageView, f: FlowFields): FlowFields {
  if (msg.type !== CtMsg.NEW && msg.type !== CtMsg.DELETE) {
    throw new DecodeError(`not a flow message: type 0x${msg.type.toString(16)}`);
  }
  f.reset();
  const family = nfGenFamily(msg);
  if (family !== AF_INET && family !== AF_INET6) throw new DecodeError(`flow of unknown family ${family}`);
  f.family = family;
  const buf = msg.buf;
  let sawOrig = false;
  let sawReply = false;
  const c = depth0.reset(buf, msg.start + NFNL_ATTR_OFFSET, msg.end);
  while (c.next()) {
    switch (c.type) {
      case Cta.TUPLE_ORIG:
        decodeTupleInto(buf, c.start, c.end, f.orig);
        sawOrig = true;
        break;
      case Cta.TUPLE_REPLY:
        decodeTupleInto(buf, c.start, c.end, f.reply);
        sawReply = true;
        break;
      case Cta.STATUS:
        f.status = readBe32(buf, c.start, c.end);
        break;
      case Cta.PROTOINFO:
        f.protoState = decodeProtoinfo(buf, c.start, c.end) ?? f.protoState;
        break;
      case Cta.TIMEOUT:
        f.timeout = readBe32(buf, c.start, c.end);
        break;
      case Cta.MARK:
        f.mark = readBe32(buf, c.start, c.end);
        break;
      case Cta.ZONE:
        f.zone = readBe16(buf, c.start, c.end);
        break;
      case Cta.ID:
        f.id = readBe32(buf, c.start, c.end);
        break;
      case Cta.COUNTERS_ORIG:
        decodeCountersInto(buf, c.start, c.end, f, false);
        break;
      case Cta.COUNTERS_REPLY:
        decodeCountersInto(buf, c.start, c.end, f, true);
        break;
      case Cta.TIMESTAMP:
        decodeTimestampInto(buf, c.start, c.end, f);
        break;
      case Cta.LABELS:
        [f.labelsStart, f.labelsEnd] = [c.start, c.end];
        break;
      // Everything else (USE, HELP, SECCTX, SEQ_ADJ, SYNPROXY, future ids) is not needed here.
    }
  }
  if (!sawOrig || !sawReply) throw new DecodeError('flow without both tuples');
  if (f.status < 0) throw new DecodeError('flow without CTA_STATUS');
  return f;
}

// ---- the readable shape ------------------------------------------------------------------------

export interface Tuple {
  src: string;
  dst: string;
  /** L4 protocol number (CTA_PROTO_NUM). */
  proto: number;
  sport?: number;
  dport?: number;
  icmpId?: number;
  icmpType?: number;
  icmpCode?: number;
  /** Directional zone (CTA_TUPLE_ZONE). */
  zone?: number;
}

export interface Counters {
  packets: number;
  bytes: number;
}

export interface Flow {
  family: number;
  orig: Tuple;
  reply: Tuple;
  status: number;
  /** Protocol state as conntrack prints it (TCP, SCTP, DCCP), e.g. ESTABLISHED. */
  protoState?: string;
  timeout?: number;
  mark?: number;
  /** CTA_ZONE (a zone in both directions). */
  zone?: number;
  id?: number;
  origCounters?: Counters;
  replyCounters?: Counters;
  /** CTA_TIMESTAMP_START in ns since the epoch, as a double (µs precision). */
  startNs?: number;
  /** CTA_TIMESTAMP_STOP (DESTROY events only). */
  stopNs?: number;
  labels?: Buffer;
}

/** Text form of a decoded address: dotted quad, or RFC 5952 IPv6. */
export function formatAddress(key: AddressKey): string {
  if (typeof key === 'number')
    return `${key >>> 24}.${(key >>> 16) & 0xff}.${(key >>> 8) & 0xff}.${key & 0xff}`;
  return formatIPv6(Buffer.from(key, 'latin1'), 0);
}

/** RFC 5952 text form: lowercase, leading zeros dropped, the longest run of ≥2 zero groups as ::. */
export function formatIPv6(buf: Buffer, start: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(start + i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${buf[start + 12]}.${buf[start + 13]}.${buf[start + 14]}.${buf[start + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function toTuple(t: TupleFields): Tuple {
  const out: Tuple = { src: formatAddress(t.src), dst: formatAddress(t.dst), proto: t.proto };
  if (t.sport >= 0) out.sport = t.sport;
  if (t.dport >= 0) out.dport = t.dport;
  if (t.icmpId >= 0) out.icmpId = t.icmpId;
  if (t.icmpType >= 0) out.icmpType = t.icmpType;
  if (t.icmpCode >= 0) out.icmpCode = t.icmpCode;
  if (t.zone >= 0) out.zone = t.zone;
  return out;
}

/** Decodes a flow message into the readable Flow (addresses as text, absent fields omitted). */
export function decodeFlow(msg: MessageView): Flow {
  const f = decodeFlowFields(msg, new FlowFields());
  const flow: Flow = { family: f.family, orig: toTuple(f.orig), reply: toTuple(f.reply), status: f.status };
  if (f.protoState !== undefined) flow.protoState = f.protoState;
  if (f.timeout >= 0) flow.timeout = f.timeout;
  if (f.mark >= 0) flow.mark = f.mark;
  if (f.zone >= 0) flow.zone = f.zone;
  if (f.id >= 0) flow.id = f.id;
  if (f.origPackets >= 0) flow.origCounters = { packets: f.origPackets, bytes: f.origBytes };
  if (f.replyPackets >= 0) flow.replyCounters = { packets: f.replyPackets, bytes: f.replyBytes };
  if (f.startNs >= 0) flow.startNs = f.startNs;
  if (f.stopNs >= 0) flow.stopNs = f.stopNs;
  if (f.labelsStart >= 0) flow.labels = Buffer.from(msg.buf.subarray(f.labelsStart, f.labelsEnd));
  return flow;
}

export type NatKind = 'none' | 'snat' | 'dnat' | 'both';

/** The tuple fields natKind compares; both shapes have them (Flow uses undefined, FlowFields -1). */
interface NatTuple {
  src: AddressKey;
  dst: AddressKey;
  sport?: number;
  dport?: number;
  icmpId?: number;
}

/**
 * NAT from the tuples (docs/ctnetlink.md#nat-from-the-two-tuples): without NAT the reply is the
 * mirror of the original. The *_NAT_DONE status bits are set whenever a nat table exists, so they prove nothing.
 */
export function natKind(flow: { orig: NatTuple; reply: NatTuple }): NatKind {
  const { orig, reply } = flow;
  const ported = orig.sport !== undefined && orig.sport !== -1;
  const snat = reply.dst !== orig.src || (ported ? reply.dport !== orig.sport : reply.icmpId !== orig.icmpId);
  const dnat = reply.src !== orig.dst || (ported && reply.sport !== orig.dport);
  return snat ? (dnat ? 'both' : 'snat') : dnat ? 'dnat' : 'none';
}

export function protocolName(proto: number): string {
  return L4_PROTO_NAMES[proto] ?? String(proto);
}

export function familyName(family: number): 'ipv4' | 'ipv6' {
  return family === AF_INET6 ? 'ipv6' : 'ipv4';
}

interface Zoned {
  zone?: number;
}

/** A zone that was sent: Flow leaves absent zones undefined, FlowFields sets them to -1. */
function sent(zone: number | undefined): zone is number {
  return zone !== undefined && zone >= 0;
}

/** The flow's zone (either shape): CTA_ZONE, else a directional tuple zone, else 0. */
export function zoneOf(flow: Zoned & { orig: Zoned; reply: Zoned }): number {
  if (sent(flow.zone)) return flow.zone;
  if (sent(flow.orig.zone)) return flow.orig.zone;
  return sent(flow.reply.zone) ? flow.reply.zone : 0;
}
