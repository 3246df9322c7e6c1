// The Prometheus sink in both exposition formats: every name, HELP and TYPE of the catalogue is
// rendered, promtool lints the 0.0.4 text, and the sink's own promises
// (registries reused across renders and formats, renders that never mix snapshots, absent is not
// zero, the gauge histogram's series, the same sample objects written once) are checked on its
// output.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { sample, type HistogramSample, type Sample, type Snapshot } from '../../src/metrics/sample.js';
import {
  CATALOG,
  FLOW_AGE_BUCKETS,
  LIFETIME_BUCKETS,
  connectionLifetime,
  cpuStats,
  entries,
  entriesLimit,
  flowAgeSeconds,
  flowsByDstPort,
} from '../../src/metrics/catalog.js';
import {
  PrometheusSink,
  renderPrometheus,
  wantsOpenMetrics,
  type ExpositionFormat,
} from '../../src/sinks/prometheus.js';

/** One sample per catalogue entry, with a distinctive value per metric. */
function everyMetric(): Sample[] {
  return CATALOG.map((metric, i): Sample => {
    const labels = Object.fromEntries(metric.labels.map((l) => [l, `${l}-value`]));
    if (metric.type === 'gaugehistogram' || metric.type === 'histogram') {
      const bounds = metric.buckets ?? [];
      return {
        kind: 'histogram',
        metric,
        labels,
        bucketCounts: bounds.map((_, b) => b + 1),
        count: bounds.length + 2,
        sum: 1234.5,
      };
    }
    return { kind: 'value', metric, labels, value: 1000 + i };
  });
}

function snapshot(samples: Sample[]): Snapshot {
  return { samples, takenAt: 0 };
}

function age(protocol: string, count: number, sum: number): HistogramSample {
  return {
    kind: 'histogram',
    metric: flowAgeSeconds,
    labels: { protocol },
    bucketCounts: FLOW_AGE_BUCKETS.map((le) => (le >= 60 ? count : 0)),
    count,
    sum,
  };
}

/** promtool check metrics: exit code and every distinct problem line. */
function promtool(text: string): { status: number | null; problems: string[] } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  const problems = [...new Set(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== ''))];
  return { status: r.status, problems: problems.sort() };
}

/** Sample lines (no comments) of an exposition. */
function sampleLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

