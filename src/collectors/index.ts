// Layer: collectors. The collector list: adding a data source is one file and one line here.

import type { EnabledCollector } from '../config/config.js';
import { cpuStatsCollector } from './cpu-stats.js';
import { expectStatsCollector } from './expect-stats.js';
import { flowCollector, type FlowOptions } from '../flows/collector.js';
import { netnsCollector } from './netns.js';
import { sysctlCollector } from './sysctl.js';
import { tableCollector } from './table.js';
import type { Collector, CollectorContext } from './types.js';

export function createCollectors(
  enabled: readonly EnabledCollector[],
  ctx: CollectorContext,
  flowOptions: FlowOptions,
): Collector[] {
  const factories: Record<EnabledCollector, () => Collector> = {
    table: () => tableCollector(ctx),
    cpu_stats: () => cpuStatsCollector(ctx),
    expect_stats: () => expectStatsCollector(ctx),
    sysctl: () => sysctlCollector(ctx),
    flows: () => flowCollector(ctx, flowOptions),
    netns: () => netnsCollector(ctx),
  };
  return enabled.map((name) => factories[name]());
}
