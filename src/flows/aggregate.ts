// Layer: collectors (flows). Folds decoded flows into the flow metrics of the catalogue. Each
// breakdown is one small `Aggregate` (add() per flow on the pass's hot path, keyed by small
// integers and raw address keys; groups() once per pass, where labels are built): a new aggregate
// is one class and one line in `aggregates()`. The shaping (top-K, the series budget, "other")
// is generic code in shape.ts. Labels never carry per-connection values: only family, protocol,
// state, status, NAT kind, zone, and top-K ports and addresses. Addresses are reported as they
// are, as network prefixes, or not at all (CONNTRACK_EXPORTER_FLOW_ADDRESSES, docs/security.md):
// the address aggregates tally full addresses on the hot path and merge them by prefix once per
// pass, before the top-K, so the K largest are the K largest networks.

import { AF_INET6, IPS } from '../conntrack/constants.js';
import {
  addressLabel,
  FULL_ADDRESSES,
  byReportedAddress,
  type AddressReporting,
} from '../conntrack/address-prefix.js';
import {
  familyName,
  natKind,
  protocolName,
  zoneOf,
  type AddressKey,
  type FlowFields,
  type NatKind,
} from '../conntrack/flow.js';
import {
  FLOW_AGE_BUCKETS,
  flowAgeSeconds,
  flowBytes,
  flowBytesByDstAddress,
  flowBytesByDstPort,
  flowBytesBySrcAddress,
  flowPackets,
  flows,
  flowsByDstAddress,
  flowsByDstPort,
  flowsByNat,
  flowsByStatus,
  flowsBySrcAddress,
  flowsByZone,
  type MetricDef,
} from '../metrics/catalog.js';
import { ByPod, UnrepliedDnat, type PodTable } from './pods.js';
import type { Sample } from '../metrics/sample.js';
import { AddressTally } from './tally.js';
import {
  fitBudget,
  mergeSeries,
  OTHER,
  Listed,
  topK,
  type HistogramGroup,
  type Labels,
  type Series,
  type SeriesGroup,
} from './shape.js';

export interface AggregateOptions {
  readonly topK: number;
  readonly seriesBudget: number;
  /** The pass read a sample, not the whole table (set by FlowAggregator.result). */
  readonly sampled?: boolean;
}

export interface AggregateResult {
  readonly samples: Sample[];
  /** Series folded into "other" to respect the budget. */
  readonly folded: number;
}

/** A gauge group of one metric. */
export interface MetricGroup extends SeriesGroup {
  readonly metric: MetricDef;
}

export interface MetricHistograms extends HistogramGroup {
  readonly metric: MetricDef;
}

/** One breakdown of the flows of a pass. */
export interface Aggregate {
  /** `bytes`: both directions' bytes, or -1 when the flow carries no acct counters. */
  add(f: FlowFields, bytes: number): void;
  gauges(options: AggregateOptions): MetricGroup[];
  histograms?(): MetricHistograms[];
}

/** Protocols whose tuples carry ports (the by-port metrics count only these). */
const PORTED = new Set([6, 17, 33, 132, 136]);

function gaugeGroup(
  metric: MetricDef,
  series: Iterable<readonly [Labels, number]>,
  how: { keepZeros?: boolean; unique?: boolean } = {},
): MetricGroup {
  const keep = metric.labels.includes('direction') ? ['direction'] : [];
  return { metric, labelNames: metric.labels, keep, series: mergeSeries(metric.labels, series, how) };
}

function topGroup(metric: MetricDef, series: Series[]): MetricGroup {
  return { metric, labelNames: metric.labels, keep: [], series };
}

const STATUSES = ['unreplied', 'replied', 'assured'] as const;
const NAT_KINDS: readonly NatKind[] = ['none', 'snat', 'dnat', 'both'];
const NAT_INDEX: Readonly<Record<NatKind, number>> = { none: 0, snat: 1, dnat: 2, both: 3 };

