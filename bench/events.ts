// Connection-event benchmark, side by side in one run:
//  1. the exporter's CPU (exporter and its event reader together) per 1,000 new connections per
//     second: steady UDP traffic at a fixed rate, each flow expiring after 1 s (so NEW and
//     DESTROY both flow), minus the same exporter idle for as long;
//  2. the packet path's cost: connection-creation throughput in a namespace without any event
//     listener, with the reference listener (`conntrack -E`, draining to /dev/null) and with the
//     exporter's `events` collector listening (alternated runs), for TCP connections (connect,
//     accept, close on loopback: what a connection costs a real workload) and for one-packet UDP
//     flows as fast as one process sends them (the worst case: the event is most of the work);
//  3. events lost in bursts of 5k, 20k and 50k new connections per second (2 s each, paced,
//     split over sender processes): flows the kernel created minus NEW events counted.
// Every figure is a median of --runs; nothing is asserted. Needs root (creates namespaces).
// Usage: a part of `npm run bench`; alone, `npm run bench -- events [--runs 3] [--seconds 8]`.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Netns } from '../test/support/netns.js';

const DIST = fileURLToPath(new URL('./', import.meta.url));
const NODE = process.execPath;
const CLI = `${DIST}../src/cli.js`;
const TRAFFIC = `${DIST}../test/support/traffic.js`;
const PORT = 19470;
let runs = 3;
let seconds = 8;
/** Flows one sender process makes per second at most on this kind of machine (see traffic.ts). */
const PER_SENDER = 20_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** utime + stime of a process and its children, in seconds (clock ticks at 100 Hz). */
async function cpuSeconds(pid: number): Promise<number> {
  const one = async (p: number): Promise<number> => {
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => ''))
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const parts = await Promise.all([pid, ...children].map(one));
  return parts.reduce((a, b) => a + b, 0);
}

async function namespace(): Promise<Netns> {
  const ns = await Netns.create();
  await ns.sysctl('net.netfilter.nf_conntrack_udp_timeout', '1');
  return ns;
}

async function startExporter(ns: Netns): Promise<number> {
  const child = ns.spawn(NODE, [CLI], {
    PATH: process.env.PATH,
    CONNTRACK_EXPORTER_LISTEN_ADDRESS: `127.0.0.1:${PORT}`,
    CONNTRACK_EXPORTER_COLLECTORS: 'events',
    CONNTRACK_EXPORTER_LOG_LEVEL: 'warn',
  });
  for (let i = 0; i < 100; i++) {
    const m = await metrics(ns).catch(() => '');
    if (m.includes('conntrack_events_receive_buffer_bytes')) return child.pid ?? 0;
    await sleep(100);
  }
  throw new Error('exporter did not start');
}

async function metrics(ns: Netns): Promise<string> {
  return (await ns.exec('curl', ['-sf', `http://127.0.0.1:${PORT}/metrics`])).stdout;
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').at(-1));
  return sum;
}

/** `count` new UDP flows at `rate` per second (unpaced when undefined), split over senders. */
async function traffic(ns: Netns, count: number, net: number, rate?: number): Promise<number> {
  const senders = rate ? Math.max(1, Math.ceil(rate / PER_SENDER)) : 1;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: senders }, (_, k) =>
      ns.exec(NODE, [
        TRAFFIC,
        JSON.stringify({
          udpFlows: {
            count: Math.floor(count / senders),
            net: net + k,
            ...(rate ? { rate: rate / senders } : {}),
          },
        }),
      ]),
    ),
  );
  // traffic.js waits 300 ms after its last packet before it exits.
  return (performance.now() - started - 300) / 1000;
}

async function cpuPerThousand(rate: number): Promise<{ idle: number; busy: number; perThousand: number }> {
  const ns = await namespace();
  try {
    const pid = await startExporter(ns);
    await sleep(1000);
    // Scrapes in both phases, as Prometheus would (every 15 s is cheaper still; this is every 2 s),
    // so that the difference is the events' cost alone.
    const scrapeFor = async (ms: number): Promise<void> => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        await metrics(ns).catch(() => '');
        await sleep(2000);
      }
    };
    const t0 = await cpuSeconds(pid);
    const i0 = performance.now();
    await scrapeFor(seconds * 1000);
    const idle = ((await cpuSeconds(pid)) - t0) / ((performance.now() - i0) / 1000);
    const t1 = await cpuSeconds(pid);
    const w0 = performance.now();
    const scraping = scrapeFor(seconds * 1000);
    await traffic(ns, rate * seconds, 60, rate);
    await scraping;
    const wall = (performance.now() - w0) / 1000;
    const busy = ((await cpuSeconds(pid)) - t1) / wall;
    return { idle, busy, perThousand: ((busy - idle) * 100) / (rate / 1000) };
  } finally {
    await ns.destroy();
  }
}

type Listener = 'none' | 'conntrack -E' | 'exporter';
type Workload = 'tcp' | 'udp';

