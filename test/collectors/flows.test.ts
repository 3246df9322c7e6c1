// The flows collector around its pass runner (a scripted runner here; the real worker is
// test/integration/flow-worker.test.ts, the real walk test/integration/flow-walk.test.ts), its
// CT_GET_STATS answered with recorded kernel bytes: malformed counts reach the telemetry (and so
// conntrack_netlink_malformed_messages_total), a failed pass drops the aggregates at once and
// counts result="error", and aggregates older than the maximum age are absent.

import { createLogger } from '../../src/log.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sample } from '../../src/metrics/sample.js';
import { ConntrackClient } from '../../src/conntrack/client.js';
import { Telemetry } from '../../src/metrics/telemetry.js';
import { flowCollector, maxAgeMs, passDeadlineMs, type FlowOptions } from '../../src/collectors/flows.js';
import { FlowWorkerExitError } from '../../src/flows/errors.js';
import type { PassRunner } from '../../src/flows/runner.js';
import type { PassReport } from '../../src/flows/walk.js';
import { FakeKernel } from '../support/fake-socket.js';
import { loadFixture } from '../support/fixtures.js';
import { quietPeriod, waitFor } from '../support/wait.js';

const stats = loadFixture('stats').corpus('ct_get_stats');

const report = (malformed = 0): PassReport => ({
  kind: 'report',
  output: {
    samples: [
      {
        kind: 'value',
        name: 'conntrack_flows',
        labels: { family: 'ipv4', protocol: 'udp', state: 'none' },
        value: 7,
      },
    ],
    folded: 0,
    malformed,
  },
  read: 7,
  decoded: 7,
  duplicates: 0,
  complete: true,
  held: false,
  starts: ['fits'],
});

/** A runner that answers each pass with the next scripted outcome. */
function scripted(outcomes: (PassReport | Error)[]): PassRunner {
  return {
    run: () => {
      const next = outcomes.shift();
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next ?? report());
    },
    close: () => Promise.resolve(),
  };
}

const clients: ConntrackClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function collector(runner: PassRunner, extra: Partial<FlowOptions> = {}, netlink = true) {
  const kernel = new FakeKernel(() => stats.datagrams);
  const client = new ConntrackClient({ timeoutMs: 2000, socketFactory: kernel.factory });
  clients.push(client);
  const telemetry = new Telemetry('test');
  const c = flowCollector(
    {
      client,
      netlink,
      procPath: '/proc',
      kernelRelease: '',
      timeoutMs: 2000,
      log: createLogger('silent'),
      telemetry,
    },
    {
      intervalMs: 60_000,
      maxFlowsPerPass: 100,
      seriesBudget: 300,
      topK: 10,
      skipAboveUsage: 0,
      enableAccounting: false,
      podAttribution: false,
      addresses: { mode: 'full' },
      log: createLogger('silent'),
      runner: () => runner,
      ...extra,
    },
  );
  return { c, client, telemetry };
}

const named = (samples: readonly Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter(
    (s) => s.metric.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );

describe('the flows collector', () => {
  it('counts the pass malformed messages in the telemetry (conntrack_netlink_malformed_messages_total)', async () => {
    const { c, telemetry } = collector(scripted([report(3)]));
    const before = telemetry.malformedMessages;
    await c.runOnce();
    expect(telemetry.malformedMessages - before).toBe(3);
    const r = await c.collect();
    expect(r.error).toBeUndefined();
    expect(named(r.samples, 'conntrack_flows').map((s) => s.kind === 'value' && s.value)).toEqual([7]);
    expect(named(r.samples, 'conntrack_flow_walks_total', { reason: 'fits' })[0]).toMatchObject({ value: 1 });
  });

  it('a failed pass: no aggregates, its error with its code, result="error"; the next pass recovers', async () => {
    const { c } = collector(scripted([report(), new FlowWorkerExitError('exit code 7'), report()]));
    await c.runOnce();
    await c.runOnce();
    const failed = await c.collect();
    expect(failed.error).toBeInstanceOf(FlowWorkerExitError);
    expect(failed.error).toMatchObject({ code: 'ERR_FLOW_WORKER_EXIT' });
    expect(named(failed.samples, 'conntrack_flows')).toEqual([]);
    expect(named(failed.samples, 'conntrack_flow_passes_total', { result: 'error' })[0]).toMatchObject({
      value: 1,
    });
    await c.runOnce();
    const ok = await c.collect();
    expect(ok.error).toBeUndefined();
    expect(named(ok.samples, 'conntrack_flows').length).toBe(1);
    expect(named(ok.samples, 'conntrack_flow_passes_total', { result: 'ok' })[0]).toMatchObject({ value: 2 });
  });

  it('aggregates older than the maximum age are absent (ERR_FLOWS_STALE)', async () => {
    const { c } = collector(scripted([report()]), { maxAgeMs: 60 });
    await c.runOnce();
    expect(named((await c.collect()).samples, 'conntrack_flows').length).toBe(1);
    const stale = await waitFor(
      async () => {
        const r = await c.collect();
        return r.error ? r : undefined;
      },
      { what: 'the aggregates to age out' },
    );
    expect(stale.error).toMatchObject({ code: 'ERR_FLOWS_STALE' });
    expect(named(stale.samples, 'conntrack_flows')).toEqual([]);
    expect(named(stale.samples, 'conntrack_flow_pass_end_timestamp_seconds')).toEqual([]);
    // The pass counters stay.
    expect(named(stale.samples, 'conntrack_flow_passes_total', { result: 'ok' })[0]).toMatchObject({
      value: 1,
    });
  });

  it('without ctnetlink: no pass is ever attempted, no source claimed, no error count that grows (issue 11)', async () => {
    const warnings: string[] = [];
    const log = createLogger('warn', { write: (line: string) => warnings.push(line) });
    const { c } = collector(scripted([]), { intervalMs: 1, log }, false);
    c.start?.();
    await c.runOnce();
    // Twenty intervals in which passes (each a failure and a warning) would have run.
    await quietPeriod(20);
    for (let i = 0; i < 3; i++) {
      // Each collection fails the same way, with no samples (so no passes_total) and no source.
      await expect(c.collect()).rejects.toMatchObject({ code: 'ERR_FLOWS_UNAVAILABLE' });
    }
    await c.stop?.();
    expect(warnings).toEqual([]);
  });

  it('defaults: the maximum age is three intervals; the deadline the interval, at least twice the timeout', () => {
    expect(maxAgeMs({ intervalMs: 30_000 })).toBe(90_000);
    expect(maxAgeMs({ intervalMs: 30_000, maxAgeMs: 45_000 })).toBe(45_000);
    expect(passDeadlineMs(30_000, 5000)).toBe(30_000);
    expect(passDeadlineMs(1000, 5000)).toBe(10_000);
  });
});
