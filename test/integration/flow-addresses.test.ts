// Integration: address privacy (issue 11, CONNTRACK_EXPORTER_FLOW_ADDRESSES) against the real
// kernel. A namespace with UDP flows from several source addresses of one /24 (and of a second
// one), TCP and UDP to destinations in that /24, IPv6, and unreplied DNAT to a backend in it. With
// `prefix` every address aggregate, per prefix, equals the sum `conntrack -L` shows for the
// addresses in that prefix; with `none` no address metric exists. In neither does any label value
// anywhere in /metrics parse as an IP address; with `full` (the control) some do.

import type { ChildProcess } from 'node:child_process';
import { isIP } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOnce, startTraffic } from '../support/exporter.js';
import { byLabels, parseExposition, select, sumOf, type ExpoSample } from '../support/exposition.js';
import { Netns } from '../support/netns.js';
import { parseConntrackLine, tally, type CliFlow } from '../support/conntrack-output.js';

const BACKEND = '127.0.1.50';
const DNAT_RULES = `table ip cte_dnat {
  chain output { type nat hook output priority -100; policy accept; udp dport 24000-24002 dnat to ${BACKEND}; }
}
`;
const SOURCES = ['127.0.1.10', '127.0.1.11', '127.0.1.12', '127.0.2.7'];
const ADDRESS_METRICS = [
  'conntrack_flows_by_src_address',
  'conntrack_flows_by_dst_address',
  'conntrack_flow_bytes_by_src_address',
  'conntrack_flow_bytes_by_dst_address',
];
const WIDE = { CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET: '2000', CONNTRACK_EXPORTER_FLOW_TOP_K: '50' };

/** The oracle's prefixes, from the CLI's text: IPv4 /24 by octets; the only IPv6 peer here is ::1. */
function prefixOf(address: string): string {
  if (address === '::1') return '::/64';
  const octets = address.split('.');
  if (octets.length !== 4) throw new Error(`unexpected address ${address} in the oracle`);
  return `${octets.slice(0, 3).join('.')}.0/24`;
}

/** Every label value of the exposition that is a bare IPv4 or IPv6 address. */
function addressLabels(samples: ExpoSample[]): string[] {
  return samples.flatMap((s) => Object.values(s.labels).filter((v) => isIP(v) !== 0));
}

const bytes = (f: CliFlow): number => (f.orig.bytes ?? 0) + (f.reply.bytes ?? 0);

