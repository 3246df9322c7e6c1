// The Prometheus sink: every catalogue entry renders with its HELP and TYPE and promtool accepts
// the whole catalogue. (The golden /metrics, from recorded kernel files through the real exporter:
// test/golden.test.ts.)

import { describe, expect, it } from 'vitest';
import type { Sample } from '../../src/metrics/sample.js';
import { CATALOG, FLOW_AGE_BUCKETS } from '../../src/metrics/catalog.js';
import { renderPrometheus, wantsOpenMetrics } from '../../src/sinks/prometheus.js';
import { sh } from '../support/netns.js';

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

describe('renderPrometheus', () => {
  it('renders every catalogue entry with its HELP and TYPE, and promtool accepts it', async () => {
    const text = await renderPrometheus({ samples: everyMetric(), takenAt: 0 }, false);
    for (const m of CATALOG) {
      expect(text).toContain(`# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.type}\n`);
    }
    const lint = await sh('promtool', ['check', 'metrics'], text);
    expect(lint.stdout + lint.stderr).toBe('');
  });

  it('renders every catalogue entry in OpenMetrics, counters without _total in TYPE', async () => {
    const text = await renderPrometheus({ samples: everyMetric(), takenAt: 0 }, true);
    for (const m of CATALOG) {
      const family = m.type === 'counter' ? m.name.replace(/_total$/, '') : m.name;
      expect(text).toContain(`# TYPE ${family} ${m.type}\n`);
    }
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
