// Layer: collectors. Folds decoded flows into the flow metrics of the catalogue, then applies the
// top-K cut (the rest summed into "other", so totals still add up) and the hard series budget
// (the smallest series folded into "other" until every flow metric together fits). Labels never
// carry per-connection values: only family, protocol, state, status, NAT kind, zone, and top-K
// ports and addresses.

import { familyName, natKind, protocolName, zoneOf, type Flow } from '../conntrack/flow.js';
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
import { IPS } from '../conntrack/constants.js';
import type { GaugeSample, HistogramSample, Labels, Sample } from './types.js';

const OTHER = 'other';
const SEP = '\u0000';

/** Protocols whose tuples carry ports (the by-port metrics count only these). */
const PORTED = new Set([6, 17, 33, 132, 136]);

class Sums {
  readonly values = new Map<string, number>();

  add(key: string, value: number): void {
    this.values.set(key, (this.values.get(key) ?? 0) + value);
  }
}

interface AgeHistogram {
  counts: number[];
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

export class FlowAggregator {
  private readonly flowsByKey = new Sums();
  private readonly status = new Sums();
  private readonly nat = new Sums();
  private readonly zone = new Sums();
  private readonly bytes = new Sums();
  private readonly packets = new Sums();
  private readonly dstPortFlows = new Sums();
  private readonly dstPortBytes = new Sums();
  private readonly srcAddrFlows = new Sums();
  private readonly dstAddrFlows = new Sums();
  private readonly srcAddrBytes = new Sums();
  private readonly dstAddrBytes = new Sums();
  private readonly ages = new Map<string, AgeHistogram>();
  private sawCounters = false;
  private sawTimestamps = false;

  /** @param nowNs the pass's reference time for ages, in ns since the epoch */
  constructor(private readonly nowNs: number) {}

  add(flow: Flow): void {
    const family = familyName(flow.family);
    const protocol = protocolName(flow.orig.proto);
    const state = flow.protoState?.toLowerCase() ?? 'none';
    const fps = family + SEP + protocol;
    const fpsState = fps + SEP + state;
    this.flowsByKey.add(fpsState, 1);
    const status =
      flow.status & IPS.ASSURED ? 'assured' : flow.status & IPS.SEEN_REPLY ? 'replied' : 'unreplied';
    this.status.add(fps + SEP + status, 1);
    this.nat.add(fps + SEP + natKind(flow), 1);
    this.zone.add(String(zoneOf(flow)), 1);

    const ported = PORTED.has(flow.orig.proto) && flow.orig.dport !== undefined;
    const portKey = ported ? protocol + SEP + String(flow.orig.dport) : undefined;
    if (portKey) this.dstPortFlows.add(portKey, 1);
    this.srcAddrFlows.add(flow.orig.src, 1);
    this.dstAddrFlows.add(flow.orig.dst, 1);

    if (flow.origCounters && flow.replyCounters) {
      this.sawCounters = true;
      this.bytes.add(fpsState + SEP + 'original', flow.origCounters.bytes);
      this.bytes.add(fpsState + SEP + 'reply', flow.replyCounters.bytes);
      this.packets.add(fpsState + SEP + 'original', flow.origCounters.packets);
      this.packets.add(fpsState + SEP + 'reply', flow.replyCounters.packets);
      const total = flow.origCounters.bytes + flow.replyCounters.bytes;
      if (portKey) this.dstPortBytes.add(portKey, total);
      this.srcAddrBytes.add(flow.orig.src, total);
      this.dstAddrBytes.add(flow.orig.dst, total);
    }

    if (flow.startNs !== undefined) {
      this.sawTimestamps = true;
      const age = Math.max(0, (this.nowNs - flow.startNs) / 1e9);
      let h = this.ages.get(protocol);
      if (!h) {
        h = { counts: new Array<number>(FLOW_AGE_BUCKETS.length).fill(0), count: 0, sum: 0 };
        this.ages.set(protocol, h);
      }
      for (let i = 0; i < FLOW_AGE_BUCKETS.length; i++) {
        if (age <= (FLOW_AGE_BUCKETS[i] ?? Infinity)) h.counts[i] = (h.counts[i] ?? 0) + 1;
      }
      h.count += 1;
      h.sum += age;
    }
  }

