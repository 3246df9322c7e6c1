// Flow-pass benchmark. For each table size it fills a throwaway namespace with real UDP flows
// and measures, in the same run: the raw dump floor (read and discard), `conntrack -L` into an
// aggregation, and our full pass (decode + aggregate), with peak RSS; then /metrics latency while
// passes run back to back. It prints ratios against the baselines, never asserts a timing.
// Usage: npm run bench -- [--flows 100000,1000000] [--runs 3]. Needs root (raises the global
// nf_conntrack_max for its duration and restores it).

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Netns, withConntrackMax } from '../test/support/netns.js';

const DIST = fileURLToPath(new URL('./', import.meta.url));
const NODE = process.execPath;
const args = process.argv.slice(2);
const arg = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? def) : def;
};
const sizes = arg('flows', '100000,1000000').split(',').map(Number);
const runs = Number(arg('runs', '3'));

interface ChildResult {
  seconds: number;
  flows: number;
  maxRssMb: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function child(ns: Netns, mode: string): Promise<ChildResult> {
  const { stdout } = await ns.exec(NODE, [`${DIST}pass-child.js`, mode]);
  return JSON.parse(stdout.trim()) as ChildResult;
}

async function timeCli(ns: Netns): Promise<number> {
  // `conntrack -L` parsed into counts by protocol and state: the cheapest aggregation of its text.
  const script = `start=$(date +%s.%N); conntrack -L 2>/dev/null | awk '{c[$1" "$4]++} END {for (k in c) n++; print n}' >/dev/null; end=$(date +%s.%N); echo "$end - $start" | bc -l`;
  const { stdout } = await ns.exec('bash', ['-c', script]);
  return Number(stdout.trim());
}

async function latencyDuringPasses(ns: Netns, flows: number): Promise<Record<string, number>> {
  const port = 19469;
  const exporter = ns.spawn(NODE, [`${DIST}../src/cli.js`], {
    PATH: process.env.PATH,
    CONNTRACK_EXPORTER_LISTEN_ADDRESS: `127.0.0.1:${port}`,
    CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS: '1',
    CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS: String(flows * 2),
    CONNTRACK_EXPORTER_LOG_LEVEL: 'warn',
  });
  try {
    await new Promise((r) => setTimeout(r, 1500));
    const { stdout } = await ns.exec(NODE, [
      `${DIST}latency-child.js`,
      `http://127.0.0.1:${port}/metrics`,
      '12',
    ]);
    const metrics = await ns.exec('curl', ['-s', `http://127.0.0.1:${port}/metrics`]);
    const passes = /conntrack_flow_passes_total\{result="ok"\} (\d+)/.exec(metrics.stdout)?.[1];
    return { ...(JSON.parse(stdout.trim()) as Record<string, number>), passes: Number(passes) };
  } finally {
    exporter.kill('SIGKILL');
  }
}

async function benchSize(n: number): Promise<void> {
  const ns = await Netns.create({ acct: true });
  try {
    await ns.sysctl('net.netfilter.nf_conntrack_udp_timeout', '3600');
    await ns.exec(NODE, [`${DIST}fill.js`, String(n)]);
    const count = await ns.conntrackCount();
    const raw: ChildResult[] = [];
    const full: ChildResult[] = [];
    const capped: ChildResult[] = [];
    const cli: number[] = [];
    for (let i = 0; i < runs; i++) {
      raw.push(await child(ns, 'raw'));
      full.push(await child(ns, 'pass'));
      capped.push(await child(ns, 'pass-default'));
      cli.push(await timeCli(ns));
    }
    const [r, f, c, l] = [
      median(raw.map((x) => x.seconds)),
      median(full.map((x) => x.seconds)),
      median(capped.map((x) => x.seconds)),
      median(cli),
    ];
    const lat = await latencyDuringPasses(ns, n);
    const line = (label: string, value: string): void => console.log(`  ${label.padEnd(44)} ${value}`);
    console.log(`\n${count} flows (${runs} runs, medians)`);
    line('raw dump floor (read, discard)', `${r.toFixed(3)} s`);
    line('conntrack -L | aggregate', `${l.toFixed(3)} s`);
    line('our pass, every flow decoded', `${f.toFixed(3)} s`);
    line('our pass, default cap (250k decoded)', `${c.toFixed(3)} s`);
    line('ratio full pass / raw floor (target <= 1.5)', `${(f / r).toFixed(2)}x`);
    line('ratio conntrack -L / full pass (target >= 2.5)', `${(l / f).toFixed(2)}x`);
    line(
      'peak RSS, full pass (target < 200 MB)',
      `${Math.max(...full.map((x) => x.maxRssMb)).toFixed(0)} MB`,
    );
    line('peak RSS, default cap', `${Math.max(...capped.map((x) => x.maxRssMb)).toFixed(0)} MB`);
    line('peak RSS, raw floor', `${Math.max(...raw.map((x) => x.maxRssMb)).toFixed(0)} MB`);
    line(
      '/metrics p50 / p99 / max during passes',
      `${lat.p50?.toFixed(1)} / ${lat.p99?.toFixed(1)} / ${lat.max?.toFixed(1)} ms (${lat.scrapes} scrapes, ${lat.passes} passes; p99 target < 50 ms)`,
    );
  } finally {
    await ns.destroy();
  }
}

async function main(): Promise<void> {
  const kernel = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
  const current = Number((await readFile('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8')).trim());
  console.log(`conntrack-exporter flow-pass bench: kernel ${kernel}, node ${process.version}`);
  const needed = Math.max(current, Math.ceil(Math.max(...sizes) * 1.2));
  await withConntrackMax(needed, async () => {
    for (const n of sizes) await benchSize(n);
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