/** Everything counted per (family, protocol, state). */
interface StateCell {
  readonly family: string;
  readonly protocol: string;
  readonly state: string;
  flows: number;
  readonly status: number[];
  readonly nat: number[];
  /** Flows that had acct counters, and their sums. */
  counted: number;
  origBytes: number;
  replyBytes: number;
  origPackets: number;
  replyPackets: number;
}

/** conntrack_flows, _by_status, _by_nat, conntrack_flow_bytes and _packets. */
class ByProtocolState implements Aggregate {
  /** Index: (family is IPv6 ? 256 : 0) + protocol; then the cell by state name. */
  private readonly cells: (Map<string | undefined, StateCell> | undefined)[] = [];

  add(f: FlowFields): void {
    const proto = f.orig.proto;
    const fp = (f.family === AF_INET6 ? 256 : 0) + proto;
    let byState = this.cells[fp];
    if (!byState) this.cells[fp] = byState = new Map();
    let c = byState.get(f.protoState);
    if (!c) {
      c = {
        family: familyName(f.family),
        protocol: protocolName(proto),
        state: f.protoState?.toLowerCase() ?? 'none',
        flows: 0,
        status: [0, 0, 0],
        nat: [0, 0, 0, 0],
        counted: 0,
        origBytes: 0,
        replyBytes: 0,
        origPackets: 0,
        replyPackets: 0,
      };
      byState.set(f.protoState, c);
    }
    c.flows += 1;
    const statusIndex = f.status & IPS.ASSURED ? 2 : f.status & IPS.SEEN_REPLY ? 1 : 0;
    c.status[statusIndex] = (c.status[statusIndex] ?? 0) + 1;
    const natIndex = NAT_INDEX[natKind(f)];
    c.nat[natIndex] = (c.nat[natIndex] ?? 0) + 1;
    if (f.origBytes >= 0 && f.replyBytes >= 0) {
      c.counted += 1;
      c.origBytes += f.origBytes;
      c.replyBytes += f.replyBytes;
      c.origPackets += f.origPackets;
      c.replyPackets += f.replyPackets;
    }
  }

  gauges(): MetricGroup[] {
    const all = this.cells.flatMap((m) => (m ? [...m.values()] : []));
    const fp = (c: StateCell) => ({ family: c.family, protocol: c.protocol });
    const fps = (c: StateCell) => ({ ...fp(c), state: c.state });
    const out = [
      gaugeGroup(
        flows,
        all.map((c) => [fps(c), c.flows] as const),
      ),
      gaugeGroup(
        flowsByStatus,
        all.flatMap((c) => STATUSES.map((status, i) => [{ ...fp(c), status }, c.status[i] ?? 0] as const)),
      ),
      gaugeGroup(
        flowsByNat,
        all.flatMap((c) => NAT_KINDS.map((nat, i) => [{ ...fp(c), nat }, c.nat[i] ?? 0] as const)),
      ),
    ];
    const counted = all.filter((c) => c.counted > 0);
    if (counted.length > 0) {
      const directions = (c: StateCell, orig: number, reply: number) =>
        [
          [{ ...fps(c), direction: 'original' }, orig],
          [{ ...fps(c), direction: 'reply' }, reply],
        ] as const;
      out.push(
        gaugeGroup(
          flowBytes,
          counted.flatMap((c) => directions(c, c.origBytes, c.replyBytes)),
          { keepZeros: true },
        ),
        gaugeGroup(
          flowPackets,
          counted.flatMap((c) => directions(c, c.origPackets, c.replyPackets)),
          { keepZeros: true },
        ),
      );
    }
    return out;
  }
}

/** conntrack_flows_by_zone. */
class ByZone implements Aggregate {
  private readonly zones = new Map<number, number>();

  add(f: FlowFields): void {
    const zone = zoneOf(f);
    this.zones.set(zone, (this.zones.get(zone) ?? 0) + 1);
  }

