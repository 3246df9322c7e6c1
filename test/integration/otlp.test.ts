// Integration: the built CLI pushes OTLP/HTTP to a real receiver, with `conntrack -C`/`-S` as the
// oracle. Exporter, receiver and flows share one namespace this test creates; the exporter's own
// HTTP traffic (OTLP and scrapes) is notrack'ed there, so the table and the per-CPU counters do
// not move while we compare and every value is compared exactly. Run `npm run build` first.

import type { ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CATALOG,
  CPU_STAT_NAMES,
  FLOW_AGE_BUCKETS,
  OTEL_ATTRIBUTE,
  flowAgeSeconds,
} from '../../src/metrics/catalog.js';
import {
  BUCKET_BOUND_ATTRIBUTE,
  gaugeHistogramDescriptors,
  gaugeHistogramNames,
} from '../../src/sinks/otel.js';
import { startExporter, startTraffic, type ServingExporter } from '../support/exporter.js';
import { parseExposition, select, valueOf, type ExpoSample } from '../support/exposition.js';
import { Netns } from '../support/netns.js';
import { quietPeriod, waitFor } from '../support/wait.js';
import {
  decodeExport,
  findMetric,
  metricsOf,
  pointsOf,
  startReceiverIn,
  type OtlpExport,
  type Receiver,
  type ReceivedRequest,
} from '../support/otlp.js';

const RECEIVER_PORT = 4318;
/** Nothing listens there: a receiver that is down. */
const DOWN_PORT = 4319;
const EXPORTER_PORT = 9469;
const HELD_TCP = 5;
const INVALID_PACKETS = 7;

const PORTS = `{ ${RECEIVER_PORT}, ${DOWN_PORT}, ${EXPORTER_PORT} }`;
const NOTRACK = `table inet cte_otlp_notrack {
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    tcp dport ${PORTS} notrack
    tcp sport ${PORTS} notrack
  }
  chain out {
    type filter hook output priority raw; policy accept;
    tcp dport ${PORTS} notrack
    tcp sport ${PORTS} notrack
  }
}
`;

/** TCP segments with SYN+RST set: nf_conntrack_proto_tcp.c's tcp_error() counts them invalid. */
const INVALID_TCP = `
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
for i in range(${INVALID_PACKETS}):
    s.sendto(struct.pack('!HHIIBBHHH', 40000 + i, 5999, 1, 0, 5 << 4, 0x06, 1024, 0, 0), ('127.0.0.1', 0))
`;

