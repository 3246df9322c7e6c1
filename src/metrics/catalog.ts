// Layer: metric catalogue. The one place where metric names, help, type, unit and labels live,
// for Prometheus and OpenTelemetry alike. Dashboards, alert rules, the README and both sinks are
// checked against this file. It knows nothing of the kernel or of how values are collected.

/**
 * `gaugehistogram` (OpenMetrics' name): a distribution of what exists now, whose buckets go down
 * as well as up (the flow age). `histogram`: a cumulative distribution of observations whose
 * buckets only grow (the lifetime of finished connections), so rate() fits it (docs/metrics.md).
 */
export type MetricType = 'gauge' | 'counter' | 'gaugehistogram' | 'histogram';

/**
 * The collector that produces a metric: a name from the collector registry
 * (src/collectors/index.ts, which checks it at load), or `exporter` for self-metrics of the
 * framework. This layer knows no collector, so it is a plain string here.
 */
export type CollectorName = string;

/** The series of a gauge histogram (OpenMetrics `gaugehistogram`); none carries the bare name. */
export const GAUGE_HISTOGRAM_SUFFIXES = ['_bucket', '_gcount', '_gsum'] as const;

/** The series of a cumulative histogram, as in both exposition formats. */
export const HISTOGRAM_SUFFIXES = ['_bucket', '_count', '_sum'] as const;

export type SeriesSuffix =
  '' | (typeof GAUGE_HISTOGRAM_SUFFIXES)[number] | (typeof HISTOGRAM_SUFFIXES)[number];

/**
 * The catalogue entry a series name belongs to: the entry itself, or a histogram's or gauge
 * histogram's series of its own kind (`x_gcount` never resolves to a gauge `x`, nor `x_count` to
 * a gauge histogram). Undefined when no entry has the series.
 */
export function metricOfSeries(
  name: string,
  byName: ReadonlyMap<string, MetricDef>,
): { metric: MetricDef; suffix: SeriesSuffix } | undefined {
  const exact = byName.get(name);
  if (exact !== undefined) return { metric: exact, suffix: '' };
  const kinds = [
    ['gaugehistogram', GAUGE_HISTOGRAM_SUFFIXES],
    ['histogram', HISTOGRAM_SUFFIXES],
  ] as const;
  for (const [type, suffixes] of kinds) {
    for (const suffix of suffixes) {
      if (!name.endsWith(suffix)) continue;
      const base = byName.get(name.slice(0, -suffix.length));
      if (base?.type === type) return { metric: base, suffix };
    }
  }
  return undefined;
}

export interface MetricDef<L extends string = string> {
  /** Prometheus name (counters end in `_total`). */
  readonly name: string;
  /** OpenTelemetry instrument name. */
  readonly otelName: string;
  readonly help: string;
  readonly type: MetricType;
  /** UCUM unit for OpenTelemetry (`s`, `By`, `1`, `{entries}`). */
  readonly unit: string;
  readonly labels: readonly L[];
  /** Which collector produces it; `exporter` for self-metrics produced by the framework. */
  readonly collector: CollectorName;
  /** Bucket upper bounds (histograms and gauge histograms only). */
  readonly buckets?: readonly number[];
}

/** OpenTelemetry attribute name for each Prometheus label. */
export const OTEL_ATTRIBUTE: Readonly<Record<string, string>> = {
  cpu: 'cpu.logical_number',
  family: 'network.type',
  protocol: 'network.transport',
  state: 'conntrack.state',
  direction: 'conntrack.direction',
  status: 'conntrack.status',
  nat: 'conntrack.nat',
  zone: 'conntrack.zone',
  port: 'conntrack.port',
  address: 'conntrack.address',
  collector: 'conntrack.collector',
  source: 'conntrack.source',
  result: 'conntrack.result',
  reason: 'conntrack.reason',
  netns: 'conntrack.netns',
  pod_uid: 'k8s.pod.uid',
  role: 'conntrack.role',
  backend: 'conntrack.backend',
  coverage: 'conntrack.events.coverage',
  version: 'service.version',
  nodejs_version: 'process.runtime.version',
};

