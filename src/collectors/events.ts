// Layer: collectors. The opt-in `events` collector: connection rate, lifetimes and final counters
// from ctnetlink NEW and DESTROY events in the exporter's network namespace. The socket lives in
// a reader child process (events-reader.ts) that this file supervises: a reader that dies is
// counted and replaced at once, one that stops
// sending heartbeats is killed and replaced, and while no reader is healthy the collector reports
// failure. The totals are merged here, so they survive any number of reader restarts.
// Also reports which connections the kernel sends events for (net.netfilter.nf_conntrack_events).

import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventsCoverage, type EventsCoverage } from '../conntrack/events.js';
import { readNetfilterSysctl } from '../conntrack/procfs.js';
import { ExporterError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  EVENTS_METRICS,
  eventsAttributionPods,
  eventsCoverage as coverageMetric,
  eventsOverruns,
  eventsReaderRestarts,
  eventsReceiveBuffer,
} from '../metrics/catalog.js';
import { EventTotals } from './events-tally.js';
import { HEARTBEAT_MS, type FromReader, type ReaderConfig, type ToReader } from './events-reader.js';
import { sample, type Sample } from '../metrics/sample.js';
import { defineCollector, type SettingValues } from './registry.js';
import type { Collector, CollectorContext, CollectResult } from './types.js';

export class EventsReaderError extends ExporterError {
  constructor(message: string, code = 'ERR_EVENTS_READER') {
    super(code, message);
  }
}

export interface EventsOptions {
  /** SO_RCVBUF request for the event socket (the kernel caps it at net.core.rmem_max, then doubles it). */
  readonly receiveBufferBytes: number;
  /** Destination ports counted on their own in conntrack_connections_created_by_dst_port_total. */
  readonly ports: readonly number[];
  /** Count NEW events by pod (conntrack_connections_created_by_pod_total), from ctx.discovery. */
  readonly podAttribution?: boolean;
  readonly log: Logger;
  /** Counts malformed kernel messages (conntrack_netlink_malformed_messages_total). */
  readonly countMalformed?: (n: number) => void;
  /** The compiled reader script (tests may point elsewhere). */
  readonly readerFile?: string;
}

export type RestartReason = 'exit' | 'hung';

/** How often the pods' addresses are re-read for attributing connection events. */
export const POD_REFRESH_MS = 15_000;

/** A reader silent for this long is killed and replaced. */
const HUNG_MS = 10 * HEARTBEAT_MS;
/** A reader that dies sooner than this after starting is restarted after a growing delay. */
const STABLE_MS = 2000;
const MAX_BACKOFF_MS = 10_000;

/** The collector and its totals (tests read them). */
export interface EventsCollector extends Collector {
  readonly totals: EventTotals;
}

function defaultReaderFile(): string | undefined {
  const file = fileURLToPath(new URL('./events-reader.js', import.meta.url));
  return existsSync(file) ? file : undefined;
}

