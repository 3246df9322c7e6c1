// Layer: collectors. Folds decoded flows into the flow metrics of the catalogue, then applies the
// top-K cut (the rest summed into "other", so totals still add up) and the hard series budget
// (the smallest series folded into "other" until every flow metric together fits). Labels never
// carry per-connection values: only family, protocol, state, status, NAT kind, zone, and top-K
// ports and addresses.
//
// add() runs once per flow on the pass's hot path: it keys everything by small integers and raw
// address keys, and builds label strings only once per distinct series, in result().

import { AF_INET6, IPS } from '../conntrack/constants.js';
import {
  familyName,
  formatAddress,
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
import type { GaugeSample, HistogramSample, Labels, Sample } from '../metrics/sample.js';

const OTHER = 'other';

/** Protocols whose tuples carry ports (the by-port metrics count only these). */
const PORTED = new Set([6, 17, 33, 132, 136]);

const STATUSES = ['unreplied', 'replied', 'assured'] as const;
const NAT_KINDS: readonly NatKind[] = ['none', 'snat', 'dnat', 'both'];
const NAT_INDEX: Readonly<Record<NatKind, number>> = { none: 0, snat: 1, dnat: 2, both: 3 };

/** Everything counted per (family, protocol, state). */
interface Group {
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

interface Tally {
  flows: number;
  bytes: number;
}

interface AgeHistogram {
  readonly counts: number[];
  count: number;
  sum: number;
}

export interface AggregateOptions {
  readonly topK: number;
  readonly seriesBudget: number;
}

export interface AggregateResult {
  readonly samples: Sample[];
  /** Series folded into "other" to respect the budget. */
  readonly folded: number;
}

function tally<K>(map: Map<K, Tally>, key: K, bytes: number): void {
  const t = map.get(key);
  if (t) {
    t.flows += 1;
    t.bytes += bytes;
  } else {
    map.set(key, { flows: 1, bytes });
  }
}

export class FlowAggregator {
  /** Index: (family is IPv6 ? 256 : 0) + protocol; then the group by state name. */
  private readonly groups: (Map<string | undefined, Group> | undefined)[] = [];
  private readonly zones = new Map<number, number>();
  /** Per protocol, flows and bytes by destination port (1 MiB a protocol, allocated on first use). */
  private readonly portFlows: (Float64Array | undefined)[] = [];
  private readonly portBytes: (Float64Array | undefined)[] = [];
  private readonly srcAddresses = new Map<AddressKey, Tally>();
  private readonly dstAddresses = new Map<AddressKey, Tally>();
  /** Index: protocol. */
  private readonly ages: (AgeHistogram | undefined)[] = [];
  private sawCounters = false;
  private sawTimestamps = false;

  /** @param nowNs the pass's reference time for ages, in ns since the epoch */
  constructor(private readonly nowNs: number) {}

  add(f: FlowFields): void {
    const proto = f.orig.proto;
    const fp = (f.family === AF_INET6 ? 256 : 0) + proto;
    let byState = this.groups[fp];
    if (!byState) this.groups[fp] = byState = new Map();
    let g = byState.get(f.protoState);
    if (!g) {
      g = {
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
      byState.set(f.protoState, g);
    }
    g.flows += 1;
    const statusIndex = f.status & IPS.ASSURED ? 2 : f.status & IPS.SEEN_REPLY ? 1 : 0;
    g.status[statusIndex] = (g.status[statusIndex] ?? 0) + 1;
    const natIndex = NAT_INDEX[natKind(f)];
    g.nat[natIndex] = (g.nat[natIndex] ?? 0) + 1;

    const zone = zoneOf(f);
    this.zones.set(zone, (this.zones.get(zone) ?? 0) + 1);

    let bytes = 0;
    if (f.origBytes >= 0 && f.replyBytes >= 0) {
      this.sawCounters = true;
      g.counted += 1;
      g.origBytes += f.origBytes;
      g.replyBytes += f.replyBytes;
      g.origPackets += f.origPackets;
      g.replyPackets += f.replyPackets;
      bytes = f.origBytes + f.replyBytes;
    }
    if (PORTED.has(proto) && f.orig.dport >= 0) {
      let flows = this.portFlows[proto];
      let portBytes = this.portBytes[proto];
      if (!flows || !portBytes) {
        this.portFlows[proto] = flows = new Float64Array(65536);
        this.portBytes[proto] = portBytes = new Float64Array(65536);
      }
      flows[f.orig.dport] = (flows[f.orig.dport] ?? 0) + 1;
      portBytes[f.orig.dport] = (portBytes[f.orig.dport] ?? 0) + bytes;
    }
    tally(this.srcAddresses, f.orig.src, bytes);
    tally(this.dstAddresses, f.orig.dst, bytes);

    if (f.startNs >= 0) {
      this.sawTimestamps = true;
      const age = Math.max(0, (this.nowNs - f.startNs) / 1e9);
      let h = this.ages[proto];
      if (!h)
        this.ages[proto] = h = {
          counts: new Array<number>(FLOW_AGE_BUCKETS.length).fill(0),
          count: 0,
          sum: 0,
        };
      // Buckets are cumulative: the first bound that holds the age, and every one above it.
      for (let i = FLOW_AGE_BUCKETS.length - 1; i >= 0 && age <= (FLOW_AGE_BUCKETS[i] ?? Infinity); i--) {
        h.counts[i] = (h.counts[i] ?? 0) + 1;
      }
      h.count += 1;
      h.sum += age;
    }
  }

  /** Ports seen, as the map topK() ranks: key protocol * 65536 + port. */
  private ports(): Map<number, Tally> {
    const out = new Map<number, Tally>();
    this.portFlows.forEach((flows, proto) => {
      const bytes = this.portBytes[proto];
      if (!flows || !bytes) return;
      for (let port = 0; port < 65536; port++) {
        const n = flows[port] ?? 0;
        if (n > 0) out.set(proto * 65536 + port, { flows: n, bytes: bytes[port] ?? 0 });
      }
    });
    return out;
  }

  /**
   * The flow samples. `scale` (flows scanned / flows decoded) turns a systematic sample into
   * estimates of the whole table.
   */
  result(options: AggregateOptions, scale: number): AggregateResult {
    const k = options.topK;
    const all = this.groups.flatMap((m) => (m ? [...m.values()] : []));
    const ports = this.ports();
    const fps = (g: Group) => ({ family: g.family, protocol: g.protocol });
    const fpState = (g: Group) => ({ ...fps(g), state: g.state });
    const groups: SeriesGroup[] = [
      group(
        flows,
        all.map((g) => [fpState(g), g.flows]),
      ),
      group(
        flowsByStatus,
        all.flatMap((g) => STATUSES.map((status, i) => [{ ...fps(g), status }, g.status[i] ?? 0] as const)),
      ),
      group(
        flowsByNat,
        all.flatMap((g) => NAT_KINDS.map((nat, i) => [{ ...fps(g), nat }, g.nat[i] ?? 0] as const)),
      ),
      group(
        flowsByZone,
        [...this.zones].map(([zone, n]) => [{ zone: String(zone) }, n]),
      ),
      topK(flowsByDstPort, ports, portLabels, (t) => t.flows, k, portBucket, portOther),
      topK(flowsBySrcAddress, this.srcAddresses, addressLabels, (t) => t.flows, k),
      topK(flowsByDstAddress, this.dstAddresses, addressLabels, (t) => t.flows, k),
    ];
    if (this.sawCounters) {
      const counted = all.filter((g) => g.counted > 0);
      groups.push(
        group(
          flowBytes,
          counted.flatMap((g) => [
            [{ ...fpState(g), direction: 'original' }, g.origBytes],
            [{ ...fpState(g), direction: 'reply' }, g.replyBytes],
          ]),
          true,
        ),
        group(
          flowPackets,
          counted.flatMap((g) => [
            [{ ...fpState(g), direction: 'original' }, g.origPackets],
            [{ ...fpState(g), direction: 'reply' }, g.replyPackets],
          ]),
          true,
        ),
        topK(flowBytesByDstPort, ports, portLabels, (t) => t.bytes, k, portBucket, portOther),
        topK(flowBytesBySrcAddress, this.srcAddresses, addressLabels, (t) => t.bytes, k),
        topK(flowBytesByDstAddress, this.dstAddresses, addressLabels, (t) => t.bytes, k),
      );
    }
    for (const g of groups) for (const s of g.samples) (s as { value: number }).value *= scale;
    const histograms: HistogramSample[] = [];
    if (this.sawTimestamps) {
      const ages = this.ages.flatMap((h, proto) => (h ? [[proto, h] as const] : []));
      for (const [proto, h] of ages.sort((a, b) => b[1].count - a[1].count)) {
        histograms.push({
          kind: 'histogram',
          metric: flowAgeSeconds,
          labels: { protocol: protocolName(proto) },
          bucketCounts: h.counts.map((c) => c * scale),
          count: h.count * scale,
          sum: h.sum * scale,
        });
      }
    }
    const folded = applyBudget(groups, histograms, options.seriesBudget);
    return { samples: [...groups.flatMap((g) => g.samples), ...histograms], folded };
  }
}

function portLabels(key: number): Record<string, string> {
  return { protocol: protocolName(Math.floor(key / 65536)), port: String(key % 65536) };
}

function addressLabels(key: AddressKey): Record<string, string> {
  return { address: formatAddress(key) };
}

export interface SeriesGroup {
  readonly metric: MetricDef;
  /** Label names that keep their value when a series is folded (e.g. direction). */
  readonly keep: readonly string[];
  samples: GaugeSample[];
}

function bySize(a: GaugeSample, b: GaugeSample): number {
  return b.value - a.value || (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1);
}

/**
 * One series per distinct label set (values summed). Flow-count partitions leave out empty
 * cells; byte and packet sums keep a measured zero (acct on, nothing sent back).
 */
function group(
  metric: MetricDef,
  series: readonly (readonly [Labels, number])[],
  keepZeros = false,
): SeriesGroup {
  const keep = metric.labels.includes('direction') ? ['direction'] : [];
  const merged = new Map<string, GaugeSample>();
  for (const [labels, value] of series) {
    if (value === 0 && !keepZeros) continue;
    const id = metric.labels.map((l) => labels[l]).join('\u0000');
    const prev = merged.get(id);
    merged.set(id, { kind: 'value', metric, labels, value: (prev?.value ?? 0) + value });
  }
  return { metric, keep, samples: [...merged.values()].sort(bySize) };
}

/**
 * The K largest series by `weight`; the rest summed into "other" series: one per `bucketOf(key)`
 * (per protocol for ports, so each protocol keeps its total). Only the K kept keys and the
 * "other" buckets are ever formatted into labels.
 */
function topK<K>(
  metric: MetricDef,
  map: Map<K, Tally>,
  labelsOf: (key: K) => Record<string, string>,
  weight: (t: Tally) => number,
  k: number,
  bucketOf: (key: K) => number = () => 0,
  otherOf: (bucket: number) => Record<string, string> = () => ({ address: OTHER }),
): SeriesGroup {
  const entries = [...map].sort((a, b) => weight(b[1]) - weight(a[1]));
  const samples: GaugeSample[] = entries
    .slice(0, k)
    .map(([key, t]) => ({ kind: 'value', metric, labels: labelsOf(key), value: weight(t) }));
  const rest = new Map<number, number>();
  for (let i = k; i < entries.length; i++) {
    const [key, t] = entries[i] as [K, Tally];
    const bucket = bucketOf(key);
    rest.set(bucket, (rest.get(bucket) ?? 0) + weight(t));
  }
  for (const [bucket, value] of rest) samples.push({ kind: 'value', metric, labels: otherOf(bucket), value });
  return { metric, keep: [], samples };
}

const portBucket = (key: number): number => Math.floor(key / 65536);
const portOther = (proto: number): Record<string, string> => ({ protocol: protocolName(proto), port: OTHER });

/** Exposition series a histogram sample costs: its buckets, +Inf, _sum and _count. */
const HISTOGRAM_SERIES = FLOW_AGE_BUCKETS.length + 3;

/**
 * Folds series until the flow metrics fit the budget: repeatedly the group with the most
 * series loses its two smallest into one "other" series (values summed, so totals hold), or,
 * when the age histograms cost more, the two least populated protocols' histograms merge.
 * Returns how many series disappeared.
 */
export function applyBudget(groups: SeriesGroup[], histograms: HistogramSample[], budget: number): number {
  const total = (): number =>
    groups.reduce((n, g) => n + g.samples.length, 0) + histograms.length * HISTOGRAM_SERIES;
  let folded = 0;
  while (total() > budget) {
    const biggest = groups.reduce((a, b) => (b.samples.length > a.samples.length ? b : a));
    const histogramsFirst =
      histograms.length > 1 && histograms.length * HISTOGRAM_SERIES >= biggest.samples.length;
    if (!histogramsFirst && foldSmallest(biggest)) {
      folded += 1;
      continue;
    }
    if (histograms.length <= 1) {
      // Gauges are folded as far as they go; try the other groups before giving up.
      const other = groups.filter((g) => g !== biggest).sort((a, b) => b.samples.length - a.samples.length);
      if (!other.some((g) => foldSmallest(g))) break;
      folded += 1;
      continue;
    }
    foldHistograms(histograms);
    folded += HISTOGRAM_SERIES;
  }
  return folded;
}

function otherLabels(g: SeriesGroup, from: Labels): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const n of g.metric.labels) labels[n] = g.keep.includes(n) ? (from[n] ?? OTHER) : OTHER;
  return labels;
}

function sameLabels(a: Labels, b: Labels): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** Merges the smallest series of a group into its "other" series. Returns false if impossible. */
function foldSmallest(g: SeriesGroup): boolean {
  const byValue = [...g.samples].sort((a, b) => a.value - b.value);
  for (const victim of byValue) {
    const target = otherLabels(g, victim.labels);
    if (sameLabels(target, victim.labels)) continue; // already an "other" series
    const rest = g.samples.filter((s) => s !== victim);
    const existing = rest.find((s) => sameLabels(s.labels, target));
    if (existing) {
      g.samples = rest.map((s) => (s === existing ? { ...s, value: s.value + victim.value } : s));
      return true;
    }
    // A new "other" series gains nothing unless a second series joins it.
    const partner = byValue.find(
      (s) =>
        s !== victim &&
        !sameLabels(otherLabels(g, s.labels), s.labels) &&
        sameLabels(otherLabels(g, s.labels), target),
    );
    if (!partner) continue;
    g.samples = [
      ...rest.filter((s) => s !== partner),
      { ...victim, labels: target, value: victim.value + partner.value },
    ];
    return true;
  }
  return false;
}

/** Merges the two least populated protocol histograms into protocol="other". */
function foldHistograms(histograms: HistogramSample[]): void {
  histograms.sort((a, b) => b.count - a.count);
  const b = histograms.pop();
  const a = histograms.pop();
  if (!a || !b) return;
  histograms.push({
    ...a,
    labels: { protocol: OTHER },
    bucketCounts: a.bucketCounts.map((c, i) => c + (b.bucketCounts[i] ?? 0)),
    count: a.count + b.count,
    sum: a.sum + b.sum,
  });
}
