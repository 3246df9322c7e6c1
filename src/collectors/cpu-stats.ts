// Layer: collectors. Per-CPU conntrack statistics (what `conntrack -S` prints) from
// IPCTNL_MSG_CT_GET_STATS_CPU, or /proc/net/stat/nf_conntrack without CAP_NET_ADMIN.

import { readProcStats } from '../conntrack/procfs.js';
import type { CpuStatName } from '../conntrack/stats.js';
import { cpuStats, type MetricDef } from '../metrics/catalog.js';
import { PerCpuCounters } from './per-cpu.js';
import { defineCollector } from './registry.js';
import type { Collector, CollectorContext, CollectResult } from './types.js';

export const cpuStatsDefinition = defineCollector({
  name: 'cpu_stats',
  defaultEnabled: true,
  reads: { withNetAdmin: '`IPCTNL_MSG_CT_GET_STATS_CPU`', without: '`/proc/net/stat/nf_conntrack`' },
  needs: { netAdmin: 'preferred', hostPid: false },
  metrics: Object.values(cpuStats),
  create: cpuStatsCollector,
});

export function cpuStatsCollector(ctx: CollectorContext): Collector {
  // Every counter the conntrack layer decodes has its metric (a compile-time check).
  const counters = new PerCpuCounters<CpuStatName>(cpuStats satisfies Record<CpuStatName, MetricDef<'cpu'>>);
  return {
    name: 'cpu_stats',
    async collect(): Promise<CollectResult> {
      if (ctx.netlink) return { samples: counters.samples(await ctx.client.cpuStats()), source: 'netlink' };
      const proc = await readProcStats(ctx.procPath, ctx.kernelRelease);
      return { samples: counters.samples(proc.cpu), source: 'procfs' };
    },
  };
}
