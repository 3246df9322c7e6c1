// The expectation stats collector without ctnetlink: the expect_* columns of
// /proc/net/stat/nf_conntrack in a fixture tree, per CPU.

import { describe, expect, it } from 'vitest';
import { expectStatsCollector } from '../../src/collectors/expect-stats.js';
import { EXPECT_STAT_NAMES as DECODED_NAMES } from '../../src/conntrack/stats.js';
import { EXPECT_STAT_NAMES } from '../../src/metrics/catalog.js';
import { fakeContext } from '../support/collector-context.js';
import { PROC_FIXTURE, PROC_FIXTURE_RELEASE } from '../support/proc-fixture.js';

describe('expect_stats collector (procfs source)', () => {
  it('reports expect_new, expect_create and expect_delete of every CPU', async () => {
    const result = await expectStatsCollector(
      fakeContext(PROC_FIXTURE, { kernelRelease: PROC_FIXTURE_RELEASE }),
    ).collect();
    expect(result.source).toBe('procfs');
    const got = result.samples.map((s) => [s.metric.name, s.labels.cpu, s.kind === 'value' && s.value]);
    expect(got).toEqual([
      ['conntrack_expect_stat_new_total', '0', 0x01abcd0d],
      ['conntrack_expect_stat_create_total', '0', 0x01abcd0e],
      ['conntrack_expect_stat_delete_total', '0', 0x01abcd0f],
      ['conntrack_expect_stat_new_total', '1', 0x01abce0d],
      ['conntrack_expect_stat_create_total', '1', 0x01abce0e],
      ['conntrack_expect_stat_delete_total', '1', 0x01abce0f],
    ]);
  });

  it("the catalogue's counter names are exactly those the conntrack layer decodes", () => {
    expect([...EXPECT_STAT_NAMES]).toEqual([...DECODED_NAMES]);
  });
});
