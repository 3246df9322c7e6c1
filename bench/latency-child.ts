// Bench child: scrapes a URL for `seconds`, `gapMs` apart (default 20: back to back), and prints
// latency percentiles (ms) as one JSON line. Run inside the exporter's namespace.

import { performance } from 'node:perf_hooks';

const [url = 'http://127.0.0.1:9469/metrics', secondsArg = '10', gapArg = '20'] = process.argv.slice(2);
const until = performance.now() + Number(secondsArg) * 1000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const latencies: number[] = [];
  while (performance.now() < until) {
    const t0 = performance.now();
    const res = await fetch(url);
    await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, Number(gapArg)));
  }
  latencies.sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({ scrapes: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`latency-child: ${String(err)}\n`);
  process.exit(1);
});
