// The flow decoder on recorded kernel bytes, cross-checked field by field against what
// `conntrack -L -o extended,id,ktimestamp` printed for the same table at the same moment; the
// captured TCP ESTABLISHED flow (test/support/ctnetlink-examples.ts); synthetic messages for what this kernel did not send (older
// kernels' shapes, PAD, labels, directional zones); NAT kinds; and a property test.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFlow,
  decodeFlowFields,
  familyName,
  formatAddress,
  formatIPv6,
  FlowFields,
  natKind,
  protocolName,
  zoneOf,
  type Flow,
} from '../../src/conntrack/flow.js';
import { IPS } from '../../src/conntrack/constants.js';
import { DecodeError } from '../../src/netlink/errors.js';
import { DONE_AFTER_FLOW, FLOW_TCP_ESTABLISHED } from '../support/ctnetlink-examples.js';
import { ctimeUtc, parseFlowList, type ListedFlow } from '../support/conntrack-output.js';
import { loadFixture, rawView, viewOf, type FixtureName } from '../support/fixtures.js';
import { attr, bareNest, be16, be32, be64, ipv4, ipv6, nest, nfnlMessage, u8 } from '../support/nlattr.js';
import { runs } from '../support/property.js';

const MARK = 0x01abcdef;

interface Recorded {
  readonly flows: Flow[];
  /** CLI lines by CTA_ID: before, after, and with ktimestamp. */
  readonly cli: Map<number, { before: ListedFlow; after: ListedFlow; ts: ListedFlow }>;
}

function byId(text: string | undefined, idKey: (f: ListedFlow) => number): Map<number, ListedFlow> {
  return new Map(parseFlowList(text ?? '').map((f) => [idKey(f), f]));
}

/** Matches -o extended and -o extended,ktimestamp lines (no id) to -o extended,id by tuple. */
function tupleKey(f: ListedFlow): string {
  return JSON.stringify([f.l3num, f.l4num, f.orig, f.reply, f.meta.zone]);
}

function recorded(name: FixtureName): Recorded {
  const fx = loadFixture(name);
  const corpus = fx.corpus('flows');
  const parts = corpus.messages.map(viewOf);
  // The dump ends with exactly one NLMSG_DONE; everything before it is a flow.
  expect(parts.map((m) => m.type)).toEqual([...Array<number>(parts.length - 1).fill(0x0100), 3]);
  const flows = parts.slice(0, -1).map(decodeFlow);
  const idOf = (f: ListedFlow): number => Number(f.meta.id);
  const before = byId(fx.cli['conntrack -L -o extended,id'], idOf);
  const after = byId(
    fx.cliAfter['conntrack -L -o extended,id'] ?? fx.cli['conntrack -L -o extended,id'],
    idOf,
  );
  const ts = new Map(
    parseFlowList(fx.cli['conntrack -L -o extended,ktimestamp'] ?? '').map((f) => [tupleKey(f), f]),
  );
  const cli = new Map<number, { before: ListedFlow; after: ListedFlow; ts: ListedFlow }>();
  for (const [id, b] of before) {
    const a = after.get(id);
    const t = ts.get(tupleKey(b));
    if (!a || !t) throw new Error(`flow ${id} missing from a CLI listing`);
    cli.set(id, { before: b, after: a, ts: t });
  }
  return { flows, cli };
}

function tupleText(t: Flow['orig']): Record<string, string | number> {
  const out: Record<string, string | number> = { src: t.src, dst: t.dst };
  if (t.sport !== undefined) out.sport = t.sport;
  if (t.dport !== undefined) out.dport = t.dport;
  if (t.icmpType !== undefined) out.type = t.icmpType;
  if (t.icmpCode !== undefined) out.code = t.icmpCode;
  if (t.icmpId !== undefined) out.id = t.icmpId;
  return out;
}

function withoutCounters(t: ListedFlow['orig']): Record<string, string | number> {
  return Object.fromEntries(
    Object.entries(t).filter(([k, v]) => k !== 'packets' && k !== 'bytes' && v !== undefined),
  );
}