  gauges(): MetricGroup[] {
    return [
      gaugeGroup(
        flowsByZone,
        [...this.zones].map(([zone, n]) => [{ zone: String(zone) }, n] as const),
        { unique: true },
      ),
    ];
  }
}

// Keys of the port tallies are protocol * 65536 + port. Module functions, not closures made per
// pass: topK() then always calls the same functions, and the JIT's code for it stays valid.
const portLabels = (key: number): Labels => ({
  protocol: protocolName(Math.floor(key / 65536)),
  port: String(key % 65536),
});
const otherPortLabels = (proto: number): Labels => ({ protocol: protocolName(proto), port: OTHER });
const protocolOfKey = (key: number): number => Math.floor(key / 65536);
const otherAddress = (): Labels => ({ address: OTHER });
const labelFunctions = new WeakMap<AddressReporting, (key: AddressKey) => Labels>();
/** One label function per reporting setting (the same object every pass), not one per pass. */
function addressLabels(reporting: AddressReporting): (key: AddressKey) => Labels {
  let f = labelFunctions.get(reporting);
  if (!f) {
    f = (key) => ({ address: addressLabel(key, reporting) ?? OTHER });
    labelFunctions.set(reporting, f);
  }
  return f;
}

/**
 * The destination-port estimates of a sampled pass combine its own sample with those of the
 * passes before it, latest first, until together they hold PORT_WINDOW_FLOWS decoded flows (six
 * passes at the default budget of 50,000), and never more than PORT_WINDOW_PASSES passes: the
 * walk continues, so they are disjoint stretches of the table (see ByDstPort).
 */
export const PORT_WINDOW_FLOWS = 300_000;
export const PORT_WINDOW_PASSES = 8;

/** The leading samples that make a window (latest first): the rule of PORT_WINDOW_FLOWS. */
export function portWindowOf<T extends { readonly decoded: number }>(samples: readonly T[]): T[] {
  const out: T[] = [];
  let decoded = 0;
  for (const x of samples) {
    if (decoded >= PORT_WINDOW_FLOWS || out.length >= PORT_WINDOW_PASSES) break;
    out.push(x);
    decoded += x.decoded;
  }
  return out;
}

/**
 * A pass's destination-port tallies as the next passes keep them (see ByDstPort): per protocol,
 * only the ports it saw, in ascending order, with their flows and bytes (a few kB at 2,000 ports,
 * where the pass's own tables are 1 MiB a protocol).
 */
export interface PortSample {
  /** Flows the pass decoded, with ports or not: the size of the sample. */
  readonly decoded: number;
  readonly sawCounters: boolean;
  readonly protocols: readonly (SeenPorts | undefined)[];
}

interface SeenPorts {
  readonly ports: Int32Array;
  readonly flows: Float64Array;
  readonly bytes: Float64Array;
}

/**
 * conntrack_flows_by_dst_port and conntrack_flow_bytes_by_dst_port: top K, "other" per protocol.
 * A sampled pass estimates them from its own sample and those of the passes before it together
 * (portWindowOf): the walk continues, so they are disjoint stretches of the table, six times the
 * sample at the default budget for √6 less error at no cost
 * (docs/flow-passes.md#a-pass-costs-its-sample). A pass that read the whole table counts exactly,
 * from its own flows alone.
 */
class ByDstPort implements Aggregate {
  private decoded = 0;
  private sawCounters = false;
  /** Per protocol, flows and bytes by destination port (1 MiB a protocol, allocated on first use). */
  private readonly flows: (Float64Array | undefined)[] = [];
  private readonly bytes: (Float64Array | undefined)[] = [];
  /** Per protocol, the ports with flows, in the order first seen. */
  private readonly seen: (number[] | undefined)[] = [];
  private compact: PortSample | undefined;

  /** @param previous the samples of the passes before, the latest first */
  constructor(readonly previous: readonly PortSample[]) {}

