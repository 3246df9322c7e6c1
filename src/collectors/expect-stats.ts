// Layer: collectors. Per-CPU expectation statistics from IPCTNL_MSG_EXP_GET_STATS_CPU, or the
// expect_* columns of /proc/net/stat/nf_conntrack without CAP_NET_ADMIN.

import { readProcStats } from '../conntrack/procfs.js';
import type { ExpectStatName } from '../conntrack/stats.js';
import { expectStats, type MetricDef } from '../metrics/catalog.js';
import { PerCpuCounters } from './per-cpu.js';
import { defineCollector } from './registry.js';
import type { Collector, CollectorContext, CollectResult } from './types.js';

export const expectStatsDefinition = defineCollector({
  name: 'expect_stats',
  defaultEnabled: true,
  reads: {
    withNetAdmin: '`IPCTNL_MSG_EXP_GET_STATS_CPU`',
    without: '`/proc/net/stat/nf_conntrack` (`expect_*` columns)',
  },
  needs: { netAdmin: 'preferred', hostPid: false },
  metrics: Object.values(expectStats),
  create: expectStatsCollector,
});

export function expectStatsCollector(ctx: CollectorContext): Collector {
  // Every counter the conntrack layer decodes has its metric (a compile-time check).
  const counters = new PerCpuCounters<ExpectStatName>(
    expectStats satisfies Record<ExpectStatName, MetricDef<'cpu'>>,
  );
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