/** Every field the CLI prints, compared with the decoded flow. */
function expectMatchesCli(flow: Flow, rec: Recorded, acct: boolean): void {
  const id = flow.id ?? -1;
  const entry = rec.cli.get(id);
  expect(entry, `flow id ${id} in conntrack -L -o extended,id`).toBeDefined();
  if (!entry) return;
  const { before, after, ts } = entry;
  expect(before.l3).toBe(familyName(flow.family));
  expect(before.l3num).toBe(flow.family);
  expect(before.l4num).toBe(flow.orig.proto);
  expect(before.l4).toBe(protocolName(flow.orig.proto));
  expect(before.state).toBe(flow.protoState);
  // The timeout ticks once a second: the dump ran between the two listings.
  expect(flow.timeout).toBeLessThanOrEqual(before.timeout);
  expect(flow.timeout).toBeGreaterThanOrEqual(after.timeout);
  expect(withoutCounters(before.orig)).toEqual(tupleText(flow.orig));
  expect(withoutCounters(before.reply)).toEqual(tupleText(flow.reply));
  if (acct) {
    expect({ packets: before.orig.packets, bytes: before.orig.bytes }).toEqual(flow.origCounters);
    expect({ packets: before.reply.packets, bytes: before.reply.bytes }).toEqual(flow.replyCounters);
    // ctime(3) of the start second, printed with TZ=UTC.
    expect(ts.start).toBe(ctimeUtc(Math.floor((flow.startNs ?? 0) / 1e6)));
  } else {
    expect([before.orig.packets, before.reply.packets, ts.start]).toEqual([undefined, undefined, undefined]);
    expect([flow.origCounters, flow.replyCounters, flow.startNs]).toEqual([undefined, undefined, undefined]);
  }
  expect(before.flags.includes('UNREPLIED')).toBe((flow.status & IPS.SEEN_REPLY) === 0);
  expect(before.flags.includes('ASSURED')).toBe((flow.status & IPS.ASSURED) !== 0);
  expect(Number(before.meta.mark)).toBe(flow.mark);
  expect(before.meta.zone === undefined ? undefined : Number(before.meta.zone)).toBe(flow.zone);
}

describe('captured: a TCP ESTABLISHED flow with counters and timestamp', () => {
  it('decodes every field exactly', () => {
    const [flow] = [FLOW_TCP_ESTABLISHED].map((b) => decodeFlow(viewOf(b)));
    expect(flow).toEqual({
      family: 2,
      orig: { src: '127.0.0.1', dst: '127.0.0.1', proto: 6, sport: 40201, dport: 5201 },
      reply: { src: '127.0.0.1', dst: '127.0.0.1', proto: 6, sport: 5201, dport: 40201 },
      status: 0x0e,
      protoState: 'ESTABLISHED',
      timeout: 431999,
      mark: 0,
      id: 0x595b4aab,
      origCounters: { packets: 4, bytes: 1216 },
      replyCounters: { packets: 3, bytes: 464 },
      startNs: Number(0x18ea8235f222bcdcn),
    });
    expect(new Date((flow?.startNs ?? 0) / 1e6).toISOString()).toBe('2026-11-22T23:36:09.667Z');
    expect(natKind(flow as Flow)).toBe('none');
  });

  it('refuses the DONE after it as a flow', () => {
    expect(() => decodeFlow(viewOf(DONE_AFTER_FLOW))).toThrow(
      new DecodeError('not a flow message: type 0x3'),
    );
  });

  it('decodes the same flow written without NLA_F_NESTED (kernels before 5.2)', () => {
    const b = Buffer.from(FLOW_TCP_ESTABLISHED);
    let cleared = 0;
    const clear = (start: number, end: number): void => {
      for (let off = start; off < end; off += (b.readUInt16LE(off) + 3) & ~3) {
        const type = b.readUInt16LE(off + 2);
        if (type & 0x8000) {
          b.writeUInt16LE(type & 0x3fff, off + 2);
          cleared += 1;
          clear(off + 4, off + b.readUInt16LE(off));
        }
      }
    };
    clear(20, b.length);
    // Orig and reply (each with its ip and proto nests), protoinfo > tcp, two counters, timestamp.
    expect(cleared).toBe(11);
    expect(decodeFlow(viewOf(b))).toEqual(decodeFlow(viewOf(FLOW_TCP_ESTABLISHED)));
  });
});