  add(f: FlowFields, bytes: number): void {
    this.decoded += 1;
    const proto = f.orig.proto;
    if (!PORTED.has(proto) || f.orig.dport < 0) return;
    let flows = this.flows[proto];
    let portBytes = this.bytes[proto];
    if (!flows || !portBytes) {
      this.flows[proto] = flows = new Float64Array(65536);
      this.bytes[proto] = portBytes = new Float64Array(65536);
      this.seen[proto] = [];
    }
    const port = f.orig.dport;
    const n = flows[port] ?? 0;
    if (n === 0) this.seen[proto]?.push(port);
    flows[port] = n + 1;
    if (bytes >= 0) {
      this.sawCounters = true;
      portBytes[port] = (portBytes[port] ?? 0) + bytes;
    }
  }

  /** This pass's tallies in the compact form (made once, when the pass is over). */
  sample(): PortSample {
    if (this.compact) return this.compact;
    const protocols = this.seen.map((seen, proto): SeenPorts | undefined => {
      const flows = this.flows[proto];
      const bytes = this.bytes[proto];
      if (!seen || !flows || !bytes) return undefined;
      const ports = Int32Array.from(seen).sort();
      // Float64Array.from, not ports.map: that would make Int32Arrays and truncate the bytes.
      const counts = (table: Float64Array) => Float64Array.from(ports, (p) => table[p] ?? 0);
      return { ports, flows: counts(flows), bytes: counts(bytes) };
    });
    this.compact = { decoded: this.decoded, sawCounters: this.sawCounters, protocols };
    return this.compact;
  }

  /**
   * Key protocol * 65536 + port and its count, by protocol and port, over the given samples (a
   * merge of their ascending port lists). The counts are weighted so that the pass's own scale
   * (entries / its decoded flows) turns the sum into entries / (all decoded flows) per flow.
   */
  private static ranked(samples: readonly PortSample[], table: 'flows' | 'bytes'): Listed<number> {
    const weight = (samples[0]?.decoded ?? 0) / samples.reduce((n, x) => n + x.decoded, 0);
    const protocols = Math.max(...samples.map((x) => x.protocols.length));
    const keys: number[] = [];
    const weights: number[] = [];
    for (let proto = 0; proto < protocols; proto++) {
      const lists = samples.flatMap((x) => x.protocols[proto] ?? []);
      const at = new Int32Array(lists.length);
      for (;;) {
        let port = 65536;
        for (let i = 0; i < lists.length; i++) port = Math.min(port, lists[i]?.ports[at[i] ?? 0] ?? 65536);
        if (port === 65536) break;
        let n = 0;
        for (let i = 0; i < lists.length; i++) {
          const list = lists[i];
          const j = at[i] ?? 0;
          if (list?.ports[j] !== port) continue;
          n += list[table][j] ?? 0;
          at[i] = j + 1;
        }
        if (n > 0) {
          keys.push(proto * 65536 + port);
          weights.push(n * weight);
        }
      }
    }
    return new Listed(keys, weights, protocolOfKey);
  }

  gauges(options: AggregateOptions): MetricGroup[] {
    const own = this.sample();
    const samples = options.sampled && own.decoded > 0 ? portWindowOf([own, ...this.previous]) : [own];
    const ranked = (table: 'flows' | 'bytes') => ByDstPort.ranked(samples, table);
    const out = [topGroup(flowsByDstPort, topK(ranked('flows'), options.topK, portLabels, otherPortLabels))];
    if (samples.some((x) => x.sawCounters)) {
      out.push(
        topGroup(flowBytesByDstPort, topK(ranked('bytes'), options.topK, portLabels, otherPortLabels)),
      );
    }
    return out;
  }
}

/** Flows and bytes by one address of the original tuple: top K, one "other". */
class ByAddress implements Aggregate {
  readonly tally: AddressTally;
  private sawCounters = false;
  private readonly source: boolean;

