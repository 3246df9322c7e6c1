// Layer: collectors. Table size: entries of this netns and the global limit, from
// IPCTNL_MSG_CT_GET_STATS (what `conntrack -C` reads), or from the nf_conntrack_count/max sysctls
// without CAP_NET_ADMIN; hash buckets from the nf_conntrack_buckets sysctl.

import { readNetfilterSysctl } from '../conntrack/procfs.js';
import { requireDefined } from '../conntrack/stats.js';
import { entries, entriesLimit, hashBuckets } from '../metrics/catalog.js';
import { sample, type Sample } from '../metrics/sample.js';
import { defineCollector } from './registry.js';
import type { CollectorContext, Collector, CollectResult } from './types.js';

export const tableDefinition = defineCollector({
  name: 'table',
  defaultEnabled: true,
  reads: {
    withNetAdmin: '`IPCTNL_MSG_CT_GET_STATS` (entries of this netns, global limit); buckets from sysctl',
    without: '`nf_conntrack_count`, `nf_conntrack_max` sysctls',
  },
  needs: { netAdmin: 'preferred', hostPid: false },
  metrics: [entries, entriesLimit, hashBuckets],
  create: tableCollector,
});

export function tableCollector(ctx: CollectorContext): Collector {
  return {
    name: 'table',
    async collect(): Promise<CollectResult> {
      const samples: Sample[] = [];
      let source: CollectResult['source'];
      if (ctx.netlink) {
        const stats = await ctx.client.globalStats();
        samples.push(sample(entries, {}, requireDefined(stats.entries, 'CTA_STATS_GLOBAL_ENTRIES')));
        if (stats.maxEntries !== undefined) samples.push(sample(entriesLimit, {}, stats.maxEntries));
        source = 'netlink';
      } else {
        samples.push(sample(entries, {}, await readNetfilterSysctl(ctx.procPath, 'nf_conntrack_count')));
        samples.push(sample(entriesLimit, {}, await readNetfilterSysctl(ctx.procPath, 'nf_conntrack_max')));
        source = 'sysctl';
      }
      // Kernels before 4.18 do not send MAX_ENTRIES: the sysctl is the same global value.
      if (!samples.some((s) => s.metric === entriesLimit)) {
        samples.push(sample(entriesLimit, {}, await readNetfilterSysctl(ctx.procPath, 'nf_conntrack_max')));
      }
      const buckets = await readNetfilterSysctl(ctx.procPath, 'nf_conntrack_buckets').catch(() => undefined);
      if (buckets !== undefined) samples.push(sample(hashBuckets, {}, buckets));
      return { samples, source };
    },
  };
}
