// Flow aggregation: the recorded kernel flows folded into the flow metrics, checked against the
// CLI's own text (status, NAT, zone partitions); top-K "other" series that keep totals; the hard
// series budget for any input (property test) with the folded count reported; scaling by the
// sampling ratio; and absent byte/age metrics when no flow carries counters or timestamps.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AddressReporting } from '../../src/conntrack/address-prefix.js';
import {
  FlowAggregator,
  portWindowOf,
  PORT_WINDOW_FLOWS,
  PORT_WINDOW_PASSES,
  type AggregateResult,
} from '../../src/flows/aggregate.js';
import type { GaugeSample, HistogramSample } from '../../src/metrics/sample.js';
import { decodeFlowFields, FlowFields } from '../../src/conntrack/flow.js';
import { FLOW_AGE_BUCKETS } from '../../src/metrics/catalog.js';
import { cliNat, cliStatus, parseConntrackLine, tally } from '../support/conntrack-output.js';
import { loadFixture, viewOf, type FixtureName } from '../support/fixtures.js';
import { runs } from '../support/property.js';

const HISTOGRAM_SERIES = FLOW_AGE_BUCKETS.length + 3;
const WIDE = { topK: 1000, seriesBudget: 1_000_000 };

function aggregate(name: FixtureName, nowNs: number, addresses?: AddressReporting): FlowAggregator {
  const agg = new FlowAggregator(nowNs, undefined, addresses);
  const fields = new FlowFields(); // one reused FlowFields, as the flow pass does
  for (const m of loadFixture(name).corpus('flows').messages.slice(0, -1))
    agg.add(decodeFlowFields(viewOf(m), fields));
  return agg;
}

function gauges(r: AggregateResult, metric: string): GaugeSample[] {
  return r.samples.filter((s): s is GaugeSample => s.kind === 'value' && s.metric.name === metric);
}

function histograms(r: AggregateResult): HistogramSample[] {
  return r.samples.filter((s): s is HistogramSample => s.kind === 'histogram');
}