/** Every OpenTelemetry name except the two hostmetrics-compatible ones starts with this. */
export const OTEL_PREFIX = 'conntrack.';

function def<const L extends string>(m: MetricDef<L>): MetricDef<L> {
  return m;
}

/**
 * The per-CPU counters by the name of their metric, in the kernel's attribute order (enum
 * ctattr_stats_cpu in include/uapi/linux/netfilter/nfnetlink_conntrack.h). The conntrack layer
 * decodes the same names; src/collectors/cpu-stats.ts checks at compile time that they agree.
 */
const CPU_STAT_HELP = {
  searched: 'Hash table lookups (no longer sent by kernels since 4.10).',
  found: 'Lookups that found an existing entry.',
  new: 'Entries added (no longer sent by kernels since 4.10).',
  invalid: 'Packets conntrack could not track (malformed, or not matching a state).',
  ignore: 'Packets already tracked or untracked (no longer sent by current kernels).',
  delete: 'Entries deleted (no longer sent by kernels since 4.10).',
  delete_list: 'Entries put on the dying list (no longer sent by kernels since 4.10).',
  insert: 'Entries inserted into the table.',
  insert_failed:
    'Entries that could not be inserted, usually a race between two packets of the same new flow (e.g. DNS over DNAT).',
  drop: 'Packets dropped because a new entry could not be allocated (table full and nothing evictable).',
  early_drop: 'Entries evicted early to make room when the table was full.',
  error: 'ICMP errors conntrack could not relate to a tracked flow (icmp_error in procfs).',
  search_restart: 'Lookups restarted because a hash resize or a concurrent change moved an entry.',
  clash_resolve: 'Insert clashes that were resolved (mostly UDP), instead of dropping the packet.',
  chaintoolong: 'Inserts refused because a hash chain grew too long (hash collision pressure).',
} as const;
export type CpuStatName = keyof typeof CPU_STAT_HELP;
export const CPU_STAT_NAMES = Object.keys(CPU_STAT_HELP) as readonly CpuStatName[];

/** The expectation counters (enum ctattr_expect_stats), checked against the conntrack layer in expect-stats.ts. */
const EXPECT_STAT_HELP = {
  new: 'Expectations added.',
  create: 'Expectations created by helpers.',
  delete: 'Expectations deleted.',
} as const;
export type ExpectStatName = keyof typeof EXPECT_STAT_HELP;
export const EXPECT_STAT_NAMES = Object.keys(EXPECT_STAT_HELP) as readonly ExpectStatName[];

// ---- table ----------------------------------------------------------------------------------

export const entries = def({
  name: 'conntrack_entries',
  otelName: 'system.network.conntrack.count',
  help: 'Entries in the conntrack table of the network namespace the exporter runs in.',
  type: 'gauge',
  unit: '{entries}',
  labels: [],
  collector: 'table',
});

export const entriesLimit = def({
  name: 'conntrack_entries_limit',
  otelName: 'system.network.conntrack.max',
  help: 'Maximum entries per network namespace (net.netfilter.nf_conntrack_max, global to the host).',
  type: 'gauge',
  unit: '{entries}',
  labels: [],
  collector: 'table',
});

export const hashBuckets = def({
  name: 'conntrack_hash_buckets',
  otelName: 'conntrack.hash.buckets',
  help: 'Buckets in the conntrack hash table (net.netfilter.nf_conntrack_buckets, global to the host).',
  type: 'gauge',
  unit: '{buckets}',
  labels: [],
  collector: 'table',
});

// ---- per-CPU stats --------------------------------------------------------------------------

export const cpuStats: Readonly<Record<CpuStatName, MetricDef<'cpu'>>> = Object.fromEntries(
  CPU_STAT_NAMES.map((stat) => [
    stat,
    def({
      name: `conntrack_stat_${stat}_total`,
      otelName: `conntrack.stat.${stat}`,
      help: `${CPU_STAT_HELP[stat]} Per CPU, 64-bit (the kernel's u32 wraps are unwrapped).`,
      type: 'counter',
      unit: '{events}',
      labels: ['cpu'],
      collector: 'cpu_stats',
    }),
  ]),
) as Record<CpuStatName, MetricDef<'cpu'>>;

