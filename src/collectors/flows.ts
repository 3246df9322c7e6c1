// Layer: collectors (flows). The flows collector: passes on their own interval, off the scrape
// path, never overlapping; scrapes read the last completed pass. A pass reads at most its budget
// of flows, continuing the table walk where the previous pass stopped (walk.ts); a sample is
// scaled to the table's exact entry count (CT_GET_STATS), and a table that fits the budget is
// read whole and counted exactly. Aggregates are served only while younger than three intervals;
// a failed pass drops them at once. Optionally, passes are skipped while the table is above a
// usage threshold (the old aggregates then age out, they are never made to look fresh).

import { performance } from 'node:perf_hooks';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressReporting } from '../conntrack/address-prefix.js';
import { readNetfilterSysctl } from '../conntrack/procfs.js';
import { trimNativeHeap } from '../netlink/native.js';
import { dumpSocketCanPause } from '../netlink/polled.js';
import { ExporterError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  flowPassDecoded,
  flowPassDuration,
  flowPassEnd,
  flowPasses,
  flowPassSamplingRatio,
  flowPassScanned,
  flowSeriesFolded,
  flowAttributionPods,
  flowWalks,
} from '../metrics/catalog.js';
import { sample, type Sample } from '../metrics/sample.js';
import { FLOW_METRICS } from '../metrics/catalog.js';
import { defineCollector, type SettingValues } from './registry.js';
import type { Collector, CollectorContext, CollectResult } from './types.js';
import { FlowsStaleError, FlowsUnavailableError } from '../flows/errors.js';
import { fromPlain } from '../flows/plain.js';
import {
  InlinePassRunner,
  spawnFlowWorker,
  workerFile,
  WorkerPassRunner,
  type PassRunner,
} from '../flows/runner.js';
import { WALK_STARTS, type PassRequest, type WalkStart } from '../flows/walk.js';

/** The flow settings of the configuration (CONNTRACK_EXPORTER_FLOW_*). */
export interface FlowSettings {
  readonly intervalMs: number;
  readonly maxFlowsPerPass: number;
  readonly seriesBudget: number;
  readonly topK: number;
  readonly skipAboveUsage: number;
  readonly enableAccounting: boolean;
  /** Attribute flows to the node's pods by their addresses (CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION). */
  readonly podAttribution: boolean;
  /** How flow addresses appear in labels (CONNTRACK_EXPORTER_FLOW_ADDRESSES and its prefix lengths). */
  readonly addresses: AddressReporting;
}

/** The flow settings of the configuration, and where to log. */
export type FlowOptions = FlowSettings & {
  readonly log: Logger;
  /** How long a pass's aggregates are served; by default three flow intervals. */
  readonly maxAgeMs?: number;
  /** How pass threads are made (tests); by default the compiled worker, else passes run inline. */
  readonly runner?: () => PassRunner;
};

export interface FlowCollector extends Collector {
  /** Runs one pass now (used by `once` and tests). */
  runOnce(): Promise<void>;
}

type PassOutcome = 'ok' | 'error' | 'skipped';

interface LastPass {
  readonly samples: Sample[];
  /** performance.now() when it ended; undefined for a failed pass. */
  readonly endedAt?: number;
  readonly error?: Error;
}

/** Without the addon, tables up to this many entries (within the budget) are read on the main thread. */
export const INLINE_MAX_FLOWS = 10_000;

/** Longest a pass may run: its interval, but never less than twice the netlink timeout. */
export function passDeadlineMs(intervalMs: number, timeoutMs: number): number {
  return Math.max(intervalMs, 2 * timeoutMs);
}

/** The default maximum age of a pass's aggregates: three flow intervals. */
export function maxAgeMs(options: Pick<FlowOptions, 'intervalMs' | 'maxAgeMs'>): number {
  return options.maxAgeMs ?? 3 * options.intervalMs;
}

function readBuckets(procPath: string): Promise<number | undefined> {
  return readNetfilterSysctl(procPath, 'nf_conntrack_buckets').catch(() => undefined);
}

