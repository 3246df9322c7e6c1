// Layer: collectors. Per-CPU expectation statistics from IPCTNL_MSG_EXP_GET_STATS_CPU, or the
// expect_* columns of /proc/net/stat/nf_conntrack without CAP_NET_ADMIN.

import { readProcStats } from '../conntrack/procfs.js';
import { expectStats, type ExpectStatName } from '../metrics/catalog.js';
import { PerCpuCounters } from './per-cpu.js';
import type { Collector, CollectorContext, CollectResult } from './types.js';

export function expectStatsCollector(ctx: CollectorContext): Collector {
  const counters = new PerCpuCounters<ExpectStatName>(expectStats);
  return {
    name: 'expect_stats',
    async collect(): Promise<CollectResult> {
      if (ctx.netlink)
        return { samples: counters.samples(await ctx.client.expectStats()), source: 'netlink' };
      const proc = await readProcStats(ctx.procPath, ctx.kernelRelease);
      return { samples: counters.samples(proc.expect), source: 'procfs' };
    },
  };
}