export const expectStats: Readonly<Record<ExpectStatName, MetricDef<'cpu'>>> = Object.fromEntries(
  EXPECT_STAT_NAMES.map((stat) => [
    stat,
    def({
      name: `conntrack_expect_stat_${stat}_total`,
      otelName: `conntrack.expect.stat.${stat}`,
      help: `${EXPECT_STAT_HELP[stat]} Per CPU, 64-bit.`,
      type: 'counter',
      unit: '{expectations}',
      labels: ['cpu'],
      collector: 'expect_stats',
    }),
  ]),
) as Record<ExpectStatName, MetricDef<'cpu'>>;

// ---- sysctl ---------------------------------------------------------------------------------

export const accountingEnabled = def({
  name: 'conntrack_accounting_enabled',
  otelName: 'conntrack.accounting.enabled',
  help: 'Whether new entries get byte/packet counters (net.netfilter.nf_conntrack_acct, per netns): 1 on, 0 off.',
  type: 'gauge',
  unit: '1',
  labels: [],
  collector: 'sysctl',
});

export const timestampEnabled = def({
  name: 'conntrack_timestamp_enabled',
  otelName: 'conntrack.timestamp.enabled',
  help: 'Whether new entries get a start timestamp (net.netfilter.nf_conntrack_timestamp, per netns): 1 on, 0 off.',
  type: 'gauge',
  unit: '1',
  labels: [],
  collector: 'sysctl',
});

export const eventsMode = def({
  name: 'conntrack_events_mode',
  otelName: 'conntrack.events.mode',
  help: 'net.netfilter.nf_conntrack_events (per netns): 0 off, 1 on, 2 only while a listener exists.',
  type: 'gauge',
  unit: '1',
  labels: [],
  collector: 'sysctl',
});

export const timeoutSeconds = def({
  name: 'conntrack_timeout_seconds',
  otelName: 'conntrack.timeout',
  help: 'Idle timeout the kernel gives entries in this protocol state (net.netfilter.nf_conntrack_*_timeout*).',
  type: 'gauge',
  unit: 's',
  labels: ['protocol', 'state'],
  collector: 'sysctl',
});

// ---- flows (values from the last completed flow pass) ----------------------------------------

const FROM_PASS =
  'From the last completed flow pass (beyond the per-pass budget a sample, scaled to the exact entry count); absent once older than the maximum age.';

export const flows = def({
  name: 'conntrack_flows',
  otelName: 'conntrack.flows',
  help: `Live flows by address family, protocol and protocol state. ${FROM_PASS}`,
  type: 'gauge',
  unit: '{flows}',
  labels: ['family', 'protocol', 'state'],
  collector: 'flows',
});

export const flowsByStatus = def({
  name: 'conntrack_flows_by_status',
  otelName: 'conntrack.flows.by_status',
  help: `Live flows by status: unreplied (no reply seen), replied (reply seen, not assured), assured. ${FROM_PASS}`,
  type: 'gauge',
  unit: '{flows}',
  labels: ['family', 'protocol', 'status'],
  collector: 'flows',
});

export const flowsByNat = def({
  name: 'conntrack_flows_by_nat',
  otelName: 'conntrack.flows.by_nat',
  help: `Live flows by NAT kind, from comparing the two tuples: none, snat, dnat, both. ${FROM_PASS}`,
  type: 'gauge',
  unit: '{flows}',
  labels: ['family', 'protocol', 'nat'],
  collector: 'flows',
});

export const flowsByZone = def({
  name: 'conntrack_flows_by_zone',
  otelName: 'conntrack.flows.by_zone',
  help: `Live flows by conntrack zone (0 is the default zone). ${FROM_PASS}`,
  type: 'gauge',
  unit: '{flows}',
  labels: ['zone'],
  collector: 'flows',
});

