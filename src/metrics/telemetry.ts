// Layer: metrics. The exporter's own telemetry: counts that the layers below report (malformed
// kernel messages) and the self-metrics of every collection (build info, OTLP export failures).
// The conntrack client and the collectors are handed `countMalformed`; they never own the count.

import { buildInfo, malformedMessages } from './catalog.js';
import { sample, type Sample } from './sample.js';

export class Telemetry {
  private malformed = 0;
  private readonly sources: (() => readonly Sample[])[] = [];

  constructor(private readonly version: string) {}

  /** Kernel messages (or datagrams) skipped as malformed; feeds conntrack_netlink_malformed_messages_total. */
  countMalformed(count = 1): void {
    this.malformed += count;
  }

  get malformedMessages(): number {
    return this.malformed;
  }

  /** Adds self-metrics from elsewhere (e.g. the OTLP sink's failure count), read at every collection. */
  addSource(source: () => readonly Sample[]): void {
    this.sources.push(source);
  }

  samples(): Sample[] {
    return [
      sample(buildInfo, { version: this.version, nodejs_version: process.version }, 1),
      sample(malformedMessages, {}, this.malformed),
      ...this.sources.flatMap((source) => source()),
    ];
  }
}
