// Bench child, run inside the filled namespace. Modes:
//   raw       read and discard the dump (the floor: kernel + socket, no decoding)
//   pass      one full flow pass of the exporter (decode + aggregate), every flow decoded
//   pass-default  one flow pass with the default per-pass cap
// Prints one JSON line: { seconds, flows, maxRssMb }.

import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { ConntrackClient } from '../src/conntrack/client.js';
import { flowCollector } from '../src/collectors/flows.js';
import { VARIABLES } from '../src/config/config.js';
import { Telemetry } from '../src/metrics/telemetry.js';
import { forEachMessage } from '../src/netlink/codec.js';
import { openNetfilterSocket } from '../src/netlink/transport.js';

const mode = process.argv[2] ?? 'pass';

function report(seconds: number, flows: number): void {
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ mode, seconds, flows, maxRssMb })}\n`);
}

async function raw(): Promise<void> {
  // The same socket settings as the exporter, and only the framing walk needed to find DONE.
  const sock = openNetfilterSocket();
  const req = Buffer.alloc(20);
  req.writeUInt32LE(20, 0);
  req.writeUInt16LE(0x0101, 4);
  req.writeUInt16LE(0x0301, 6);
  req.writeUInt32LE(1, 8);
  let flows = 0;
  const started = performance.now();
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
  sock.close();
  report(seconds, flows);
}

async function pass(cap: number): Promise<void> {
  const client = new ConntrackClient({ timeoutMs: 30_000 });
  const collector = flowCollector(
    {
      client,
      netlink: true,
      procPath: '/proc',
      kernelRelease: '',
      timeoutMs: 30_000,
      log: pino({ level: 'silent' }),
      telemetry: new Telemetry('bench'),
    },
    {
      intervalMs: 1000,
      maxFlowsPerPass: cap,
      seriesBudget: Number(VARIABLES.CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET?.default),
      topK: Number(VARIABLES.CONNTRACK_EXPORTER_FLOW_TOP_K?.default),
      skipAboveUsage: 0,
      enableAccounting: false,
      log: pino({ level: 'silent' }),
    },
  );
  // The exporter keeps its worker threads between passes: time a warm pass, as in steady state.
  await collector.runOnce();
  const started = performance.now();
  await collector.runOnce();
  const seconds = (performance.now() - started) / 1000;
  const result = await collector.collect();
  if (result.error) throw result.error;
  const scanned = result.samples.find((s) => s.metric.name === 'conntrack_flow_pass_flows_scanned');
  await collector.stop?.();
  client.close();
  report(seconds, scanned?.kind === 'value' ? scanned.value : -1);
}

const defaultCap = Number(VARIABLES.CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS?.default);
const run = mode === 'raw' ? raw() : pass(mode === 'pass-default' ? defaultCap : Number.MAX_SAFE_INTEGER);
run.catch((err: unknown) => {
  process.stderr.write(`pass-child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
