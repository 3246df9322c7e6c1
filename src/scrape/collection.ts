// Layer: scrape orchestration (wiring between collectors and metrics). Runs the collectors into
// one Snapshot that both sinks read. A failing collector sets its success metric to 0, loses only its own samples, and is
// logged on state change (not on every scrape). Concurrent callers share one collection, so N
// parallel scrapes cost the kernel one set of requests.

import { performance } from 'node:perf_hooks';
import type { Collector } from '../collectors/types.js';
import type { Logger } from '../log.js';
import { collectorDuration, collectorSource, collectorSuccess } from '../metrics/catalog.js';
import { sample, type Sample, type Snapshot, type SnapshotSource } from '../metrics/sample.js';

export class Collection implements SnapshotSource {
  private inflight: Promise<Snapshot> | undefined;
  private readonly healthy = new Map<string, boolean>();

  constructor(
    private readonly collectors: readonly Collector[],
    private readonly selfSamples: () => Sample[],
    private readonly log: Logger,
  ) {}

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

  private async runOne(collector: Collector): Promise<Sample[]> {
    const labels = { collector: collector.name };
    const started = performance.now();
    let samples: Sample[] = [];
    let error: Error | undefined;
    try {
      const result = await collector.collect();
      samples = [...result.samples, sample(collectorSource, { ...labels, source: result.source }, 1)];
      error = result.error;
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
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