describe('recorded: acct and timestamp on (flows-acct.json)', () => {
  const rec = recorded('flows-acct');

  it('decodes every flow of the dump, and the CLI listed the same flows', () => {
    expect(rec.flows.length).toBe(10);
    expect([...rec.cli.keys()].sort()).toEqual(rec.flows.map((f) => f.id).sort());
  });

  it('matches conntrack -L field by field for every flow', () => {
    for (const flow of rec.flows) expectMatchesCli(flow, rec, true);
  });

  const find = (pred: (f: Flow) => boolean): Flow => {
    const hits = rec.flows.filter(pred);
    expect(hits.length).toBe(1);
    return hits[0] as Flow;
  };

  it('TCP ESTABLISHED: 1000 bytes sent as 3 packets (SYN 60, ACK 52, data 1052 = 1164)', () => {
    const f = find((x) => x.orig.dport === 5201);
    expect(f).toMatchObject({
      family: 2,
      status: IPS.SEEN_REPLY | IPS.ASSURED | IPS.CONFIRMED,
      protoState: 'ESTABLISHED',
      origCounters: { packets: 3, bytes: 1164 },
      replyCounters: { packets: 2, bytes: 112 },
      mark: 0,
    });
    expect(f.timeout).toBeGreaterThan(431990);
    expect(f.zone).toBeUndefined();
  });

  it('TCP TIME_WAIT after the client closed', () => {
    const f = find((x) => x.orig.dport === 5301);
    expect(f).toMatchObject({
      protoState: 'TIME_WAIT',
      status: 0x0e,
      origCounters: { packets: 4, bytes: 216 },
    });
    expect(f.timeout).toBeLessThanOrEqual(120);
  });

  it('UDP unreplied: 1337 payload bytes = 1365 on the wire, nothing back, status CONFIRMED only', () => {
    const f = find((x) => x.family === 2 && x.orig.dport === 6100);
    expect(f).toMatchObject({
      status: IPS.CONFIRMED,
      origCounters: { packets: 1, bytes: 1365 },
      replyCounters: { packets: 0, bytes: 0 },
    });
    expect(f.protoState).toBeUndefined();
  });

  it('UDP replied: SEEN_REPLY without ASSURED after one exchange', () => {
    const f = find((x) => x.family === 2 && x.orig.dport === 6200);
    expect(f).toMatchObject({
      status: IPS.SEEN_REPLY | IPS.CONFIRMED,
      origCounters: { packets: 1, bytes: 32 },
      replyCounters: { packets: 1, bytes: 32 },
    });
  });

  it('ct mark 0x01abcdef on the 555-byte datagram, and on no other flow', () => {
    const f = find((x) => x.mark === MARK);
    expect(f.orig).toMatchObject({ proto: 17, dport: 6000 });
    expect(f.origCounters).toEqual({ packets: 1, bytes: 583 });
    expect(rec.flows.filter((x) => x.mark !== MARK).every((x) => x.mark === 0)).toBe(true);
  });

  it('zone 7 as CTA_ZONE (both directions), and zone 0 elsewhere', () => {
    const f = find((x) => x.zone !== undefined);
    expect(f.zone).toBe(7);
    expect(zoneOf(f)).toBe(7);
    expect(f.orig).toMatchObject({ proto: 17, dport: 7007 });
    expect(f.orig.zone).toBeUndefined();
    expect(rec.flows.filter((x) => x !== f).map(zoneOf)).toEqual(Array<number>(9).fill(0));
  });

  it('ICMP echo: id, type 8 / reply type 0, code 0, 3 x 1028 bytes each way', () => {
    const f = find((x) => x.orig.proto === 1);
    expect(f.orig).toMatchObject({ src: '127.0.0.1', dst: '127.0.0.1', icmpType: 8, icmpCode: 0 });
    expect(f.reply).toMatchObject({ icmpType: 0, icmpCode: 0, icmpId: f.orig.icmpId });
    expect(f.orig.sport).toBeUndefined();
    expect([f.origCounters, f.replyCounters]).toEqual([
      { packets: 3, bytes: 3084 },
      { packets: 3, bytes: 3084 },
    ]);
  });

  it('IPv6: UDP to 2001:db8:cafe::7 (1337 + 8 + 40 = 1385 bytes), UDP on ::1, ICMPv6 128/129', () => {
    const udp = find((x) => x.family === 10 && x.orig.dport === 6100);
    expect([udp.orig.src, udp.orig.dst, udp.reply.src, udp.reply.dst]).toEqual(
      Array(4).fill('2001:db8:cafe::7'),
    );
    expect(udp.origCounters).toEqual({ packets: 1, bytes: 1385 });
    const replied = find((x) => x.family === 10 && x.orig.dport === 6200);
    expect([replied.orig.src, replied.orig.dst]).toEqual(['::1', '::1']);
    const icmp6 = find((x) => x.orig.proto === 58);
    expect(icmp6).toMatchObject({
      family: 10,
      orig: { icmpType: 128, icmpCode: 0 },
      reply: { icmpType: 129, icmpCode: 0 },
      origCounters: { packets: 2, bytes: 1650 },
    });
    expect(protocolName(58)).toBe('icmpv6');
  });

  it('timestamps: every start within the seconds the recording took, none in the future of the dump', () => {
    const starts = rec.flows.map((f) => f.startNs ?? 0);
    const date = Date.parse(loadFixture('flows-acct').header.date) * 1e6;
    for (const s of starts) {
      expect(s).toBeLessThan(date);
      expect(s).toBeGreaterThan(date - 60e9);
    }
  });

  it('no NAT anywhere in a namespace without a nat table', () => {
    expect(rec.flows.map(natKind)).toEqual(Array(10).fill('none'));
    expect(rec.flows.every((f) => (f.status & (IPS.SRC_NAT_DONE | IPS.DST_NAT_DONE)) === 0)).toBe(true);
  });
});