  constructor(
    readonly end: 'src' | 'dst',
    private readonly flowsMetric: MetricDef,
    private readonly bytesMetric: MetricDef,
    /** `full` or `prefix`: with `none` this aggregate does not exist. */
    private readonly reporting: AddressReporting,
    /** Distinct addresses expected (the last pass's count): room for them from the start. */
    expected: number,
  ) {
    this.source = end === 'src';
    this.tally = new AddressTally(expected);
  }

  add(f: FlowFields, bytes: number): void {
    if (bytes >= 0) this.sawCounters = true;
    this.tally.add(this.source ? f.orig.src : f.orig.dst, bytes >= 0 ? bytes : 0);
  }

  gauges(options: AggregateOptions): MetricGroup[] {
    const labels = addressLabels(this.reporting);
    const other = otherAddress;
    // Read in place by topK (merged by prefix first when asked): nothing made per address.
    const pick = (w: 'flows' | 'bytes') =>
      this.reporting.mode === 'prefix'
        ? Listed.of(byReportedAddress(this.tally.entries(w), this.reporting))
        : this.tally.ranked(w);
    const out = [topGroup(this.flowsMetric, topK(pick('flows'), options.topK, labels, other))];
    if (this.sawCounters) {
      out.push(topGroup(this.bytesMetric, topK(pick('bytes'), options.topK, labels, other)));
    }
    return out;
  }
}

interface AgeHistogram {
  readonly counts: number[];
  count: number;
  sum: number;
}

/** Exposition series a histogram sample costs: its buckets, +Inf, _sum and _count. */
const HISTOGRAM_SERIES = FLOW_AGE_BUCKETS.length + 3;

/** Running sums: bucket i counts every flow at most FLOW_AGE_BUCKETS[i] old. */
function cumulative(counts: readonly number[]): number[] {
  let total = 0;
  return counts.map((n) => (total += n));
}

/** conntrack_flow_age_seconds, per protocol, from CTA_TIMESTAMP_START. */
class AgeByProtocol implements Aggregate {
  /** Index: protocol. */
  private readonly ages: (AgeHistogram | undefined)[] = [];

  constructor(private readonly nowNs: number) {}

  add(f: FlowFields): void {
    if (f.startNs < 0) return;
    const proto = f.orig.proto;
    const age = Math.max(0, (this.nowNs - f.startNs) / 1e9);
    let h = this.ages[proto];
    if (!h)
      this.ages[proto] = h = { counts: new Array<number>(FLOW_AGE_BUCKETS.length).fill(0), count: 0, sum: 0 };
    // Per flow only the first bound that holds the age (most flows are young: counting every
    // bound above it, cumulatively, was 20 increments a flow); histograms() accumulates.
    let i = 0;
    while (i < FLOW_AGE_BUCKETS.length && age > (FLOW_AGE_BUCKETS[i] ?? Infinity)) i++;
    if (i < FLOW_AGE_BUCKETS.length) h.counts[i] = (h.counts[i] ?? 0) + 1;
    h.count += 1;
    h.sum += age;
  }

  gauges(): MetricGroup[] {
    return [];
  }

  histograms(): MetricHistograms[] {
    const present = this.ages.flatMap((h, proto) => (h ? [[proto, h] as const] : []));
    if (present.length === 0) return [];
    return [
      {
        metric: flowAgeSeconds,
        labelNames: flowAgeSeconds.labels,
        cost: HISTOGRAM_SERIES,
        histograms: present
          .sort((a, b) => b[1].count - a[1].count)
          .map(([proto, h]) => ({
            labels: { protocol: protocolName(proto) },
            bucketCounts: cumulative(h.counts),
            count: h.count,
            sum: h.sum,
          })),
      },
    ];
  }
}

