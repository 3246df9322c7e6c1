// Integration: flow aggregates against the real kernel. A namespace with a known mix (held TCP,
// TIME_WAIT, UDP with and without replies, ICMP, IPv6, a NATed flow), acct and timestamp on; every
// aggregate must equal what `conntrack -L -o extended` shows for the same table.

import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOnce, startExporter, startTraffic } from '../support/exporter.js';
import { byLabels, parseExposition, select, sumOf, valueOf, type ExpoSample } from '../support/exposition.js';
import { Netns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';
import { cliNat, cliStatus, parseConntrackLine, tally, type CliFlow } from '../support/conntrack-output.js';

const NAT_RULES = `table ip cte_nat {
  chain output { type nat hook output priority -100; policy accept; tcp dport 5601 dnat to 127.0.0.1:5602; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; tcp dport 5602 snat to 127.0.0.9; }
}
`;

describe('flow aggregates equal conntrack -L', () => {
  let ns: Netns;
  const traffic: ChildProcess[] = [];
  let started: number;
  let flows: CliFlow[];
  let samples: ExpoSample[];

  beforeAll(async () => {
    started = Date.now();
    ns = await Netns.create({ acct: true, nft: NAT_RULES });
    traffic.push(
      await startTraffic(ns, {
        udp: { count: 30, port: 21000, payload: 77 },
        udpReply: { count: 5, port: 22000 },
        tcpClose: { count: 10, port: 5301 },
        tcpHold: { count: 12, port: 5201, bytes: 1000 },
      }),
      await startTraffic(ns, {
        udp: { count: 6, port: 23000, host: '::1' },
        tcpHold: { count: 3, port: 5401, host: '::1' },
      }),
      await startTraffic(ns, { tcpHold: { count: 2, port: 5602, connectPort: 5601 } }),
    );
    await ns.exec('ping', ['-c', '2', '-i', '0.2', '127.0.0.1']);
    await ns.exec('ping', ['-6', '-c', '1', '::1']);
    flows = (await ns.conntrackList()).map(parseConntrackLine);
    const { stdout } = await runOnce(ns, {
      CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET: '2000',
      CONNTRACK_EXPORTER_FLOW_TOP_K: '50',
    });
    samples = parseExposition(stdout);
  });

  afterAll(async () => {
    for (const t of traffic) t.kill('SIGKILL');
    await ns?.destroy();
  });

  it('sees the whole mix', () => {
    const protocols = new Set(flows.map((f) => `${f.family}/${f.protocol}`));
    for (const p of ['ipv4/tcp', 'ipv4/udp', 'ipv4/icmp', 'ipv6/udp', 'ipv6/tcp', 'ipv6/icmpv6'])
      expect(protocols).toContain(p);
    expect(flows.some((f) => f.state === 'time_wait')).toBe(true);
    expect(flows.some((f) => cliNat(f) === 'both')).toBe(true);
    expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'flows' })).toBe(1);
    expect(valueOf(samples, 'conntrack_flow_pass_flows_scanned')).toBe(flows.length);
    expect(valueOf(samples, 'conntrack_flow_pass_flows_decoded')).toBe(flows.length);
    expect(valueOf(samples, 'conntrack_flow_pass_sampling_ratio')).toBe(1);
    expect(valueOf(samples, 'conntrack_flow_series_folded')).toBe(0);
  });

  it('counts by family, protocol and state', () => {
    expect(byLabels(samples, 'conntrack_flows', ['family', 'protocol', 'state'])).toEqual(
      tally(flows, (f) => `${f.family}/${f.protocol}/${f.state}`),
    );
  });

  it('counts by status, NAT kind and zone', () => {
    expect(byLabels(samples, 'conntrack_flows_by_status', ['family', 'protocol', 'status'])).toEqual(
      tally(flows, (f) => `${f.family}/${f.protocol}/${cliStatus(f)}`),
    );
    expect(byLabels(samples, 'conntrack_flows_by_nat', ['family', 'protocol', 'nat'])).toEqual(
      tally(flows, (f) => `${f.family}/${f.protocol}/${cliNat(f)}`),
    );
    expect(byLabels(samples, 'conntrack_flows_by_zone', ['zone'])).toEqual(
      tally(flows, (f) => String(f.zone)),
    );
  });

  it('sums bytes and packets per direction', () => {
    const key = (f: CliFlow) => `${f.family}/${f.protocol}/${f.state}`;
    const expected = new Map<string, number>();
    const expectedPackets = new Map<string, number>();
    for (const f of flows) {
      for (const [dir, t] of [
        ['original', f.orig],
        ['reply', f.reply],
      ] as const) {
        expected.set(`${key(f)}/${dir}`, (expected.get(`${key(f)}/${dir}`) ?? 0) + (t.bytes ?? NaN));
        expectedPackets.set(
          `${key(f)}/${dir}`,
          (expectedPackets.get(`${key(f)}/${dir}`) ?? 0) + (t.packets ?? NaN),
        );
      }
    }
    expect(byLabels(samples, 'conntrack_flow_bytes', ['family', 'protocol', 'state', 'direction'])).toEqual(
      expected,
    );
    expect(byLabels(samples, 'conntrack_flow_packets', ['family', 'protocol', 'state', 'direction'])).toEqual(
      expectedPackets,
    );
  });

  it('top destination ports and addresses add up to the totals', () => {
    const ported = flows.filter((f) => f.orig.dport !== undefined);
    expect(sumOf(samples, 'conntrack_flows_by_dst_port')).toBe(ported.length);
    expect(valueOf(samples, 'conntrack_flows_by_dst_port', { protocol: 'tcp', port: '5201' })).toBe(
      ported.filter((f) => f.protocol === 'tcp' && f.orig.dport === 5201).length,
    );
    expect(sumOf(samples, 'conntrack_flows_by_src_address')).toBe(flows.length);
    expect(byLabels(samples, 'conntrack_flows_by_dst_address', ['address'])).toEqual(
      tally(flows, (f) => f.orig.dst),
    );
    const bytes = (f: CliFlow) => (f.orig.bytes ?? 0) + (f.reply.bytes ?? 0);
    expect(sumOf(samples, 'conntrack_flow_bytes_by_src_address')).toBe(
      flows.reduce((a, f) => a + bytes(f), 0),
    );
  });

  it('ages fall within the test elapsed time', () => {
    const elapsed = (Date.now() - started) / 1000;
    const count = sumOf(samples, 'conntrack_flow_age_seconds_gcount');
    expect(count).toBe(flows.length);
    expect(sumOf(samples, 'conntrack_flow_age_seconds_gsum') / count).toBeLessThanOrEqual(elapsed);
    const inf = sumOf(samples, 'conntrack_flow_age_seconds_bucket', { le: '+Inf' });
    expect(inf).toBe(count);
    // Every flow was created after `started`: the bucket just above the elapsed time holds them all.
    expect(sumOf(samples, 'conntrack_flow_age_seconds_bucket', { le: '60' })).toBe(count);
  });

  it('folds into "other" under a small series budget and keeps the totals', async () => {
    const { stdout } = await runOnce(ns, {
      CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET: '40',
      CONNTRACK_EXPORTER_FLOW_TOP_K: '3',
    });
    const small = parseExposition(stdout);
    const flowSeries = small.filter(
      (s) => /^conntrack_flows?_(?!pass|series|passes|walks)/.test(s.name) || s.name === 'conntrack_flows',
    );
    expect(flowSeries.length).toBeLessThanOrEqual(40);
    expect(valueOf(small, 'conntrack_flow_series_folded')).toBeGreaterThan(0);
    expect(sumOf(small, 'conntrack_flows')).toBe(flows.length);
    expect(sumOf(small, 'conntrack_flows_by_src_address')).toBe(flows.length);
    expect(select(small, 'conntrack_flows_by_dst_port', { port: 'other' }).length).toBeGreaterThan(0);
  });

  it('beyond the budget: reads only the budget, scaled to the exact entry count of conntrack -C', async () => {
    const { stdout } = await runOnce(ns, { CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS: '10' });
    const sampled = parseExposition(stdout);
    const entries = flows.length;
    expect(valueOf(sampled, 'conntrack_flow_pass_flows_scanned')).toBe(10);
    expect(valueOf(sampled, 'conntrack_flow_pass_flows_decoded')).toBe(10);
    expect(valueOf(sampled, 'conntrack_flow_pass_sampling_ratio')).toBeCloseTo(10 / entries, 10);
    // The estimates add up to the table's size as `conntrack -C` counts it.
    expect(sumOf(sampled, 'conntrack_flows')).toBeCloseTo(await ns.conntrackCount(), 6);
    expect(valueOf(sampled, 'conntrack_flow_walks_total', { reason: 'new' })).toBe(1);
  });
});

