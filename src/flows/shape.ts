// Layer: collectors (flows). Generic series shaping, independent of what the series count: top-K
// with the rest summed into "other" series, and a hard series budget that folds the smallest
// series into "other" until every group together fits. Both keep totals (a fold adds values, it
// never drops them) and both cost O(n log n) in the series: one sort per group, then a heap of
// groups keyed by their current size (the largest group always gives up its smallest series).

export const OTHER = 'other';

export type Labels = Readonly<Record<string, string>>;

export interface Series {
  readonly labels: Labels;
  value: number;
}

/** A set of series of one metric. */
export interface SeriesGroup {
  /** Every label name of the metric, in order (the identity of a series). */
  readonly labelNames: readonly string[];
  /** Label names that keep their value when a series is folded (e.g. direction). */
  readonly keep: readonly string[];
  series: Series[];
}

/** A histogram series: cumulative bucket counts, count and sum. */
export interface HistogramSeries {
  readonly labels: Labels;
  readonly bucketCounts: readonly number[];
  readonly count: number;
  readonly sum: number;
}

export interface HistogramGroup {
  readonly labelNames: readonly string[];
  /** Exposition series one histogram costs (its buckets, +Inf, _sum and _count). */
  readonly cost: number;
  histograms: HistogramSeries[];
}

function identity(labelNames: readonly string[], labels: Labels): string {
  let id = '';
  for (const n of labelNames) id += `${labels[n] ?? ''}\u0000`;
  return id;
}

/**
 * Entries by position, as topK reads them: weights in place, keys and buckets only when asked.
 * An address tally of a 100,000-flow sample has as many entries; read as [key, weight] tuples from
 * a generator they were 45 MB of garbage a pass (a tuple and an iterator result per entry).
 */
export interface Ranked<K> {
  readonly length: number;
  weight(i: number): number;
  key(i: number): K;
  /** The "other" series entry i goes to when it is not kept. */
  bucket(i: number): number;
}

/** Ranked over a list of keys and their weights (ports, pods, addresses merged by prefix). */
export class Listed<K> implements Ranked<K> {
  constructor(
    private readonly keys: readonly K[],
    private readonly weights: ArrayLike<number>,
    private readonly bucketOf: (key: K) => number = ONE_BUCKET,
  ) {}

  /** From [key, weight] pairs. */
  static of<K>(entries: Iterable<readonly [K, number]>, bucketOf?: (key: K) => number): Listed<K> {
    const keys: K[] = [];
    const weights: number[] = [];
    for (const [key, weight] of entries) {
      keys.push(key);
      weights.push(weight);
    }
    return new Listed(keys, weights, bucketOf);
  }

  get length(): number {
    return this.keys.length;
  }

  weight(i: number): number {
    return this.weights[i] ?? 0;
  }

  key(i: number): K {
    return this.keys[i] as K;
  }

  bucket(i: number): number {
    return this.bucketOf(this.keys[i] as K);
  }
}

/**
 * The K largest of `entries` by weight (ties broken by position, so the result is deterministic),
 * then one "other" series per bucket holding the sum of the rest, in the order of each bucket's
 * largest entry. Only the kept keys and the buckets are ever turned into labels. One pass over
 * `entries`, holding only the K kept and a sum per bucket: sorting every entry (O(n log n), and n
 * records kept alive across young-generation collections) was most of a pass's garbage.
 */
export function topK<K>(
  entries: Ranked<K>,
  k: number,
  labelsOf: (key: K) => Labels,
  otherOf: (bucket: number) => Labels,
): Series[] {
  /** The K largest so far, largest first. */
  const top: Kept[] = [];
  /** Per bucket: the sum of the rest, and its largest entry (weight, position) for the order. */
  const rest = new Map<number, Rest>();
  const toRest = (at: number, weight: number): void => {
    const bucket = entries.bucket(at);
    const r = rest.get(bucket);
    if (!r) rest.set(bucket, new Rest(weight, weight, at));
    else {
      r.sum += weight;
      // An entry pushed out of the top K comes back with an earlier position than the entries
      // already summed: on equal weight the earlier one still names the bucket's order.
      if (weight > r.weight || (weight === r.weight && at < r.at)) {
        r.weight = weight;
        r.at = at;
      }
    }
  };
  const n = entries.length;
  for (let at = 0; at < n; at++) {
    const weight = entries.weight(at);
    if (weight === 0) continue;
    const last = top[top.length - 1];
    if (top.length < k || (last !== undefined && weight > last.weight)) {
      // After every entry of equal weight: the first seen wins a tie, as a stable sort would.
      let i = top.length;
      while (i > 0 && (top[i - 1] as Kept).weight < weight) i--;
      top.splice(i, 0, new Kept(at, weight));
      if (top.length > k) {
        const e = top.pop() as Kept;
        toRest(e.at, e.weight);
      }
    } else toRest(at, weight);
  }
  const out: Series[] = top.map((e) => ({ labels: labelsOf(entries.key(e.at)), value: e.weight }));
  const others = [...rest].sort((a, b) => b[1].weight - a[1].weight || a[1].at - b[1].at);
  for (const [bucket, r] of others) out.push({ labels: otherOf(bucket), value: r.sum });
  return out;
}

/** Every key in one bucket (a module function: the same call target every time). */
const ONE_BUCKET = (): number => 0;

// topK's records are classes, not tuples: a tuple's hidden class changes with what it holds
// (small integers, doubles, strings), so topK, called every pass for ports, addresses and pods,
// was thrown out of optimized code and recompiled every pass (about 55 ms of compiler time each,
// measured at 1M flows); one class per record keeps one shape.
class Kept {
  constructor(
    readonly at: number,
    readonly weight: number,
  ) {}
}