/** metric -> "label=value,..." -> value, for exact comparisons. */
function table(r: AggregateResult, metric: string): Record<string, number> {
  return Object.fromEntries(
    gauges(r, metric).map((s) => [
      Object.entries(s.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      s.value,
    ]),
  );
}

function sum(samples: readonly GaugeSample[]): number {
  return samples.reduce((n, s) => n + s.value, 0);
}

function seriesCount(r: AggregateResult): number {
  return r.samples.reduce((n, s) => n + (s.kind === 'histogram' ? HISTOGRAM_SERIES : 1), 0);
}

function cliFlows(name: FixtureName): ReturnType<typeof parseConntrackLine>[] {
  return (loadFixture(name).cli['conntrack -L -o extended'] ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(parseConntrackLine);
}

const recordedAt = (name: FixtureName): number => Date.parse(loadFixture(name).header.date) * 1e6;

describe('recorded flows, against the CLI', () => {
  it('flows-acct: per family/protocol/state, status, zone, bytes and packets exact', () => {
    const r = aggregate('flows-acct', recordedAt('flows-acct')).result(WIDE, 1);
    expect(table(r, 'conntrack_flows')).toEqual({
      'family=ipv4,protocol=tcp,state=established': 1,
      'family=ipv4,protocol=tcp,state=time_wait': 1,
      'family=ipv4,protocol=udp,state=none': 4,
      'family=ipv4,protocol=icmp,state=none': 1,
      'family=ipv6,protocol=udp,state=none': 2,
      'family=ipv6,protocol=icmpv6,state=none': 1,
    });
    const cli = cliFlows('flows-acct');
    const statusFromCli = tally(
      cli,
      (f) => `family=${f.family},protocol=${f.protocol},status=${cliStatus(f)}`,
    );
    expect(table(r, 'conntrack_flows_by_status')).toEqual(Object.fromEntries(statusFromCli));
    expect(table(r, 'conntrack_flows_by_zone')).toEqual({ 'zone=0': 9, 'zone=7': 1 });
    expect(table(r, 'conntrack_flow_bytes')).toMatchObject({
      'family=ipv4,protocol=tcp,state=established,direction=original': 1164,
      'family=ipv4,protocol=tcp,state=established,direction=reply': 112,
      'family=ipv4,protocol=icmp,state=none,direction=original': 3084,
      'family=ipv6,protocol=icmpv6,state=none,direction=reply': 1650,
      // 1365 (unreplied) + 583 (marked) + 32 (replied) + 32 (zone 7).
      'family=ipv4,protocol=udp,state=none,direction=original': 2012,
      'family=ipv4,protocol=udp,state=none,direction=reply': 64,
    });
    const bytesFromCli = sum(gauges(r, 'conntrack_flow_bytes'));
    expect(bytesFromCli).toBe(cli.reduce((n, f) => n + (f.orig.bytes ?? 0) + (f.reply.bytes ?? 0), 0));
    expect(sum(gauges(r, 'conntrack_flow_packets'))).toBe(
      cli.reduce((n, f) => n + (f.orig.packets ?? 0) + (f.reply.packets ?? 0), 0),
    );
  });

  it('flows-acct: destination ports and addresses, with their bytes', () => {
    const r = aggregate('flows-acct', recordedAt('flows-acct')).result(WIDE, 1);
    expect(table(r, 'conntrack_flows_by_dst_port')).toEqual({
      'protocol=udp,port=6100': 2,
      'protocol=udp,port=6200': 2,
      'protocol=udp,port=6000': 1,
      'protocol=udp,port=7007': 1,
      'protocol=tcp,port=5201': 1,
      'protocol=tcp,port=5301': 1,
    });
    expect(table(r, 'conntrack_flow_bytes_by_dst_port')['protocol=udp,port=6000']).toBe(583);
    expect(table(r, 'conntrack_flows_by_dst_address')).toEqual({
      'address=127.0.0.1': 7,
      'address=::1': 2,
      'address=2001:db8:cafe::7': 1,
    });
    expect(table(r, 'conntrack_flow_bytes_by_src_address')['address=2001:db8:cafe::7']).toBe(1385);
  });

  it('address privacy: prefixes merge the addresses of one network; none drops the address metrics (issue 11)', () => {
    const agg = (addresses?: AddressReporting): FlowAggregator =>
      aggregate('flows-acct', recordedAt('flows-acct'), addresses);
    const full = agg().result(WIDE, 1);
    const prefix = agg({ mode: 'prefix', ipv4: 8, ipv6: 32 }).result(WIDE, 1);
    expect(table(prefix, 'conntrack_flows_by_dst_address')).toEqual({
      'address=127.0.0.0/8': 7,
      'address=::/32': 2,
      'address=2001:db8::/32': 1,
    });
    const ADDRESS_METRICS = [
      'conntrack_flows_by_src_address',
      'conntrack_flows_by_dst_address',
      'conntrack_flow_bytes_by_src_address',
      'conntrack_flow_bytes_by_dst_address',
    ];
    // Same totals, and every address label a prefix.
    for (const m of ADDRESS_METRICS) {
      expect(gauges(full, m).length).toBeGreaterThan(0);
      expect(sum(gauges(prefix, m))).toBe(sum(gauges(full, m)));
      expect(gauges(prefix, m).every((s) => /\/(8|32)$/.test(s.labels.address ?? ''))).toBe(true);
    }
    const none = agg({ mode: 'none' }).result(WIDE, 1);
    const isAddress = (s: { metric: { name: string } }): boolean => ADDRESS_METRICS.includes(s.metric.name);
    expect(none.samples.filter(isAddress)).toEqual([]);
    // Everything else is as with full addresses.
    expect(none.samples).toEqual(full.samples.filter((s) => !isAddress(s)));
  });

  it('flows-nat: NAT kinds per protocol equal the ones computed from the CLI text', () => {
    const r = aggregate('flows-nat', recordedAt('flows-nat')).result(WIDE, 1);
    const fromCli = tally(
      cliFlows('flows-nat'),
      (f) => `family=${f.family},protocol=${f.protocol},nat=${cliNat(f)}`,
    );
    expect(table(r, 'conntrack_flows_by_nat')).toEqual(Object.fromEntries(fromCli));
    expect(table(r, 'conntrack_flows_by_nat')).toEqual({
      'family=ipv4,protocol=tcp,nat=both': 1,
      'family=ipv4,protocol=tcp,nat=none': 1,
      'family=ipv4,protocol=udp,nat=snat': 1,
      'family=ipv4,protocol=udp,nat=dnat': 1,
      'family=ipv4,protocol=icmp,nat=none': 1,
    });
  });

  it('flows-noacct: no byte, packet or age metric at all (absent, not zero)', () => {
    const r = aggregate('flows-noacct', recordedAt('flows-noacct')).result(WIDE, 1);
    const names = new Set(r.samples.map((s) => s.metric.name));
    expect([...names].sort()).toEqual([
      'conntrack_flows',
      'conntrack_flows_by_dst_address',
      'conntrack_flows_by_dst_port',
      'conntrack_flows_by_nat',
      'conntrack_flows_by_src_address',
      'conntrack_flows_by_status',
      'conntrack_flows_by_zone',
    ]);
    expect(sum(gauges(r, 'conntrack_flows'))).toBe(3);
  });

  it('ages: one histogram per protocol, cumulative buckets, sum of ages from CTA_TIMESTAMP_START', () => {
    const fields = new FlowFields();
    const starts = loadFixture('flows-acct')
      .corpus('flows')
      .messages.slice(0, -1)
      .map((m) => {
        const f = decodeFlowFields(viewOf(m), fields);
        return { proto: f.orig.proto, start: f.startNs };
      });
    const tcpStarts = starts.filter((s) => s.proto === 6).map((s) => s.start);
    // "Now" = the later TCP start + 100 s: its age is 100 s, the other's a little more.
    const now = Math.max(...tcpStarts) + 100e9;
    const r = aggregate('flows-acct', now).result(WIDE, 1);
    const tcp = histograms(r).find((h) => h.labels.protocol === 'tcp');
    expect(tcp?.count).toBe(2);
    expect(tcp?.sum).toBeCloseTo(
      tcpStarts.reduce((n, s) => n + (now - s) / 1e9, 0),
      6,
    );
    // Bucket bounds 1, 5, 15, 30, 60: none; 120 and above: both.
    expect(tcp?.bucketCounts).toEqual(FLOW_AGE_BUCKETS.map((b) => (b >= 120 ? 2 : 0)));
    expect(
      histograms(r)
        .map((h) => h.labels.protocol)
        .sort(),
    ).toEqual(['icmp', 'icmpv6', 'tcp', 'udp']);
    expect(histograms(r).reduce((n, h) => n + h.count, 0)).toBe(10);
  });
});

// ---- synthetic flows ----------------------------------------------------------------------------

interface Spec {
  family: 2 | 10;
  proto: number;
  state?: string;
  src: number;
  dst: number;
  dport: number;
  status: number;
  zone: number;
  nat: boolean;
  bytes?: [number, number];
  ageS?: number;
}

const NOW = 1_800_000_000e9;

function fieldsOf(s: Spec, f = new FlowFields()): FlowFields {
  f.reset();
  f.family = s.family;
  const addr = (n: number): number | string =>
    s.family === 2 ? (0x0a000000 + n) | 0 : `fd00${String(n).padStart(12, '0')}`.slice(0, 16);
  Object.assign(f.orig, { src: addr(s.src), dst: addr(s.dst), proto: s.proto, sport: 40000, dport: s.dport });
  Object.assign(f.reply, {
    src: addr(s.dst),
    dst: s.nat ? addr(999) : addr(s.src),
    proto: s.proto,
    sport: s.dport,
    dport: 40000,
  });
  if (s.proto === 1 || s.proto === 58) {
    for (const t of [f.orig, f.reply]) [t.sport, t.dport, t.icmpId] = [-1, -1, 7];
  }
  f.status = s.status;
  f.protoState = s.state;
  f.zone = s.zone;
  if (s.bytes) [f.origPackets, f.origBytes, f.replyPackets, f.replyBytes] = [1, s.bytes[0], 1, s.bytes[1]];
  if (s.ageS !== undefined) f.startNs = NOW - s.ageS * 1e9;
  return f;
}

const spec: fc.Arbitrary<Spec> = fc.record({
  family: fc.constantFrom(2 as const, 10 as const),
  proto: fc.constantFrom(6, 17, 1, 58, 132, 47),
  state: fc.option(fc.constantFrom('ESTABLISHED', 'TIME_WAIT', 'SYN_SENT', 'CLOSE'), { nil: undefined }),
  src: fc.integer({ min: 1, max: 40 }),
  dst: fc.integer({ min: 1, max: 40 }),
  dport: fc.integer({ min: 1, max: 60 }),
  status: fc.constantFrom(0x8, 0xa, 0xe, 0x1be),
  zone: fc.constantFrom(-1, -1, 7, 300),
  nat: fc.boolean(),
  bytes: fc.option(fc.tuple(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 1e6 })), {
    nil: undefined,
  }),
  ageS: fc.option(fc.integer({ min: 0, max: 1e6 }), { nil: undefined }),
});