describe('flows without acct and timestamp', () => {
  it('emits no byte, packet or age series (absent, not zero)', async () => {
    const ns = await Netns.create();
    try {
      const t = await startTraffic(ns, { udp: { count: 5, port: 24000 } });
      t.kill('SIGKILL');
      const samples = parseExposition((await runOnce(ns)).stdout);
      expect(valueOf(samples, 'conntrack_accounting_enabled')).toBe(0);
      expect(sumOf(samples, 'conntrack_flows')).toBe(5);
      expect(select(samples, 'conntrack_flow_bytes')).toEqual([]);
      expect(select(samples, 'conntrack_flow_packets')).toEqual([]);
      expect(select(samples, 'conntrack_flow_age_seconds_gcount')).toEqual([]);
      expect(select(samples, 'conntrack_flow_bytes_by_dst_port')).toEqual([]);
    } finally {
      await ns.destroy();
    }
  });
});

describe('flow pass options', () => {
  it('turns on acct and timestamp when asked (a sysctl write in its netns, nothing else)', async () => {
    const ns = await Netns.create();
    try {
      const before = await ns.conntrackCount();
      const samples = parseExposition(
        (await runOnce(ns, { CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING: 'true' })).stdout,
      );
      const sysctl = async (name: string) =>
        (await ns.exec('sysctl', ['-n', `net.netfilter.${name}`])).stdout.trim();
      expect(await sysctl('nf_conntrack_acct')).toBe('1');
      expect(await sysctl('nf_conntrack_timestamp')).toBe('1');
      // The table itself is untouched.
      expect(await ns.conntrackCount()).toBe(before);
      expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'flows' })).toBe(1);
      // New flows now carry counters and timestamps.
      const t = await startTraffic(ns, { udp: { count: 3, port: 25000, payload: 100 } });
      t.kill('SIGKILL');
      const after = parseExposition((await runOnce(ns)).stdout);
      expect(sumOf(after, 'conntrack_flow_bytes', { direction: 'original' })).toBe(3 * (100 + 28));
      expect(sumOf(after, 'conntrack_flow_age_seconds_gcount')).toBe(3);
    } finally {
      await ns.destroy();
    }
  });

  it('skips passes while the table is above the usage threshold', async () => {
    const ns = await Netns.create();
    try {
      const t = await startTraffic(ns, { udp: { count: 5, port: 26000 } });
      t.kill('SIGKILL');
      const samples = parseExposition(
        (await runOnce(ns, { CONNTRACK_EXPORTER_FLOW_SKIP_ABOVE_USAGE: '0.000001' })).stdout,
      );
      expect(valueOf(samples, 'conntrack_flow_passes_total', { result: 'skipped' })).toBe(1);
      expect(valueOf(samples, 'conntrack_flow_passes_total', { result: 'ok' })).toBe(0);
      expect(select(samples, 'conntrack_flows')).toEqual([]);
      // A skipped pass is not a healthy collector: no data was produced.
      expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'flows' })).toBe(0);
    } finally {
      await ns.destroy();
    }
  });
});