class Rest {
  constructor(
    public sum: number,
    public weight: number,
    public at: number,
  ) {}
}

/**
 * Sums series with the same labels (unless the caller knows they are `unique`); drops zero
 * series unless `keepZeros`. Largest first.
 */
export function mergeSeries(
  labelNames: readonly string[],
  series: Iterable<readonly [Labels, number]>,
  { keepZeros = false, unique = false }: { keepZeros?: boolean; unique?: boolean } = {},
): Series[] {
  const out: Series[] = [];
  const merged = new Map<string, Series>();
  for (const [labels, value] of series) {
    if (value === 0 && !keepZeros) continue;
    if (unique) {
      out.push({ labels, value });
      continue;
    }
    const id = identity(labelNames, labels);
    const prev = merged.get(id);
    if (prev) prev.value += value;
    else {
      const s = { labels, value };
      merged.set(id, s);
      out.push(s);
    }
  }
  return out.sort((a, b) => b.value - a.value);
}

/** Where a group stands while the budget is applied. */
interface Folding {
  readonly size: () => number;
  /** Folds one more step; returns the series that disappeared (0 if it cannot fold). */
  readonly step: () => number;
  readonly finish: () => void;
}

function gaugeFolding(g: SeriesGroup): Folding {
  // A series folds into the "other" series that shares its kept labels (all others "other").
  const targetOf = (labels: Labels): string => {
    let key = '';
    for (const n of g.keep) key += `${labels[n] ?? OTHER}\u0000`;
    return key;
  };
  const isOther = (labels: Labels): boolean =>
    g.labelNames.every((n) => g.keep.includes(n) || labels[n] === OTHER);
  const others = new Map<string, Series>();
  const foldable: Series[] = [];
  for (const s of g.series) {
    if (isOther(s.labels)) others.set(targetOf(s.labels), { labels: s.labels, value: s.value });
    else foldable.push(s);
  }
  // Smallest first (a stable sort: ties fold in the group's own order, largest-first reversed).
  foldable.reverse().sort((a, b) => a.value - b.value);
  let next = 0;
  /** A fold into a target that does not exist yet waits for a second series to join it. */
  const waiting = new Map<string, Series>();
  let size = g.series.length;
  return {
    size: () => size,
    step: () => {
      while (next < foldable.length) {
        const victim = foldable[next++] as Series;
        const target = targetOf(victim.labels);
        const existing = others.get(target);
        if (existing) {
          existing.value += victim.value;
          size -= 1;
          return 1;
        }
        const partner = waiting.get(target);
        if (partner) {
          waiting.delete(target);
          const labels: Record<string, string> = {};
          for (const n of g.labelNames) labels[n] = g.keep.includes(n) ? (victim.labels[n] ?? OTHER) : OTHER;
          others.set(target, { labels, value: partner.value + victim.value });
          size -= 1;
          return 1;
        }
        // Alone it saves nothing: park it and try the next smallest.
        waiting.set(target, victim);
      }
      return 0;
    },
    finish: () => {
      const kept = foldable.slice(next);
      for (const w of waiting.values()) kept.push(w);
      g.series = [...kept, ...others.values()].sort((a, b) => b.value - a.value);
    },
  };
}

function histogramFolding(h: HistogramGroup): Folding {
  const otherLabels: Labels = Object.fromEntries(h.labelNames.map((n) => [n, OTHER]));
  return {
    size: () => h.histograms.length * h.cost,
    step: () => {
      if (h.histograms.length < 2) return 0;
      h.histograms.sort((a, b) => b.count - a.count);
      const a = h.histograms.pop() as HistogramSeries;
      const b = h.histograms.pop() as HistogramSeries;
      h.histograms.push({
        labels: otherLabels,
        bucketCounts: a.bucketCounts.map((c, i) => c + (b.bucketCounts[i] ?? 0)),
        count: a.count + b.count,
        sum: a.sum + b.sum,
      });
      return h.cost;
    },
    finish: () => undefined,
  };
}

/** A binary max-heap of foldings by size. */
class Heap {
  private readonly items: Folding[] = [];

  push(f: Folding): void {
    const a = this.items;
    a.push(f);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if ((a[p] as Folding).size() >= (a[i] as Folding).size()) break;
      [a[p], a[i]] = [a[i] as Folding, a[p] as Folding];
      i = p;
    }
  }

  pop(): Folding | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && (a[l] as Folding).size() > (a[m] as Folding).size()) m = l;
        if (r < a.length && (a[r] as Folding).size() > (a[m] as Folding).size()) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i] as Folding, a[m] as Folding];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Folds series until all groups together cost at most `budget` series: each step the currently
 * largest group (gauge series, or histograms at their cost) loses its smallest series into its
 * "other" series (values added, so every total and every kept label's total holds). A group that
 * cannot fold further drops out. Returns how many series disappeared.
 */
export function fitBudget(
  groups: readonly SeriesGroup[],
  histograms: readonly HistogramGroup[],
  budget: number,
): number {
  const foldings = [...groups.map(gaugeFolding), ...histograms.map(histogramFolding)];
  let total = foldings.reduce((n, f) => n + f.size(), 0);
  const heap = new Heap();
  for (const f of foldings) heap.push(f);
  let folded = 0;
  while (total > budget) {
    const f = heap.pop();
    if (!f) break;
    const saved = f.step();
    if (saved === 0) continue; // cannot fold any further: leave it out of the heap
    total -= saved;
    folded += saved;
    heap.push(f);
  }
  for (const f of foldings) f.finish();
  return folded;
}
