// Layer: collectors. Shared by the per-CPU stats and expectation-stats collectors: raw u32
// readings from ctnetlink or procfs become monotonic 64-bit counters, one series per CPU and
// counter the kernel actually reported (absent is not zero).

import type { CpuCounters } from '../conntrack/stats.js';
import { CounterUnwrapper } from '../conntrack/wrap.js';
import type { MetricDef } from '../metrics/catalog.js';
import { sample, type Sample } from '../metrics/sample.js';

export class PerCpuCounters<N extends string> {
  private readonly unwrapper = new CounterUnwrapper();

  constructor(private readonly metrics: Readonly<Record<N, MetricDef<'cpu'>>>) {}

  samples(readings: readonly CpuCounters<N>[]): Sample[] {
    const out: Sample[] = [];
    for (const { cpu, counters } of readings) {
      for (const [name, raw] of Object.entries(counters) as [N, number | undefined][]) {
        if (raw === undefined) continue;
        const total = this.unwrapper.update(`${cpu}/${name}`, raw);
        out.push(sample(this.metrics[name], { cpu: String(cpu) }, total));
      }
    }
    return out;
  }
}
