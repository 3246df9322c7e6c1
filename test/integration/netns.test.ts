// Integration: the opt-in per-namespace collector, run from the root namespace (as the DaemonSet
// runs with hostPID) over namespaces this test creates, with `conntrack -C`/`-S` in each as the oracle.

import { stat } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podUidFromCgroup } from '../../src/pods/namespaces.js';
import { runOnce, startExporter, startTraffic, type ServingExporter } from '../support/exporter.js';
import { parseExposition, select, valueOf, type ExpoSample } from '../support/exposition.js';
import { Netns, runningAs, withConntrackMax } from '../support/netns.js';
import { waitFor } from '../support/wait.js';

async function netnsId(child: ChildProcess): Promise<string> {
  return String((await stat(`/proc/${child.pid}/net/stat/nf_conntrack`)).ino);
}

function cliSum(stats: Map<number, Map<string, number>>, name: string): number {
  return [...stats.values()].reduce((a, m) => a + (m.get(name) ?? 0), 0);
}

describe('netns collector', () => {
  const namespaces: Netns[] = [];
  const traffic: ChildProcess[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) namespaces.push(await Netns.create());
  });

  afterAll(async () => {
    for (const t of traffic) t.kill('SIGKILL');
    for (const ns of namespaces) await ns.destroy();
  });

  it('reports each namespace’s own entries and drops, as conntrack -C/-S see them there', async () => {
    const [a, b] = namespaces as [Netns, Netns];
    // A holds 30 flows; B is overfilled under a lowered limit, so only B drops.
    traffic.push(
      await startTraffic(a, { tcpHold: { count: 10, port: 5201 }, udp: { count: 20, port: 20000 } }),
    );
    await withConntrackMax(64, async () => {
      (await startTraffic(b, { udp: { count: 300, port: 30000 } })).kill('SIGKILL');
    });
    // A process that stays in B, to find B's proc inode as the collector does.
    traffic.push(b.spawn('sleep', ['120']));
    const [holderA, holderB] = traffic as [ChildProcess, ChildProcess];
    // `ip netns exec` enters the namespace, then execs: once it is `sleep`, it is in B.
    await waitFor(() => runningAs(holderB, 'sleep'), { what: 'sleep running in B', retryErrors: true });
    const ids = { a: await netnsId(holderA), b: await netnsId(holderB) };
    expect(ids.a).not.toBe(ids.b);

    const [countA, countB, statsA, statsB] = await Promise.all([
      a.conntrackCount(),
      b.conntrackCount(),
      a.conntrackStats(),
      b.conntrackStats(),
    ]);
    const samples: ExpoSample[] = parseExposition(
      (await runOnce(undefined, { CONNTRACK_EXPORTER_COLLECTORS: 'netns' })).stdout,
    );
    expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'netns' })).toBe(1);
    expect(valueOf(samples, 'conntrack_netns_entries', { netns: ids.a })).toBe(countA);
    expect(valueOf(samples, 'conntrack_netns_entries', { netns: ids.b })).toBe(countB);
    expect(countA).toBeGreaterThanOrEqual(30);
    for (const name of ['drop', 'early_drop', 'insert_failed', 'clash_resolve']) {
      expect({ name, a: valueOf(samples, `conntrack_netns_stat_${name}_total`, { netns: ids.a }) }).toEqual({
        name,
        a: cliSum(statsA, name),
      });
      expect({ name, b: valueOf(samples, `conntrack_netns_stat_${name}_total`, { netns: ids.b }) }).toEqual({
        name,
        b: cliSum(statsB, name),
      });
    }
    expect(cliSum(statsB, 'drop') + cliSum(statsB, 'early_drop')).toBeGreaterThan(0);
    // Every namespace is one series set, the root namespace included.
    expect(valueOf(samples, 'conntrack_netns_namespaces')).toBe(
      select(samples, 'conntrack_netns_entries').length,
    );
    expect(valueOf(samples, 'conntrack_netns_namespaces')).toBeGreaterThanOrEqual(3);
  });

  it('works without CAP_NET_ADMIN (the files are world-readable)', async () => {
    const [holderA] = traffic as [ChildProcess];
    const id = await netnsId(holderA);
    const count = await (namespaces[0] as Netns).conntrackCount();
    const samples = parseExposition(
      (await runOnce(undefined, { CONNTRACK_EXPORTER_COLLECTORS: 'netns' }, { dropNetAdmin: true })).stdout,
    );
    expect(valueOf(samples, 'conntrack_netns_entries', { netns: id })).toBe(count);
    expect(select(samples, 'conntrack_collector_source_info', { collector: 'netns' })[0]?.labels.source).toBe(
      'procfs',
    );
  });
});