export const flowBytes = def({
  name: 'conntrack_flow_bytes',
  otelName: 'conntrack.flow.bytes',
  help: `Bytes (whole L3 packets) counted by the acct extension on live flows, by direction. Absent while nf_conntrack_acct is off. ${FROM_PASS}`,
  type: 'gauge',
  unit: 'By',
  labels: ['family', 'protocol', 'state', 'direction'],
  collector: 'flows',
});

export const flowPackets = def({
  name: 'conntrack_flow_packets',
  otelName: 'conntrack.flow.packets',
  help: `Packets counted by the acct extension on live flows, by direction. Absent while nf_conntrack_acct is off. ${FROM_PASS}`,
  type: 'gauge',
  unit: '{packets}',
  labels: ['family', 'protocol', 'state', 'direction'],
  collector: 'flows',
});

export const FLOW_AGE_BUCKETS = [
  1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 259200, 604800,
] as const;

export const flowAgeSeconds = def({
  name: 'conntrack_flow_age_seconds',
  otelName: 'conntrack.flow.age',
  help: `Age of live flows (now minus the timestamp extension's start), by protocol. Absent while nf_conntrack_timestamp is off. ${FROM_PASS}`,
  type: 'gaugehistogram',
  unit: 's',
  labels: ['protocol'],
  collector: 'flows',
  buckets: FLOW_AGE_BUCKETS,
});

const TOP_K = 'Top K values; the rest are summed in the "other" series, so the series add up to the total.';
const PORT_WINDOW =
  "A sample combines the last pass's flows with those of the passes before it, up to 300,000 flows (six passes at the default budget, spanning six intervals).";

export const flowsByDstPort = def({
  name: 'conntrack_flows_by_dst_port',
  otelName: 'conntrack.flows.by_dst_port',
  help: `Live flows by original destination port. ${TOP_K} ${FROM_PASS} ${PORT_WINDOW}`,
  type: 'gauge',
  unit: '{flows}',
  labels: ['protocol', 'port'],
  collector: 'flows',
});

export const flowBytesByDstPort = def({
  name: 'conntrack_flow_bytes_by_dst_port',
  otelName: 'conntrack.flow.bytes.by_dst_port',
  help: `Bytes of live flows (both directions) by original destination port. ${TOP_K} ${FROM_PASS} ${PORT_WINDOW}`,
  type: 'gauge',
  unit: 'By',
  labels: ['protocol', 'port'],
  collector: 'flows',
});

export const flowsBySrcAddress = def({
  name: 'conntrack_flows_by_src_address',
  otelName: 'conntrack.flows.by_src_address',
  help: `Live flows by original source address. ${TOP_K} ${FROM_PASS}`,
  type: 'gauge',
  unit: '{flows}',
  labels: ['address'],
  collector: 'flows',
});

export const flowsByDstAddress = def({
  name: 'conntrack_flows_by_dst_address',
  otelName: 'conntrack.flows.by_dst_address',
  help: `Live flows by original destination address. ${TOP_K} ${FROM_PASS}`,
  type: 'gauge',
  unit: '{flows}',
  labels: ['address'],
  collector: 'flows',
});

export const flowBytesBySrcAddress = def({
  name: 'conntrack_flow_bytes_by_src_address',
  otelName: 'conntrack.flow.bytes.by_src_address',
  help: `Bytes of live flows (both directions) by original source address. ${TOP_K} ${FROM_PASS}`,
  type: 'gauge',
  unit: 'By',
  labels: ['address'],
  collector: 'flows',
});

export const flowBytesByDstAddress = def({
  name: 'conntrack_flow_bytes_by_dst_address',
  otelName: 'conntrack.flow.bytes.by_dst_address',
  help: `Bytes of live flows (both directions) by original destination address. ${TOP_K} ${FROM_PASS}`,
  type: 'gauge',
  unit: 'By',
  labels: ['address'],
  collector: 'flows',
});