function run(
  specs: readonly Spec[],
  options: { topK: number; seriesBudget: number },
  scale = 1,
): AggregateResult {
  const agg = new FlowAggregator(NOW);
  const f = new FlowFields();
  for (const s of specs) agg.add(fieldsOf(s, f));
  return agg.result(options, scale);
}

/** Per metric: the sum of gauge values, or of histogram counts and sums. */
function totals(r: AggregateResult): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of r.samples) {
    if (s.kind === 'value') out.set(s.metric.name, (out.get(s.metric.name) ?? 0) + s.value);
    else {
      out.set('age_count', (out.get('age_count') ?? 0) + s.count);
      out.set('age_sum', (out.get('age_sum') ?? 0) + s.sum);
      s.bucketCounts.forEach((c, i) => out.set(`age_bucket_${i}`, (out.get(`age_bucket_${i}`) ?? 0) + c));
    }
  }
  return out;
}

function expectSameTotals(a: Map<string, number>, b: Map<string, number>): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [k, v] of a) expect(b.get(k), k).toBeCloseTo(v, 3);
}

const base: Omit<Spec, 'dport' | 'src' | 'dst'> = {
  family: 2,
  proto: 6,
  state: 'ESTABLISHED',
  status: 0xe,
  zone: -1,
  nat: false,
};