describe('PrometheusSink, text format 0.0.4', () => {
  it('renders every catalogue entry with its HELP and its TYPE (gauges for the gauge histogram)', async () => {
    const text = await renderPrometheus(snapshot(everyMetric()), false);
    for (const m of CATALOG) {
      if (m.type === 'gaugehistogram') {
        expect(text).toContain(`# TYPE ${m.name}_bucket gauge\n`);
        continue;
      }
      expect(text).toContain(`# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.type}\n`);
    }
  });

  it('passes promtool check metrics, but for the gauge histogram buckets 0.0.4 cannot type', async () => {
    const text = await renderPrometheus(snapshot(everyMetric()), false);
    // promtool's linter reserves `_bucket` and `le` for histograms; 0.0.4 has no gauge histogram
    // type, so the buckets are gauges (docs/metrics.md). Nothing else may be reported.
    expect(promtool(text)).toEqual({
      status: 3,
      problems: [
        'conntrack_flow_age_seconds_bucket non-histogram metrics should not have "_bucket" suffix',
        'conntrack_flow_age_seconds_bucket non-histogram metrics should not have "le" label',
      ],
    });
    const withoutAge = everyMetric().filter((s) => s.metric !== flowAgeSeconds);
    expect(promtool(await renderPrometheus(snapshot(withoutAge), false))).toEqual({
      status: 0,
      problems: [],
    });
  });

  it('renders the lifetime of finished connections as a cumulative histogram in both formats', async () => {
    const lifetime = (protocol: string, count: number, sum: number): HistogramSample => ({
      kind: 'histogram',
      metric: connectionLifetime,
      labels: { protocol },
      bucketCounts: LIFETIME_BUCKETS.map((le) => (le >= 30 ? count : 0)),
      count,
      sum,
    });
    for (const format of [false, true]) {
      const text = await renderPrometheus(snapshot([lifetime('udp', 4, 100)]), format);
      expect(text).toContain('# TYPE conntrack_connection_lifetime_seconds histogram\n');
      const lines = sampleLines(text);
      expect(lines).toContain('conntrack_connection_lifetime_seconds_bucket{protocol="udp",le="10"} 0');
      expect(lines).toContain('conntrack_connection_lifetime_seconds_bucket{protocol="udp",le="30"} 4');
      expect(lines).toContain('conntrack_connection_lifetime_seconds_bucket{protocol="udp",le="+Inf"} 4');
      expect(lines).toContain('conntrack_connection_lifetime_seconds_count{protocol="udp"} 4');
      expect(lines).toContain('conntrack_connection_lifetime_seconds_sum{protocol="udp"} 100');
      expect(lines).toHaveLength(LIFETIME_BUCKETS.length + 1 + 2);
    }
    expect(promtool(await renderPrometheus(snapshot([lifetime('udp', 4, 100)]), false))).toEqual({
      status: 0,
      problems: [],
    });
  });

  it('renders the flow-age distribution as gauges named like the OpenMetrics gauge histogram', async () => {
    const text = await renderPrometheus(snapshot([age('tcp', 3, 9), age('udp', 1, 70)]), false);
    expect(text).toContain('# TYPE conntrack_flow_age_seconds_bucket gauge\n');
    expect(text).toContain('# TYPE conntrack_flow_age_seconds_gcount gauge\n');
    expect(text).toContain('# TYPE conntrack_flow_age_seconds_gsum gauge\n');
    expect(text).not.toMatch(/^# TYPE \S+ histogram$/m);
    const lines = sampleLines(text);
    expect(lines).toContain('conntrack_flow_age_seconds_bucket{protocol="tcp",le="30"} 0');
    expect(lines).toContain('conntrack_flow_age_seconds_bucket{protocol="tcp",le="60"} 3');
    expect(lines).toContain('conntrack_flow_age_seconds_bucket{protocol="tcp",le="+Inf"} 3');
    expect(lines).toContain('conntrack_flow_age_seconds_gcount{protocol="udp"} 1');
    expect(lines).toContain('conntrack_flow_age_seconds_gsum{protocol="udp"} 70');
    expect(lines.filter((l) => /_(sum|count)\{/.test(l))).toEqual([]);
    expect(lines).toHaveLength(2 * (FLOW_AGE_BUCKETS.length + 1 + 2));
  });

  it('escapes label values', async () => {
    const metric = CATALOG.find((m) => m.name === 'conntrack_flows_by_src_address');
    if (!metric) throw new Error('missing metric');
    const text = await renderPrometheus(
      snapshot([{ kind: 'value', metric, labels: { address: 'a"b\\c\nd' }, value: 1 }]),
      false,
    );
    expect(text).toContain('conntrack_flows_by_src_address{address="a\\"b\\\\c\\nd"} 1');
  });
});

describe('PrometheusSink, OpenMetrics 1.0', () => {
  it('renders every catalogue entry with its TYPE, counter families without _total', async () => {
    const text = await renderPrometheus(snapshot(everyMetric()), true);
    for (const m of CATALOG) {
      const family = m.type === 'counter' ? m.name.replace(/_total$/, '') : m.name;
      expect(text).toContain(`# TYPE ${family} ${m.type}\n`);
    }
    expect(text.endsWith('\n# EOF\n')).toBe(true);
    // No `_created` series (prom-client can add them); `conntrack_connections_created_total` is ours.
    expect(text).not.toMatch(/^\w+_created(\{| )/m);
  });

  it('names counter families without _total and their samples with it', async () => {
    const text = await renderPrometheus(snapshot([sample(cpuStats.found, { cpu: '0' }, 7)]), true);
    expect(text).toBe(
      [
        `# HELP conntrack_stat_found ${cpuStats.found.help}`,
        '# TYPE conntrack_stat_found counter',
        'conntrack_stat_found_total{cpu="0"} 7',
        '# EOF',
        '',
      ].join('\n'),
    );
  });

  it('types the flow-age distribution gaugehistogram: buckets, _gcount, _gsum', async () => {
    const text = await renderPrometheus(snapshot([age('tcp', 3, 9)]), true);
    const buckets = FLOW_AGE_BUCKETS.map(
      (le) => `conntrack_flow_age_seconds_bucket{protocol="tcp",le="${le}"} ${le >= 60 ? 3 : 0}`,
    );
    expect(text).toBe(
      [
        `# HELP conntrack_flow_age_seconds ${flowAgeSeconds.help}`,
        '# TYPE conntrack_flow_age_seconds gaugehistogram',
        ...buckets,
        'conntrack_flow_age_seconds_bucket{protocol="tcp",le="+Inf"} 3',
        'conntrack_flow_age_seconds_gcount{protocol="tcp"} 3',
        'conntrack_flow_age_seconds_gsum{protocol="tcp"} 9',
        '# EOF',
        '',
      ].join('\n'),
    );
  });

  it('escapes label values of the gauge histogram as OpenMetrics requires', async () => {
    const s = { ...age('tcp', 1, 1), labels: { protocol: 'a"b\\c\nd' } };
    const text = await renderPrometheus(snapshot([s]), true);
    expect(text).toContain('conntrack_flow_age_seconds_gcount{protocol="a\\"b\\\\c\\nd"} 1');
  });
});

describe('PrometheusSink, one registry per format for the life of the process', () => {
  const formats: ExpositionFormat[] = ['prometheus', 'openmetrics'];

  it('renders the same text for the same snapshot, whatever was rendered before', async () => {
    const sink = new PrometheusSink();
    const snap = snapshot(everyMetric());
    const first = { prometheus: await sink.render(snap, 'prometheus'), openmetrics: '' };
    first.openmetrics = await sink.render(snap, 'openmetrics');
    // A registry switched between formats would have renamed its counters by now.
    for (const format of [...formats, ...formats.slice().reverse()]) {
      expect(await sink.render(snap, format)).toBe(first[format]);
    }
    expect(first.prometheus).toContain('conntrack_stat_found_total{cpu="cpu-value"}');
  });

  it('never mixes snapshots of concurrent renders', async () => {
    const sink = new PrometheusSink();
    const a = snapshot([sample(entries, {}, 1), sample(flowsByDstPort, { protocol: 'tcp', port: '443' }, 2)]);
    const b = snapshot([sample(entries, {}, 5), sample(entriesLimit, {}, 65536), age('udp', 4, 4)]);
    const alone = new Map<string, string>();
    for (const [name, snap] of [
      ['a', a],
      ['b', b],
    ] as const) {
      for (const format of formats)
        alone.set(`${name}/${format}`, await new PrometheusSink().render(snap, format));
    }
    const jobs = Array.from({ length: 40 }, (_, i) => {
      const [name, snap] = i % 3 === 0 ? (['a', a] as const) : (['b', b] as const);
      const format = formats[i % 2] ?? 'prometheus';
      return sink.render(snap, format).then((text) => ({ key: `${name}/${format}`, text }));
    });
    for (const { key, text } of await Promise.all(jobs)) expect(text).toBe(alone.get(key));
  });

  it('leaves out what the snapshot does not have (absent is not zero), also after it had it', async () => {
    const sink = new PrometheusSink();
    for (const format of formats) {
      const full = await sink.render(
        snapshot([sample(entries, {}, 3), sample(cpuStats.found, { cpu: '1' }, 9), age('tcp', 1, 2)]),
        format,
      );
      expect(full).toContain('conntrack_entries 3');
      const empty = await sink.render(snapshot([]), format);
      expect(empty).toBe(format === 'openmetrics' ? '\n# EOF\n' : '\n');
      const partial = await sink.render(snapshot([sample(cpuStats.found, { cpu: '2' }, 1)]), format);
      expect(partial).not.toContain('conntrack_entries');
      expect(partial).not.toContain('cpu="1"');
      expect(partial).not.toContain('flow_age');
      expect(sampleLines(partial)).toEqual(['conntrack_stat_found_total{cpu="2"} 1']);
    }
  });

  it('writes the same sample objects once (the flow metrics of a pass), and new ones afresh', async () => {
    const sink = new PrometheusSink();
    for (const format of formats) {
      const port = { ...sample(flowsByDstPort, { protocol: 'tcp', port: '443' }, 7) };
      const first = await sink.render(snapshot([sample(entries, {}, 1), port]), format);
      expect(first).toContain('conntrack_flows_by_dst_port{protocol="tcp",port="443"} 7');
      // The same object again (changed behind the sink's back, which samples never are): its
      // text is the one written before; the new entries sample is written afresh.
      (port as { value: number }).value = 8;
      const again = await sink.render(snapshot([sample(entries, {}, 2), port]), format);
      expect(again).toContain('conntrack_flows_by_dst_port{protocol="tcp",port="443"} 7');
      expect(again).toContain('conntrack_entries 2');
      // A new object with the same labels (the next pass): written from its own value.
      const next = sample(flowsByDstPort, { protocol: 'tcp', port: '443' }, 9);
      const third = await sink.render(snapshot([sample(entries, {}, 2), next]), format);
      expect(third).toContain('conntrack_flows_by_dst_port{protocol="tcp",port="443"} 9');
      // One more or one fewer sample is a different list, whatever objects it shares.
      const more = sample(flowsByDstPort, { protocol: 'udp', port: '53' }, 1);
      const fourth = await sink.render(snapshot([next, more]), format);
      expect(fourth).toContain('port="53"} 1');
      expect(await sink.render(snapshot([next]), format)).not.toContain('port="53"');
    }
  });

  it('fails a render whose sample does not fit its catalogue entry, and renders the next one', async () => {
    const sink = new PrometheusSink();
    const bad = snapshot([{ kind: 'value', metric: entries, labels: { nope: 'x' }, value: 1 }]);
    await expect(sink.render(bad, 'prometheus')).rejects.toThrow(/nope/);
    expect(await sink.render(snapshot([sample(entries, {}, 2)]), 'prometheus')).toContain(
      'conntrack_entries 2',
    );
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