describe('recorded: NAT (flows-nat.json, docs/ctnetlink.md#nat-from-the-two-tuples)', () => {
  const rec = recorded('flows-nat');
  const byDport = (port: number): Flow => {
    const f = rec.flows.find((x) => x.orig.dport === port);
    if (!f) throw new Error(`no flow to port ${port}`);
    return f;
  };

  it('matches conntrack -L field by field for every flow', () => {
    expect(rec.flows.length).toBe(5);
    for (const flow of rec.flows) expectMatchesCli(flow, rec, true);
  });

  it('DNAT 5601 -> 127.0.0.1:5602 plus SNAT to 127.0.0.9: both, status 0x1be', () => {
    const f = byDport(5601);
    expect(f.status).toBe(0x1be);
    expect(f.reply).toMatchObject({ src: '127.0.0.1', sport: 5602, dst: '127.0.0.9', dport: f.orig.sport });
    expect(natKind(f)).toBe('both');
  });

  it('SNAT only (UDP 6300 from 127.0.0.9): snat, status SRC_NAT without DST_NAT', () => {
    const f = byDport(6300);
    expect(f.status).toBe(IPS.CONFIRMED | IPS.SRC_NAT | IPS.SRC_NAT_DONE | IPS.DST_NAT_DONE);
    expect(f.reply.dst).toBe('127.0.0.9');
    expect(natKind(f)).toBe('snat');
  });

  it('DNAT only, port change only (UDP 6301 -> 6401): dnat', () => {
    const f = byDport(6301);
    expect(f.status).toBe(IPS.CONFIRMED | IPS.DST_NAT | IPS.SRC_NAT_DONE | IPS.DST_NAT_DONE);
    expect([f.reply.src, f.reply.sport]).toEqual(['127.0.0.1', 6401]);
    expect(natKind(f)).toBe('dnat');
  });

  it('no NAT although the *_NAT_DONE bits are set (a nat table exists): TCP to 5602, ICMP 0x18a', () => {
    const direct = byDport(5602);
    expect(direct.status).toBe(0x18e);
    expect(natKind(direct)).toBe('none');
    const icmp = rec.flows.find((x) => x.orig.proto === 1);
    expect(icmp?.status).toBe(0x18a);
    expect(natKind(icmp as Flow)).toBe('none');
  });

  it('natKind gives the same answer on the raw FlowFields the aggregator uses', () => {
    const parts = loadFixture('flows-nat').corpus('flows').messages.slice(0, -1);
    expect(parts.map((m) => natKind(decodeFlowFields(viewOf(m), new FlowFields())))).toEqual(
      rec.flows.map(natKind),
    );
  });
});

describe('recorded: acct and timestamp off (flows-noacct.json)', () => {
  const rec = recorded('flows-noacct');

  it('has no counters and no start, and matches conntrack -L otherwise', () => {
    expect(rec.flows.length).toBe(3);
    for (const flow of rec.flows) expectMatchesCli(flow, rec, false);
    expect(rec.flows.map((f) => protocolName(f.orig.proto)).sort()).toEqual(['icmp', 'tcp', 'udp']);
  });
});

describe('decodeFlowFields (the raw, reusable form)', () => {
  it('agrees with decodeFlow on every recorded flow, reusing one FlowFields', () => {
    const fields = new FlowFields();
    for (const name of ['flows-acct', 'flows-nat', 'flows-noacct'] as const) {
      for (const m of loadFixture(name).corpus('flows').messages.slice(0, -1)) {
        const flow = decodeFlow(viewOf(m));
        const f = decodeFlowFields(viewOf(m), fields);
        expect(formatAddress(f.orig.src)).toBe(flow.orig.src);
        expect(formatAddress(f.reply.dst)).toBe(flow.reply.dst);
        expect([f.status, f.timeout, f.mark, f.id]).toEqual([flow.status, flow.timeout, flow.mark, flow.id]);
        expect(f.origBytes).toBe(flow.origCounters?.bytes ?? -1);
        expect(f.startNs).toBe(flow.startNs ?? -1);
        expect(f.zone).toBe(flow.zone ?? -1);
      }
    }
  });
});