/** Every OTLP name with its unit, description and kind (a gauge histogram is three gauges). */
const OTEL_NAMES = new Map(
  CATALOG.flatMap((m) =>
    m.type === 'gaugehistogram'
      ? gaugeHistogramDescriptors(m).map((d) => [d.name, { ...d, kind: 'gauge' }] as const)
      : [
          [
            m.otelName,
            { unit: m.unit, description: m.help, kind: m.type === 'counter' ? 'sum' : 'gauge' },
          ] as const,
        ],
  ),
);
const ATTRIBUTE_NAMES = new Set([...Object.values(OTEL_ATTRIBUTE), BUCKET_BOUND_ATTRIBUTE]);
const VERSION = (
  JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

let ns: Netns;
let traffic: ChildProcess | undefined;
let exporter: ServingExporter | undefined;
let receiver: Receiver | undefined;

async function scrape(path = '/metrics'): Promise<{ status: number; body: string }> {
  const { stdout } = await ns.exec('curl', [
    '-s',
    '-w',
    '\n%{http_code}',
    `http://127.0.0.1:${EXPORTER_PORT}${path}`,
  ]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

async function prometheusSamples(): Promise<ExpoSample[]> {
  const { status, body } = await scrape();
  expect(status).toBe(200);
  return parseExposition(body);
}

function otlpEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${RECEIVER_PORT}`,
    OTEL_METRIC_EXPORT_INTERVAL: '500',
    ...extra,
  };
}

function decoded(req: ReceivedRequest): OtlpExport[] {
  return decodeExport(req.body, req.headers);
}

/** Waits for the first export that satisfies `done` (e.g. carries the first flow pass). */
async function exportWhere(r: Receiver, done: (e: OtlpExport[]) => boolean): Promise<OtlpExport[]> {
  for (let seen = 0; ; seen++) {
    await r.waitFor(seen + 1);
    const req = r.requests[seen];
    if (req && req.status === 200 && done(decoded(req))) return decoded(req);
  }
}

const hasFlows = (e: OtlpExport[]): boolean => pointsOf(e, 'conntrack.flows').length > 0;

async function oracle() {
  return {
    count: await ns.conntrackCount(),
    stats: await ns.conntrackStats(),
    max: Number((await ns.exec('cat', ['/proc/sys/net/netfilter/nf_conntrack_max'])).stdout.trim()),
  };
}

/** The push carries exactly what the kernel reports, under the catalogue's names. */
function expectMatchesKernel(e: OtlpExport[], o: Awaited<ReturnType<typeof oracle>>): void {
  expect(o.count).toBeGreaterThanOrEqual(HELD_TCP);
  expect(pointsOf(e, 'system.network.conntrack.count').map((p) => p.value)).toEqual([o.count]);
  expect(pointsOf(e, 'system.network.conntrack.max').map((p) => p.value)).toEqual([o.max]);
  let invalid = 0;
  for (const [cpu, counters] of o.stats) {
    for (const [name, value] of counters) {
      const values = pointsOf(e, `conntrack.stat.${name}`, { 'cpu.logical_number': cpu }).map((p) => p.value);
      expect({ cpu, name, values }).toEqual({ cpu, name, values: [value] });
      if (name === 'invalid') invalid += value;
    }
  }
  // The raw SYN+RST segments made in beforeAll: the comparison is not between zeros.
  expect(invalid).toBeGreaterThanOrEqual(INVALID_PACKETS);
  const reported = new Set([...o.stats.values()].flatMap((m) => [...m.keys()]));
  for (const name of CPU_STAT_NAMES) {
    if (!reported.has(name)) expect(pointsOf(e, `conntrack.stat.${name}`)).toEqual([]);
  }
  expect(
    pointsOf(e, 'conntrack.flows', {
      'network.type': 'ipv4',
      'network.transport': 'tcp',
      'conntrack.state': 'established',
    }).map((p) => p.value),
  ).toEqual([HELD_TCP]);
}

/** Names, units, descriptions, kinds and attribute names all come from the catalogue. */
function expectCatalogueShape(e: OtlpExport[], temporality: 1 | 2): void {
  const metrics = metricsOf(e);
  expect(metrics.length).toBeGreaterThan(20);
  for (const m of metrics) {
    const known = OTEL_NAMES.get(m.name);
    expect({ name: m.name, unit: m.unit, description: m.description, kind: m.kind, scope: m.scope }).toEqual({
      name: m.name,
      unit: known?.unit,
      description: known?.description,
      kind: known?.kind,
      scope: 'conntrack-exporter',
    });
    if (m.kind === 'sum')
      expect({ name: m.name, monotonic: m.monotonic, temporality: m.temporality }).toEqual({
        name: m.name,
        monotonic: true,
        temporality,
      });
    for (const p of m.points)
      for (const key of Object.keys(p.attributes)) expect(ATTRIBUTE_NAMES).toContain(key);
  }
  for (const collector of ['table', 'cpu_stats', 'expect_stats', 'sysctl', 'flows']) {
    expect(
      pointsOf(e, 'conntrack.scrape.collector.success', { 'conntrack.collector': collector }).map(
        (p) => p.value,
      ),
    ).toEqual([1]);
  }
}

beforeAll(async () => {
  // acct + timestamp: the flow byte gauges and the flow-age histogram exist.
  ns = await Netns.create({ acct: true, nft: NOTRACK });
  traffic = await startTraffic(ns, { tcpHold: { count: HELD_TCP, port: 5201, bytes: 1000 } });
  await ns.exec('python3', ['-c', INVALID_TCP]);
});

afterEach(async () => {
  await exporter?.stop('SIGKILL');
  await receiver?.close();
  exporter = undefined;
  receiver = undefined;
});

afterAll(async () => {
  traffic?.kill('SIGKILL');
  await ns?.destroy();
});

describe('OTLP only', () => {
  it('pushes JSON with the catalogue names, the resource and the kernel values; /metrics is 404', async () => {
    receiver = await startReceiverIn(ns, { port: RECEIVER_PORT });
    exporter = await startExporter(
      ns,
      EXPORTER_PORT,
      otlpEnv({
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20t0ken',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=e2e',
        K8S_NODE_NAME: 'node-a',
        K8S_POD_NAME: 'conntrack-exporter-abcde',
        K8S_NAMESPACE_NAME: 'monitoring',
      }),
    );
    expect((await scrape()).status).toBe(404);

    const first = await exportWhere(receiver, hasFlows);
    const o = await oracle();
    const req = receiver.requests.at(-1);
    expect(req?.path).toBe('/v1/metrics');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers.authorization).toBe('Bearer t0ken');

    expect(first[0]?.resource).toMatchObject({
      'service.name': 'conntrack-exporter',
      'service.version': VERSION,
      'host.name': hostname(),
      'k8s.node.name': 'node-a',
      'k8s.pod.name': 'conntrack-exporter-abcde',
      'k8s.namespace.name': 'monitoring',
      'deployment.environment.name': 'e2e',
    });
    expectCatalogueShape(first, 2);
    expectMatchesKernel(first, o);
    // Flow aggregates keep the Prometheus dimensions; acct and timestamp are on in this namespace.
    // The flow-age gauge histogram: gauges of the current population, by bucket bound.
    const age = gaugeHistogramNames(flowAgeSeconds);
    const tcp = { 'network.transport': 'tcp' };
    expect(pointsOf(first, age.count, tcp).map((p) => p.value)).toEqual([HELD_TCP]);
    expect(pointsOf(first, age.bucket, { ...tcp, le: '+Inf' }).map((p) => p.value)).toEqual([HELD_TCP]);
    expect(pointsOf(first, age.bucket, tcp)).toHaveLength(FLOW_AGE_BUCKETS.length + 1);
    expect(pointsOf(first, age.sum, tcp)[0]?.value).toBeGreaterThanOrEqual(0);
    expect(
      pointsOf(first, 'conntrack.flow.bytes', { 'conntrack.direction': 'original' }).length,
    ).toBeGreaterThan(0);

    // Cumulative sums never go down between exports and keep their start time.
    const n = receiver.requests.length;
    await receiver.waitFor(n + 1);
    const later = decoded(receiver.requests[n] as ReceivedRequest);
    for (const m of metricsOf(first).filter((x) => x.kind === 'sum')) {
      for (const p of m.points) {
        const next = pointsOf(later, m.name, p.attributes)[0];
        expect(next?.startTimeUnixNano).toBe(p.startTimeUnixNano);
        expect(next?.value ?? -1).toBeGreaterThanOrEqual(p.value ?? 0);
      }
    }
  });

  it('pushes protobuf with delta temporality: the deltas add up to conntrack -S', async () => {
    receiver = await startReceiverIn(ns, { port: RECEIVER_PORT });
    exporter = await startExporter(
      ns,
      EXPORTER_PORT,
      otlpEnv({
        OTEL_METRICS_EXPORTER: 'otlp',
        // The signal-specific variable wins over the generic one.
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta',
      }),
    );
    await exportWhere(receiver, hasFlows);
    const n = receiver.requests.length;
    await receiver.waitFor(n + 2);
    const o = await oracle();
    const all = receiver.requests.map((r) => {
      expect(r.headers['content-type']).toBe('application/x-protobuf');
      return decoded(r);
    });
    const last = all.at(-1) ?? [];
    expectCatalogueShape(last, 1);
    expect(pointsOf(last, 'system.network.conntrack.count').map((p) => p.value)).toEqual([o.count]);
    for (const [cpu, counters] of o.stats) {
      for (const [name, value] of counters) {
        const sum = all
          .flatMap((e) => pointsOf(e, `conntrack.stat.${name}`, { 'cpu.logical_number': cpu }))
          .reduce((a, p) => a + (p.value ?? 0), 0);
        expect({ cpu, name, sum }).toEqual({ cpu, name, sum: value });
      }
    }
    // Later deltas of the (quiet) kernel counters are zero: the first export carried the totals.
    expect(pointsOf(last, 'conntrack.stat.invalid').every((p) => p.value === 0)).toBe(true);
    // Gauges have no temporality: the flow-age buckets carry the current population.
    expect(findMetric(last, gaugeHistogramNames(flowAgeSeconds).count)?.kind).toBe('gauge');
  });

  it('delivers a final export on SIGTERM before exiting', async () => {
    receiver = await startReceiverIn(ns, { port: RECEIVER_PORT });
    // One export per hour: the only one that can arrive is the shutdown flush.
    exporter = await startExporter(
      ns,
      EXPORTER_PORT,
      otlpEnv({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_METRIC_EXPORT_INTERVAL: '3600000' }),
    );
    expect(receiver.requests).toHaveLength(0);
    const code = await exporter.stop('SIGTERM');
    expect(code).toBe(0);
    await receiver.waitFor(1);
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]?.status).toBe(200);
    const o = await oracle();
    expect(
      pointsOf(decoded(receiver.requests[0] as ReceivedRequest), 'system.network.conntrack.count').map(
        (p) => p.value,
      ),
    ).toEqual([o.count]);
    expect(exporter.stderr()).not.toMatch(
      /shutdown deadline passed|ERR_OTLP_SHUTDOWN|final OTLP export lost/,
    );
  });

  it('says so when the final export on SIGTERM is lost (issue 11)', async () => {
    // 400 is not retried: the shutdown flush fails at once.
    receiver = await startReceiverIn(ns, { port: RECEIVER_PORT, statuses: [400] });
    exporter = await startExporter(
      ns,
      EXPORTER_PORT,
      otlpEnv({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_METRIC_EXPORT_INTERVAL: '3600000' }),
    );
    expect(await exporter.stop('SIGTERM')).toBe(0);
    expect(receiver.requests.map((r) => r.status)).toEqual([400]);
    const lost = exporter
      .stderr()
      .split('\n')
      .filter((l) => l.includes('final OTLP export lost'));
    expect(lost).toHaveLength(1);
    expect(JSON.parse(lost[0] ?? '{}')).toMatchObject({ level: 40, reason: 'export failed' });
  });
});

describe('OTLP and Prometheus together', () => {
  it('serves /metrics and pushes the same values', async () => {
    receiver = await startReceiverIn(ns, { port: RECEIVER_PORT });
    exporter = await startExporter(
      ns,
      EXPORTER_PORT,
      otlpEnv({ OTEL_METRICS_EXPORTER: 'otlp,prometheus', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
    );
    const pushed = await exportWhere(receiver, hasFlows);
    const scraped = await prometheusSamples();
    const o = await oracle();
    expectMatchesKernel(pushed, o);
    expect(valueOf(scraped, 'conntrack_entries')).toBe(o.count);
    for (const [cpu, counters] of o.stats) {
      for (const [name, value] of counters) {
        expect(valueOf(scraped, `conntrack_stat_${name}_total`, { cpu: String(cpu) })).toBe(value);
      }
    }
    // Every flow series of /metrics is pushed with the same dimensions and value.
    for (const s of select(scraped, 'conntrack_flows')) {
      const attrs = Object.fromEntries(Object.entries(s.labels).map(([k, v]) => [OTEL_ATTRIBUTE[k] ?? k, v]));
      expect(pointsOf(pushed, 'conntrack.flows', attrs).map((p) => p.value)).toEqual([s.value]);
    }
    expect(valueOf(scraped, 'conntrack_otlp_export_failures_total')).toBe(0);
    expect(pointsOf(pushed, 'conntrack.otlp.export_failures').map((p) => p.value)).toEqual([0]);
  });

  it('retries a 503 and the export succeeds', async () => {
    receiver = await startReceiverIn(ns, { port: RECEIVER_PORT, statuses: [503, 200] });
    // An interval above the SDK's first backoff (1 s ± 20 %), so the retry fits in one export.
    exporter = await startExporter(
      ns,
      EXPORTER_PORT,
      otlpEnv({ OTEL_METRICS_EXPORTER: 'prometheus,otlp', OTEL_METRIC_EXPORT_INTERVAL: '3000' }),
    );
    await receiver.waitFor(2);
    const [first, second] = receiver.requests;
    expect([first?.status, second?.status]).toEqual([503, 200]);
    expect(second?.body.equals(first?.body ?? Buffer.alloc(0))).toBe(true);
    expect(valueOf(await prometheusSamples(), 'conntrack_otlp_export_failures_total')).toBe(0);
    expect(exporter.stderr()).not.toContain('OTLP export failing');
  });

  it('keeps /metrics correct while the receiver is down, counting and logging the failures once', async () => {
    exporter = await startExporter(
      ns,
      EXPORTER_PORT,
      otlpEnv({
        OTEL_METRICS_EXPORTER: 'otlp,prometheus',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${DOWN_PORT}`,
        // Retries give up within the request timeout.
        OTEL_EXPORTER_OTLP_TIMEOUT: '300',
      }),
    );
    // Every scrape until three exports have failed is correct.
    await waitFor(
      async () => {
        const samples = await prometheusSamples();
        expect(valueOf(samples, 'conntrack_entries')).toBe(await ns.conntrackCount());
        expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'cpu_stats' })).toBe(1);
        return valueOf(samples, 'conntrack_otlp_export_failures_total') >= 3;
      },
      { timeout: 30_000, interval: 100, what: 'three failed exports' },
    );
    expect(exporter.stderr().match(/OTLP export failing/g)).toHaveLength(1);
    expect(exporter.stderr()).toContain('ECONNREFUSED');
  });

  it('keeps /metrics answering while the receiver accepts and never answers', async () => {
    receiver = await startReceiverIn(ns, { port: RECEIVER_PORT, hang: true });
    exporter = await startExporter(
      ns,
      EXPORTER_PORT,
      otlpEnv({ OTEL_METRICS_EXPORTER: 'otlp,prometheus', OTEL_EXPORTER_OTLP_TIMEOUT: '1000' }),
    );
    await receiver.waitFor(1);
    for (let i = 0; i < 5; i++) {
      const samples = await prometheusSamples();
      expect(valueOf(samples, 'conntrack_entries')).toBe(await ns.conntrackCount());
    }
    // The reader's export timeout (the 500 ms interval) passes before the request's 1 s: logged
    // as a timeout, once, never as the SDK's "Concurrent export limit reached" (issue 11).
    await waitFor(() => exporter?.stderr().includes('OTLP export failing'), {
      what: 'the export failure in the log',
    });
    const failures = await waitFor(
      async () => {
        const n = valueOf(await prometheusSamples(), 'conntrack_otlp_export_failures_total');
        return n >= 3 && n;
      },
      { what: 'three failed exports' },
    );
    const failing = (exporter?.stderr() ?? '').split('\n').filter((l) => l.includes('OTLP export failing'));
    expect(failing).toHaveLength(1);
    expect(failing[0]).toContain('"code":"ERR_OTLP_EXPORT_TIMEOUT"');
    expect(exporter?.stderr()).not.toContain('Concurrent export limit');
    // Exports that found the last request still hanging were skipped, not stacked onto it.
    expect(receiver.requests.length).toBeLessThan(failures);
  });
});

describe('Prometheus only (the default)', () => {
  it('never contacts the OTLP endpoint, even on shutdown', async () => {
    receiver = await startReceiverIn(ns, { port: RECEIVER_PORT });
    exporter = await startExporter(ns, EXPORTER_PORT, otlpEnv());
    const samples = await prometheusSamples();
    const o = await oracle();
    expect(valueOf(samples, 'conntrack_entries')).toBe(o.count);
    expect(select(samples, 'conntrack_otlp_export_failures_total')).toEqual([]);
    // Three export intervals pass, in which a running pipeline would have exported; then the
    // shutdown, which would flush it. (A negative needs the time; it is derived, not guessed.)
    await quietPeriod(3 * Number(otlpEnv().OTEL_METRIC_EXPORT_INTERVAL));
    expect(await exporter.stop('SIGTERM')).toBe(0);
    expect(receiver.requests).toHaveLength(0);
  });
});