export function eventsCollector(ctx: CollectorContext, options: EventsOptions): EventsCollector {
  const { log } = options;
  const totals = new EventTotals(new Set(options.ports));
  const restarts: Record<RestartReason, number> = { exit: 0, hung: 0 };
  let overruns = 0;
  let child: ChildProcess | undefined;
  let ready = false;
  let lastTick = 0;
  let startedAt = 0;
  let backoffMs = 0;
  let receiveBuffer: number | undefined;
  let lastError: EventsReaderError | undefined;
  let killedAsHung = false;
  let stopping = false;
  let started = false;
  let watchdog: NodeJS.Timeout | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let loggedMode: string | undefined;
  let warnedBuffer = false;
  let readyWaiters: (() => void)[] = [];
  let attributedPods: number | undefined;
  let podTimer: NodeJS.Timeout | undefined;

  /** Reads the pods' addresses and hands them to the reader; the counters of gone pods go too. */
  async function refreshPods(): Promise<void> {
    if (!options.podAttribution || !ctx.discovery) return;
    try {
      const table = await ctx.discovery.pods();
      attributedPods = table.uids.length;
      totals.setPods(table.uids);
      child?.send({ kind: 'pods', uids: table.uids, addresses: table.addresses } satisfies ToReader);
    } catch (err) {
      log.warn(
        { collector: 'events', err: (err as Error).message },
        'pod discovery for connection events failed',
      );
    }
  }

  function onMessage(msg: FromReader): void {
    lastTick = Date.now();
    if (msg.kind === 'ready') {
      ready = true;
      receiveBuffer = msg.receiveBufferBytes;
      lastError = undefined;
      if (!warnedBuffer && msg.receiveBufferBytes < options.receiveBufferBytes) {
        warnedBuffer = true;
        log.warn(
          { requested: options.receiveBufferBytes, granted: msg.receiveBufferBytes },
          'event receive buffer capped by net.core.rmem_max (a host-wide sysctl) because the exporter lacks CAP_NET_ADMIN to force it: bursts beyond about granted/1300 events per poll are lost and counted in conntrack_events_overruns_total',
        );
      }
      void refreshPods().then(() => {
        for (const w of readyWaiters) w();
        readyWaiters = [];
      });
      return;
    }
    if (msg.kind === 'error') {
      lastError = new EventsReaderError(`event reader: ${msg.message}`, msg.code);
      return;
    }
    if (msg.delta) totals.merge(msg.delta);
    overruns += msg.overruns;
    if (msg.malformed > 0) options.countMalformed?.(msg.malformed);
  }

  function spawnReader(file: string): void {
    const config: ReaderConfig = {
      receiveBufferBytes: options.receiveBufferBytes,
      ports: options.ports,
    };
    const proc = fork(file, ['--events-reader', JSON.stringify(config)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      execArgv: ['--max-old-space-size=64'],
      serialization: 'json',
    });
    child = proc;
    ready = false;
    killedAsHung = false;
    startedAt = lastTick = Date.now();
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4096);
    });
    proc.on('message', (msg: FromReader) => {
      if (child === proc) onMessage(msg);
    });
    proc.on('error', (err) => {
      lastError = new EventsReaderError(`event reader: ${err.message}`);
    });
    proc.on('exit', (code, signal) => {
      if (child !== proc) return;
      child = undefined;
      ready = false;
      if (stopping) return;
      const reason: RestartReason = killedAsHung ? 'hung' : 'exit';
      restarts[reason] += 1;
      lastError ??= new EventsReaderError(
        `event reader ${signal ? `killed by ${signal}` : `exited with ${code}`}${stderr ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`,
      );
      const lived = Date.now() - startedAt;
      backoffMs = lived >= STABLE_MS ? 0 : Math.min(MAX_BACKOFF_MS, Math.max(100, backoffMs * 2));
      log.warn(
        { reason, code, signal, restartInMs: backoffMs, err: lastError.message },
        'event reader died; restarting it',
      );
      restartTimer = setTimeout(() => spawnReader(file), backoffMs);
      restartTimer.unref();
    });
  }

  function start(): void {
    if (started) return;
    started = true;
    if (!ctx.netlink) {
      lastError = new EventsReaderError(
        'connection events need ctnetlink (CAP_NET_ADMIN): the events collector has no fallback',
        'ERR_EVENTS_NO_NETLINK',
      );
      log.warn({ collector: 'events' }, lastError.message);
      return;
    }
    const file = options.readerFile ?? defaultReaderFile();
    if (!file) {
      lastError = new EventsReaderError('the event reader runs only from the compiled build (dist/)');
      return;
    }
    spawnReader(file);
    watchdog = setInterval(() => {
      if (child && Date.now() - lastTick > HUNG_MS) {
        killedAsHung = true;
        child.kill('SIGKILL');
      }
    }, HEARTBEAT_MS);
    watchdog.unref();
    if (options.podAttribution) {
      podTimer = setInterval(() => void refreshPods(), POD_REFRESH_MS);
      podTimer.unref();
    }
  }

  async function readMode(): Promise<Sample[]> {
    const read = (name: string): Promise<number | undefined> =>
      readNetfilterSysctl(ctx.procPath, name).catch(() => undefined);
    const [mode, acct, tstamp] = await Promise.all([
      read('nf_conntrack_events'),
      read('nf_conntrack_acct'),
      read('nf_conntrack_timestamp'),
    ]);
    if (mode === undefined) return [];
    const coverage = eventsCoverage(mode);
    const key = `${mode}/${acct}/${tstamp}`;
    if (key !== loggedMode) {
      loggedMode = key;
      logCoverage(log, mode, coverage, acct, tstamp);
    }
    return [sample(coverageMetric, { coverage }, 1)];
  }

  return {
    name: 'events',
    totals,
    start,
    async runOnce(): Promise<void> {
      // `once` reports what a reader would see (buffer, coverage); counts stay at zero.
      start();
      if (!child) return;
      await new Promise<void>((resolve) => {
        readyWaiters.push(resolve);
        setTimeout(resolve, 5000).unref();
      });
    },
    async collect(): Promise<CollectResult> {
      const samples: Sample[] = [
        ...totals.samples(),
        sample(eventsOverruns, {}, overruns),
        ...(Object.entries(restarts) as [RestartReason, number][]).map(([reason, n]) =>
          sample(eventsReaderRestarts, { reason }, n),
        ),
        ...(receiveBuffer !== undefined ? [sample(eventsReceiveBuffer, {}, receiveBuffer)] : []),
        ...(options.podAttribution ? [sample(eventsAttributionPods, {}, attributedPods ?? 0)] : []),
        ...(await readMode()),
      ];
      const healthy = child !== undefined && ready && Date.now() - lastTick <= 3 * HEARTBEAT_MS;
      // Totals are true counts whatever the reader's state; failure says they may stop growing.
      if (healthy) return { samples, source: 'netlink' };
      return {
        samples,
        source: 'netlink',
        error: lastError ?? new EventsReaderError('event reader is not running'),
      };
    },
    async stop(): Promise<void> {
      stopping = true;
      if (podTimer) clearInterval(podTimer);
      if (watchdog) clearInterval(watchdog);
      if (restartTimer) clearTimeout(restartTimer);
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 2000).unref();
      });
    },
  };
}