// ---- synthetic messages ----------------------------------------------------------------------

function tuple4(src: string, dst: string, proto: number, ...l4: Buffer[]): Buffer[] {
  return [nest(1, attr(1, ipv4(src)), attr(2, ipv4(dst))), nest(2, u8(1, proto), ...l4)];
}

function udpFlow(
  orig: [string, string, number, number],
  reply: [string, string, number, number],
  extra: Buffer[] = [],
  {
    status = IPS.CONFIRMED,
    type = 0x0100,
    family = 2,
  }: { status?: number; type?: number; family?: number } = {},
): Buffer {
  const t = ([s, d, sp, dp]: [string, string, number, number]): Buffer[] =>
    tuple4(s, d, 17, be16(2, sp), be16(3, dp));
  return nfnlMessage(type, family, [nest(1, ...t(orig)), nest(2, ...t(reply)), be32(3, status), ...extra]);
}

const decodeBuf = (b: Buffer): Flow => decodeFlow(viewOf(b));

describe('synthetic: shapes this kernel did not send', () => {
  it('regression (255.255.255.255 read as "absent"): decodes a DHCP broadcast flow', () => {
    const f = decodeBuf(
      udpFlow(['0.0.0.0', '255.255.255.255', 68, 67], ['255.255.255.255', '0.0.0.0', 67, 68]),
    );
    expect(f.orig).toEqual({ src: '0.0.0.0', dst: '255.255.255.255', proto: 17, sport: 68, dport: 67 });
    expect(f.reply.src).toBe('255.255.255.255');
    expect(natKind(f)).toBe('none');
  });

  it('addresses with the high bit set keep their dotted form (192.168.1.200, 10.0.0.1)', () => {
    const f = decodeBuf(
      udpFlow(['192.168.1.200', '10.0.0.1', 40000, 53], ['10.0.0.1', '192.168.1.200', 53, 40000]),
    );
    expect([f.orig.src, f.orig.dst]).toEqual(['192.168.1.200', '10.0.0.1']);
  });

  it('skips PAD attributes before the u64s (architectures without unaligned access)', () => {
    const counters = (type: number, p: bigint, b: bigint): Buffer =>
      nest(type, attr(5, Buffer.alloc(0)), be64(1, p), attr(5, Buffer.alloc(0)), be64(2, b));
    const f = decodeBuf(
      udpFlow(
        ['10.1.2.3', '10.3.2.1', 1, 2],
        ['10.3.2.1', '10.1.2.3', 2, 1],
        [
          counters(9, 7n, 0x01abcdefn),
          counters(10, 5n, 777n),
          nest(20, attr(3, Buffer.alloc(0)), be64(1, 1_700_000_000_123_456_000n)),
        ],
      ),
    );
    expect([f.origCounters, f.replyCounters, f.startNs]).toEqual([
      { packets: 7, bytes: 0x01abcdef },
      { packets: 5, bytes: 777 },
      1_700_000_000_123_456_000,
    ]);
  });

  it('reads the old 32-bit counters (CTA_COUNTERS32_*)', () => {
    const f = decodeBuf(
      udpFlow(
        ['10.1.2.3', '10.3.2.1', 1, 2],
        ['10.3.2.1', '10.1.2.3', 2, 1],
        [nest(9, be32(3, 11), be32(4, 0x01abcdef)), nest(10, be32(3, 13), be32(4, 4242))],
      ),
    );
    expect([f.origCounters, f.replyCounters]).toEqual([
      { packets: 11, bytes: 0x01abcdef },
      { packets: 13, bytes: 4242 },
    ]);
  });

  it('keeps byte counters past 2^32 exact', () => {
    const f = decodeBuf(
      udpFlow(
        ['10.1.2.3', '10.3.2.1', 1, 2],
        ['10.3.2.1', '10.1.2.3', 2, 1],
        [nest(9, be64(1, 3n), be64(2, 0x1_2345_6789n)), nest(10, be64(1, 0n), be64(2, 0n))],
      ),
    );
    expect(f.origCounters?.bytes).toBe(0x1_2345_6789);
  });

  it('skips unknown and newer attributes (CTA_TIMESTAMP_EVENT 27, ids up to 40, USE, SYNPROXY)', () => {
    const f = decodeBuf(
      udpFlow(
        ['10.1.2.3', '10.3.2.1', 1, 2],
        ['10.3.2.1', '10.1.2.3', 2, 1],
        [
          be64(27, 1n),
          be32(11, 1),
          nest(24, be32(1, 0), be32(2, 0), be32(3, 0)),
          attr(40, Buffer.from('future')),
          be32(8, MARK),
        ],
      ),
    );
    expect(f.mark).toBe(MARK);
    expect(Object.keys(f).sort()).toEqual(['family', 'mark', 'orig', 'reply', 'status']);
  });

  it('a DESTROY event (type CT_DELETE) decodes with the same schema', () => {
    const f = decodeBuf(
      udpFlow(['10.1.2.3', '10.3.2.1', 1, 2], ['10.3.2.1', '10.1.2.3', 2, 1], [], {
        type: 0x0102,
        status: 0x20e,
      }),
    );
    expect(f.status).toBe(0x20e);
  });

  it('labels: the 16-byte CTA_LABELS bitmap, copied out of the datagram', () => {
    const bits = Buffer.from('01000000000000000000000000000080', 'hex');
    const msg = udpFlow(['10.1.2.3', '10.3.2.1', 1, 2], ['10.3.2.1', '10.1.2.3', 2, 1], [attr(22, bits)]);
    const f = decodeBuf(msg);
    expect(f.labels).toEqual(bits);
    msg.fill(0);
    expect(f.labels).toEqual(bits);
  });

  it('a directional zone (CTA_TUPLE_ZONE) inside one tuple: zoneOf uses it when CTA_ZONE is absent', () => {
    const t = (s: string, d: string, zone?: number): Buffer[] => [
      ...tuple4(s, d, 6, be16(2, 1000), be16(3, 80)),
      ...(zone === undefined ? [] : [be16(3, zone)]),
    ];
    const msg = nfnlMessage(0x0100, 2, [
      nest(1, ...t('10.0.0.1', '10.0.0.2', 9)),
      nest(2, ...t('10.0.0.2', '10.0.0.1')),
      be32(3, 8),
    ]);
    const f = decodeBuf(msg);
    expect([f.zone, f.orig.zone, f.reply.zone, zoneOf(f)]).toEqual([undefined, 9, undefined, 9]);
  });

  it('protocol states: SCTP by name, an unknown TCP state as NONE (libnetfilter_conntrack does so)', () => {
    const sctp = decodeBuf(
      udpFlow(
        ['10.1.2.3', '10.3.2.1', 1, 2],
        ['10.3.2.1', '10.1.2.3', 2, 1],
        [nest(4, nest(3, u8(1, 4), be32(2, 1), be32(3, 2)))],
      ),
    );
    expect(sctp.protoState).toBe('ESTABLISHED');
    const weird = decodeBuf(
      udpFlow(['10.1.2.3', '10.3.2.1', 1, 2], ['10.3.2.1', '10.1.2.3', 2, 1], [nest(4, nest(1, u8(1, 200)))]),
    );
    expect(weird.protoState).toBe('NONE');
    const nested = decodeBuf(
      udpFlow(
        ['10.1.2.3', '10.3.2.1', 1, 2],
        ['10.3.2.1', '10.1.2.3', 2, 1],
        [bareNest(4, bareNest(1, u8(1, 7)))],
      ),
    );
    expect(nested.protoState).toBe('TIME_WAIT');
  });

  it('an unknown layer-4 protocol carries only CTA_PROTO_NUM', () => {
    const t = (s: string, d: string): Buffer[] => tuple4(s, d, 47);
    const f = decodeBuf(
      nfnlMessage(0x0100, 2, [
        nest(1, ...t('10.0.0.1', '10.0.0.2')),
        nest(2, ...t('10.0.0.2', '10.0.0.1')),
        be32(3, 8),
      ]),
    );
    expect(f.orig).toEqual({ src: '10.0.0.1', dst: '10.0.0.2', proto: 47 });
    expect([protocolName(47), protocolName(253)]).toEqual(['gre', '253']);
    expect(natKind(f)).toBe('none');
  });
});