/**
 * Every breakdown of a pass. A new aggregate is one line here. With addresses reported `none`
 * the by-address aggregates are absent (their totals are conntrack_flows'); pod attribution
 * still matches full addresses, inside the pass, and reports only pod UIDs.
 */
function aggregates(
  nowNs: number,
  pods: PodTable | undefined,
  addresses: AddressReporting,
  expected: AddressCounts,
  previousPorts: readonly PortSample[],
): Aggregate[] {
  return [
    new ByProtocolState(),
    new ByZone(),
    new ByDstPort(previousPorts),
    ...(addresses.mode === 'none'
      ? []
      : [
          new ByAddress('src', flowsBySrcAddress, flowBytesBySrcAddress, addresses, expected.src),
          new ByAddress('dst', flowsByDstAddress, flowBytesByDstAddress, addresses, expected.dst),
        ]),
    new AgeByProtocol(nowNs),
    new UnrepliedDnat(addresses),
    ...(pods ? [new ByPod(pods)] : []),
  ];
}

/** Distinct source and destination addresses of a pass. */
export interface AddressCounts {
  readonly src: number;
  readonly dst: number;
}

export class FlowAggregator {
  private readonly parts: Aggregate[];

  /**
   * @param nowNs the pass's reference time for ages, in ns since the epoch
   * @param pods the pods' addresses, when pod attribution is on
   * @param addresses how addresses appear in labels (full, by prefix, not at all)
   * @param expected distinct addresses to make room for (the last pass's addressCounts())
   * @param previousPorts the previous sampled pass's portWindow(): this pass's own sample and the
   *   first of them make its port estimates (portWindowOf)
   */
  constructor(
    nowNs: number,
    pods?: PodTable,
    addresses: AddressReporting = FULL_ADDRESSES,
    expected: AddressCounts = { src: 0, dst: 0 },
    previousPorts: readonly PortSample[] = [],
  ) {
    this.parts = aggregates(nowNs, pods, addresses, expected, previousPorts);
  }

  /** The destination-port samples the next pass combines with its own: this one's first. */
  portWindow(): PortSample[] {
    for (const p of this.parts) if (p instanceof ByDstPort) return portWindowOf([p.sample(), ...p.previous]);
    return [];
  }

  /** Distinct addresses tallied so far (0 with addresses reported `none`). */
  addressCounts(): AddressCounts {
    const counts = { src: 0, dst: 0 };
    for (const p of this.parts) if (p instanceof ByAddress) counts[p.end] = p.tally.size;
    return counts;
  }

  add(f: FlowFields): void {
    const bytes = f.origBytes >= 0 && f.replyBytes >= 0 ? f.origBytes + f.replyBytes : -1;
    for (const p of this.parts) p.add(f, bytes);
  }

  /**
   * The flow samples. `scale` (table entries / flows decoded) turns a sample into estimates of
   * the whole table; the budget is applied after scaling, so "other" holds scaled values too.
   */
  result(options: AggregateOptions, scale: number): AggregateResult {
    const gauges = this.parts.flatMap((p) => p.gauges({ ...options, sampled: scale !== 1 }));
    const histograms = this.parts.flatMap((p) => p.histograms?.() ?? []);
    if (scale !== 1) {
      for (const g of gauges) for (const s of g.series) s.value *= scale;
      for (const h of histograms) {
        h.histograms = h.histograms.map((x) => ({
          labels: x.labels,
          bucketCounts: x.bucketCounts.map((c) => c * scale),
          count: x.count * scale,
          sum: x.sum * scale,
        }));
      }
    }
    const folded = fitBudget(gauges, histograms, options.seriesBudget);
    const samples: Sample[] = [];
    for (const g of gauges) {
      for (const s of g.series)
        samples.push({ kind: 'value', metric: g.metric, labels: s.labels, value: s.value });
    }
    for (const h of histograms) {
      for (const x of h.histograms) samples.push({ kind: 'histogram', metric: h.metric, ...x });
    }
    return { samples, folded };
  }
}
