// Integration: table health against the real kernel, with the `conntrack` CLI as the oracle, in
// namespaces this test creates. The exporter runs as a real process (`once`) inside them.

import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CPU_STAT_NAMES } from '../../src/metrics/catalog.js';
import { runOnce, startTraffic } from '../support/exporter.js';
import { parseExposition, select, valueOf, type ExpoSample } from '../support/exposition.js';
import { Netns, sh, withConntrackMax } from '../support/netns.js';
import { waitFor } from '../support/wait.js';

function expectStatsMatchCli(samples: ExpoSample[], cli: Map<number, Map<string, number>>): void {
  expect(cli.size).toBeGreaterThan(0);
  for (const [cpu, counters] of cli) {
    for (const [name, value] of counters) {
      expect({
        cpu,
        name,
        value: valueOf(samples, `conntrack_stat_${name}_total`, { cpu: String(cpu) }),
      }).toEqual({
        cpu,
        name,
        value,
      });
    }
  }
  // Absent is not zero: no series for a counter the kernel did not report.
  const reported = new Set([...cli.values()].flatMap((m) => [...m.keys()]));
  for (const name of CPU_STAT_NAMES) {
    if (!reported.has(name)) expect(select(samples, `conntrack_stat_${name}_total`)).toEqual([]);
  }
}

