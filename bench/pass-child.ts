// Bench child, run inside the filled namespace. Modes:
//   raw               read and discard the whole dump (the floor: kernel + socket, no decoding)
//   passes <budget> <n>  a flow collector as the exporter runs it (the table walk on this thread),
//                     one warm-up pass and then n timed passes with that per-pass budget
// Prints one JSON line.

import { performance } from 'node:perf_hooks';
import { createLogger } from '../src/log.js';
import { ConntrackClient } from '../src/conntrack/client.js';
import { flowCollector } from '../src/collectors/flows.js';
import { VARIABLES } from '../src/config/config.js';
import { Telemetry } from '../src/metrics/telemetry.js';
import { forEachMessage } from '../src/netlink/codec.js';
import { openDumpSocket } from '../src/netlink/polled.js';
import { openNetfilterSocket } from '../src/netlink/transport.js';

const [mode = 'raw', budgetArg = '', countArg = '3'] = process.argv.slice(2);

const maxRssMb = (): number => process.resourceUsage().maxRSS / 1024;

async function raw(): Promise<void> {
  // The same socket as the exporter's flow walk, and only the framing walk needed to find DONE.
  const sock = openDumpSocket(openNetfilterSocket);
  const req = Buffer.alloc(20);
  req.writeUInt32LE(20, 0);
  req.writeUInt16LE(0x0101, 4);
  req.writeUInt16LE(0x0301, 6);
  req.writeUInt32LE(1, 8);
  let flows = 0;
  const started = performance.now();
  // The dump socket never keeps the process alive by itself.
  const alive = setInterval(() => undefined, 1000);
  await new Promise<void>((resolve) => {
    sock.on('message', (buf) => {
      forEachMessage(buf, (msg) => {
        if (msg.type === 3) resolve();
        else flows += 1;
      });
    });
    sock.send(req);
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(alive);
  sock.close();
  process.stdout.write(`${JSON.stringify({ seconds, flows, maxRssMb: maxRssMb() })}\n`);
}

export interface PassResult {
  seconds: number;
  cpuSeconds: number;
  userSeconds: number;
  read: number;
  ratio: number;
  /** conntrack_flows summed, and the destination-port series (protocol/port -> value). */
  flows: number;
  ports: Record<string, number>;
}

async function passes(budget: number, n: number): Promise<void> {
  const timeoutMs = 30_000;
  const client = new ConntrackClient({ timeoutMs });
  const collector = flowCollector(
    {
      client,
      netlink: true,
      procPath: '/proc',
      kernelRelease: '',
      timeoutMs,
      log: createLogger('silent'),
      telemetry: new Telemetry('bench'),
    },
    {
      intervalMs: 60_000,
      maxFlowsPerPass: budget,
      seriesBudget: Number(VARIABLES.CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET?.default),
      topK: Number(VARIABLES.CONNTRACK_EXPORTER_FLOW_TOP_K?.default),
      skipAboveUsage: 0,
      enableAccounting: false,
      podAttribution: false,
      addresses: { mode: 'full' },
      log: createLogger('silent'),
    },
  );
  const results: PassResult[] = [];
  for (let i = 0; i <= n; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await collector.runOnce();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const result = await collector.collect();
    if (result.error) throw result.error;
    const value = (name: string): number => {
      const s = result.samples.find((x) => x.metric.name === name);
      return s?.kind === 'value' ? s.value : NaN;
    };
    const ports: Record<string, number> = {};
    let flows = 0;
    for (const s of result.samples) {
      if (s.kind !== 'value') continue;
      if (s.metric.name === 'conntrack_flows') flows += s.value;
      if (s.metric.name === 'conntrack_flows_by_dst_port')
        ports[`${s.labels.protocol}/${s.labels.port}`] = s.value;
    }
    // Pass 0 warms up (it spawns the worker and starts the walk), as the exporter's first pass does.
    if (i > 0) {
      results.push({
        seconds,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        userSeconds: cpu.user / 1e6,
        read: value('conntrack_flow_pass_flows_scanned'),
        ratio: value('conntrack_flow_pass_sampling_ratio'),
        flows,
        ports,
      });
    }
  }
  await collector.stop?.();
  client.close();
  process.stdout.write(`${JSON.stringify({ passes: results, maxRssMb: maxRssMb() })}\n`);
}

const run = mode === 'raw' ? raw() : passes(Number(budgetArg), Number(countArg));
run.catch((err: unknown) => {
  process.stderr.write(`pass-child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
