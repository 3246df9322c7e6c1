// Layer: collectors. What every collector is and gets: it reads through the conntrack layer and
// returns samples (src/metrics/sample.ts) for entries of the metric catalogue. Knows nothing of
// Prometheus or OpenTelemetry wire formats, nor of the configuration (a collector's own settings
// reach its factory through the registry, see registry.ts).

import type { ConntrackClient } from '../conntrack/client.js';
import type { Logger } from '../log.js';
import type { Sample } from '../metrics/sample.js';
import type { Telemetry } from '../metrics/telemetry.js';
import type { NamespaceDiscovery } from '../pods/namespaces.js';

/** Where a collector's values came from (conntrack_collector_source_info). */
export type Source = 'netlink' | 'procfs' | 'sysctl';

export interface CollectResult {
  readonly samples: readonly Sample[];
  readonly source: Source;
  /** Set when the collector failed but still has samples to report (e.g. its own pass counters). */
  readonly error?: Error;
}

export interface Collector {
  /** The name of its registry definition (the `collector` label). */
  readonly name: string;
  collect(): Promise<CollectResult>;
  /** Starts background work (the flow collector's passes). */
  start?(): void;
  /** Runs the background work once, inline (used by `once`). */
  runOnce?(): Promise<void>;
  stop?(): Promise<void>;
}

/** How the exporter reaches the kernel, decided once at start (see sources.ts), and what it reports to. */
export interface CollectorContext {
  readonly client: ConntrackClient;
  /** false when ctnetlink is not to be used (no CAP_NET_ADMIN, or CONNTRACK_EXPORTER_SOURCE=procfs). */
  readonly netlink: boolean;
  readonly procPath: string;
  readonly kernelRelease: string;
  /** Timeout of every netlink call, for sockets opened outside the client (the flow reader). */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** Self-telemetry: malformed kernel messages a collector skipped go here. */
  readonly telemetry: Telemetry;
  /**
   * The node's network namespaces and pods, shared by the netns collector and the flow pass's pod
   * attribution so that /proc is walked once (set by createCollectors).
   */
  readonly discovery?: NamespaceDiscovery;
}