export const flowsByPod = def({
  name: 'conntrack_flows_by_pod',
  otelName: 'conntrack.flows.by_pod',
  help: `Live flows attributed to the pods on this node (CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION): role="client" when the original source is the pod's address, role="server" when the original destination is, or the reply comes from it after DNAT. ${FROM_PASS}`,
  type: 'gauge',
  unit: '{flows}',
  labels: ['pod_uid', 'role'],
  collector: 'flows',
});

export const flowAttributionPods = def({
  name: 'conntrack_flow_attribution_pods',
  otelName: 'conntrack.flow.attribution.pods',
  help: 'Pod network namespaces with usable addresses that the last flow pass attributed flows to; 0 while none is visible (attribution needs the host PID namespace). Present only with pod attribution on.',
  type: 'gauge',
  unit: '{pods}',
  labels: [],
  collector: 'flows',
});

export const flowsUnrepliedDnat = def({
  name: 'conntrack_flows_unreplied_dnat',
  otelName: 'conntrack.flows.unreplied_dnat',
  help: `Live flows whose destination was rewritten (reply source differs from original destination) and that never saw a reply, by protocol and backend (the reply source). ${TOP_K} ${FROM_PASS}`,
  type: 'gauge',
  unit: '{flows}',
  labels: ['protocol', 'backend'],
  collector: 'flows',
});

export const flowPassDuration = def({
  name: 'conntrack_flow_pass_duration_seconds',
  otelName: 'conntrack.flow.pass.duration',
  help: 'Wall time of the last completed flow pass (dump, decode and aggregate).',
  type: 'gauge',
  unit: 's',
  labels: [],
  collector: 'flows',
});

export const flowPassEnd = def({
  name: 'conntrack_flow_pass_end_timestamp_seconds',
  otelName: 'conntrack.flow.pass.end_timestamp',
  help: 'Unix time when the last completed flow pass ended.',
  type: 'gauge',
  unit: 's',
  labels: [],
  collector: 'flows',
});

export const flowPassScanned = def({
  name: 'conntrack_flow_pass_flows_scanned',
  otelName: 'conntrack.flow.pass.flows_scanned',
  help: 'Flow messages the last completed flow pass read: its sample, read from where the previous pass stopped (the whole table when it fits the budget).',
  type: 'gauge',
  unit: '{flows}',
  labels: [],
  collector: 'flows',
});

export const flowPassDecoded = def({
  name: 'conntrack_flow_pass_flows_decoded',
  otelName: 'conntrack.flow.pass.flows_decoded',
  help: 'Flows decoded and aggregated in the last completed flow pass (the sample).',
  type: 'gauge',
  unit: '{flows}',
  labels: [],
  collector: 'flows',
});

export const flowPassSamplingRatio = def({
  name: 'conntrack_flow_pass_sampling_ratio',
  otelName: 'conntrack.flow.pass.sampling_ratio',
  help: 'Flows decoded divided by the table entries in the last completed pass: the share of the table the aggregates are scaled from (1 means every flow was read).',
  type: 'gauge',
  unit: '1',
  labels: [],
  collector: 'flows',
});

export const flowSeriesFolded = def({
  name: 'conntrack_flow_series_folded',
  otelName: 'conntrack.flow.series_folded',
  help: 'Flow series folded into "other" in the last completed pass to stay under the series budget.',
  type: 'gauge',
  unit: '{series}',
  labels: [],
  collector: 'flows',
});

export const flowWalks = def({
  name: 'conntrack_flow_walks_total',
  otelName: 'conntrack.flow.walks',
  help: 'Fresh walks of the table that flow passes started, by reason: new (first pass, or after a failed one), fits (the table fits the per-pass budget: read whole), resize (the hash table was resized), end (the walk reached the end of the table and wrapped around).',
  type: 'counter',
  unit: '{walks}',
  labels: ['reason'],
  collector: 'flows',
});

