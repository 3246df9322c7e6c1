// Layer: collectors. Sampled flows: a pass dumps the table (IPCTNL_MSG_CT_GET), decodes each
// batch as it arrives (never holding the table), and aggregates into the flow metrics. Passes run
// on their own interval, off the scrape path, and never overlap; scrapes read the last completed
// pass. Beyond the per-pass cap, flows are sampled systematically (every n-th) and the aggregates
// scaled. Optionally, passes are skipped while the table is above a usage threshold.

import { performance } from 'node:perf_hooks';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExporterError } from '../errors.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import {
  flowPassDecoded,
  flowPassDuration,
  flowPassEnd,
  flowPasses,
  flowPassSamplingRatio,
  flowPassScanned,
  flowSeriesFolded,
} from '../metrics/catalog.js';
import { fromPlain, InlineBackend } from './flow-decoder.js';
import { readFlowPass, type PassParams, type PassSummary } from './flow-pass.js';
import { WorkerPassRunner, workerFile } from './flow-worker.js';
import { sample, type Collector, type CollectorContext, type CollectResult, type Sample } from './types.js';

/** The flow settings of the configuration, and where to log. */
export type FlowOptions = Config['flow'] & { readonly log: Logger };

export class FlowsUnavailableError extends ExporterError {
  constructor() {
    super('ERR_FLOWS_UNAVAILABLE', 'flow passes need ctnetlink (CAP_NET_ADMIN); no pass has run');
  }
}

interface PassResult {
  readonly samples: Sample[];
  readonly error?: Error;
}

export interface FlowCollector extends Collector {
  /** Runs one pass now (used by `once` and tests). */
  runOnce(): Promise<void>;
}

type PassOutcome = 'ok' | 'error' | 'skipped';

interface PassRunner {
  run(params: PassParams, timeoutMs: number): Promise<PassSummary>;
  close(): Promise<void>;
}

export function flowCollector(ctx: CollectorContext, options: FlowOptions): FlowCollector {
  let last: PassResult | undefined;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const passes: Record<PassOutcome, number> = { ok: 0, error: 0, skipped: 0 };
  let runner: PassRunner | undefined;
  /** Worker threads when running from dist/; inline on the TypeScript sources (unit tests). */
  function passRunner(): PassRunner {
    if (!runner) {
      if (workerFile()) {
        runner = new WorkerPassRunner();
      } else {
        const backend = new InlineBackend();
        runner = {
          run: (params) => readFlowPass(ctx.client, backend, params),
          close: () => backend.close(),
        };
      }
    }
    return runner;
  }

  async function enableAccounting(): Promise<void> {
    for (const name of ['nf_conntrack_acct', 'nf_conntrack_timestamp']) {
      try {
        // A sysctl write in this netns; it affects only entries created from now on
        // (docs/ctnetlink.md#extensions-accounting-and-timestamps).
        await writeFile(join(ctx.procPath, 'sys/net/netfilter', name), '1\n');
        options.log.info({ sysctl: name }, 'enabled by CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING');
      } catch (err) {
        options.log.warn(
          { sysctl: name, err: (err as Error).message },
          'could not enable; byte/age metrics stay absent',
        );
      }
    }
  }
  const accountingReady = options.enableAccounting && ctx.netlink ? enableAccounting() : Promise.resolve();

  async function pass(): Promise<void> {
    await accountingReady;
    if (!ctx.netlink) throw new FlowsUnavailableError();
    const stats = await ctx.client.globalStats();
    const entries = stats.entries ?? 0;
    if (
      options.skipAboveUsage > 0 &&
      stats.maxEntries &&
      entries / stats.maxEntries > options.skipAboveUsage
    ) {
      passes.skipped += 1;
      options.log.debug(
        { entries, limit: stats.maxEntries },
        'flow pass skipped: table above the usage threshold',
      );
      return;
    }
    const started = performance.now();
    const params: PassParams = {
      // Every step-th flow is decoded; the hard cap still holds if the table grows mid-pass.
      step: Math.max(1, Math.ceil(entries / options.maxFlowsPerPass)),
      maxFlows: options.maxFlowsPerPass,
      nowNs: Date.now() * 1e6,
      topK: options.topK,
      seriesBudget: options.seriesBudget,
    };
    const { output, scanned, decoded } = await passRunner().run(params, ctx.timeoutMs);
    ctx.client.countMalformed(output.malformed);
    const samples = output.samples.map(fromPlain);
    const folded = output.folded;
    const seconds = (performance.now() - started) / 1000;
    samples.push(
      sample(flowPassDuration, {}, seconds),
      sample(flowPassEnd, {}, Date.now() / 1000),
      sample(flowPassScanned, {}, scanned),
      sample(flowPassDecoded, {}, decoded),
      sample(flowPassSamplingRatio, {}, scanned > 0 ? decoded / scanned : 1),
      sample(flowSeriesFolded, {}, folded),
    );
    passes.ok += 1;
    last = { samples };
    options.log.debug({ scanned, decoded, seconds, folded }, 'flow pass done');
  }

  function runPass(): Promise<void> {
    running ??= pass()
      .catch((err: unknown) => {
        passes.error += 1;
        const error = err instanceof Error ? err : new Error(String(err));
        // Stale aggregates are dropped: a failing collector's metrics are absent.
        last = { samples: [], error };
        // A pass that died half way may have left the decoder mid-pass (or the worker dead):
        // start the next pass with a fresh one.
        const stale = runner;
        runner = undefined;
        void stale?.close();
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    const started = Date.now();
    void runPass().then(() => {
      if (stopped) return;
      timer = setTimeout(schedule, Math.max(0, options.intervalMs - (Date.now() - started)));
    });
  }

  return {
    name: 'flows',
    // Without ctnetlink no pass can run: none is attempted, so no error count grows per interval.
    runOnce: () => (ctx.netlink ? runPass() : Promise.resolve()),
    start(): void {
      if (ctx.netlink) schedule();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await runner?.close();
    },
    collect(): Promise<CollectResult> {
      // No source serves this collector: it fails, and reports no source_info rather than "netlink".
      if (!ctx.netlink) return Promise.reject(new FlowsUnavailableError());
      const counters = (Object.keys(passes) as PassOutcome[]).map((result) =>
        sample(flowPasses, { result }, passes[result]),
      );
      if (!last) {
        return Promise.resolve({
          samples: counters,
          source: 'netlink',
          error: new ExporterError('ERR_FLOWS_PENDING', 'no flow pass has completed yet'),
        });
      }
      return Promise.resolve({
        samples: [...last.samples, ...counters],
        source: 'netlink',
        ...(last.error && { error: last.error }),
      });
    },
  };
}