export function flowCollector(ctx: CollectorContext, options: FlowOptions): FlowCollector {
  /** Whether the last pass saw pods, so "none visible" is logged once per change. */
  let sawPods: boolean | undefined;
  let last: LastPass | undefined;
  let skippedSince = 0;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const passes: Record<PassOutcome, number> = { ok: 0, error: 0, skipped: 0 };
  const walks = Object.fromEntries(WALK_STARTS.map((r) => [r, 0])) as Record<WalkStart, number>;
  const maxAge = maxAgeMs(options);
  let runner: PassRunner | undefined;

  const inline = new InlinePassRunner(ctx.timeoutMs);

  /**
   * Passes run on this thread whenever the dump socket can pause (the project's addon is built):
   * a few milliseconds of reading and decoding per event-loop turn, the walk held between passes
   * with nothing blocked, and no thread (nor its memory) at all. Without the addon, a small table
   * that fits the budget is still read inline, and anything bigger goes to the flow worker,
   * which holds the walk by blocking its own thread between passes.
   */
  async function passRunner(entries: number): Promise<PassRunner> {
    if (
      !options.runner &&
      (dumpSocketCanPause() || entries <= Math.min(options.maxFlowsPerPass, INLINE_MAX_FLOWS))
    ) {
      const held = runner;
      runner = undefined;
      await held?.close();
      return inline;
    }
    if (!runner) {
      await inline.close();
      const file = workerFile();
      runner =
        options.runner?.() ?? (file ? new WorkerPassRunner(spawnFlowWorker(file), ctx.timeoutMs) : inline);
    }
    return runner;
  }

  async function enableAccounting(): Promise<void> {
    for (const name of ['nf_conntrack_acct', 'nf_conntrack_timestamp']) {
      try {
        // A sysctl write in this netns; it affects only entries created from now on.
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
      skippedSince += 1;
      options.log.debug(
        { entries, limit: stats.maxEntries },
        'flow pass skipped: table above the usage threshold',
      );
      return;
    }
    const started = performance.now();
    const buckets = await readBuckets(ctx.procPath);
    const pods = options.podAttribution && ctx.discovery ? await ctx.discovery.pods() : undefined;
    if (pods && sawPods !== pods.addresses.length > 0) {
      sawPods = pods.addresses.length > 0;
      if (sawPods) options.log.info({ pods: pods.pods }, 'pod attribution: pod addresses found');
      else
        options.log.warn(
          { pods: pods.pods },
          'pod attribution: no pod network namespace with an address is visible (it needs the host PID namespace)',
        );
    }
    const request: PassRequest = {
      budget: options.maxFlowsPerPass,
      entries,
      ...(buckets !== undefined && { buckets }),
      nowNs: Date.now() * 1e6,
      topK: options.topK,
      seriesBudget: options.seriesBudget,
      ...(pods && { pods: { uids: pods.uids, addresses: pods.addresses } }),
      addresses: options.addresses,
    };
    const report = await (
      await passRunner(entries)
    ).run(request, passDeadlineMs(options.intervalMs, ctx.timeoutMs));
    for (const reason of report.starts) walks[reason] += 1;
    ctx.telemetry.countMalformed(report.output.malformed);
    // The pass's datagrams and tallies are free now: give the C heap's free pages back.
    trimNativeHeap();
    const samples = report.output.samples.map(fromPlain);
    const seconds = (performance.now() - started) / 1000;
    const ratio = report.complete || entries === 0 ? 1 : Math.min(1, report.decoded / entries);
    samples.push(
      sample(flowPassDuration, {}, seconds),
      sample(flowPassEnd, {}, Date.now() / 1000),
      sample(flowPassScanned, {}, report.read),
      sample(flowPassDecoded, {}, report.decoded),
      sample(flowPassSamplingRatio, {}, ratio),
      sample(flowSeriesFolded, {}, report.output.folded),
    );
    if (pods) samples.push(sample(flowAttributionPods, {}, pods.pods));
    passes.ok += 1;
    skippedSince = 0;
    last = { samples, endedAt: performance.now() };
    options.log.debug(
      {
        read: report.read,
        decoded: report.decoded,
        duplicates: report.duplicates,
        complete: report.complete,
        seconds,
      },
      'flow pass done',
    );
  }

  function runPass(): Promise<void> {
    running ??= pass()
      .catch((err: unknown) => {
        passes.error += 1;
        const error = err instanceof Error ? err : new Error(String(err));
        // A failing pass is reported as failing: its aggregates are absent, not the old ones.
        last = { samples: [], error };
        options.log.warn({ err: error.message, code: (error as { code?: string }).code }, 'flow pass failed');
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

  function current(): { samples: readonly Sample[]; error?: Error } {
    if (!last) {
      return {
        samples: [],
        error: ctx.netlink
          ? new ExporterError('ERR_FLOWS_PENDING', 'no flow pass has completed yet')
          : new FlowsUnavailableError(),
      };
    }
    if (last.endedAt !== undefined) {
      const age = performance.now() - last.endedAt;
      if (age > maxAge) {
        const why =
          skippedSince > 0
            ? `${skippedSince} passes skipped above the usage threshold since`
            : 'no pass finished since';
        return { samples: [], error: new FlowsStaleError(age, maxAge, why) };
      }
    }
    return last;
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
      await inline.close();
    },
    collect(): Promise<CollectResult> {
      // No source serves this collector: it fails, and reports no source_info rather than "netlink".
      if (!ctx.netlink) return Promise.reject(new FlowsUnavailableError());
      const counters = [
        ...(Object.keys(passes) as PassOutcome[]).map((result) =>
          sample(flowPasses, { result }, passes[result]),
        ),
        ...WALK_STARTS.map((reason) => sample(flowWalks, { reason }, walks[reason])),
      ];
      const { samples, error } = current();
      return Promise.resolve({
        samples: [...samples, ...counters],
        source: 'netlink',
        ...(error && { error }),
      });
    },
  };
}

export const flowsDefinition = defineCollector<FlowSettings>({
  name: 'flows',
  defaultEnabled: true,
  reads: {
    withNetAdmin: '`IPCTNL_MSG_CT_GET` dump, on its own interval',
    without: 'unavailable (reported as failing)',
  },
  needs: { netAdmin: 'required', hostPid: false },
  metrics: FLOW_METRICS,
  settings: {
    variables: {
      CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS: {
        type: 'number',
        default: 30,
        minimum: 1,
        maximum: 86400,
        valid: 'a number of seconds from 1 to 86400',
        description: 'Time between the starts of two flow passes (passes never overlap).',
      },
      CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS: {
        type: 'integer',
        default: 50000,
        minimum: 1,
        maximum: 100000000,
        valid: 'an integer from 1 to 100000000',
        description:
          'Flows a pass reads at most (its budget); a bigger table is read in stretches, each pass continuing where the last stopped, and aggregates are scaled to the entry count.',
      },
      CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET: {
        type: 'integer',
        default: 300,
        minimum: 10,
        maximum: 100000,
        valid: 'an integer from 10 to 100000',
        description:
          'Hard limit on the series of all flow metrics together; the excess is folded into "other".',
      },
      CONNTRACK_EXPORTER_FLOW_TOP_K: {
        type: 'integer',
        default: 10,
        minimum: 1,
        maximum: 1000,
        valid: 'an integer from 1 to 1000',
        description: 'K of the top-K port and address metrics.',
      },
      CONNTRACK_EXPORTER_FLOW_SKIP_ABOVE_USAGE: {
        type: 'number',
        default: 0,
        minimum: 0,
        maximum: 1,
        valid: 'a ratio from 0 to 1 (0 disables skipping)',
        description: 'Skip a flow pass while entries/limit is above this ratio, to spare an overloaded node.',
      },
      CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING: {
        type: 'boolean',
        default: false,
        valid: 'true or false',
        description:
          'At start, turn on nf_conntrack_acct and nf_conntrack_timestamp in this netns (a sysctl write, never a table write).',
      },
      CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION: {
        type: 'boolean',
        default: false,
        valid: 'true or false',
        description:
          'Attribute flows to the pods on this node by their addresses (conntrack_flows_by_pod); needs the host PID namespace (docs/pods.md).',
      },
      CONNTRACK_EXPORTER_FLOW_ADDRESSES: {
        type: 'string',
        default: 'full',
        enum: ['full', 'prefix', 'none'],
        valid: 'full, prefix or none',
        description:
          'How the address metrics name flow addresses: `full`; `prefix`, the network prefix in CIDR notation (`10.1.2.0/24`), merged before the top-K; `none`, no address at all (the by-address metrics are absent, unreplied DNAT backends are all "other"). docs/security.md.',
      },
      CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV4: {
        type: 'integer',
        default: 24,
        minimum: 0,
        maximum: 32,
        valid: 'an integer from 0 to 32',
        description:
          'With CONNTRACK_EXPORTER_FLOW_ADDRESSES=prefix: the IPv4 prefix length (also for IPv4-mapped IPv6 addresses, as 96 + it); 32 reports full addresses.',
      },
      CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV6: {
        type: 'integer',
        default: 64,
        minimum: 0,
        maximum: 128,
        valid: 'an integer from 0 to 128',
        description:
          'With CONNTRACK_EXPORTER_FLOW_ADDRESSES=prefix: the IPv6 prefix length; 128 reports full addresses.',
      },
    },
    parse(values: SettingValues): FlowSettings {
      const num = (name: string): number => Number(values.get(name));
      const mode = values.get('CONNTRACK_EXPORTER_FLOW_ADDRESSES');
      const addresses: AddressReporting =
        mode === 'prefix'
          ? {
              mode,
              ipv4: num('CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV4'),
              ipv6: num('CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV6'),
            }
          : { mode: mode === 'none' ? 'none' : 'full' };
      return {
        intervalMs: Math.round(num('CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS') * 1000),
        maxFlowsPerPass: num('CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS'),
        seriesBudget: num('CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET'),
        topK: num('CONNTRACK_EXPORTER_FLOW_TOP_K'),
        skipAboveUsage: num('CONNTRACK_EXPORTER_FLOW_SKIP_ABOVE_USAGE'),
        enableAccounting: values.get('CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING') === true,
        podAttribution: values.get('CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION') === true,
        addresses,
      };
    },
  },
  create: (ctx, settings) => flowCollector(ctx, { ...settings, log: ctx.log }),
});