export const flowPasses = def({
  name: 'conntrack_flow_passes_total',
  otelName: 'conntrack.flow.passes',
  help: 'Flow passes by result: ok, error, or skipped (table above the configured usage threshold).',
  type: 'counter',
  unit: '{passes}',
  labels: ['result'],
  collector: 'flows',
});

// ---- per network namespace (opt-in) ---------------------------------------------------------

const PER_NETNS =
  "From /proc/<pid>/net/stat/nf_conntrack of one process per network namespace; netns is the namespace's proc inode, pod_uid the Kubernetes pod from its cgroup (empty outside pods).";

export const netnsEntries = def({
  name: 'conntrack_netns_entries',
  otelName: 'conntrack.netns.entries',
  help: `Entries in each network namespace's conntrack table (each is compared with the global limit). ${PER_NETNS}`,
  type: 'gauge',
  unit: '{entries}',
  labels: ['netns', 'pod_uid'],
  collector: 'netns',
});

/** The per-CPU counters that name a namespace's trouble, summed over CPUs after unwrapping. */
export const NETNS_STAT_NAMES = ['insert_failed', 'drop', 'early_drop', 'clash_resolve'] as const;
export type NetnsStatName = (typeof NETNS_STAT_NAMES)[number];

export const netnsStats: Readonly<Record<NetnsStatName, MetricDef<'netns' | 'pod_uid'>>> = Object.fromEntries(
  NETNS_STAT_NAMES.map((stat) => [
    stat,
    def({
      name: `conntrack_netns_stat_${stat}_total`,
      otelName: `conntrack.netns.stat.${stat}`,
      help: `${CPU_STAT_HELP[stat]} Per network namespace, all CPUs. ${PER_NETNS}`,
      type: 'counter',
      unit: '{events}',
      labels: ['netns', 'pod_uid'],
      collector: 'netns',
    }),
  ]),
) as Record<NetnsStatName, MetricDef<'netns' | 'pod_uid'>>;

export const netnsCount = def({
  name: 'conntrack_netns_namespaces',
  otelName: 'conntrack.netns.namespaces',
  help: 'Network namespaces the netns collector found (processes visible in the PID namespace it runs in).',
  type: 'gauge',
  unit: '{namespaces}',
  labels: [],
  collector: 'netns',
});

// ---- connection events (opt-in) -------------------------------------------------------------

const FROM_EVENTS =
  'From ctnetlink NEW/DESTROY events in the network namespace the exporter runs in (see conntrack_events_coverage_info for what the kernel leaves out).';

export const connectionsCreated = def({
  name: 'conntrack_connections_created_total',
  otelName: 'conntrack.connections.created',
  help: `Connections (conntrack entries) created: NEW events. ${FROM_EVENTS}`,
  type: 'counter',
  unit: '{connections}',
  labels: ['family', 'protocol'],
  collector: 'events',
});

export const connectionsCreatedByDstPort = def({
  name: 'conntrack_connections_created_by_dst_port_total',
  otelName: 'conntrack.connections.created.by_dst_port',
  help: `Connections created (NEW events) by original destination port, for the ports of CONNTRACK_EXPORTER_EVENTS_PORTS; every other port counts as "other". The port set is fixed at start, so every series is a true counter. TCP, UDP, SCTP, DCCP and UDP-Lite only. ${FROM_EVENTS}`,
  type: 'counter',
  unit: '{connections}',
  labels: ['protocol', 'port'],
  collector: 'events',
});

export const connectionsCreatedByPod = def({
  name: 'conntrack_connections_created_by_pod_total',
  otelName: 'conntrack.connections.created.by_pod',
  help: `Connections created (NEW events) by the pod on this node that made them (role="client": the original source is the pod's address) or received them (role="server": the original destination, or the DNAT backend, is). Pods are found by their own network namespaces' addresses, refreshed every 15 s (docs/pods.md); a pod's series goes when the pod does. Present only with CONNTRACK_EXPORTER_EVENTS_POD_ATTRIBUTION. ${FROM_EVENTS}`,
  type: 'counter',
  unit: '{connections}',
  labels: ['pod_uid', 'role'],
  collector: 'events',
});