describe('table health on a namespace with a few hundred flows', () => {
  let ns: Netns;
  let traffic: ChildProcess;

  beforeAll(async () => {
    ns = await Netns.create();
    traffic = await startTraffic(ns, {
      udp: { count: 250, port: 20000 },
      tcpHold: { count: 40, port: 5201 },
      tcpClose: { count: 30, port: 5301 },
    });
    // Make the kernel count something: with tcp_loose off, mid-stream packets of connections
    // whose entries are gone are invalid (nf_conntrack_proto_tcp.c), so `invalid` moves.
    await ns.exec('conntrack', ['-D', '-p', 'tcp', '--orig-port-dst', '5201']);
    await ns.sysctl('net.netfilter.nf_conntrack_tcp_loose', '0');
    traffic.kill('SIGUSR1');
    // One byte on each of the 40 connections: at least 40 invalid packets.
    await waitFor(
      async () =>
        [...(await ns.conntrackStats()).values()].reduce((a, m) => a + (m.get('invalid') ?? 0), 0) >= 40,
      { what: 'the mid-stream packets counted as invalid' },
    );
  });

  afterAll(async () => {
    traffic?.kill('SIGKILL');
    await ns?.destroy();
  });

  it('matches conntrack -C, conntrack -S and the sysctls over ctnetlink', async () => {
    const cliCount = await ns.conntrackCount();
    const cliStats = await ns.conntrackStats();
    const { stdout } = await runOnce(ns);
    const samples = parseExposition(stdout);

    expect(cliCount).toBeGreaterThanOrEqual(250 + 30);
    expect(valueOf(samples, 'conntrack_entries')).toBe(cliCount);
    const max = Number((await readFile('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8')).trim());
    expect(valueOf(samples, 'conntrack_entries_limit')).toBe(max);
    const buckets = Number((await readFile('/proc/sys/net/netfilter/nf_conntrack_buckets', 'utf8')).trim());
    expect(valueOf(samples, 'conntrack_hash_buckets')).toBe(buckets);
    expectStatsMatchCli(samples, cliStats);
    // The invalid packets made in beforeAll are visible, so the comparison is not between zeros.
    expect([...cliStats.values()].reduce((a, m) => a + (m.get('invalid') ?? 0), 0)).toBeGreaterThan(0);

    for (const collector of ['table', 'cpu_stats', 'expect_stats']) {
      expect(valueOf(samples, 'conntrack_collector_source_info', { collector })).toBe(1);
      expect(select(samples, 'conntrack_collector_source_info', { collector })[0]?.labels.source).toBe(
        'netlink',
      );
      expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector })).toBe(1);
    }
    // The new netns starts with the compiled defaults (acct 0, timestamp 0, events 2).
    expect(valueOf(samples, 'conntrack_accounting_enabled')).toBe(0);
    expect(valueOf(samples, 'conntrack_timestamp_enabled')).toBe(0);
    expect(valueOf(samples, 'conntrack_events_mode')).toBe(2);
  });

  it('falls back to sysctl and /proc/net/stat without CAP_NET_ADMIN, and says so once', async () => {
    const cliCount = await ns.conntrackCount();
    const cliStats = await ns.conntrackStats();
    const { stdout, stderr } = await runOnce(ns, {}, { dropNetAdmin: true });
    const samples = parseExposition(stdout);

    expect(valueOf(samples, 'conntrack_entries')).toBe(cliCount);
    expectStatsMatchCli(samples, cliStats);
    expect(select(samples, 'conntrack_collector_source_info', { collector: 'table' })[0]?.labels.source).toBe(
      'sysctl',
    );
    expect(
      select(samples, 'conntrack_collector_source_info', { collector: 'cpu_stats' })[0]?.labels.source,
    ).toBe('procfs');
    expect(
      select(samples, 'conntrack_collector_source_info', { collector: 'expect_stats' })[0]?.labels.source,
    ).toBe('procfs');
    // Flows need ctnetlink: the collector reports failure, never zeros.
    expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'flows' })).toBe(0);
    expect(select(samples, 'conntrack_flows')).toEqual([]);
    // ...and names no source it does not have, and runs no pass that could only fail (issue 11).
    expect(select(samples, 'conntrack_collector_source_info', { collector: 'flows' })).toEqual([]);
    expect(select(samples, 'conntrack_flow_passes_total')).toEqual([]);
    const capLines = stderr.split('\n').filter((l) => l.includes('"source":"fallback"'));
    expect(capLines).toHaveLength(1);
    expect(JSON.parse(capLines[0] ?? '{}')).toMatchObject({ level: 40 });
    expect(capLines[0]).toContain('CAP_NET_ADMIN');
    expect(capLines[0]).toContain('/proc/net/stat/nf_conntrack');
  });

  it('reports failure, not zeros, when neither source works, and `once` exits 1', async () => {
    // Every collector failed: the exposition is still printed, and the exit code says so.
    const failed = (await runOnce(
      ns,
      { CONNTRACK_EXPORTER_PROC_PATH: '/nonexistent' },
      { dropNetAdmin: true },
    ).catch((err: unknown) => err)) as { code?: number; stdout?: string; stderr?: string };
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('every collector failed');
    const samples = parseExposition(failed.stdout ?? '');
    for (const collector of ['table', 'cpu_stats', 'expect_stats', 'sysctl']) {
      expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector })).toBe(0);
    }
    expect(select(samples, 'conntrack_entries')).toEqual([]);
    expect(select(samples, 'conntrack_stat_insert_total')).toEqual([]);
    // The exposition is still complete and valid.
    expect(valueOf(samples, 'conntrack_exporter_build_info', {})).toBe(1);
  });

  it('passes promtool check metrics', async () => {
    const { stdout } = await runOnce(ns);
    const result = await sh('promtool', ['check', 'metrics'], stdout);
    expect(result.stderr + result.stdout).toBe('');
  });
});

describe('a full table', () => {
  it('moves drop/early_drop in both the CLI and the exporter', async () => {
    const ns = await Netns.create();
    try {
      await withConntrackMax(64, async () => {
        // Unreplied UDP is not assured, so the kernel can early-drop it; past that it drops.
        const traffic = await startTraffic(ns, { udp: { count: 400, port: 30000 } });
        traffic.kill('SIGKILL');
        const cliStats = await ns.conntrackStats();
        const cliCount = await ns.conntrackCount();
        const { stdout } = await runOnce(ns);
        const samples = parseExposition(stdout);
        const cliDrops = [...cliStats.values()].reduce(
          (a, m) => a + (m.get('drop') ?? 0) + (m.get('early_drop') ?? 0),
          0,
        );
        expect(cliDrops).toBeGreaterThan(0);
        expect(cliCount).toBeLessThanOrEqual(64);
        expect(valueOf(samples, 'conntrack_entries')).toBe(cliCount);
        expect(valueOf(samples, 'conntrack_entries_limit')).toBe(64);
        expectStatsMatchCli(samples, cliStats);
      });
    } finally {
      await ns.destroy();
    }
  });
});
