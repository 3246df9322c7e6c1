// Layer: conntrack model. Decodes one flow message (a dump part, or a NEW/UPDATE/DESTROY event;
// they share one schema) into a Flow: both tuples, protocol, status, protocol state, timeout,
// mark, zone, acct counters, timestamp start, labels. Arbitrary bytes give a Flow or a
// DecodeError, never another exception. Absent attributes stay undefined (absent is not zero).
// Reference: shared/ctnetlink.md §5–§7, §12, §16.

import {
  forEachAttribute,
  readBe16,
  readBe32,
  readBe64,
  readNfGenMsg,
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
  DCCP_STATES,
  L4_PROTO_NAMES,
  SCTP_STATES,
  TCP_STATES,
} from './constants.js';

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
  labels?: Buffer;
}

function emptyTuple(): Tuple {
  return { src: '', dst: '', proto: -1 };
}

function formatAddress(buf: Buffer, start: number, end: number, family: 4 | 6): string {
  if (family === 4) {
    if (end - start !== 4) throw new DecodeError(`IPv4 address of ${end - start} bytes`);
    return `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}`;
  }
  if (end - start !== 16) throw new DecodeError(`IPv6 address of ${end - start} bytes`);
  return formatIPv6(buf, start);
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

function decodeTuple(buf: Buffer, start: number, end: number): Tuple {
  const t = emptyTuple();
  forEachAttribute(buf, start, end, (type, s, e) => {
    if (type === CtaTuple.IP) {
      forEachAttribute(buf, s, e, (ipType, is, ie) => {
        if (ipType === CtaIp.V4_SRC) t.src = formatAddress(buf, is, ie, 4);
        else if (ipType === CtaIp.V4_DST) t.dst = formatAddress(buf, is, ie, 4);
        else if (ipType === CtaIp.V6_SRC) t.src = formatAddress(buf, is, ie, 6);
        else if (ipType === CtaIp.V6_DST) t.dst = formatAddress(buf, is, ie, 6);
      });
    } else if (type === CtaTuple.PROTO) {
      forEachAttribute(buf, s, e, (pType, ps, pe) => {
        switch (pType) {
          case CtaProto.NUM:
            t.proto = readU8(buf, ps, pe);
            break;
          case CtaProto.SRC_PORT:
            t.sport = readBe16(buf, ps, pe);
            break;
          case CtaProto.DST_PORT:
            t.dport = readBe16(buf, ps, pe);
            break;
          case CtaProto.ICMP_ID:
          case CtaProto.ICMPV6_ID:
            t.icmpId = readBe16(buf, ps, pe);
            break;
          case CtaProto.ICMP_TYPE:
          case CtaProto.ICMPV6_TYPE:
            t.icmpType = readU8(buf, ps, pe);
            break;
          case CtaProto.ICMP_CODE:
          case CtaProto.ICMPV6_CODE:
            t.icmpCode = readU8(buf, ps, pe);
            break;
        }
      });
    } else if (type === CtaTuple.ZONE) {
      t.zone = readBe16(buf, s, e);
    }
  });
  if (t.proto < 0) throw new DecodeError('tuple without CTA_PROTO_NUM');
  if (t.src === '' || t.dst === '') throw new DecodeError('tuple without addresses');
  return t;
}

function decodeCounters(buf: Buffer, start: number, end: number): Counters {
  let packets: number | undefined;
  let bytes: number | undefined;
  forEachAttribute(buf, start, end, (type, s, e) => {
    if (type === CtaCounters.PACKETS) packets = readBe64(buf, s, e);
    else if (type === CtaCounters.BYTES) bytes = readBe64(buf, s, e);
    else if (type === CtaCounters.PACKETS32) packets = readBe32(buf, s, e);
    else if (type === CtaCounters.BYTES32) bytes = readBe32(buf, s, e);
  });
  if (packets === undefined || bytes === undefined)
    throw new DecodeError('counters without packets or bytes');
  return { packets, bytes };
}

function stateName(names: readonly string[], value: number): string {
  // libnetfilter_conntrack prints NONE for values it does not know.
  return names[value] ?? 'NONE';
}

function decodeProtoinfo(buf: Buffer, start: number, end: number): string | undefined {
  let state: string | undefined;
  forEachAttribute(buf, start, end, (type, s, e) => {
    const names =
      type === CtaProtoinfo.TCP
        ? TCP_STATES
        : type === CtaProtoinfo.SCTP
          ? SCTP_STATES
          : type === CtaProtoinfo.DCCP
            ? DCCP_STATES
            : undefined;
    if (!names) return;
    forEachAttribute(buf, s, e, (child, cs, ce) => {
      // TCP, SCTP and DCCP all number their state attribute 1.
      if (child === CTA_PROTOINFO_TCP_STATE) state = stateName(names, readU8(buf, cs, ce));
    });
  });
  return state;
}

function decodeTimestampStart(buf: Buffer, start: number, end: number): number | undefined {
  let startNs: number | undefined;
  forEachAttribute(buf, start, end, (type, s, e) => {
    if (type === CTA_TIMESTAMP_START) startNs = readBe64(buf, s, e);
  });
  return startNs;
}

/** Decodes a flow message (type IPCTNL_MSG_CT_NEW, or CT_DELETE for DESTROY events). */
export function decodeFlow(msg: MessageView): Flow {
  if (msg.type !== CtMsg.NEW && msg.type !== CtMsg.DELETE) {
    throw new DecodeError(`not a flow message: type 0x${msg.type.toString(16)}`);
  }
  const { family } = readNfGenMsg(msg);
  if (family !== AF_INET && family !== AF_INET6) throw new DecodeError(`flow of unknown family ${family}`);
  const buf = msg.buf;
  let orig: Tuple | undefined;
  let reply: Tuple | undefined;
  let status: number | undefined;
  const flow: Partial<Flow> = { family };
  forEachAttribute(buf, msg.start + NFNL_ATTR_OFFSET, msg.end, (type, s, e) => {
    switch (type) {
      case Cta.TUPLE_ORIG:
        orig = decodeTuple(buf, s, e);
        break;
      case Cta.TUPLE_REPLY:
        reply = decodeTuple(buf, s, e);
        break;
      case Cta.STATUS:
        status = readBe32(buf, s, e);
        break;
      case Cta.PROTOINFO: {
        const state = decodeProtoinfo(buf, s, e);
        if (state !== undefined) flow.protoState = state;
        break;
      }
      case Cta.TIMEOUT:
        flow.timeout = readBe32(buf, s, e);
        break;
      case Cta.MARK:
        flow.mark = readBe32(buf, s, e);
        break;
      case Cta.ZONE:
        flow.zone = readBe16(buf, s, e);
        break;
      case Cta.ID:
        flow.id = readBe32(buf, s, e);
        break;
      case Cta.COUNTERS_ORIG:
        flow.origCounters = decodeCounters(buf, s, e);
        break;
      case Cta.COUNTERS_REPLY:
        flow.replyCounters = decodeCounters(buf, s, e);
        break;
      case Cta.TIMESTAMP: {
        const startNs = decodeTimestampStart(buf, s, e);
        if (startNs !== undefined) flow.startNs = startNs;
        break;
      }
      case Cta.LABELS:
        flow.labels = Buffer.from(buf.subarray(s, e));
        break;
      // Everything else (USE, HELP, SECCTX, SEQ_ADJ, SYNPROXY, future ids) is not needed here.
    }
  });
  if (!orig || !reply) throw new DecodeError('flow without both tuples');
  if (status === undefined) throw new DecodeError('flow without CTA_STATUS');
  return { ...flow, family, orig, reply, status };
}

export type NatKind = 'none' | 'snat' | 'dnat' | 'both';

/**
 * NAT from the tuples (§12): without NAT the reply is the mirror of the original. The
 * *_NAT_DONE status bits are set whenever a nat table exists, so they prove nothing.
 */
export function natKind(flow: Flow): NatKind {
  const { orig, reply } = flow;
  const ported = orig.sport !== undefined;
  const snat =
    reply.dst !== orig.src ||
    (ported ? reply.dport !== orig.sport : reply.icmpId !== orig.icmpId && orig.icmpId !== undefined);
  const dnat = reply.src !== orig.dst || (ported && reply.sport !== orig.dport);
  return snat ? (dnat ? 'both' : 'snat') : dnat ? 'dnat' : 'none';
}

export function protocolName(proto: number): string {
  return L4_PROTO_NAMES[proto] ?? String(proto);
}

export function familyName(family: number): 'ipv4' | 'ipv6' {
  return family === AF_INET6 ? 'ipv6' : 'ipv4';
}

/** The flow's zone: CTA_ZONE, else a directional tuple zone, else 0. */
export function zoneOf(flow: Flow): number {
  return flow.zone ?? flow.orig.zone ?? flow.reply.zone ?? 0;
}