  /**
   * The flow samples. `scale` (flows scanned / flows decoded) turns a systematic sample into
   * estimates of the whole table.
   */
  result(options: AggregateOptions, scale: number): AggregateResult {
    const k = options.topK;
    const groups: SeriesGroup[] = [
      group(flows, ['family', 'protocol', 'state'], this.flowsByKey, scale),
      group(flowsByStatus, ['family', 'protocol', 'status'], this.status, scale),
      group(flowsByNat, ['family', 'protocol', 'nat'], this.nat, scale),
      group(flowsByZone, ['zone'], this.zone, scale),
      topK(flowsByDstPort, ['protocol', 'port'], this.dstPortFlows, k, scale),
      topK(flowsBySrcAddress, ['address'], this.srcAddrFlows, k, scale),
      topK(flowsByDstAddress, ['address'], this.dstAddrFlows, k, scale),
    ];
    if (this.sawCounters) {
      groups.push(
        group(flowBytes, ['family', 'protocol', 'state', 'direction'], this.bytes, scale),
        group(flowPackets, ['family', 'protocol', 'state', 'direction'], this.packets, scale),
        topK(flowBytesByDstPort, ['protocol', 'port'], this.dstPortBytes, k, scale),
        topK(flowBytesBySrcAddress, ['address'], this.srcAddrBytes, k, scale),
        topK(flowBytesByDstAddress, ['address'], this.dstAddrBytes, k, scale),
      );
    }
    const histograms: HistogramSample[] = [];
    if (this.sawTimestamps) {
      for (const [protocol, h] of [...this.ages.entries()].sort((a, b) => b[1].count - a[1].count)) {
        histograms.push({
          kind: 'histogram',
          metric: flowAgeSeconds,
          labels: { protocol },
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

interface SeriesGroup {
  readonly metric: MetricDef;
  readonly labelNames: readonly string[];
  /** Label names that keep their value when a series is folded (e.g. direction). */
  readonly keep: readonly string[];
  samples: GaugeSample[];
}

function labelsOf(names: readonly string[], key: string): Record<string, string> {
  const parts = key.split(SEP);
  const labels: Record<string, string> = {};
  names.forEach((n, i) => (labels[n] = parts[i] ?? ''));
  return labels;
}

function sortedSamples(
  metric: MetricDef,
  names: readonly string[],
  sums: Sums,
  scale: number,
): GaugeSample[] {
  return [...sums.values.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([key, value]) => ({
      kind: 'value' as const,
      metric,
      labels: labelsOf(names, key),
      value: value * scale,
    }));
}

function group(metric: MetricDef, names: readonly string[], sums: Sums, scale: number): SeriesGroup {
  const keep = names.includes('direction') ? ['direction'] : [];
  return { metric, labelNames: names, keep, samples: sortedSamples(metric, names, sums, scale) };
}

/** The K largest series; the rest summed into "other" (per protocol for ports, keeping its total). */
function topK(
  metric: MetricDef,
  names: readonly string[],
  sums: Sums,
  k: number,
  scale: number,
): SeriesGroup {
  const all = sortedSamples(metric, names, sums, scale);
  const top = all.slice(0, k);
  const rest = new Map<string, GaugeSample>();
  for (const s of all.slice(k)) {
    const labels: Record<string, string> = {};
    for (const n of names) labels[n] = n === 'protocol' ? (s.labels[n] ?? OTHER) : OTHER;
    const key = names.map((n) => labels[n]).join(SEP);
    const prev = rest.get(key);
    rest.set(key, { ...s, labels, value: (prev?.value ?? 0) + s.value });
  }
  return { metric, labelNames: names, keep: [], samples: [...top, ...rest.values()] };
}

/** Exposition series a histogram sample costs: its buckets, +Inf, _sum and _count. */
const HISTOGRAM_SERIES = FLOW_AGE_BUCKETS.length + 3;

/**
 * Folds series until the flow metrics fit the budget: repeatedly the group with the most
 * series loses its two smallest into one "other" series (values summed, so totals hold).
 * Returns how many series disappeared.
 */
export function applyBudget(groups: SeriesGroup[], histograms: HistogramSample[], budget: number): number {
  const total = (): number =>
    groups.reduce((n, g) => n + g.samples.length, 0) + histograms.length * HISTOGRAM_SERIES;
  let folded = 0;
  while (total() > budget) {
    if (
      histograms.length > 1 &&
      histograms.length * HISTOGRAM_SERIES >= Math.max(...groups.map((g) => g.samples.length))
    ) {
      foldHistograms(histograms);
      folded += HISTOGRAM_SERIES;
      continue;
    }
    const biggest = groups.reduce((a, b) => (b.samples.length > a.samples.length ? b : a));
    if (biggest.samples.length <= 1) {
      if (histograms.length === 0) break;
      // Nothing left to fold among gauges: drop histogram detail down to one series set.
      if (histograms.length === 1) break;
      foldHistograms(histograms);
      folded += HISTOGRAM_SERIES;
      continue;
    }
    if (!foldSmallest(biggest)) break;
    folded += 1;
  }
  return folded;
}

function otherLabels(g: SeriesGroup, from: Labels): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const n of g.labelNames) labels[n] = g.keep.includes(n) ? (from[n] ?? OTHER) : OTHER;
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
    // Creating a new "other" series gains nothing unless a second series joins it.
    const partner = byValue.find(
      (s) =>
        s !== victim &&
        !sameLabels(otherLabels(g, s.labels), s.labels) &&
        sameLabels(otherLabels(g, s.labels), target),
    );
    if (!partner) continue;
    const merged: GaugeSample = { ...victim, labels: target, value: victim.value + partner.value };
    g.samples = [...rest.filter((s) => s !== partner), merged];
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
