// End to end: Debian's real Prometheus (2.42) scrapes the built exporter inside a test namespace with
// real flows and evaluates our rules file (parameters substituted, `for:` shortened). Every query of
// both Grafana dashboards must return data, every recording rule must produce series, and on a table
// overfilled under a lowered nf_conntrack_max, ConntrackTableFull and ConntrackDroppingPackets must
// become active and fire with their full labels and annotations.
//
// Prometheus runs in the exporter's namespace (it scrapes 127.0.0.1 there, nothing else); the test
// queries its API with curl inside the namespace.

import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { collectQueries, renderQuery, type DashboardQuery } from '../support/dashboard-lint.js';
import { REPO, startExporter, startTraffic, type ServingExporter } from '../support/exporter.js';
import { Netns, withConntrackMax } from '../support/netns.js';
import {
  NEEDS_PODS,
  PARAMETERS_FILE,
  Prometheus,
  testRules,
  waitFor,
  type PromAlert,
  type PromSample,
} from '../support/prometheus.js';

const JOB = 'conntrack-exporter'; // the rules' default job selector
const EXPORTER_PORT = 9400;
const PROMETHEUS_PORT = 9090;
const INSTANCE = `127.0.0.1:${EXPORTER_PORT}`;
const SEL = `{job="${JOB}"}`;
const FOR = '5s';
/** Lowered nf_conntrack_max for the table-full scenario (as in table-health.test.ts). */
const TABLE_MAX = 64;
const DASHBOARDS = ['conntrack-node.json', 'conntrack-fleet.json'];
/** Grafana's $__rate_interval for a 1s scrape interval is 4 × 1s; 15s is Grafana's floor for it. */
const RATE_INTERVAL = '15s';

// The test's own control plane (Prometheus scraping the exporter, curl asking Prometheus) stays out
// of the conntrack table: with the table full, new loopback connections would otherwise be dropped
// like any other and the test could not observe the very state it made. The traffic generator's
// flows are tracked as usual (the `cte_track` chain from Netns).
const CONTROL_NOTRACK = `table inet cte_control {
  chain output {
    type filter hook output priority raw; policy accept;
    tcp dport { ${EXPORTER_PORT}, ${PROMETHEUS_PORT} } notrack
    tcp sport { ${EXPORTER_PORT}, ${PROMETHEUS_PORT} } notrack
  }
}
`;