describe('top-K', () => {
  it('keeps the K largest ports and folds the rest into one "other" per protocol, totals intact', () => {
    // TCP ports 1..6 with 6, 5, ..., 1 flows; UDP port 53 with 2 flows.
    const specs: Spec[] = [];
    for (let port = 1; port <= 6; port++)
      for (let i = 0; i <= 6 - port; i++) specs.push({ ...base, src: i, dst: 1, dport: port });
    specs.push(
      { ...base, proto: 17, state: undefined, status: 0xa, src: 1, dst: 2, dport: 53 },
      { ...base, proto: 17, state: undefined, status: 0xa, src: 2, dst: 2, dport: 53 },
    );
    const r = run(specs, { topK: 3, seriesBudget: 10_000 });
    expect(table(r, 'conntrack_flows_by_dst_port')).toEqual({
      'protocol=tcp,port=1': 6,
      'protocol=tcp,port=2': 5,
      'protocol=tcp,port=3': 4,
      'protocol=tcp,port=other': 3 + 2 + 1,
      'protocol=udp,port=other': 2,
    });
    expect(sum(gauges(r, 'conntrack_flows_by_dst_port'))).toBe(specs.length);
    // Addresses: one "other" series for all the rest.
    const src = table(r, 'conntrack_flows_by_src_address');
    expect(Object.keys(src).length).toBe(4);
    expect(src['address=10.0.0.0']).toBe(6);
    expect(sum(gauges(r, 'conntrack_flows_by_src_address'))).toBe(specs.length);
  });
});