/** Connections per second one process creates in a fresh namespace with `listener` listening. */
async function creationRate(listener: Listener, workload: Workload, count: number): Promise<number> {
  const ns = await namespace();
  let cli: ReturnType<Netns['spawn']> | undefined;
  try {
    if (listener === 'exporter') await startExporter(ns);
    if (listener === 'conntrack -E') {
      cli = ns.spawn('sh', ['-c', 'exec conntrack -E -e NEW,DESTROY -b 16777216 >/dev/null 2>&1'], {
        PATH: process.env.PATH,
      });
      await sleep(500);
    }
    const started = performance.now();
    if (workload === 'udp') return count / (await traffic(ns, count, 70));
    await ns.exec(NODE, [TRAFFIC, JSON.stringify({ tcpClose: { count, port: 19480 } })]);
    return count / ((performance.now() - started - 300) / 1000);
  } finally {
    cli?.kill();
    await ns.destroy();
  }
}

async function burstLoss(rate: number): Promise<{ sent: number; counted: number; overruns: number }> {
  const ns = await Netns.create();
  try {
    await ns.sysctl('net.netfilter.nf_conntrack_udp_timeout', '600');
    await startExporter(ns);
    const count = rate * 2;
    await traffic(ns, count, 80, rate);
    const { stdout } = await ns.exec('bash', ['-c', 'conntrack -L -p udp 2>/dev/null | wc -l']);
    const before = Number(stdout.trim());
    let counted = -1;
    // Settle: wait until the count stops moving (the reader flushes every 100 ms).
    for (let i = 0; i < 50; i++) {
      await sleep(300);
      const now = metric(
        await metrics(ns),
        'conntrack_connections_created_total{family="ipv4",protocol="udp"}',
      );
      if (now === counted) break;
      counted = now;
    }
    const text = await metrics(ns);
    return { sent: before, counted, overruns: metric(text, 'conntrack_events_overruns_total') };
  } finally {
    await ns.destroy();
  }
}

export async function benchPart(argv: readonly string[]): Promise<void> {
  const arg = (name: string, def: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? (argv[i + 1] ?? def) : def;
  };
  runs = Number(arg('runs', '3'));
  seconds = Number(arg('seconds', '8'));
  const kernel = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
  const rmemMax = (await readFile('/proc/sys/net/core/rmem_max', 'utf8')).trim();
  console.log(
    `\nconntrack-exporter events bench: kernel ${kernel}, node ${process.version}, net.core.rmem_max ${rmemMax} (${runs} runs, medians)`,
  );
  const line = (label: string, value: string): void => console.log(`  ${label.padEnd(58)} ${value}`);

  const cpu: { idle: number; busy: number; perThousand: number }[] = [];
  for (let i = 0; i < runs; i++) cpu.push(await cpuPerThousand(1000));
  line(
    'exporter CPU idle (events collector only)',
    `${(median(cpu.map((c) => c.idle)) * 100).toFixed(2)} % of a core`,
  );
  line(
    'exporter CPU at 1,000 new connections/s',
    `${(median(cpu.map((c) => c.busy)) * 100).toFixed(2)} % of a core`,
  );
  line(
    'CPU per 1,000 new connections/s (goal <= 3 %)',
    `${median(cpu.map((c) => c.perThousand)).toFixed(2)} % of a core`,
  );

  const listeners: Listener[] = ['none', 'conntrack -E', 'exporter'];
  for (const [workload, count] of [
    ['tcp', 20_000],
    ['udp', 100_000],
  ] as const) {
    const rates = new Map<Listener, number[]>(listeners.map((l) => [l, []]));
    for (let i = 0; i < runs; i++) {
      for (const l of listeners) rates.get(l)?.push(await creationRate(l, workload, count));
    }
    const base = median(rates.get('none') ?? []);
    const what = workload === 'tcp' ? 'TCP connections (loopback)' : 'one-packet UDP flows';
    line(`${what}: creation, no listener`, `${Math.round(base)} /s`);
    for (const l of listeners.slice(1)) {
      const r = median(rates.get(l) ?? []);
      const label = l === 'exporter' ? 'events collector listening' : `${l} listening`;
      const goal = l === 'exporter' ? ' (goal <= 5 %)' : '';
      line(
        `${what}: ${label}${goal}`,
        `${Math.round(r)} /s, ${(((base - r) / base) * 100).toFixed(1)} % slower`,
      );
    }
  }

  for (const rate of [5000, 20_000, 50_000]) {
    const r: { sent: number; counted: number; overruns: number }[] = [];
    for (let i = 0; i < runs; i++) r.push(await burstLoss(rate));
    const lost = median(r.map((x) => x.sent - x.counted));
    const sent = median(r.map((x) => x.sent));
    line(
      `burst of ${rate / 1000}k new connections/s for 2 s: events lost`,
      `${lost} of ${sent} (${((lost / sent) * 100).toFixed(1)} %), overruns ${median(r.map((x) => x.overruns))}`,
    );
  }
}
