// Layer: collectors. Counting connection events: NEW and DESTROY by family and protocol, the
// lifetime (stop - start) of finished connections and their final byte/packet counters. The
// reader process tallies into deltas (plain JSON, sent to the exporter a few times a second); the
// exporter merges them into totals that only ever grow, so every series is a true counter.
// Knows nothing of sockets or processes.

import type { AddressKey, FlowFields } from '../conntrack/flow.js';
import { flowOwners } from '../conntrack/owners.js';
import { familyName, protocolName } from '../conntrack/flow.js';
import type { EventKind } from '../conntrack/events.js';
import {
  connectionLifetime,
  connectionsCreated,
  connectionsCreatedByDstPort,
  connectionsCreatedByPod,
  connectionsDestroyed,
  finishedBytes,
  finishedPackets,
  LIFETIME_BUCKETS,
} from '../metrics/catalog.js';
import { sample, type HistogramSample, type Sample } from '../metrics/sample.js';

/** Counts since the last delta. Keys: `${family}:${proto}` (numbers) or `${proto}`. */
export interface TallyDelta {
  readonly created: Record<string, number>;
  /** NEW events by `${proto}:${port}` for the configured ports, `${proto}:other` for the rest. */
  readonly createdByPort: Record<string, number>;
  /** NEW events by `${role}/${pod UID}` (with pod attribution). */
  readonly createdByPod: Record<string, number>;
  readonly destroyed: Record<string, number>;
  /** Per protocol: per-bucket counts (not cumulative; the last slot is above the top bound) and the sum. */
  readonly lifetime: Record<string, { readonly counts: number[]; sum: number }>;
  /** Per protocol: [original bytes, reply bytes, original packets, reply packets]. */
  readonly finished: Record<string, [number, number, number, number]>;
}

function emptyDelta(): TallyDelta {
  return { created: {}, createdByPort: {}, createdByPod: {}, destroyed: {}, lifetime: {}, finished: {} };
}

/** L4 protocols whose tuples carry ports: TCP, UDP, DCCP, SCTP, UDP-Lite. */
export const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 33, 132, 136]);

/** The `port` label of a destination port: itself when configured, else `other`. */
function portLabel(port: number, ports: ReadonlySet<number>): string {
  return ports.has(port) ? String(port) : 'other';
}

