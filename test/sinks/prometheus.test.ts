// The Prometheus sink: a golden exposition guards every name, HELP and TYPE of the catalogue,
// and promtool lints it.

import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../src/metrics/sample.js';
import { CATALOG, FLOW_AGE_BUCKETS } from '../../src/metrics/catalog.js';
import { renderPrometheus, wantsOpenMetrics } from '../../src/sinks/prometheus.js';
import { sh } from '../support/netns.js';

const GOLDEN = new URL('../golden/metrics.prom', import.meta.url);
const GOLDEN_OM = new URL('../golden/metrics.openmetrics', import.meta.url);

/** One sample per catalogue entry, with a distinctive value per metric. */
function everyMetric(): Sample[] {
  return CATALOG.map((metric, i): Sample => {
    const labels = Object.fromEntries(metric.labels.map((l) => [l, `${l}-value`]));
    if (metric.type === 'histogram') {
      return {
        kind: 'histogram',
        metric,
        labels,
        bucketCounts: FLOW_AGE_BUCKETS.map((_, b) => b + 1),
        count: FLOW_AGE_BUCKETS.length + 2,
        sum: 1234.5,
      };
    }
    return { kind: 'value', metric, labels, value: 1000 + i };
  });
}

async function golden(file: URL, text: string): Promise<string> {
  if (process.env.UPDATE_GOLDEN === '1') await writeFile(file, text);
  return readFile(file, 'utf8');
}

describe('renderPrometheus', () => {
  it('matches the golden exposition (names, help, types of the whole catalogue)', async () => {
    const text = await renderPrometheus({ samples: everyMetric(), takenAt: 0 }, false);
    expect(text).toBe(await golden(GOLDEN, text));
    const lint = await sh('promtool', ['check', 'metrics'], text);
    expect(lint.stdout + lint.stderr).toBe('');
  });

  it('matches the golden OpenMetrics exposition', async () => {
    const text = await renderPrometheus({ samples: everyMetric(), takenAt: 0 }, true);
    expect(text).toBe(await golden(GOLDEN_OM, text));
    expect(text.endsWith('# EOF\n')).toBe(true);
  });

  it('renders histograms with cumulative buckets, +Inf, _sum and _count', async () => {
    const metric = CATALOG.find((m) => m.type === 'histogram');
    if (!metric) throw new Error('catalogue has no histogram');
    const text = await renderPrometheus(
      {
        samples: [
          {
            kind: 'histogram',
            metric,
            labels: { protocol: 'tcp' },
            bucketCounts: FLOW_AGE_BUCKETS.map(() => 2),
            count: 3,
            sum: 9,
          },
        ],
        takenAt: 0,
      },
      false,
    );
    expect(text).toContain(`${metric.name}_bucket{protocol="tcp",le="1"} 2`);
    expect(text).toContain(`${metric.name}_bucket{protocol="tcp",le="+Inf"} 3`);
    expect(text).toContain(`${metric.name}_sum{protocol="tcp"} 9`);
    expect(text).toContain(`${metric.name}_count{protocol="tcp"} 3`);
  });

  it('omits metrics without samples (absent is not zero)', async () => {
    const text = await renderPrometheus({ samples: [], takenAt: 0 }, false);
    expect(text.trim()).toBe('');
  });

  it('escapes label values', async () => {
    const metric = CATALOG.find((m) => m.name === 'conntrack_flows_by_src_address');
    if (!metric) throw new Error('missing metric');
    const text = await renderPrometheus(
      { samples: [{ kind: 'value', metric, labels: { address: 'a"b\\c\nd' }, value: 1 }], takenAt: 0 },
      false,
    );
    expect(text).toContain('conntrack_flows_by_src_address{address="a\\"b\\\\c\\nd"} 1');
  });
});

describe('wantsOpenMetrics', () => {
  it.each([
    ['application/openmetrics-text; version=1.0.0', true],
    ['application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', true],
    ['text/plain', false],
    [undefined, false],
  ])('%s -> %s', (accept, expected) => {
    expect(wantsOpenMetrics(accept)).toBe(expected);
  });
});
