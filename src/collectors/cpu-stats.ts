// Layer: collectors. Per-CPU conntrack statistics (what `conntrack -S` prints) from
// IPCTNL_MSG_CT_GET_STATS_CPU, or /proc/net/stat/nf_conntrack without CAP_NET_ADMIN.

import { readProcStats } from '../conntrack/procfs.js';
import { cpuStats, type CpuStatName } from '../metrics/catalog.js';
import { PerCpuCounters } from './per-cpu.js';
import type { Collector, CollectorContext, CollectResult } from './types.js';

export function cpuStatsCollector(ctx: CollectorContext): Collector {
  const counters = new PerCpuCounters<CpuStatName>(cpuStats);
  return {
    name: 'cpu_stats',
    async collect(): Promise<CollectResult> {
      if (ctx.netlink) return { samples: counters.samples(await ctx.client.cpuStats()), source: 'netlink' };
      const proc = await readProcStats(ctx.procPath, ctx.kernelRelease);
      return { samples: counters.samples(proc.cpu), source: 'procfs' };
    },
  };
}
