// Golden /metrics, from recorded kernel files through the real exporter: the built CLI serves a
// /proc tree recorded from the real kernel (test/fixtures/stats.json, CONNTRACK_EXPORTER_SOURCE=procfs)
// with the real collectors, sink and HTTP server, and both expositions are compared with
// test/golden/. The golden files are checked against an independent source every run: the
// `conntrack -S`, `-S expect` and `-C` output recorded at the same moment as the files, so
// regenerating them with UPDATE_GOLDEN=1 cannot hide a wrong value. CI never regenerates.

import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCpuStats } from './support/conntrack-output.js';
import { startExporter, type ServingExporter } from './support/exporter.js';
import { parseExposition, select, valueOf, type ExpoSample } from './support/exposition.js';
import { loadFixture } from './support/fixtures.js';
import { sh } from './support/netns.js';
import { procTree, type ProcTree } from './support/proc-tree.js';

const GOLDEN_TEXT = new URL('golden/exporter-procfs.prom', import.meta.url);
const GOLDEN_OPENMETRICS = new URL('golden/exporter-procfs.openmetrics', import.meta.url);
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const fixture = loadFixture('stats');

/** Masks what differs between runs and builds: durations, the version labels. */
export function normalize(exposition: string): string {
  return exposition
    .replace(/^(conntrack_scrape_collector_duration_seconds\{[^}]*\}) \S+$/gm, '$1 <duration>')
    .replace(/\bnodejs_version="[^"]*"/g, 'nodejs_version="<nodejs>"')
    .replace(/\bversion="[^"]*"/g, 'version="<version>"');
}

async function golden(file: URL, actual: string): Promise<string> {
  if (UPDATE) await writeFile(file, actual);
  return readFile(file, 'utf8');
}

describe('golden /metrics from recorded kernel files', () => {
  let tree: ProcTree;
  let exporter: ServingExporter;
  let raw: string;
  let text: string;
  let openMetrics: string;

  beforeAll(async () => {
    if (UPDATE && process.env.CI === 'true') throw new Error('UPDATE_GOLDEN is for a developer, never CI');
    tree = await procTree('stats');
    exporter = await startExporter(undefined, 0, {
      CONNTRACK_EXPORTER_SOURCE: 'procfs',
      CONNTRACK_EXPORTER_PROC_PATH: tree.path,
      CONNTRACK_EXPORTER_COLLECTORS: 'table,cpu_stats,expect_stats',
    });
    raw = await (await fetch(`${exporter.url}/metrics`)).text();
    text = normalize(raw);
    openMetrics = normalize(
      await (
        await fetch(`${exporter.url}/metrics`, { headers: { Accept: 'application/openmetrics-text' } })
      ).text(),
    );
  });

  afterAll(async () => {
    await exporter?.stop();
    await tree?.remove();
  });

  it('the text exposition equals test/golden/exporter-procfs.prom, and promtool accepts it', async () => {
    expect(text).toBe(await golden(GOLDEN_TEXT, text));
    const lint = await sh('promtool', ['check', 'metrics'], raw);
    expect(lint.stdout + lint.stderr).toBe('');
  });

  it('the OpenMetrics exposition equals test/golden/exporter-procfs.openmetrics, with the same samples', async () => {
    expect(openMetrics).toBe(await golden(GOLDEN_OPENMETRICS, openMetrics));
    expect(openMetrics.endsWith('# EOF\n')).toBe(true);
    const values = (s: ExpoSample[]): string[] =>
      s.map((x) => `${x.name}${JSON.stringify(x.labels)} ${x.value}`);
    expect(values(parseExposition(openMetrics.replace(/^# EOF\n$/m, '')))).toEqual(
      values(parseExposition(text)),
    );
  });

  describe('the golden file says what the conntrack CLI said', () => {
    let samples: ExpoSample[];
    beforeAll(async () => {
      samples = parseExposition(await readFile(GOLDEN_TEXT, 'utf8'));
    });

    it('entries as `conntrack -C`, the limit as nf_conntrack_max, no buckets where none were read', () => {
      expect(valueOf(samples, 'conntrack_entries')).toBe(Number(fixture.cli['conntrack -C']));
      expect(valueOf(samples, 'conntrack_entries_limit')).toBe(
        Number(fixture.files['/proc/sys/net/netfilter/nf_conntrack_max']),
      );
      expect(select(samples, 'conntrack_hash_buckets')).toEqual([]);
    });

    it('every per-CPU counter as `conntrack -S` and `conntrack -S expect` printed it, and no other', () => {
      const expected = (cli: string, metric: (name: string) => string): string[] =>
        [...parseCpuStats(cli)].flatMap(([cpu, counters]) =>
          Object.entries(counters).map(([name, value]) => `${metric(name)}{cpu="${cpu}"} ${value}`),
        );
      const actual = (prefix: string): string[] =>
        samples
          .filter((s) => s.name.startsWith(prefix))
          .map((s) => `${s.name}{cpu="${s.labels['cpu'] ?? '?'}"} ${s.value}`);
      expect(actual('conntrack_stat_').sort()).toEqual(
        expected(fixture.cli['conntrack -S'] ?? '', (n) => `conntrack_stat_${n}_total`).sort(),
      );
      expect(actual('conntrack_expect_stat_').sort()).toEqual(
        expected(fixture.cli['conntrack -S expect'] ?? '', (n) =>
          n.replace(/^expect_(.*)$/, 'conntrack_expect_stat_$1_total'),
        ).sort(),
      );
      // Not a comparison of zeros.
      expect(
        samples.filter((s) => s.name.startsWith('conntrack_stat_') && s.value > 0).length,
      ).toBeGreaterThan(2);
    });

    it('each collector succeeded, from the source it says', () => {
      for (const [collector, source] of [
        ['table', 'sysctl'],
        ['cpu_stats', 'procfs'],
        ['expect_stats', 'procfs'],
      ] as const) {
        expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector })).toBe(1);
        expect(valueOf(samples, 'conntrack_collector_source_info', { collector, source })).toBe(1);
      }
      expect(valueOf(samples, 'conntrack_exporter_build_info')).toBe(1);
      expect(valueOf(samples, 'conntrack_netlink_malformed_messages_total')).toBe(0);
    });
  });
});
