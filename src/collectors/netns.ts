// Layer: collectors. Per network namespace: every namespace's own entry count and its
// insert_failed/drop/early_drop/clash_resolve counters, read from /proc/<pid>/net/stat/nf_conntrack
// of one process per namespace. That file is 0444 and reading it needs no capability
// (docs/ctnetlink.md#network-namespaces), so this works in unprivileged mode too; it needs the host's PID namespace to see other namespaces'
// processes. Namespaces and their pods come from the shared discovery (src/pods/namespaces.ts):
// the netns label is the namespace's proc inode, pod_uid the UID in its holder's cgroup path, so
// kube-state-metrics' kube_pod_info can be joined for names. Wrap state is keyed by the
// namespace's full identity, so a namespace that reuses a dead one's inode starts at its own values.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseProcStats, ProcfsError } from '../conntrack/procfs.js';
import type { CpuStatName } from '../conntrack/stats.js';
import { CounterUnwrapper } from '../conntrack/wrap.js';
import { netnsCount, netnsEntries, netnsStats, NETNS_STAT_NAMES } from '../metrics/catalog.js';
import { sample, type Sample } from '../metrics/sample.js';
import { NamespaceDiscovery, type Namespace } from '../pods/namespaces.js';
import { defineCollector } from './registry.js';
import type { Collector, CollectorContext, CollectResult } from './types.js';

export function netnsCollector(
  ctx: CollectorContext,
  discovery: NamespaceDiscovery = ctx.discovery ?? new NamespaceDiscovery(ctx.procPath),
): Collector {
  /** Per namespace identity, so the state of a namespace that is gone can be dropped. */
  const unwrappers = new Map<string, CounterUnwrapper>();

  async function read(ns: Namespace): Promise<Sample[] | undefined> {
    let text: string;
    try {
      text = await readFile(discovery.statsFile(ns.pid), 'utf8');
    } catch {
      return undefined; // its process exited since the refresh
    }
    const stats = parseProcStats(text, ctx.kernelRelease);
    const labels = { netns: ns.inode, pod_uid: ns.podUid };
    const samples: Sample[] = [];
    if (stats.entries !== undefined) samples.push(sample(netnsEntries, labels, stats.entries));
    let unwrapper = unwrappers.get(ns.key);
    if (!unwrapper) unwrappers.set(ns.key, (unwrapper = new CounterUnwrapper()));
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
      // Every scrape: new processes' namespaces appear at once, without walking every process.
      let namespaces = await discovery.refresh();
      let results = await Promise.all(namespaces.map(read));
      if (results.some((r) => r === undefined)) {
        // A holder exited between the refresh and the read: find its successor now.
        namespaces = await discovery.refresh();
        results = await Promise.all(namespaces.map(read));
      }
      if (namespaces.length === 0) {
        throw new ProcfsError(`no readable ${join(ctx.procPath, '<pid>/net/stat/nf_conntrack')}`);
      }
      const live = new Set(namespaces.map((ns) => ns.key));
      for (const key of unwrappers.keys()) if (!live.has(key)) unwrappers.delete(key);
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
  create: (ctx) => netnsCollector(ctx),
});