describe('synthetic: malformed flows are DecodeErrors', () => {
  const ok = (): Buffer[] => [
    nest(1, ...tuple4('10.0.0.1', '10.0.0.2', 17, be16(2, 1), be16(3, 2))),
    nest(2, ...tuple4('10.0.0.2', '10.0.0.1', 17, be16(2, 2), be16(3, 1))),
  ];

  it.each([
    ['a non-flow type', nfnlMessage(0x0104, 2, [...ok(), be32(3, 8)]), 'not a flow message: type 0x104'],
    ['family AF_UNSPEC', nfnlMessage(0x0100, 0, [...ok(), be32(3, 8)]), 'flow of unknown family 0'],
    ['no CTA_STATUS', nfnlMessage(0x0100, 2, ok()), 'flow without CTA_STATUS'],
    ['no reply tuple', nfnlMessage(0x0100, 2, [ok()[0] as Buffer, be32(3, 8)]), 'flow without both tuples'],
    [
      'a tuple without CTA_PROTO_NUM',
      nfnlMessage(0x0100, 2, [
        nest(1, nest(1, attr(1, ipv4('1.2.3.4')), attr(2, ipv4('1.2.3.5')))),
        ok()[1] as Buffer,
        be32(3, 8),
      ]),
      'tuple without CTA_PROTO_NUM',
    ],
    [
      'a tuple without addresses',
      nfnlMessage(0x0100, 2, [nest(1, nest(2, u8(1, 17))), ok()[1] as Buffer, be32(3, 8)]),
      'tuple without addresses',
    ],
    [
      'an IPv4 address of 3 bytes',
      nfnlMessage(0x0100, 2, [
        nest(1, nest(1, attr(1, Buffer.from([1, 2, 3])), attr(2, ipv4('1.2.3.5'))), nest(2, u8(1, 17))),
        ok()[1] as Buffer,
        be32(3, 8),
      ]),
      'be32 attribute: expected 4 payload bytes, got 3',
    ],
    [
      'an IPv6 address of 4 bytes',
      nfnlMessage(0x0100, 10, [
        nest(1, nest(1, attr(3, ipv4('1.2.3.4')), attr(4, ipv4('1.2.3.5'))), nest(2, u8(1, 17))),
        ok()[1] as Buffer,
        be32(3, 8),
      ]),
      'IPv6 address of 4 bytes',
    ],
    [
      'a be16 port of 4 bytes',
      nfnlMessage(0x0100, 2, [
        nest(1, ...tuple4('1.2.3.4', '1.2.3.5', 17, be32(2, 1))),
        ok()[1] as Buffer,
        be32(3, 8),
      ]),
      'be16 attribute: expected 2 payload bytes, got 4',
    ],
    [
      'counters without bytes',
      nfnlMessage(0x0100, 2, [...ok(), be32(3, 8), nest(9, be64(1, 1n))]),
      'counters without packets or bytes',
    ],
    [
      'a status of 2 bytes',
      nfnlMessage(0x0100, 2, [...ok(), be16(3, 8)]),
      'be32 attribute: expected 4 payload bytes, got 2',
    ],
  ])('%s', (_name, msg, message) => {
    expect(() => decodeBuf(msg)).toThrow(new DecodeError(message));
  });
});