export const eventsAttributionPods = def({
  name: 'conntrack_events_attribution_pods',
  otelName: 'conntrack.events.attribution.pods',
  help: 'Pod network namespaces whose addresses the events collector attributes new connections to; 0 while none is visible (attribution needs the host PID namespace). Present only with CONNTRACK_EXPORTER_EVENTS_POD_ATTRIBUTION.',
  type: 'gauge',
  unit: '{pods}',
  labels: [],
  collector: 'events',
});

export const connectionsDestroyed = def({
  name: 'conntrack_connections_destroyed_total',
  otelName: 'conntrack.connections.destroyed',
  help: `Connections (conntrack entries) that ended (expired, closed or deleted): DESTROY events. ${FROM_EVENTS}`,
  type: 'counter',
  unit: '{connections}',
  labels: ['family', 'protocol'],
  collector: 'events',
});

/** Upper bounds in seconds; lifetimes cluster at the protocol timeouts (UDP 30 s, TCP TIME_WAIT 120 s). */
export const LIFETIME_BUCKETS = [
  0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400,
] as const;

export const connectionLifetime = def({
  name: 'conntrack_connection_lifetime_seconds',
  otelName: 'conntrack.connection.lifetime',
  help: `Lifetime of finished connections: stop minus start of the timestamp extension, from DESTROY events (the stop of an expired entry is its expiry time). Absent while nf_conntrack_timestamp is off. ${FROM_EVENTS}`,
  type: 'histogram',
  unit: 's',
  labels: ['protocol'],
  collector: 'events',
  buckets: LIFETIME_BUCKETS,
});

export const finishedBytes = def({
  name: 'conntrack_connection_finished_bytes_total',
  otelName: 'conntrack.connection.finished.bytes',
  help: `Bytes (whole L3 packets) of finished connections, from the final acct counters of DESTROY events, by direction. Absent while nf_conntrack_acct is off. ${FROM_EVENTS}`,
  type: 'counter',
  unit: 'By',
  labels: ['protocol', 'direction'],
  collector: 'events',
});

export const finishedPackets = def({
  name: 'conntrack_connection_finished_packets_total',
  otelName: 'conntrack.connection.finished.packets',
  help: `Packets of finished connections, from the final acct counters of DESTROY events, by direction. Absent while nf_conntrack_acct is off. ${FROM_EVENTS}`,
  type: 'counter',
  unit: '{packets}',
  labels: ['protocol', 'direction'],
  collector: 'events',
});

export const eventsOverruns = def({
  name: 'conntrack_events_overruns_total',
  otelName: 'conntrack.events.overruns',
  help: 'Times the event receive buffer overflowed (ENOBUFS) or the event reader died of it: events were lost, so the event counters undercount from then on.',
  type: 'counter',
  unit: '{overruns}',
  labels: [],
  collector: 'events',
});

export const eventsReaderRestarts = def({
  name: 'conntrack_events_reader_restarts_total',
  otelName: 'conntrack.events.reader.restarts',
  help: 'Restarts of the event reader process, by reason: exit (it died), hung (no heartbeat).',
  type: 'counter',
  unit: '{restarts}',
  labels: ['reason'],
  collector: 'events',
});

export const eventsReceiveBuffer = def({
  name: 'conntrack_events_receive_buffer_bytes',
  otelName: 'conntrack.events.receive_buffer',
  help: 'Receive buffer of the event socket as granted by the kernel (forced with CAP_NET_ADMIN, else capped by net.core.rmem_max); about 1.3 KB per queued event.',
  type: 'gauge',
  unit: 'By',
  labels: [],
  collector: 'events',
});

export const eventsCoverage = def({
  name: 'conntrack_events_coverage_info',
  otelName: 'conntrack.events.coverage',
  help: 'Which connections send events, from net.netfilter.nf_conntrack_events: none (0: no events), all (1), since_listening (2, the default: entries created before a listener existed never send DESTROY); 1 for the case in force.',
  type: 'gauge',
  unit: '1',
  labels: ['coverage'],
  collector: 'events',
});