const COVERAGE_TEXT: Readonly<Record<EventsCoverage, string>> = {
  none: 'the kernel sends no connection events, so the event counters stay at zero; set it to 1 (or 2) to count connections',
  all: 'every connection sends NEW and DESTROY, including those created before the exporter started',
  since_listening:
    'connections created while no event listener existed (e.g. before the exporter started) never send DESTROY; counts are complete for connections created since',
};

function logCoverage(
  log: Logger,
  mode: number,
  coverage: EventsCoverage,
  acct: number | undefined,
  tstamp: number | undefined,
): void {
  const missing = [
    ...(acct === 0
      ? ['nf_conntrack_acct=0: conntrack_connection_finished_{bytes,packets}_total absent']
      : []),
    ...(tstamp === 0 ? ['nf_conntrack_timestamp=0: conntrack_connection_lifetime_seconds absent'] : []),
  ];
  const level = coverage === 'none' ? 'warn' : 'info';
  log[level](
    { collector: 'events', nf_conntrack_events: mode, coverage, acct, timestamp: tstamp },
    `nf_conntrack_events=${mode}: ${COVERAGE_TEXT[coverage]}${missing.length > 0 ? `; ${missing.join('; ')}` : ''}`,
  );
}

/** The `events` collector's configuration (CONNTRACK_EXPORTER_EVENTS_*). */
export interface EventsSettings {
  readonly receiveBufferBytes: number;
  readonly ports: readonly number[];
  readonly podAttribution: boolean;
}

/** Ports of the dst-port breakdown by default: DNS, HTTP, HTTPS, the Kubernetes API. */
export const DEFAULT_EVENT_PORTS = '53,80,443,6443';
/** At most this many ports: each is two series (TCP and UDP). */
export const MAX_EVENT_PORTS = 32;

/** CONNTRACK_EXPORTER_EVENTS_PORTS: comma-separated ports 1-65535, distinct, at most MAX_EVENT_PORTS. */
export function parseEventPorts(text: string): { ports: number[]; problem?: string } {
  const items = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const bad = items.filter((p) => !/^[0-9]{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535);
  if (bad.length > 0) return { ports: [], problem: `not a port from 1 to 65535: ${bad.join(', ')}` };
  const ports = [...new Set(items.map(Number))];
  if (ports.length > MAX_EVENT_PORTS)
    return { ports: [], problem: `${ports.length} ports, at most ${MAX_EVENT_PORTS}` };
  return { ports };
}

export const eventsDefinition = defineCollector<EventsSettings>({
  name: 'events',
  defaultEnabled: false,
  reads: {
    withNetAdmin:
      'ctnetlink NEW/DESTROY events, read by a supervised child process ([docs/events.md](docs/events.md))',
    without: 'unavailable (reported as failing)',
  },
  needs: { netAdmin: 'required', hostPid: false },
  metrics: EVENTS_METRICS,
  settings: {
    variables: {
      CONNTRACK_EXPORTER_EVENTS_RECEIVE_BUFFER_BYTES: {
        type: 'integer',
        default: 8388608,
        minimum: 65536,
        maximum: 1073741824,
        valid: 'an integer from 65536 to 1073741824',
        description:
          'Receive buffer the events collector asks for: forced with CAP_NET_ADMIN (SO_RCVBUFFORCE), else capped at net.core.rmem_max; the kernel doubles it; about 1.3 KB per queued event.',
      },
      CONNTRACK_EXPORTER_EVENTS_POD_ATTRIBUTION: {
        type: 'boolean',
        default: false,
        valid: 'true or false',
        description:
          'Count new connections by the pod on this node that made or received them (conntrack_connections_created_by_pod_total); needs the host PID namespace (docs/pods.md).',
      },
      CONNTRACK_EXPORTER_EVENTS_PORTS: {
        type: 'string',
        default: DEFAULT_EVENT_PORTS,
        valid: `comma-separated destination ports from 1 to 65535, at most ${MAX_EVENT_PORTS}`,
        description:
          'Destination ports counted on their own in conntrack_connections_created_by_dst_port_total (every other port is "other"); fixed at start, so each series is a true counter.',
      },
    },
    parse: (values: SettingValues): EventsSettings => {
      const parsed = parseEventPorts(String(values.get('CONNTRACK_EXPORTER_EVENTS_PORTS') ?? ''));
      if (parsed.problem) values.problem('CONNTRACK_EXPORTER_EVENTS_PORTS', parsed.problem);
      return {
        receiveBufferBytes: Number(values.get('CONNTRACK_EXPORTER_EVENTS_RECEIVE_BUFFER_BYTES')),
        ports: parsed.ports,
        podAttribution: values.get('CONNTRACK_EXPORTER_EVENTS_POD_ATTRIBUTION') === true,
      };
    },
  },
  create: (ctx, settings) =>
    eventsCollector(ctx, {
      ...settings,
      log: ctx.log,
      countMalformed: (n) => ctx.telemetry.countMalformed(n),
    }),
});