describe('the series budget', () => {
  it('folds the smallest series into "other" and reports how many disappeared', () => {
    const specs = Array.from({ length: 30 }, (_, i): Spec => ({
      ...base,
      src: i,
      dst: i,
      dport: i + 1,
      zone: i,
    }));
    const wide = run(specs, { topK: 50, seriesBudget: 10_000 });
    const tight = run(specs, { topK: 50, seriesBudget: 60 });
    expect(wide.folded).toBe(0);
    expect(seriesCount(tight)).toBeLessThanOrEqual(60);
    expect(tight.folded).toBe(seriesCount(wide) - seriesCount(tight));
    expectSameTotals(totals(wide), totals(tight));
    expect(table(tight, 'conntrack_flows_by_zone')['zone=other']).toBeGreaterThan(0);
  });

  it('keeps the direction of byte series when folding them', () => {
    const specs = Array.from({ length: 12 }, (_, i): Spec => ({
      ...base,
      proto: [6, 17, 132][i % 3] as number,
      state: ['ESTABLISHED', 'TIME_WAIT', undefined, 'CLOSE'][i % 4],
      src: 1,
      dst: 2,
      dport: 80,
      bytes: [100 + i, 1000 + i],
    }));
    const r = run(specs, { topK: 1, seriesBudget: 20 });
    const bytes = gauges(r, 'conntrack_flow_bytes');
    expect(new Set(bytes.map((s) => s.labels.direction))).toEqual(new Set(['original', 'reply']));
    const byDirection = (d: string): number => sum(bytes.filter((s) => s.labels.direction === d));
    expect([byDirection('original'), byDirection('reply')]).toEqual([
      specs.reduce((n, s) => n + (s.bytes?.[0] ?? 0), 0),
      specs.reduce((n, s) => n + (s.bytes?.[1] ?? 0), 0),
    ]);
  });

  it('property: holds for any flows (from 33 series up: 14 gauges and one histogram cannot fold), totals intact', () => {
    fc.assert(
      fc.property(
        fc.array(spec, { maxLength: 120 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 10, max: 250 }),
        (specs, topK, budget) => {
          const wide = run(specs, { topK, seriesBudget: 1_000_000 });
          const r = run(specs, { topK, seriesBudget: budget });
          expect(seriesCount(r)).toBeLessThanOrEqual(Math.max(budget, 33));
          expect(r.folded).toBe(seriesCount(wide) - seriesCount(r));
          expectSameTotals(totals(wide), totals(r));
        },
      ),
      runs(400),
    );
  });
});

describe('scaling by the sampling ratio', () => {
  it('multiplies every gauge, histogram count, bucket and sum by scanned/decoded', () => {
    const specs = Array.from({ length: 9 }, (_, i): Spec => ({
      ...base,
      src: i,
      dst: 1,
      dport: 443,
      bytes: [10 * i, 3],
      ageS: 40 * i,
    }));
    const one = run(specs, WIDE, 1);
    const four = run(specs, WIDE, 4);
    expect(four.samples.length).toBe(one.samples.length);
    one.samples.forEach((s, i) => {
      const t = four.samples[i];
      expect(t?.labels).toEqual(s.labels);
      if (s.kind === 'value' && t?.kind === 'value') expect(t.value).toBe(4 * s.value);
      if (s.kind === 'histogram' && t?.kind === 'histogram') {
        expect([t.count, t.sum]).toEqual([4 * s.count, 4 * s.sum]);
        expect(t.bucketCounts).toEqual(s.bucketCounts.map((c) => 4 * c));
      }
    });
    expect(table(four, 'conntrack_flows')).toEqual({ 'family=ipv4,protocol=tcp,state=established': 36 });
  });
});

describe('partitions', () => {
  it('status: unreplied, replied, assured by the SEEN_REPLY and ASSURED bits', () => {
    const r = run(
      [
        { ...base, src: 1, dst: 2, dport: 1, status: 0x8 },
        { ...base, src: 1, dst: 2, dport: 1, status: 0xa },
        { ...base, src: 1, dst: 2, dport: 1, status: 0xe },
        { ...base, src: 1, dst: 2, dport: 1, status: 0x1be },
      ],
      WIDE,
    );
    expect(table(r, 'conntrack_flows_by_status')).toEqual({
      'family=ipv4,protocol=tcp,status=assured': 2,
      'family=ipv4,protocol=tcp,status=unreplied': 1,
      'family=ipv4,protocol=tcp,status=replied': 1,
    });
  });

  it('zone: CTA_ZONE, else the directional zone of either tuple, else 0', () => {
    const agg = new FlowAggregator(NOW);
    const f = fieldsOf({ ...base, src: 1, dst: 2, dport: 1, zone: 7 });
    agg.add(f);
    f.zone = -1;
    f.reply.zone = 9;
    agg.add(f);
    f.reply.zone = -1;
    agg.add(f);
    expect(table(agg.result(WIDE, 1), 'conntrack_flows_by_zone')).toEqual({
      'zone=7': 1,
      'zone=9': 1,
      'zone=0': 1,
    });
  });

  it('ages only from flows with a timestamp; bytes only from flows with counters', () => {
    const r = run(
      [
        { ...base, src: 1, dst: 2, dport: 1, bytes: [5, 7], ageS: 3 },
        { ...base, src: 1, dst: 2, dport: 1 },
      ],
      WIDE,
    );
    expect(histograms(r).map((h) => [h.count, h.sum])).toEqual([[1, 3]]);
    expect(sum(gauges(r, 'conntrack_flow_bytes'))).toBe(12);
    expect(sum(gauges(r, 'conntrack_flows'))).toBe(2);
  });
});

