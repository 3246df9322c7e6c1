// The per-CPU stats collector without ctnetlink: /proc/net/stat/nf_conntrack of a fixture tree,
// columns by header name, one series per CPU and counter the kernel reported, u32 wraps unwrapped.
// With ctnetlink it is checked against `conntrack -S` in test/integration/table-health.test.ts.

import { describe, expect, it } from 'vitest';
import { cpuStatsCollector } from '../../src/collectors/cpu-stats.js';
import { CPU_STAT_NAMES as DECODED_NAMES } from '../../src/conntrack/stats.js';
import { CPU_STAT_NAMES } from '../../src/metrics/catalog.js';
import type { Sample } from '../../src/metrics/sample.js';
import { fakeContext } from '../support/collector-context.js';
import { PROC_FIXTURE, PROC_FIXTURE_RELEASE, procTrees, statFile } from '../support/proc-fixture.js';

const ctx = (path: string) => fakeContext(path, { kernelRelease: PROC_FIXTURE_RELEASE });

function byCpu(samples: readonly Sample[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const s of samples) {
    if (s.kind !== 'value') continue;
    const cpu = s.labels.cpu ?? '?';
    (out[cpu] ??= {})[s.metric.name] = s.value;
  }
  return out;
}

/** cpu0's value of the fixture's column i is 0x01abcd00 + i; cpu1's is 0x100 more. */
const expected = (cpu: number): Record<string, number> => {
  const base = 0x01abcd00 + cpu * 0x100;
  return {
    conntrack_stat_clash_resolve_total: base + 1,
    conntrack_stat_found_total: base + 2,
    conntrack_stat_invalid_total: base + 4,
    conntrack_stat_chaintoolong_total: base + 7,
    conntrack_stat_insert_total: base + 8,
    conntrack_stat_insert_failed_total: base + 9,
    conntrack_stat_drop_total: base + 10,
    conntrack_stat_early_drop_total: base + 11,
    conntrack_stat_error_total: base + 12,
    conntrack_stat_search_restart_total: base + 16,
  };
};

describe('cpu_stats collector (procfs source)', () => {
  const newTree = procTrees();

  it('reports every CPU line by header name; the columns dead since 4.10 are absent, not 0', async () => {
    const result = await cpuStatsCollector(ctx(PROC_FIXTURE)).collect();
    expect(result.source).toBe('procfs');
    expect(byCpu(result.samples)).toEqual({ '0': expected(0), '1': expected(1) });
  });

  it('unwraps a u32 counter that went down to a 64-bit total, per CPU', async () => {
    const tree = await newTree();
    const collector = cpuStatsCollector(ctx(tree.path));
    await collector.collect();
    const header = 'entries insert drop';
    await tree.write(
      'net/stat/nf_conntrack',
      statFile(header, [
        [1, 5, 0x01abcd0a + 3],
        [1, 0x01abce08 + 1, 0x01abce0a],
      ]),
    );
    const after = byCpu((await collector.collect()).samples);
    expect(after['0']).toEqual({
      conntrack_stat_insert_total: 0x1_0000_0000 + 5,
      conntrack_stat_drop_total: 0x01abcd0a + 3,
    });
    expect(after['1']).toEqual({
      conntrack_stat_insert_total: 0x01abce08 + 1,
      conntrack_stat_drop_total: 0x01abce0a,
    });
  });

  it('fails with ProcfsError when the file is missing', async () => {
    await expect(cpuStatsCollector(ctx('/nonexistent')).collect()).rejects.toMatchObject({
      code: 'ERR_PROCFS',
    });
  });

  it("the catalogue's counter names are exactly those the conntrack layer decodes", () => {
    expect([...CPU_STAT_NAMES]).toEqual([...DECODED_NAMES]);
  });
});