/** Scrapes the exporter's /metrics (inside `ns`) until `done` holds. */
function until(ns: Netns, url: string, done: (samples: ExpoSample[]) => boolean): Promise<ExpoSample[]> {
  return waitFor(
    async () => {
      const samples = parseExposition((await ns.exec('curl', ['-sf', `${url}/metrics`])).stdout);
      return done(samples) && samples;
    },
    { timeout: 30_000, interval: 200, what: 'a /metrics condition' },
  );
}

describe('passes over time', () => {
  it('successive passes continue the walk and wrap around at the end of the table', async () => {
    const ns = await Netns.create();
    try {
      const t = await startTraffic(ns, { udp: { count: 50, port: 27000 } });
      t.kill('SIGKILL');
      const exporter = await startExporter(ns, 19470, {
        CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS: '1',
        CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS: '20',
      });
      // 50 flows in stretches of 20: the third pass reaches the end and wraps around.
      const samples = await until(
        ns,
        exporter.url,
        (s) => valueOf(s, 'conntrack_flow_walks_total', { reason: 'end' }) >= 1,
      );
      expect(valueOf(samples, 'conntrack_flow_walks_total', { reason: 'new' })).toBe(1);
      expect(valueOf(samples, 'conntrack_flow_passes_total', { result: 'error' })).toBe(0);
      expect(valueOf(samples, 'conntrack_flow_pass_flows_scanned')).toBe(20);
      // Scaled to the entry count: the 50 flows, and the TCP flows of the scrapes so far.
      const total = sumOf(samples, 'conntrack_flows');
      expect(total).toBeGreaterThanOrEqual(50);
      expect(total).toBeLessThanOrEqual(await ns.conntrackCount());
      await exporter.stop();
    } finally {
      await ns.destroy();
    }
  });

  it('aggregates older than the maximum age go absent while passes are skipped above the usage threshold', async () => {
    const ns = await Netns.create();
    try {
      const t = await startTraffic(ns, { udp: { count: 5, port: 28000 } });
      t.kill('SIGKILL');
      const max = Number((await ns.exec('sysctl', ['-n', 'net.netfilter.nf_conntrack_max'])).stdout.trim());
      // Passes run up to 300 entries (room for the TCP flows of the scrapes), skip above.
      const exporter = await startExporter(ns, 19471, {
        CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS: '1',
        CONNTRACK_EXPORTER_FLOW_SKIP_ABOVE_USAGE: String(300.5 / max),
      });
      const fresh = await until(ns, exporter.url, (s) => select(s, 'conntrack_flows').length > 0);
      expect(sumOf(fresh, 'conntrack_flows')).toBeGreaterThanOrEqual(5);
      const endedAt = valueOf(fresh, 'conntrack_flow_pass_end_timestamp_seconds');
      const more = await startTraffic(ns, { udp: { count: 400, port: 29000 } });
      more.kill('SIGKILL');
      // Skipped passes never refresh the old aggregates: they are served with their own end
      // time, then absent once older than three intervals, and the collector reports failure.
      const skipping = await until(
        ns,
        exporter.url,
        (s) => valueOf(s, 'conntrack_flow_passes_total', { result: 'skipped' }) >= 1,
      );
      if (select(skipping, 'conntrack_flows').length > 0) {
        expect(valueOf(skipping, 'conntrack_flow_pass_end_timestamp_seconds')).toBe(endedAt);
      }
      const stale = await until(ns, exporter.url, (s) => select(s, 'conntrack_flows').length === 0);
      expect(valueOf(stale, 'conntrack_scrape_collector_success', { collector: 'flows' })).toBe(0);
      expect(select(stale, 'conntrack_flow_pass_end_timestamp_seconds')).toEqual([]);
      expect(valueOf(stale, 'conntrack_flow_passes_total', { result: 'skipped' })).toBeGreaterThanOrEqual(2);
      expect(valueOf(stale, 'conntrack_flow_passes_total', { result: 'ok' })).toBeGreaterThanOrEqual(1);
      await exporter.stop();
    } finally {
      await ns.destroy();
    }
  });
});
