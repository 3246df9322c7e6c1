import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { Collector, CollectResult } from '../../src/collectors/types.js';
import { entries } from '../../src/metrics/catalog.js';
import { sample } from '../../src/metrics/sample.js';
import type { Snapshot } from '../../src/metrics/sample.js';
import { Collection } from '../../src/scrape/collection.js';

const silent = createLogger('silent');

function counting(
  name: Collector['name'],
  result: () => Promise<CollectResult>,
): Collector & { calls: number } {
  const c = {
    name,
    calls: 0,
    collect(): Promise<CollectResult> {
      c.calls += 1;
      return result();
    },
  };
  return c;
}

describe('Collection', () => {
  it('shares one collection between concurrent callers', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const table = counting('table', async () => {
      await gate;
      return { samples: [sample(entries, {}, 7)], source: 'netlink' };
    });
    const collection = new Collection([table], () => [], silent);
    const pending = Array.from({ length: 10 }, () => collection.collect());
    release();
    const snapshots = await Promise.all(pending);
    expect(table.calls).toBe(1);
    expect(new Set(snapshots).size).toBe(1);
    await collection.collect();
    expect(table.calls).toBe(2);
  });

  it('a failing collector loses only its own samples and reports success 0', async () => {
    const ok = counting('table', () =>
      Promise.resolve({ samples: [sample(entries, {}, 3)], source: 'netlink' }),
    );
    const bad = counting('cpu_stats', () => Promise.reject(new Error('boom')));
    const snapshot = await new Collection([ok, bad], () => [], silent).collect();
    const byName = (n: string) => snapshot.samples.filter((s) => s.metric.name === n);
    expect(byName('conntrack_entries').map((s) => s.kind === 'value' && s.value)).toEqual([3]);
    expect(
      byName('conntrack_scrape_collector_success').map((s) => [
        s.labels.collector,
        s.kind === 'value' && s.value,
      ]),
    ).toEqual([
      ['table', 1],
      ['cpu_stats', 0],
    ]);
    expect(byName('conntrack_collector_source_info').map((s) => s.labels)).toEqual([
      { collector: 'table', source: 'netlink' },
    ]);
  });

  it('logs a failing collector once per state change, not on every collection', async () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (l: string) => lines.push(l) });
    let fail = true;
    const flappy = counting('table', () =>
      fail ? Promise.reject(new Error('down')) : Promise.resolve({ samples: [], source: 'netlink' }),
    );
    const collection = new Collection([flappy], () => [], log);
    await collection.collect();
    await collection.collect();
    fail = false;
    await collection.collect();
    await collection.collect();
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      'collector failing; its metrics are absent',
      'collector recovered',
    ]);
  });
});

describe('Collection: a deadline per collector', () => {
  it('serves the others when one hangs; the hung one reports success 0 with ERR_COLLECTOR_TIMEOUT', async () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (l: string) => lines.push(l) });
    let answer: (r: CollectResult) => void = () => undefined;
    const hung = counting('cpu_stats', () => new Promise<CollectResult>((resolve) => (answer = resolve)));
    const ok = counting('table', () =>
      Promise.resolve({ samples: [sample(entries, {}, 5)], source: 'netlink' }),
    );
    const collection = new Collection([ok, hung], () => [], log, { deadlineMs: 50 });
    const success = (s: Snapshot) =>
      s.samples
        .filter((x) => x.metric.name === 'conntrack_scrape_collector_success')
        .map((x) => [x.labels.collector, x.kind === 'value' && x.value]);

    const first = await collection.collect();
    expect(first.samples.filter((s) => s.metric.name === 'conntrack_entries').length).toBe(1);
    expect(success(first)).toEqual([
      ['table', 1],
      ['cpu_stats', 0],
    ]);
    expect(
      first.samples.some((s) => s.labels.collector === 'cpu_stats' && s.metric.name.endsWith('source_info')),
    ).toBe(false);
    const failing = lines.map((l) => JSON.parse(l) as { msg: string; code?: string; collector?: string });
    expect(failing).toEqual([
      expect.objectContaining({
        msg: 'collector failing; its metrics are absent',
        code: 'ERR_COLLECTOR_TIMEOUT',
        collector: 'cpu_stats',
      }),
    ]);

    // Still hung: reported failing again without a second call piling up on the source.
    const second = await collection.collect();
    expect(success(second)).toEqual([
      ['table', 1],
      ['cpu_stats', 0],
    ]);
    expect(hung.calls).toBe(1);
    expect(ok.calls).toBe(2);

    // The late answer is dropped (never served as fresh); the next collection calls again.
    answer({ samples: [sample(entries, {}, 99)], source: 'netlink' });
    await until(() => collection.pendingCalls() === 0);
    const third = await collection.collect();
    expect(hung.calls).toBe(2);
    expect(success(third)).toEqual([
      ['table', 1],
      ['cpu_stats', 0],
    ]);
    expect(
      third.samples
        .filter((s) => s.metric.name === 'conntrack_entries')
        .map((s) => s.kind === 'value' && s.value),
    ).toEqual([5]);
  });

  it('a collector that throws synchronously is a failure, not a crash', async () => {
    const bad: Collector = {
      name: 'sysctl',
      collect: () => {
        throw new Error('sync boom');
      },
    };
    const snapshot = await new Collection([bad], () => [], silent, { deadlineMs: 1000 }).collect();
    expect(
      snapshot.samples.find((s) => s.metric.name === 'conntrack_scrape_collector_success'),
    ).toMatchObject({
      value: 0,
    });
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setImmediate(r));
}