/** Index of the first bucket whose upper bound holds `seconds` (LIFETIME_BUCKETS.length: above all). */
export function bucketIndex(seconds: number, bounds: readonly number[] = LIFETIME_BUCKETS): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (seconds <= (bounds[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Tallies decoded events into a delta; takeDelta() hands it over and starts a new one. */
export class EventTally {
  private delta = emptyDelta();
  private dirty = false;

  private owner: ReadonlyMap<AddressKey, number> | undefined;
  private uids: readonly string[] = [];

  /** `ports`: the destination ports counted on their own (CONNTRACK_EXPORTER_EVENTS_PORTS). */
  constructor(private readonly ports: ReadonlySet<number> = new Set()) {}

  /** The pods' addresses (index into `uids`): from now on NEW events are counted by pod too. */
  setPods(uids: readonly string[], addresses: readonly (readonly [AddressKey, number])[]): void {
    this.uids = uids;
    this.owner = new Map(addresses);
  }

  /** Counts one decoded event; UPDATE events are not counted (the reader never joins their group). */
  add(kind: EventKind, f: FlowFields): void {
    if (kind === 'update') return;
    const d = this.delta;
    this.dirty = true;
    const key = `${f.family}:${f.orig.proto}`;
    if (kind === 'new') {
      d.created[key] = (d.created[key] ?? 0) + 1;
      if (PORT_PROTOCOLS.has(f.orig.proto)) {
        const byPort = `${f.orig.proto}:${portLabel(f.orig.dport, this.ports)}`;
        d.createdByPort[byPort] = (d.createdByPort[byPort] ?? 0) + 1;
      }
      if (this.owner) {
        const { client, server } = flowOwners(this.owner, f);
        for (const [role, index] of [
          ['client', client],
          ['server', server],
        ] as const) {
          if (index === undefined) continue;
          const k = `${role}/${this.uids[index] ?? ''}`;
          d.createdByPod[k] = (d.createdByPod[k] ?? 0) + 1;
        }
      }
      return;
    }
    d.destroyed[key] = (d.destroyed[key] ?? 0) + 1;
    const proto = String(f.orig.proto);
    if (f.startNs >= 0 && f.stopNs >= f.startNs) {
      const seconds = (f.stopNs - f.startNs) / 1e9;
      const h = (d.lifetime[proto] ??= {
        counts: new Array<number>(LIFETIME_BUCKETS.length + 1).fill(0),
        sum: 0,
      });
      const i = bucketIndex(seconds);
      h.counts[i] = (h.counts[i] ?? 0) + 1;
      h.sum += seconds;
    }
    if (f.origBytes >= 0 || f.replyBytes >= 0) {
      const c = (d.finished[proto] ??= [0, 0, 0, 0]);
      c[0] += Math.max(f.origBytes, 0);
      c[1] += Math.max(f.replyBytes, 0);
      c[2] += Math.max(f.origPackets, 0);
      c[3] += Math.max(f.replyPackets, 0);
    }
  }

  /** The counts since the last call, or undefined when nothing was counted. */
  takeDelta(): TallyDelta | undefined {
    if (!this.dirty) return undefined;
    const d = this.delta;
    this.delta = emptyDelta();
    this.dirty = false;
    return d;
  }
}

interface Histogram {
  readonly counts: number[];
  sum: number;
  count: number;
}

const DIRECTIONS = ['original', 'reply'] as const;

/**
 * The exporter's running totals. Series for the common protocols start at 0 so that rate() sees
 * the first connection; others appear with their first event. Lifetimes and finished counters
 * appear only once a DESTROY carried them (absent while nf_conntrack_timestamp/acct are off).
 */
export class EventTotals {
  private readonly created = new Map<string, number>();
  private readonly createdByPort = new Map<string, number>();
  /** `${role}/${pod UID}` -> NEW events. */
  private readonly createdByPod = new Map<string, number>();
  private readonly destroyed = new Map<string, number>();
  private readonly lifetime = new Map<string, Histogram>();
  private readonly finished = new Map<string, [number, number, number, number]>();

  constructor(ports: ReadonlySet<number> = new Set()) {
    for (const key of ['2:6', '2:17', '2:1', '10:6', '10:17', '10:58']) {
      this.created.set(key, 0);
      this.destroyed.set(key, 0);
    }
    // TCP and UDP by every configured port and `other` from the start: each series is there, at
    // 0, before its first connection, and no series ever appears or goes later.
    for (const proto of [6, 17]) {
      for (const port of [...ports].sort((a, b) => a - b)) this.createdByPort.set(`${proto}:${port}`, 0);
      this.createdByPort.set(`${proto}:other`, 0);
    }
  }

  merge(delta: TallyDelta): void {
    for (const [key, n] of Object.entries(delta.created))
      this.created.set(key, (this.created.get(key) ?? 0) + n);
    for (const [key, n] of Object.entries(delta.createdByPort ?? {}))
      this.createdByPort.set(key, (this.createdByPort.get(key) ?? 0) + n);
    for (const [key, n] of Object.entries(delta.createdByPod ?? {}))
      this.createdByPod.set(key, (this.createdByPod.get(key) ?? 0) + n);
    for (const [key, n] of Object.entries(delta.destroyed))
      this.destroyed.set(key, (this.destroyed.get(key) ?? 0) + n);
    for (const [proto, h] of Object.entries(delta.lifetime)) {
      const total = this.lifetime.get(proto) ?? {
        counts: new Array<number>(LIFETIME_BUCKETS.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      this.lifetime.set(proto, total);
      h.counts.forEach((n, i) => {
        if (i < total.counts.length) total.counts[i] = (total.counts[i] ?? 0) + n;
        total.count += n;
      });
      total.sum += h.sum;
    }
    for (const [proto, c] of Object.entries(delta.finished)) {
      const total = this.finished.get(proto) ?? [0, 0, 0, 0];
      for (let i = 0; i < 4; i++) total[i] = (total[i] as number) + (c[i] as number);
      this.finished.set(proto, total);
    }
  }

  /**
   * The pods on the node now: each new pod's client and server series start at 0 (so rate() sees
   * its first connection), and the series of pods no longer there go with them.
   */
  setPods(uids: readonly string[]): void {
    const present = new Set(uids);
    for (const key of this.createdByPod.keys()) {
      if (!present.has(key.slice(key.indexOf('/') + 1))) this.createdByPod.delete(key);
    }
    for (const uid of uids) {
      for (const role of ['client', 'server']) {
        if (!this.createdByPod.has(`${role}/${uid}`)) this.createdByPod.set(`${role}/${uid}`, 0);
      }
    }
  }

  /** Totals so far: `created`/`destroyed` by family and protocol name (for tests and logs). */
  count(which: 'created' | 'destroyed', family: string, protocol: string): number {
    let n = 0;
    for (const [key, value] of this[which]) {
      const [fam, proto] = key.split(':').map(Number) as [number, number];
      if (familyName(fam) === family && protocolName(proto) === protocol) n += value;
    }
    return n;
  }

  samples(): Sample[] {
    const out: Sample[] = [];
    for (const [metric, map] of [
      [connectionsCreated, this.created],
      [connectionsDestroyed, this.destroyed],
    ] as const) {
      for (const [key, value] of map) {
        const [fam, proto] = key.split(':').map(Number) as [number, number];
        out.push(sample(metric, { family: familyName(fam), protocol: protocolName(proto) }, value));
      }
    }
    for (const [key, value] of this.createdByPort) {
      const [proto, port] = key.split(':') as [string, string];
      out.push(sample(connectionsCreatedByDstPort, { protocol: protocolName(Number(proto)), port }, value));
    }
    for (const [key, value] of this.createdByPod) {
      const slash = key.indexOf('/');
      out.push(
        sample(connectionsCreatedByPod, { pod_uid: key.slice(slash + 1), role: key.slice(0, slash) }, value),
      );
    }
    for (const [proto, h] of this.lifetime) {
      let cumulative = 0;
      const bucketCounts = LIFETIME_BUCKETS.map((_, i) => (cumulative += h.counts[i] ?? 0));
      const s: HistogramSample = {
        kind: 'histogram',
        metric: connectionLifetime,
        labels: { protocol: protocolName(Number(proto)) },
        bucketCounts,
        count: h.count,
        sum: h.sum,
      };
      out.push(s);
    }
    for (const [proto, c] of this.finished) {
      const protocol = protocolName(Number(proto));
      DIRECTIONS.forEach((direction, i) => {
        out.push(sample(finishedBytes, { protocol, direction }, c[i] as number));
        out.push(sample(finishedPackets, { protocol, direction }, c[i + 2] as number));
      });
    }
    return out;
  }
}