describe('flow addresses by prefix or not at all, against conntrack -L', () => {
  let ns: Netns;
  const traffic: ChildProcess[] = [];
  let flows: CliFlow[];
  const runs: Partial<Record<'full' | 'prefix' | 'none' | 'sampled', ExpoSample[]>> = {};

  beforeAll(async () => {
    ns = await Netns.create({ acct: true, nft: DNAT_RULES });
    traffic.push(
      await startTraffic(ns, {
        udp: { count: 3, port: 21000, payload: 40, from: SOURCES },
        tcpHold: { count: 2, port: 5201, host: '127.0.1.20', bytes: 500 },
      }),
      await startTraffic(ns, { udp: { count: 4, port: 22000, host: '127.0.1.30' } }),
      await startTraffic(ns, { udp: { count: 3, port: 24000 } }),
      await startTraffic(ns, { udp: { count: 2, port: 23000, host: '::1' } }),
    );
    flows = (await ns.conntrackList()).map(parseConntrackLine);
    for (const mode of ['full', 'prefix', 'none'] as const) {
      const { stdout } = await runOnce(ns, { ...WIDE, CONNTRACK_EXPORTER_FLOW_ADDRESSES: mode });
      runs[mode] = parseExposition(stdout);
    }
    // A budget below the table size: the pass runs in the flow worker, which must get the mode.
    const { stdout } = await runOnce(ns, {
      ...WIDE,
      CONNTRACK_EXPORTER_FLOW_ADDRESSES: 'prefix',
      CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS: String(flows.length - 2),
    });
    runs.sampled = parseExposition(stdout);
  });

  afterAll(async () => {
    for (const t of traffic) t.kill('SIGKILL');
    await ns?.destroy();
  });

  it('the table has several sources in one /24, destinations in it, and unreplied DNAT to it', () => {
    const inPrefix = new Set(flows.map((f) => f.orig.src).filter((a) => a.startsWith('127.0.1.')));
    expect([...inPrefix].sort()).toEqual(['127.0.1.10', '127.0.1.11', '127.0.1.12']);
    expect(flows.filter((f) => f.orig.dst.startsWith('127.0.1.')).length).toBe(2 + 4);
    expect(flows.filter((f) => f.reply.src === BACKEND && f.flags.includes('UNREPLIED')).length).toBe(3);
    expect(flows.some((f) => f.family === 'ipv6')).toBe(true);
    // The control: with full addresses the labels name them.
    expect(addressLabels(runs.full ?? [])).toContain('127.0.1.10');
    expect(addressLabels(runs.full ?? [])).toContain(BACKEND);
  });

  it('prefix: each address aggregate per prefix equals the CLI sum over its addresses', () => {
    const samples = runs.prefix ?? [];
    expect(byLabels(samples, 'conntrack_flows_by_src_address', ['address'])).toEqual(
      tally(flows, (f) => prefixOf(f.orig.src)),
    );
    expect(byLabels(samples, 'conntrack_flows_by_dst_address', ['address'])).toEqual(
      tally(flows, (f) => prefixOf(f.orig.dst)),
    );
    expect(byLabels(samples, 'conntrack_flow_bytes_by_src_address', ['address'])).toEqual(
      tally(flows, (f) => prefixOf(f.orig.src), bytes),
    );
    expect(byLabels(samples, 'conntrack_flow_bytes_by_dst_address', ['address'])).toEqual(
      tally(flows, (f) => prefixOf(f.orig.dst), bytes),
    );
    expect(byLabels(samples, 'conntrack_flows_by_src_address', ['address']).get('127.0.1.0/24')).toBe(3 * 3);
    expect(byLabels(samples, 'conntrack_flows_unreplied_dnat', ['protocol', 'backend'])).toEqual(
      new Map([['udp/127.0.1.0/24', 3]]),
    );
    expect(addressLabels(samples)).toEqual([]);
  });

  it('prefix in the flow worker (a sampled pass): only prefixes, totals scaled to the table', () => {
    const samples = runs.sampled ?? [];
    expect(select(samples, 'conntrack_flow_pass_sampling_ratio')[0]?.value).toBeLessThan(1);
    const labels = select(samples, 'conntrack_flows_by_src_address').map((s) => s.labels.address ?? '');
    expect(labels.length).toBeGreaterThan(0);
    for (const l of labels) expect(l).toMatch(/^(127\.0\.[0-9]+\.0\/24|::\/64)$/);
    expect(sumOf(samples, 'conntrack_flows_by_src_address')).toBeCloseTo(flows.length, 6);
    expect(addressLabels(samples)).toEqual([]);
  });

  it('none: no address metric, unreplied DNAT only as backend="other", no address in any label', () => {
    const samples = runs.none ?? [];
    for (const m of ADDRESS_METRICS) expect(select(samples, m)).toEqual([]);
    expect(byLabels(samples, 'conntrack_flows_unreplied_dnat', ['protocol', 'backend'])).toEqual(
      new Map([['udp/other', 3]]),
    );
    expect(addressLabels(samples)).toEqual([]);
    // The other flow metrics are unaffected.
    expect(sumOf(samples, 'conntrack_flows')).toBe(flows.length);
    expect(sumOf(samples, 'conntrack_flows')).toBe(sumOf(runs.full ?? [], 'conntrack_flows'));
  });
});
