// Layer: collectors. Per network namespace: every namespace's own entry count and its
// insert_failed/drop/early_drop/clash_resolve counters, read from /proc/<pid>/net/stat/nf_conntrack
// of one process per namespace. That file is 0444 and reading it needs no capability
// (docs/ctnetlink.md#network-namespaces), so this works in unprivileged mode too; it needs the
// host's PID namespace to see other namespaces' processes. Namespaces are told apart by the inode
// of that proc file, which is per namespace and, unlike /proc/<pid>/ns/net, readable without
// ptrace rights. Pods are named by the UID in the process's cgroup path, so kube-state-metrics'
// kube_pod_info can be joined for names.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseProcStats, ProcfsError } from '../conntrack/procfs.js';
import type { CpuStatName } from '../conntrack/stats.js';
import { CounterUnwrapper } from '../conntrack/wrap.js';
import { netnsCount, netnsEntries, netnsStats, NETNS_STAT_NAMES } from '../metrics/catalog.js';
import { sample, type Sample } from '../metrics/sample.js';
import { defineCollector } from './registry.js';
import type { Collector, CollectorContext, CollectResult } from './types.js';

/** How long a discovered namespace -> process mapping is trusted before /proc is walked again. */
const DISCOVERY_TTL_MS = 30_000;
const DISCOVERY_CHUNK = 128;

interface Namespace {
  readonly id: string;
  readonly pid: string;
  readonly podUid: string;
}

/**
 * The pod UID in a cgroup path, for both cgroup drivers: systemd
 * (`kubepods-besteffort-pod1b4e_..._slice`, dashes as underscores) and cgroupfs (`/kubepods/burstable/pod1b4e-...`).
 */
export function podUidFromCgroup(cgroup: string): string {
  const m = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/.exec(cgroup);
  return m?.[1]?.replace(/_/g, '-') ?? '';
}

function statsFile(procPath: string, pid: string): string {
  return join(procPath, pid, 'net/stat/nf_conntrack');
}

async function discover(procPath: string): Promise<Namespace[]> {
  const pids = (await readdir(procPath))
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(a) - Number(b));
  const byId = new Map<string, string>();
  // In chunks, so a node with thousands of processes costs a few round trips, not thousands.
  for (let i = 0; i < pids.length; i += DISCOVERY_CHUNK) {
    const chunk = pids.slice(i, i + DISCOVERY_CHUNK);
    const ids = await Promise.all(
      chunk.map((pid) =>
        stat(statsFile(procPath, pid)).then(
          (st) => String(st.ino),
          // The process exited, or it is a kernel thread without a net directory.
          () => undefined,
        ),
      ),
    );
    // Lowest pid first: the namespace's oldest process (a pod's pause container, a host's init).
    ids.forEach((id, j) => {
      const pid = chunk[j];
      if (id !== undefined && pid !== undefined && !byId.has(id)) byId.set(id, pid);
    });
  }
  return Promise.all(
    [...byId].map(async ([id, pid]) => {
      const cgroup = await readFile(join(procPath, pid, 'cgroup'), 'utf8').catch(() => '');
      return { id, pid, podUid: podUidFromCgroup(cgroup) };
    }),
  );
}

export function netnsCollector(ctx: CollectorContext): Collector {
  let namespaces: Namespace[] = [];
  let discoveredAt = -Infinity;
  /** Per namespace, so the state of a namespace that is gone can be dropped. */
  const unwrappers = new Map<string, CounterUnwrapper>();

  async function read(ns: Namespace): Promise<Sample[] | undefined> {
    let text: string;
    try {
      text = await readFile(statsFile(ctx.procPath, ns.pid), 'utf8');
    } catch {
      return undefined; // its process exited: rediscover
    }
    const stats = parseProcStats(text, ctx.kernelRelease);
    const labels = { netns: ns.id, pod_uid: ns.podUid };
    const samples: Sample[] = [];
    if (stats.entries !== undefined) samples.push(sample(netnsEntries, labels, stats.entries));
    let unwrapper = unwrappers.get(ns.id);
    if (!unwrapper) unwrappers.set(ns.id, (unwrapper = new CounterUnwrapper()));
    for (const name of NETNS_STAT_NAMES) {
      // Unwrap each CPU's u32 before summing: a sum of wrapping counters is not a counter.
      let total = 0;
      let seen = false;
      for (const { cpu, counters } of stats.cpu) {
        const raw = counters[name as CpuStatName];
        if (raw === undefined) continue;
        seen = true;
        total += unwrapper.update(`${cpu}/${name}`, raw);
      }
      if (seen) samples.push(sample(netnsStats[name], labels, total));
    }
    return samples;
  }

  return {
    name: 'netns',
    async collect(): Promise<CollectResult> {
      let fresh = false;
      if (Date.now() - discoveredAt > DISCOVERY_TTL_MS) {
        namespaces = await discover(ctx.procPath);
        discoveredAt = Date.now();
        fresh = true;
      }
      let results = await Promise.all(namespaces.map(read));
      if (!fresh && results.some((r) => r === undefined)) {
        namespaces = await discover(ctx.procPath);
        discoveredAt = Date.now();
        results = await Promise.all(namespaces.map(read));
      }
      if (namespaces.length === 0) {
        throw new ProcfsError(`no readable ${join(ctx.procPath, '<pid>/net/stat/nf_conntrack')}`);
      }
      const live = new Set(namespaces.map((ns) => ns.id));
      for (const id of unwrappers.keys()) if (!live.has(id)) unwrappers.delete(id);
      const samples = results.flatMap((r) => r ?? []);
      samples.push(sample(netnsCount, {}, namespaces.length));
      return { samples, source: 'procfs' };
    },
  };
}

export const netnsDefinition = defineCollector({
  name: 'netns',
  defaultEnabled: false,
  reads: {
    withNetAdmin: '`/proc/<pid>/net/stat/nf_conntrack` of one process per network namespace',
    without: 'same (world-readable)',
  },
  needs: { netAdmin: 'none', hostPid: true },
  metrics: [netnsEntries, ...Object.values(netnsStats), netnsCount],
  create: netnsCollector,
});