// ---- exporter self-metrics -------------------------------------------------------------------

export const collectorSuccess = def({
  name: 'conntrack_scrape_collector_success',
  otelName: 'conntrack.scrape.collector.success',
  help: 'Whether the collector succeeded in this collection: 1 yes, 0 no (its metrics are then absent).',
  type: 'gauge',
  unit: '1',
  labels: ['collector'],
  collector: 'exporter',
});

export const collectorDuration = def({
  name: 'conntrack_scrape_collector_duration_seconds',
  otelName: 'conntrack.scrape.collector.duration',
  help: 'How long the collector took in this collection.',
  type: 'gauge',
  unit: 's',
  labels: ['collector'],
  collector: 'exporter',
});

export const collectorSource = def({
  name: 'conntrack_collector_source_info',
  otelName: 'conntrack.collector.source',
  help: 'The source that served each collector (netlink, procfs or sysctl); 1 for the source in use.',
  type: 'gauge',
  unit: '1',
  labels: ['collector', 'source'],
  collector: 'exporter',
});

export const malformedMessages = def({
  name: 'conntrack_netlink_malformed_messages_total',
  otelName: 'conntrack.netlink.malformed_messages',
  help: 'Kernel messages that could not be decoded and were skipped.',
  type: 'counter',
  unit: '{messages}',
  labels: [],
  collector: 'exporter',
});

export const buildInfo = def({
  name: 'conntrack_exporter_build_info',
  otelName: 'conntrack.exporter.build_info',
  help: 'Build information of the exporter; always 1.',
  type: 'gauge',
  unit: '1',
  labels: ['version', 'nodejs_version'],
  collector: 'exporter',
});

export const otlpExportFailures = def({
  name: 'conntrack_otlp_export_failures_total',
  otelName: 'conntrack.otlp.export_failures',
  help: 'OTLP metric exports that failed after the SDK retries.',
  type: 'counter',
  unit: '{exports}',
  labels: [],
  collector: 'exporter',
});

/** The flows collector's metrics, in exposition order. */
export const FLOW_METRICS: readonly MetricDef[] = [
  flows,
  flowsByStatus,
  flowsByNat,
  flowsByZone,
  flowBytes,
  flowPackets,
  flowAgeSeconds,
  flowsByDstPort,
  flowBytesByDstPort,
  flowsBySrcAddress,
  flowsByDstAddress,
  flowBytesBySrcAddress,
  flowBytesByDstAddress,
  flowsByPod,
  flowAttributionPods,
  flowsUnrepliedDnat,
  flowPassDuration,
  flowPassEnd,
  flowPassScanned,
  flowPassDecoded,
  flowPassSamplingRatio,
  flowSeriesFolded,
  flowPasses,
  flowWalks,
];

/** Every metric, in exposition order. */
/** What the events collector produces (src/collectors/events.ts lists these). */
export const EVENTS_METRICS: readonly MetricDef[] = [
  connectionsCreated,
  connectionsCreatedByDstPort,
  connectionsCreatedByPod,
  eventsAttributionPods,
  connectionsDestroyed,
  connectionLifetime,
  finishedBytes,
  finishedPackets,
  eventsOverruns,
  eventsReaderRestarts,
  eventsReceiveBuffer,
  eventsCoverage,
];

export const CATALOG: readonly MetricDef[] = [
  entries,
  entriesLimit,
  hashBuckets,
  ...Object.values(cpuStats),
  ...Object.values(expectStats),
  accountingEnabled,
  timestampEnabled,
  eventsMode,
  timeoutSeconds,
  ...FLOW_METRICS,
  netnsEntries,
  ...Object.values(netnsStats),
  netnsCount,
  ...EVENTS_METRICS,
  collectorSuccess,
  collectorDuration,
  collectorSource,
  malformedMessages,
  buildInfo,
  otlpExportFailures,
];

export function findMetric(name: string): MetricDef | undefined {
  return CATALOG.find((m) => m.name === name);
}
