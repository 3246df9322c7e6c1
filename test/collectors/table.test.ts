// The table collector without ctnetlink: entries, limit and buckets from the sysctls of a fixture
// /proc tree. With ctnetlink it is checked against `conntrack -C` in test/integration/table-health.test.ts.

import { describe, expect, it } from 'vitest';
import { tableCollector } from '../../src/collectors/table.js';
import { ProcfsError } from '../../src/conntrack/procfs.js';
import { fakeContext } from '../support/collector-context.js';
import { PROC_FIXTURE, procTrees } from '../support/proc-fixture.js';

function values(samples: readonly { metric: { name: string }; kind: string }[]): Record<string, number> {
  return Object.fromEntries(
    samples.map((s) => [s.metric.name, (s as { value?: number }).value ?? Number.NaN]),
  );
}

describe('table collector (sysctl source)', () => {
  const newTree = procTrees();

  it('reads count, max and buckets from net/netfilter sysctls', async () => {
    const result = await tableCollector(fakeContext(PROC_FIXTURE)).collect();
    expect(result.source).toBe('sysctl');
    expect(values(result.samples)).toEqual({
      conntrack_entries: 1234,
      conntrack_entries_limit: 524288,
      conntrack_hash_buckets: 262144,
    });
  });

  it('leaves buckets absent when that sysctl is unreadable', async () => {
    const tree = await newTree();
    await tree.remove('sys/net/netfilter/nf_conntrack_buckets');
    const result = await tableCollector(fakeContext(tree.path)).collect();
    expect(values(result.samples)).toEqual({ conntrack_entries: 1234, conntrack_entries_limit: 524288 });
  });

  it('fails with ProcfsError (never zeros) when the count is unreadable or not a number', async () => {
    const tree = await newTree();
    await tree.write('sys/net/netfilter/nf_conntrack_count', '\n');
    await expect(tableCollector(fakeContext(tree.path)).collect()).rejects.toBeInstanceOf(ProcfsError);
    await tree.remove('sys/net/netfilter/nf_conntrack_count');
    await expect(tableCollector(fakeContext(tree.path)).collect()).rejects.toMatchObject({
      code: 'ERR_PROCFS',
    });
  });
});
