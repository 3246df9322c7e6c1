// The sysctl collector: acct, timestamp, events and the per-protocol timeouts from a fixture
// /proc tree (the fixture's values are distinct, so a swapped file cannot pass).

import { describe, expect, it } from 'vitest';
import { sysctlCollector } from '../../src/collectors/sysctl.js';
import type { Sample } from '../../src/metrics/sample.js';
import { fakeContext } from '../support/collector-context.js';
import { PROC_FIXTURE, procTrees } from '../support/proc-fixture.js';

const rows = (samples: readonly Sample[]) =>
  samples.map((s) => [s.metric.name, s.labels, s.kind === 'value' ? s.value : Number.NaN] as const);

describe('sysctl collector', () => {
  const newTree = procTrees();

  it('reads every sysctl it knows', async () => {
    const result = await sysctlCollector(fakeContext(PROC_FIXTURE)).collect();
    expect(result.source).toBe('sysctl');
    expect(rows(result.samples)).toEqual([
      ['conntrack_accounting_enabled', {}, 1],
      ['conntrack_timestamp_enabled', {}, 0],
      ['conntrack_events_mode', {}, 2],
      ['conntrack_timeout_seconds', { protocol: 'tcp', state: 'established' }, 432000],
      ['conntrack_timeout_seconds', { protocol: 'tcp', state: 'syn_sent' }, 121],
      ['conntrack_timeout_seconds', { protocol: 'tcp', state: 'syn_recv' }, 61],
      ['conntrack_timeout_seconds', { protocol: 'tcp', state: 'fin_wait' }, 122],
      ['conntrack_timeout_seconds', { protocol: 'tcp', state: 'close_wait' }, 62],
      ['conntrack_timeout_seconds', { protocol: 'tcp', state: 'time_wait' }, 123],
      ['conntrack_timeout_seconds', { protocol: 'udp', state: 'unreplied' }, 31],
      ['conntrack_timeout_seconds', { protocol: 'udp', state: 'stream' }, 124],
      ['conntrack_timeout_seconds', { protocol: 'icmp', state: 'none' }, 32],
      ['conntrack_timeout_seconds', { protocol: 'icmpv6', state: 'none' }, 33],
      ['conntrack_timeout_seconds', { protocol: 'generic', state: 'none' }, 601],
    ]);
  });

  it('leaves out what it cannot read (absent, not 0)', async () => {
    const tree = await newTree();
    await tree.remove('sys/net/netfilter/nf_conntrack_timestamp');
    await tree.remove('sys/net/netfilter/nf_conntrack_icmpv6_timeout');
    const names = rows((await sysctlCollector(fakeContext(tree.path)).collect()).samples).map(([n, l]) =>
      [n, l.protocol].join('/'),
    );
    expect(names).not.toContain('conntrack_timestamp_enabled/');
    expect(names).not.toContain('conntrack_timeout_seconds/icmpv6');
    expect(names).toHaveLength(12);
  });

  it('fails with ProcfsError when nothing is readable', async () => {
    await expect(sysctlCollector(fakeContext('/nonexistent')).collect()).rejects.toMatchObject({
      code: 'ERR_PROCFS',
    });
  });
});