describe('netns identity across inode reuse (one exporter, state kept between scrapes)', () => {
  const PORT = 9411;
  let home: Netns;
  let exporter: ServingExporter | undefined;
  const made: Netns[] = [];

  beforeAll(async () => {
    // The exporter lives in its own namespace (a private loopback); it sees every process.
    home = await Netns.create();
    exporter = await startExporter(home, PORT, { CONNTRACK_EXPORTER_COLLECTORS: 'netns' });
  });

  afterAll(async () => {
    await exporter?.stop();
    for (const ns of made) await ns.destroy();
    await home?.destroy();
  });

  async function scrape(): Promise<ExpoSample[]> {
    const { stdout } = await home.exec('curl', ['-sf', `${exporter?.url ?? ''}/metrics`]);
    return parseExposition(stdout);
  }

  /** A namespace with a process in it, and that process's namespace inode. */
  async function withHolder(): Promise<{ ns: Netns; id: string }> {
    const ns = await Netns.create();
    made.push(ns);
    const holder = ns.spawn('sleep', ['600']);
    // `ip netns exec` becomes sleep (same pid) once it has entered the namespace.
    const root = String((await stat('/proc/self/net/stat/nf_conntrack')).ino);
    const id = await waitFor(
      async () => {
        const id = await netnsId(holder).catch(() => '');
        return id !== '' && id !== root ? id : undefined;
      },
      { what: 'the holder to enter its namespace' },
    );
    return { ns, id };
  }

  async function drop(ns: Netns): Promise<void> {
    made.splice(made.indexOf(ns), 1);
    await ns.destroy();
  }

  it('shows a new namespace at the next scrape, and a recreated inode at its own values', async () => {
    const first = await withHolder();
    // The first namespace gets drops under a lowered limit: its counters are far from zero.
    await withConntrackMax(64, async () => {
      (await startTraffic(first.ns, { udp: { count: 300, port: 30000 } })).kill('SIGKILL');
    });
    const firstStats = await first.ns.conntrackStats();
    const firstDrops = cliSum(firstStats, 'drop') + cliSum(firstStats, 'early_drop');
    expect(firstDrops).toBeGreaterThan(0);
    let samples = await scrape();
    const dropsOf = (s: ExpoSample[], id: string): number | undefined => {
      const d = valueOf(s, 'conntrack_netns_stat_drop_total', { netns: id });
      const e = valueOf(s, 'conntrack_netns_stat_early_drop_total', { netns: id });
      return d === undefined || e === undefined ? undefined : d + e;
    };
    expect(dropsOf(samples, first.id)).toBe(firstDrops);

    // A namespace made right after a scrape is there at the very next one (no 30 s discovery wait).
    const other = await withHolder();
    samples = await scrape();
    expect(valueOf(samples, 'conntrack_netns_entries', { netns: other.id })).toBe(
      await other.ns.conntrackCount(),
    );
    await drop(other.ns);

    // Delete the first namespace, then make namespaces until one is given its inode again
    // (proc inodes are allocated lowest-free; the old namespace is freed asynchronously).
    await drop(first.ns);
    const reused = await waitFor(
      async () => {
        const candidate = await withHolder();
        if (candidate.id === first.id) return candidate;
        await drop(candidate.ns);
        return undefined;
      },
      { timeout: 60_000, interval: 50, what: `a new namespace with the deleted one's inode ${first.id}` },
    );
    const ownStats = await reused.ns.conntrackStats();
    samples = await scrape();
    // Its own values: not the dead namespace's total plus a phantom 2^32 wrap.
    expect(dropsOf(samples, first.id)).toBe(cliSum(ownStats, 'drop') + cliSum(ownStats, 'early_drop'));
    expect(dropsOf(samples, first.id)).toBeLessThan(firstDrops);
    for (const name of ['insert_failed', 'clash_resolve']) {
      expect({
        name,
        v: valueOf(samples, `conntrack_netns_stat_${name}_total`, { netns: first.id }),
      }).toEqual({
        name,
        v: cliSum(ownStats, name),
      });
    }
  });
});

describe('podUidFromCgroup', () => {
  it.each([
    [
      '0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b4e2f3a_9c8d_4e7f_a6b5_0c1d2e3f4a5b.slice/cri-containerd-abc.scope',
      '1b4e2f3a-9c8d-4e7f-a6b5-0c1d2e3f4a5b',
    ],
    [
      '12:memory:/kubepods/burstable/pod1b4e2f3a-9c8d-4e7f-a6b5-0c1d2e3f4a5b/0123abcd',
      '1b4e2f3a-9c8d-4e7f-a6b5-0c1d2e3f4a5b',
    ],
    ['0::/system.slice/sshd.service', ''],
    ['', ''],
  ])('%s -> %s', (cgroup, uid) => {
    expect(podUidFromCgroup(cgroup)).toBe(uid);
  });
});