describe('port estimates of a sampled pass combine the passes before it', () => {
  /** An aggregator fed `counts` UDP flows per destination port (no acct counters). */
  function fed(counts: Record<number, number>, previous?: FlowAggregator): FlowAggregator {
    const agg = new FlowAggregator(0, undefined, undefined, undefined, previous?.portWindow());
    const f = new FlowFields();
    f.family = 2;
    f.orig.proto = 17;
    f.orig.src = 1;
    f.orig.dst = 2;
    f.status = 8;
    for (const [port, n] of Object.entries(counts)) {
      f.orig.dport = Number(port);
      for (let i = 0; i < n; i++) agg.add(f);
    }
    return agg;
  }

  it('scales the samples together to the entries; a whole-table pass counts its own flows only', () => {
    const first = fed({ 53: 30, 80: 10 });
    // 40 flows read of a 400-entry table: scale 10, over the 80 flows of both passes.
    const sampled = fed({ 53: 10, 80: 30 }, first).result(WIDE, 10);
    expect(table(sampled, 'conntrack_flows_by_dst_port')).toEqual({
      'protocol=udp,port=53': 200,
      'protocol=udp,port=80': 200,
    });
    // conntrack_flows stays this pass's own estimate.
    expect(sum(gauges(sampled, 'conntrack_flows'))).toBe(400);
    // A third pass: 40 flows of 400, over the 120 flows of all three (53: 30 + 10 + 20 of 120).
    const second = fed({ 53: 10, 80: 30 }, first);
    const third = fed({ 53: 20, 80: 20 }, second).result(WIDE, 10);
    expect(table(third, 'conntrack_flows_by_dst_port')).toEqual({
      'protocol=udp,port=53': 200,
      'protocol=udp,port=80': 200,
    });
    // Without a previous pass, this pass alone.
    expect(table(fed({ 53: 10, 80: 30 }).result(WIDE, 10), 'conntrack_flows_by_dst_port')).toEqual({
      'protocol=udp,port=80': 300,
      'protocol=udp,port=53': 100,
    });
    // Scale 1 (the whole table read): exact, the previous pass ignored.
    expect(table(fed({ 53: 10, 80: 30 }, first).result(WIDE, 1), 'conntrack_flows_by_dst_port')).toEqual({
      'protocol=udp,port=80': 30,
      'protocol=udp,port=53': 10,
    });
  });

  it('combines at most PORT_WINDOW_PASSES passes, never an older one', () => {
    let previous: FlowAggregator | undefined;
    const ports = Array.from({ length: PORT_WINDOW_PASSES + 1 }, (_, i) => 1000 + i);
    const aggs = ports.map((port) => (previous = fed({ [port]: 5 }, previous)));
    const keys = (agg: FlowAggregator | undefined) =>
      Object.keys(
        table(agg?.result(WIDE, 10) ?? { samples: [], folded: 0 }, 'conntrack_flows_by_dst_port'),
      ).sort();
    const label = (port: number) => `protocol=udp,port=${port}`;
    // The one before the last combines every pass so far.
    expect(keys(aggs.at(-2))).toEqual(ports.slice(0, -1).map(label).sort());
    // The last: the latest PORT_WINDOW_PASSES; the first pass's port is gone.
    expect(keys(aggs.at(-1))).toEqual(ports.slice(1).map(label).sort());
  });

  it('stops combining once the window holds PORT_WINDOW_FLOWS flows', () => {
    // Passes of 100,000 flows (one port each): three make the window, the fourth's drops the first.
    const big = PORT_WINDOW_FLOWS / 3;
    const a = fed({ 1: big });
    const b = fed({ 2: big }, a);
    const c = fed({ 3: big }, b);
    const d = fed({ 4: big }, c);
    const share = (agg: FlowAggregator) => table(agg.result(WIDE, 10), 'conntrack_flows_by_dst_port');
    // Scale 10 over an own sample of `big`: the window's shares of 10 * big.
    const shares = share(c);
    expect(Object.keys(shares).sort()).toEqual([
      'protocol=udp,port=1',
      'protocol=udp,port=2',
      'protocol=udp,port=3',
    ]);
    for (const v of Object.values(shares)) expect(v).toBeCloseTo((10 * big) / 3, 6);
    expect(Object.keys(share(d)).sort()).toEqual([
      'protocol=udp,port=2',
      'protocol=udp,port=3',
      'protocol=udp,port=4',
    ]);
  });

  it('portWindowOf: the latest samples until PORT_WINDOW_FLOWS flows, at most PORT_WINDOW_PASSES', () => {
    const of = (...decoded: number[]) => portWindowOf(decoded.map((n) => ({ decoded: n }))).length;
    expect(of(...Array<number>(10).fill(50_000))).toBe(6);
    expect(of(100_000, 100_000, 100_000, 100_000)).toBe(3);
    expect(of(100_000, 100_000, 99_999, 1, 5)).toBe(4);
    expect(of(400_000, 1, 1)).toBe(1);
    expect(of(...Array<number>(20).fill(1))).toBe(PORT_WINDOW_PASSES);
    expect(of()).toBe(0);
  });

  it('equals the direct sum over the window, flows and bytes, in every protocol (property)', () => {
    // A pass: per flow, protocol (TCP or UDP), destination port, bytes.
    const pass = fc.array(
      fc.record({
        tcp: fc.boolean(),
        port: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 65535 })),
        bytes: fc.integer({ min: 0, max: 2 ** 40 }),
      }),
      { minLength: 1, maxLength: 60 },
    );
    fc.assert(
      fc.property(fc.array(pass, { minLength: 1, maxLength: PORT_WINDOW_PASSES + 2 }), (passes) => {
        let previous: FlowAggregator | undefined;
        let last: FlowAggregator | undefined;
        for (const flows of passes) {
          const agg = new FlowAggregator(0, undefined, undefined, undefined, previous?.portWindow());
          const f = new FlowFields();
          f.family = 2;
          f.orig.src = 1;
          f.orig.dst = 2;
          f.status = 8;
          for (const flow of flows) {
            f.orig.proto = flow.tcp ? 6 : 17;
            f.orig.dport = flow.port;
            f.origBytes = flow.bytes;
            f.replyBytes = 0;
            agg.add(f);
          }
          previous = last = agg;
        }
        const window = passes.slice(-PORT_WINDOW_PASSES);
        const own = window.at(-1)?.length ?? 0;
        const decoded = window.reduce((n, p) => n + p.length, 0);
        const scale = 7;
        // Each of the window's flows weighs scale * own / decoded.
        const expected = { flows: {} as Record<string, number>, bytes: {} as Record<string, number> };
        for (const flow of window.flat()) {
          const key = `protocol=${flow.tcp ? 'tcp' : 'udp'},port=${flow.port}`;
          expected.flows[key] = (expected.flows[key] ?? 0) + 1;
          expected.bytes[key] = (expected.bytes[key] ?? 0) + flow.bytes;
        }
        const r = last?.result(WIDE, scale);
        if (!r) return;
        for (const [metric, want] of [
          ['conntrack_flows_by_dst_port', expected.flows],
          ['conntrack_flow_bytes_by_dst_port', expected.bytes],
        ] as const) {
          const got = table(r, metric);
          expect(Object.keys(got).sort()).toEqual(
            Object.keys(want)
              .filter((k) => (want[k] ?? 0) > 0)
              .sort(),
          );
          for (const [k, v] of Object.entries(got)) {
            const w = ((want[k] ?? 0) * scale * own) / decoded;
            expect(Math.abs(v - w) / Math.max(1, w), `${metric} ${k}`).toBeLessThan(1e-9);
          }
        }
      }),
      runs(300),
    );
  });

  it('keeps only the ports a pass saw for the passes after it', () => {
    const window = fed({ 53: 3, 80: 1, 8080: 2 }).portWindow();
    expect(window).toHaveLength(1);
    const udp = window[0]?.protocols[17];
    expect(Array.from(udp?.ports ?? [])).toEqual([53, 80, 8080]);
    expect(Array.from(udp?.flows ?? [])).toEqual([3, 1, 2]);
    expect(window[0]?.protocols[6]).toBeUndefined();
  });
});