describe('formatIPv6 (RFC 5952, as inet_ntop prints for these)', () => {
  it.each([
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0x2001, 0xdb8, 0xcafe, 0, 0, 0, 0, 7], '2001:db8:cafe::7'],
    [[0xfe80, 0, 0, 0, 0x1, 0, 0, 0x1], 'fe80::1:0:0:1'],
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], '2001:db8::1:0:0:1'],
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'],
    [[0x2001, 0xdb8, 0x85a3, 0x8d3, 0x1319, 0x8a2e, 0x370, 0x7348], '2001:db8:85a3:8d3:1319:8a2e:370:7348'],
    [[0xfd00, 0, 0, 0, 0, 0, 0, 0], 'fd00::'],
    [[0, 0, 0, 0, 0, 0xffff, 0xc0a8, 0x0101], '::ffff:192.168.1.1'],
  ])('%j -> %s', (groups, text) => {
    expect(formatIPv6(ipv6(groups), 0)).toBe(text);
    expect(formatAddress(ipv6(groups).toString('latin1'))).toBe(text);
  });

  it('reads at an offset inside a larger buffer', () => {
    const b = Buffer.concat([Buffer.alloc(3, 0xff), ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x1abc])]);
    expect(formatIPv6(b, 3)).toBe('2001:db8::1abc');
  });
});

