// Layer: collectors. The collector list. A new collector is one file that exports a
// defineCollector(...) definition (registry.ts) and one line in COLLECTORS below; configuration,
// defaults, the README tables and the tests pick it up from here.

import { cpuStatsDefinition } from './cpu-stats.js';
import { eventsDefinition } from './events.js';
import { expectStatsDefinition } from './expect-stats.js';
import { flowsDefinition } from './flows.js';
import { netnsDefinition } from './netns.js';
import { NamespaceDiscovery } from '../pods/namespaces.js';
import { RegistryError, type CollectorDefinition } from './registry.js';
import { sysctlDefinition } from './sysctl.js';
import { tableDefinition } from './table.js';
import type { Collector, CollectorContext } from './types.js';

/** Every collector, in the order they run and are documented. */
export const COLLECTORS: readonly CollectorDefinition<unknown>[] = [
  tableDefinition,
  cpuStatsDefinition,
  expectStatsDefinition,
  sysctlDefinition,
  flowsDefinition,
  netnsDefinition,
  eventsDefinition,
];

export function findCollector(name: string): CollectorDefinition<unknown> | undefined {
  return COLLECTORS.find((c) => c.name === name);
}

/**
 * Builds the enabled collectors. `options` holds, per collector name, what its settings' parse
 * returned (config.ts: Config.collectorOptions).
 */
export function createCollectors(
  enabled: readonly string[],
  ctx: CollectorContext,
  options: ReadonlyMap<string, unknown>,
): Collector[] {
  // One discovery for the netns collector and the flow pass's pod attribution: /proc is walked once.
  const shared: CollectorContext = {
    ...ctx,
    discovery: ctx.discovery ?? new NamespaceDiscovery(ctx.procPath),
  };
  return enabled.map((name) => {
    const definition = findCollector(name);
    if (!definition) throw new RegistryError(`unknown collector ${name}`);
    return definition.create(shared, options.get(name));
  });
}