interface RuleDef {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

function rulesOf(text: string): RuleDef[] {
  const doc = parse(text) as { groups: { rules: RuleDef[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

async function runbookBase(): Promise<string> {
  const params = JSON.parse(await readFile(PARAMETERS_FILE, 'utf8')) as { name: string; default: string }[];
  const p = params.find((x) => x.name === 'runbookUrlBase');
  if (!p) throw new Error('parameters.json lacks runbookUrlBase');
  return p.default;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const ACTIVE = new Set(['pending', 'firing']);

describe('a real Prometheus scraping the exporter with our rules', () => {
  let ns: Netns;
  let exporter: ServingExporter | undefined;
  let prom: Prometheus | undefined;
  const traffic: ChildProcess[] = [];
  let rules: RuleDef[];

  const p = (): Prometheus => {
    if (!prom) throw new Error('prometheus not started');
    return prom;
  };

  beforeAll(async () => {
    // acct and timestamp on before any flow exists, so byte, packet and age panels have data.
    ns = await Netns.create({ acct: true, nft: CONTROL_NOTRACK });
    traffic.push(
      await startTraffic(ns, {
        udp: { count: 20, port: 21000, payload: 50 },
        udpReply: { count: 5, port: 22000 },
        tcpClose: { count: 5, port: 5301 },
        tcpHold: { count: 8, port: 5201, bytes: 1000 },
      }),
    );
    await ns.exec('ping', ['-c', '1', '127.0.0.1']);
    exporter = await startExporter(ns, EXPORTER_PORT, {
      CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS: '1',
      // Every collector, the opt-in netns and events ones included, so every dashboard panel has data.
      CONNTRACK_EXPORTER_COLLECTORS: 'table,cpu_stats,expect_stats,sysctl,flows,netns,events',
    });
    // Connections that start and end while the events collector listens (deleting them sends
    // DESTROY at once), so the lifetime and finished-bytes panels have data.
    await waitFor(
      'the event reader',
      async () =>
        (await ns.exec('curl', ['-sf', `http://${INSTANCE}/metrics`])).stdout.includes(
          'conntrack_events_receive_buffer_bytes',
        ) || undefined,
      15_000,
    );
    (await startTraffic(ns, { udp: { count: 3, port: 24000, payload: 50 } })).kill('SIGKILL');
    for (const port of [24000, 24001, 24002]) {
      await ns.exec('conntrack', ['-D', '-p', 'udp', '--dport', String(port)]);
    }

    const generated = await testRules(FOR);
    // Every alert has a `for:` and every one was shortened; nothing else in the file was touched.
    expect(generated.forReplaced).toBe(generated.alerts);
    expect(generated.alerts).toBeGreaterThan(0);
    rules = rulesOf(generated.text);
    prom = await Prometheus.start(ns, {
      port: PROMETHEUS_PORT,
      target: INSTANCE,
      job: JOB,
      rules: generated.text,
      interval: '1s',
    });

    // Ready for queries once a few scrapes are in (rates, deriv and predict_linear need two
    // samples), the first flow pass has been scraped and the rules have been evaluated.
    const records = rules.flatMap((r) => (r.record ? [r.record] : []));
    await waitFor(
      'scrapes, flow metrics and recording rules',
      async () => {
        const ready = await Promise.all([
          p().query(`count_over_time(conntrack_entries${SEL}[1m]) >= 4`),
          p().query(`conntrack_flows${SEL}`),
          p().query(`conntrack_flow_age_seconds_bucket${SEL}`),
          p().query(`conntrack_connection_lifetime_seconds_bucket${SEL}`),
          ...records.map((r) => p().query(`${r}${SEL}`)),
        ]);
        return ready.every((r) => r.length > 0) ? true : undefined;
      },
      30_000,
    );
  });

  afterAll(async () => {
    await prom?.stop();
    for (const t of traffic) t.kill('SIGKILL');
    await exporter?.stop();
    await ns?.destroy();
  });

  it('scrapes only the exporter, successfully', async () => {
    const targets = await p().targets();
    expect(targets.map((t) => ({ url: t.scrapeUrl, health: t.health, labels: t.labels }))).toEqual([
      { url: `http://${INSTANCE}/metrics`, health: 'up', labels: { job: JOB, instance: INSTANCE } },
    ]);
    const up = await p().query('up');
    expect(up.map((s) => [s.metric, s.value[1]])).toEqual([
      [{ __name__: 'up', job: JOB, instance: INSTANCE }, '1'],
    ]);
  });

  it('ingests the flow age as a gauge histogram (OpenMetrics, which Prometheus negotiates)', async () => {
    const res = await p().api<Record<string, { type: string }[]>>('/api/v1/metadata', {
      metric: 'conntrack_flow_age_seconds',
    });
    expect(res.data?.conntrack_flow_age_seconds?.map((m) => m.type)).toEqual(['gaugehistogram']);
    const inf = await p().query(`sum(conntrack_flow_age_seconds_bucket{le="+Inf",${SEL.slice(1, -1)}})`);
    const count = await p().query(`sum(conntrack_flow_age_seconds_gcount${SEL})`);
    expect(Number(count[0]?.value[1])).toBeGreaterThan(0);
    expect(inf[0]?.value[1]).toBe(count[0]?.value[1]);
    expect(await p().query(`conntrack_flow_age_seconds_count${SEL}`)).toEqual([]);
  });

  it('produces series for every recording rule, with the target labels', async () => {
    const records = rules.flatMap((r) => (r.record ? [r.record] : []));
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) {
      const result = await p().query(record);
      expect({ record, count: result.length }).toEqual({ record, count: 1 });
      expect(result[0]?.metric).toEqual({ __name__: record, job: JOB, instance: INSTANCE });
      expect(Number.isFinite(Number(result[0]?.value[1]))).toBe(true);
    }
  });

  it('returns data for every query of both dashboards', async () => {
    const queries: (DashboardQuery & { dashboard: string; rendered: string })[] = [];
    for (const file of DASHBOARDS) {
      const dashboard: unknown = JSON.parse(await readFile(`${REPO}deploy/grafana/${file}`, 'utf8'));
      for (const q of collectQueries(dashboard)) {
        // This namespace has no pods: those panels are run on the pod topology (pods.test.ts).
        if (NEEDS_PODS.test(q.expr)) continue;
        const rendered = renderQuery(q.expr, {
          job: JOB,
          instance: INSTANCE,
          __rate_interval: RATE_INTERVAL,
        });
        queries.push({ ...q, dashboard: file, rendered });
      }
    }
    expect(queries.length).toBeGreaterThan(40);
    // Range panels are run as instant queries: the same expression at the last evaluation.
    const results = await mapLimit(queries, 8, async (q) => {
      try {
        return { q, result: await p().query(q.rendered) };
      } catch (err) {
        return { q, error: String(err) };
      }
    });
    const where = (q: (typeof queries)[number]): string =>
      `${q.dashboard} panel ${q.panelId} "${q.panelTitle}" ${q.refId}`;
    // A query that errors always fails; none may be empty (no allow-list is needed: every panel
    // has data on a healthy table — rates of counters that did not move are 0, not absent).
    const errors = results.flatMap((r) => (r.error !== undefined ? [`${where(r.q)}: ${r.error}`] : []));
    const empty = results.flatMap((r) => (r.result?.length === 0 ? [`${where(r.q)}: ${r.q.rendered}`] : []));
    expect(errors).toEqual([]);
    expect(empty).toEqual([]);
  });

  it('has no active alert on a healthy table', async () => {
    expect(await p().alerts()).toEqual([]);
  });

  it('fires ConntrackTableFull and ConntrackDroppingPackets on an overfilled table', async () => {
    const base = await runbookBase();
    const original = (await readFile('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8')).trim();
    const find = (alerts: PromAlert[], name: string): PromAlert | undefined =>
      alerts.find((a) => a.labels.alertname === name && a.labels.instance === INSTANCE);
    const both = async (states: ReadonlySet<string>): Promise<[PromAlert, PromAlert] | undefined> => {
      const alerts = await p().alerts();
      const full = find(alerts, 'ConntrackTableFull');
      const dropping = find(alerts, 'ConntrackDroppingPackets');
      return full && dropping && states.has(full.state) && states.has(dropping.state)
        ? [full, dropping]
        : undefined;
    };

    // The lowered window lasts until Prometheus's rule evaluation has both conditions true.
    const { kernelDrops, maxRatio } = await withConntrackMax(TABLE_MAX, async () => {
      // Unreplied UDP is not assured: the kernel early-drops it, and past that drops new flows.
      const t = await startTraffic(ns, { udp: { count: 400, port: 30000 } });
      t.kill('SIGKILL');
      const stats = await ns.conntrackStats();
      const drops = [...stats.values()].reduce(
        (a, m) => a + (m.get('drop') ?? 0) + (m.get('early_drop') ?? 0),
        0,
      );
      await waitFor('both alerts pending or firing', () => both(ACTIVE), 45_000);
      const ratio = await p().query(`max_over_time(instance:conntrack_utilization:ratio${SEL}[1m])`);
      return { kernelDrops: drops, maxRatio: Number(ratio[0]?.value[1]) };
    });
    expect((await readFile('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8')).trim()).toBe(original);
    expect(kernelDrops).toBeGreaterThan(0);
    // Prometheus saw the table full by the ratio too, not only through the drop counters.
    expect(maxRatio).toBeGreaterThan(0.95);

    // The drop rates stay positive over their 5m window after the limit is restored, so both
    // conditions hold and the alerts go on to fire after the shortened `for:`.
    const [full, dropping] = await waitFor('both alerts firing', () => both(new Set(['firing'])), 30_000);
    const annotationsOf = (name: string): Record<string, string> =>
      rules.find((r) => r.alert === name)?.annotations ?? {};

    expect(full.labels).toEqual({
      alertname: 'ConntrackTableFull',
      severity: 'critical',
      job: JOB,
      instance: INSTANCE,
    });
    expect(full.annotations.summary).toBe(annotationsOf('ConntrackTableFull').summary);
    expect(full.annotations.runbook_url).toBe(`${base}/ConntrackTableFull.md`);
    expect(full.annotations.description).toContain(`The conntrack table on ${INSTANCE} is `);
    // The value is the utilization, shown as a percentage in the description.
    const fullValue = Number(full.value);
    expect(fullValue).toBeGreaterThan(0);
    expect(fullValue).toBeLessThanOrEqual(1);
    const pct = /is ([0-9.e+-]+)% full/.exec(full.annotations.description ?? '');
    expect(pct).not.toBeNull();
    expect(Number(pct?.[1])).toBeCloseTo(fullValue * 100, 1);

    expect(dropping.labels).toEqual({
      alertname: 'ConntrackDroppingPackets',
      severity: 'critical',
      job: JOB,
      instance: INSTANCE,
    });
    expect(dropping.annotations.summary).toBe(annotationsOf('ConntrackDroppingPackets').summary);
    expect(dropping.annotations.runbook_url).toBe(`${base}/ConntrackDroppingPackets.md`);
    expect(dropping.annotations.description).toContain(`Conntrack on ${INSTANCE} dropped packets`);
    // The value is drops + early drops per second, printed with two decimals.
    const dropValue = Number(dropping.value);
    expect(dropValue).toBeGreaterThan(0);
    const rate = /at ([0-9.]+) per second/.exec(dropping.annotations.description ?? '');
    expect(rate).not.toBeNull();
    expect(Math.abs(Number(rate?.[1]) - dropValue)).toBeLessThanOrEqual(0.005 + 1e-9);

    // The recorded drop rates agree with the alert: the sum it fires on is positive.
    const recorded: PromSample[] = await p().query(
      `instance:conntrack_stat_drop:rate5m${SEL} + instance:conntrack_stat_early_drop:rate5m${SEL}`,
    );
    expect(Number(recorded[0]?.value[1])).toBeGreaterThan(0);
  });
});