describe('natKind on synthetic tuples', () => {
  const t = (src: string, dst: string, sport?: number, dport?: number, icmpId?: number): Flow['orig'] => ({
    src,
    dst,
    proto: 6,
    ...(sport !== undefined && { sport }),
    ...(dport !== undefined && { dport }),
    ...(icmpId !== undefined && { icmpId }),
  });
  const kind = (orig: Flow['orig'], reply: Flow['orig']): string => natKind({ orig, reply });

  it.each([
    ['the mirror', t('10.0.0.1', '10.0.0.2', 1000, 80), t('10.0.0.2', '10.0.0.1', 80, 1000), 'none'],
    ['masquerade (address)', t('10.0.0.1', '8.8.8.8', 1000, 53), t('8.8.8.8', '192.0.2.1', 53, 1000), 'snat'],
    [
      'source port remap only (SPAT)',
      t('10.0.0.1', '8.8.8.8', 1000, 53),
      t('8.8.8.8', '10.0.0.1', 53, 61000),
      'snat',
    ],
    [
      'port forward (address and port)',
      t('1.1.1.1', '192.0.2.1', 1000, 80),
      t('10.0.0.5', '1.1.1.1', 8080, 1000),
      'dnat',
    ],
    [
      'redirect (port only, DPAT)',
      t('1.1.1.1', '192.0.2.1', 1000, 80),
      t('192.0.2.1', '1.1.1.1', 3128, 1000),
      'dnat',
    ],
    ['both', t('1.1.1.1', '192.0.2.1', 1000, 80), t('10.0.0.5', '10.0.0.1', 8080, 1000), 'both'],
    [
      'ICMP id rewritten by SNAT',
      t('10.0.0.1', '8.8.8.8', undefined, undefined, 7),
      t('8.8.8.8', '10.0.0.1', undefined, undefined, 9),
      'snat',
    ],
    [
      'ICMP mirror',
      t('10.0.0.1', '8.8.8.8', undefined, undefined, 7),
      t('8.8.8.8', '10.0.0.1', undefined, undefined, 7),
      'none',
    ],
  ])('%s', (_name, orig, reply, expected) => {
    expect(kind(orig, reply)).toBe(expected);
  });
});

describe('property: decodeFlow on arbitrary bytes gives a Flow or a DecodeError', () => {
  const corpus = ['flows-acct', 'flows-nat', 'flows-noacct'].flatMap((n) =>
    loadFixture(n as FixtureName)
      .corpus('flows')
      .messages.slice(0, -1),
  );

  function check(buf: Buffer, type?: number): void {
    let flow: Flow | undefined;
    try {
      flow = decodeFlow(rawView(buf, type));
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      return;
    }
    expect([2, 10]).toContain(flow.family);
    expect(typeof flow.orig.src).toBe('string');
    expect(flow.orig.proto).toBeGreaterThanOrEqual(0);
    expect(flow.status).toBeGreaterThanOrEqual(0);
  }

  it('random bytes behind a flow header', () => {
    fc.assert(
      fc.property(fc.constantFrom(2, 10), fc.uint8Array({ maxLength: 400 }), (family, body) => {
        const b = Buffer.concat([Buffer.alloc(20), Buffer.from(body)]);
        b.writeUInt32LE(b.length, 0);
        b[16] = family;
        check(b, 0x0100);
      }),
      runs(3000),
    );
  });

  it('recorded flows with bytes flipped, truncated or extended', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.option(fc.nat()),
        (original, flips, cut) => {
          const b = Buffer.from(original);
          for (const [at, value] of flips) b[20 + (at % (b.length - 20))] = value;
          const sliced = cut === null ? b : b.subarray(0, 20 + (cut % (b.length - 19)));
          check(Buffer.from(sliced), 0x0100);
        },
      ),
      runs(5000),
    );
  });

  it('well-formed random attribute trees', () => {
    const leaf = fc
      .record({ type: fc.integer({ min: 0, max: 40 }), payload: fc.uint8Array({ maxLength: 17 }) })
      .map((l) => attr(l.type, Buffer.from(l.payload)));
    const tree = fc.letrec<{ node: Buffer }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc
          .record({ type: fc.integer({ min: 0, max: 30 }), kids: fc.array(tie('node'), { maxLength: 4 }) })
          .map((n) => nest(n.type, ...n.kids)),
      ),
    })).node;
    fc.assert(
      fc.property(fc.constantFrom(2, 10), fc.array(tree, { maxLength: 8 }), (family, attrs) => {
        check(nfnlMessage(0x0100, family, attrs), 0x0100);
      }),
      runs(3000),
    );
  });
});
