// Layer: scrape orchestration (wiring between collectors and metrics). Runs the collectors into
// one Snapshot that both sinks read. Each collector has a deadline: one that has not answered by
// then reports success 0 with a CollectorTimeoutError and loses its samples, and the snapshot is
// served with the others. A collector still busy with an earlier call is not called again until
// that call settles (a hung source costs one pending call, not one per scrape) and reports the
// same timeout meanwhile. A failing collector is logged on state change, not on every scrape.
// Concurrent callers share one collection, so N parallel scrapes cost the kernel one set of
// requests.

import { performance } from 'node:perf_hooks';
import type { Collector, CollectResult } from '../collectors/types.js';
import { ExporterError } from '../errors.js';
import type { Logger } from '../log.js';
import { collectorDuration, collectorSource, collectorSuccess } from '../metrics/catalog.js';
import { sample, type Sample, type Snapshot, type SnapshotSource } from '../metrics/sample.js';

/** A collector did not answer within its deadline (or is still busy with an earlier call). */
export class CollectorTimeoutError extends ExporterError {
  constructor(collector: string, deadlineMs: number, stillBusy: boolean) {
    super(
      'ERR_COLLECTOR_TIMEOUT',
      stillBusy
        ? `collector ${collector} is still busy with a call that passed its ${deadlineMs / 1000} s deadline`
        : `collector ${collector} did not answer within ${deadlineMs / 1000} s`,
    );
  }
}

export interface CollectionOptions {
  /** Per-collector deadline of one collection (twice CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS). */
  readonly deadlineMs: number;
}

const DEFAULT_OPTIONS: CollectionOptions = { deadlineMs: 10_000 };

type Outcome = { readonly result: CollectResult } | { readonly error: Error };

export class Collection implements SnapshotSource {
  private inflight: Promise<Snapshot> | undefined;
  private readonly healthy = new Map<string, boolean>();
  /** Calls that passed their deadline and have not settled yet, by collector name. */
  private readonly overdue = new Map<string, Promise<unknown>>();

  constructor(
    private readonly collectors: readonly Collector[],
    private readonly selfSamples: () => Sample[],
    private readonly log: Logger,
    private readonly options: CollectionOptions = DEFAULT_OPTIONS,
  ) {}

  /** Calls that passed their deadline and have not settled yet. */
  pendingCalls(): number {
    return this.overdue.size;
  }

  collect(): Promise<Snapshot> {
    this.inflight ??= this.run().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async run(): Promise<Snapshot> {
    const parts = await Promise.all(this.collectors.map((c) => this.runOne(c)));
    return { samples: [...parts.flat(), ...this.selfSamples()], takenAt: Date.now() };
  }

  /** The collector's answer, or a CollectorTimeoutError at the deadline. Never rejects. */
  private withDeadline(collector: Collector): Promise<Outcome> {
    const { deadlineMs } = this.options;
    if (this.overdue.has(collector.name)) {
      return Promise.resolve({ error: new CollectorTimeoutError(collector.name, deadlineMs, true) });
    }
    let call: Promise<Outcome>;
    try {
      call = collector.collect().then(
        (result) => ({ result }),
        (err: unknown) => ({ error: err instanceof Error ? err : new Error(String(err)) }),
      );
    } catch (err) {
      return Promise.resolve({ error: err instanceof Error ? err : new Error(String(err)) });
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => {
        this.overdue.set(
          collector.name,
          call.finally(() => this.overdue.delete(collector.name)),
        );
        resolve({ error: new CollectorTimeoutError(collector.name, deadlineMs, false) });
      }, deadlineMs);
    });
    return Promise.race([call, deadline]).finally(() => clearTimeout(timer));
  }

  private async runOne(collector: Collector): Promise<Sample[]> {
    const labels = { collector: collector.name };
    const started = performance.now();
    let samples: Sample[] = [];
    let error: Error | undefined;
    const outcome = await this.withDeadline(collector);
    if ('result' in outcome) {
      const { result } = outcome;
      samples = [...result.samples, sample(collectorSource, { ...labels, source: result.source }, 1)];
      error = result.error;
    } else {
      error = outcome.error;
    }
    const seconds = (performance.now() - started) / 1000;
    this.noteHealth(collector.name, error);
    samples.push(sample(collectorSuccess, labels, error ? 0 : 1), sample(collectorDuration, labels, seconds));
    return samples;
  }
  private noteHealth(name: string, error: Error | undefined): void {
    const wasHealthy = this.healthy.get(name);
    const isHealthy = error === undefined;
    this.healthy.set(name, isHealthy);
    if (wasHealthy === isHealthy) return;
    if (error) {
      const code = (error as { code?: unknown }).code;
      this.log.warn(
        { collector: name, code, err: error.message },
        'collector failing; its metrics are absent',
      );
    } else if (wasHealthy === false) {
      this.log.info({ collector: name }, 'collector recovered');
    }
  }
}
