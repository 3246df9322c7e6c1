// Layer: collectors. The per-netns sysctls that decide what the exporter can see (acct,
// timestamp, events) and the timeouts that set table pressure. Readable without privileges.

import { readNetfilterSysctl } from '../conntrack/procfs.js';
import { accountingEnabled, eventsMode, timeoutSeconds, timestampEnabled } from '../metrics/catalog.js';
import { sample, type Sample } from '../metrics/sample.js';
import { defineCollector } from './registry.js';
import type { Collector, CollectorContext, CollectResult } from './types.js';

/** [sysctl, protocol, state] for conntrack_timeout_seconds. */
const TIMEOUTS: readonly (readonly [string, string, string])[] = [
  ['nf_conntrack_tcp_timeout_established', 'tcp', 'established'],
  ['nf_conntrack_tcp_timeout_syn_sent', 'tcp', 'syn_sent'],
  ['nf_conntrack_tcp_timeout_syn_recv', 'tcp', 'syn_recv'],
  ['nf_conntrack_tcp_timeout_fin_wait', 'tcp', 'fin_wait'],
  ['nf_conntrack_tcp_timeout_close_wait', 'tcp', 'close_wait'],
  ['nf_conntrack_tcp_timeout_time_wait', 'tcp', 'time_wait'],
  ['nf_conntrack_udp_timeout', 'udp', 'unreplied'],
  ['nf_conntrack_udp_timeout_stream', 'udp', 'stream'],
  ['nf_conntrack_icmp_timeout', 'icmp', 'none'],
  ['nf_conntrack_icmpv6_timeout', 'icmpv6', 'none'],
  ['nf_conntrack_generic_timeout', 'generic', 'none'],
];

export const sysctlDefinition = defineCollector({
  name: 'sysctl',
  defaultEnabled: true,
  reads: { withNetAdmin: '`/proc/sys/net/netfilter`', without: 'same' },
  needs: { netAdmin: 'none', hostPid: false },
  metrics: [accountingEnabled, timestampEnabled, eventsMode, timeoutSeconds],
  create: sysctlCollector,
});

export function sysctlCollector(ctx: CollectorContext): Collector {
  return {
    name: 'sysctl',
    async collect(): Promise<CollectResult> {
      const read = (name: string): Promise<number | undefined> =>
        readNetfilterSysctl(ctx.procPath, name).catch(() => undefined);
      const samples: Sample[] = [];
      const [acct, tstamp, events] = await Promise.all([
        read('nf_conntrack_acct'),
        read('nf_conntrack_timestamp'),
        read('nf_conntrack_events'),
      ]);
      if (acct !== undefined) samples.push(sample(accountingEnabled, {}, acct));
      if (tstamp !== undefined) samples.push(sample(timestampEnabled, {}, tstamp));
      if (events !== undefined) samples.push(sample(eventsMode, {}, events));
      const timeouts = await Promise.all(TIMEOUTS.map(([name]) => read(name)));
      TIMEOUTS.forEach(([, protocol, state], i) => {
        const value = timeouts[i];
        if (value !== undefined) samples.push(sample(timeoutSeconds, { protocol, state }, value));
      });
      if (samples.length === 0) {
        // Nothing readable: report failure rather than an empty success.
        await readNetfilterSysctl(ctx.procPath, 'nf_conntrack_acct');
      }
      return { samples, source: 'sysctl' };
    },
  };
}
