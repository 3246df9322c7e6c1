// Layer: wiring. Parses the command line and configuration, builds the layers (conntrack client
// -> collectors (from the registry) -> scrape collection -> sinks -> HTTP/OTLP), and owns the
// process: the only file that sets the exit code or handles signals.

import { release } from 'node:os';
import { createCollectors } from './collectors/index.js';
import { NetlinkAvailability } from './collectors/sources.js';
import type { CollectorContext } from './collectors/types.js';
import { ConfigError, loadConfig, VARIABLES, type Config } from './config/config.js';
import { ConntrackClient } from './conntrack/client.js';
import { ListenError, startHttpServer, type MetricsSource } from './http/server.js';
import { loadWebConfig, WebConfigError, WebConfigWatcher, type WebConfig } from './http/web-config.js';
import { createLogger, type Logger } from './log.js';
import { collectorSuccess, otlpExportFailures } from './metrics/catalog.js';
import { sample, type Snapshot } from './metrics/sample.js';
import { Telemetry } from './metrics/telemetry.js';
import { releaseFilePages } from './netlink/native.js';
import { Collection } from './scrape/collection.js';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './sinks/prometheus.js';
import { OtlpExportHealth } from './sinks/otlp-health.js';
import { VERSION } from './version.js';

const USAGE = `Usage: conntrack-exporter [once] [--help] [--version]

  (no command)  serve /metrics (and push OTLP if configured) until SIGTERM
  once          run every enabled collector once, print the exposition to stdout, exit

Configuration is read from environment variables:
${Object.entries(VARIABLES)
  .map(
    ([name, spec]) =>
      `  ${name}${spec.default !== undefined ? ` (default ${JSON.stringify(spec.default)})` : ''}\n      ${spec.description}`,
  )
  .join('\n')}
`;

interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** Builds everything that reads the kernel; `serving` is false for `once`, which pushes nothing. */
async function build(config: Config, log: Logger, serving = false) {
  const telemetry = new Telemetry(VERSION);
  const client = new ConntrackClient({
    timeoutMs: config.netlinkTimeoutMs,
    onMalformed: () => telemetry.countMalformed(),
  });
  const availability = new NetlinkAvailability(client, config.source, log);
  await availability.start();
  const ctx: CollectorContext = {
    client,
    // Read at every collection: after a failed probe other than EPERM, the retry can turn it on.
    get netlink() {
      return availability.usable;
    },
    procPath: config.procPath,
    kernelRelease: release(),
    timeoutMs: config.netlinkTimeoutMs,
    log,
    telemetry,
  };
  const collectors = createCollectors(config.collectors, ctx, config.collectorOptions);
  // Present only while OTLP is on: absent is not zero.
  const otlpHealth =
    serving && config.exporters.otlp ? new OtlpExportHealth(log, config.otlp.endpoint) : undefined;
  if (otlpHealth) telemetry.addSource(() => [sample(otlpExportFailures, {}, otlpHealth.failures)]);
  const collection = new Collection(collectors, () => telemetry.samples(), log, {
    deadlineMs: config.collectorTimeoutMs,
  });
  return { client, availability, collectors, collection, otlpHealth };
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const args = [...argv];
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (args.includes('--version')) {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = args[0];
  if (args.length > 1 || (command !== undefined && command !== 'once')) {
    io.stderr.write(`conntrack-exporter: unknown arguments: ${args.join(' ')}\n\n${USAGE}`);
    return 2;
  }

  let config: Config;
  let web: WebConfig | undefined;
  try {
    config = loadConfig(env);
    // `once` serves nothing, so its file is not read.
    if (config.webConfigFile !== undefined && command !== 'once') web = loadWebConfig(config.webConfigFile);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof WebConfigError) {
      const message =
        err instanceof WebConfigError
          ? new ConfigError(err.problems.map((p) => `CONNTRACK_EXPORTER_WEB_CONFIG_FILE: ${err.file}: ${p}`))
              .message
          : err.message;
      io.stderr.write(`conntrack-exporter: ${message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  if (config.ignoredVariables.length > 0) {
    log.warn(
      { variables: config.ignoredVariables },
      'OpenTelemetry variables set that this exporter does not use',
    );
  }
  if (command === 'once') return runOnce(config, log, io);
  try {
    return await serve(config, web, log);
  } catch (err) {
    if (err instanceof ListenError) {
      io.stderr.write(
        `conntrack-exporter: CONNTRACK_EXPORTER_LISTEN_ADDRESS=${env.CONNTRACK_EXPORTER_LISTEN_ADDRESS || String(VARIABLES.CONNTRACK_EXPORTER_LISTEN_ADDRESS?.default)}: ${err.reason}\n`,
      );
      return 1;
    }
    throw err;
  }
}

/** True when at least one collector reported success in the snapshot. */
function anyCollectorSucceeded(snapshot: Snapshot): boolean {
  return snapshot.samples.some((s) => s.metric === collectorSuccess && s.kind === 'value' && s.value === 1);
}

async function runOnce(config: Config, log: Logger, io: Io): Promise<number> {
  const { client, availability, collectors, collection } = await build(config, log);
  try {
    // The flow collector's first pass runs before the collection so `once` includes flows.
    for (const c of collectors) await c.runOnce?.();
    const snapshot = await collection.collect();
    io.stdout.write(await renderPrometheus(snapshot, false));
    if (!anyCollectorSucceeded(snapshot)) {
      io.stderr.write(
        'conntrack-exporter: every collector failed (see conntrack_scrape_collector_success)\n',
      );
      return 1;
    }
    return 0;
  } finally {
    availability.stop();
    await Promise.all(collectors.map((c) => c.stop?.() ?? Promise.resolve()));
    client.close();
  }
}

async function serve(config: Config, web: WebConfig | undefined, log: Logger): Promise<number> {
  const { client, availability, collectors, collection, otlpHealth } = await build(config, log, true);
  const metrics: MetricsSource<Snapshot> | undefined = config.exporters.prometheus
    ? {
        collect: () => collection.collect(),
        render: (snapshot, format) => renderPrometheus(snapshot, format === 'openmetrics'),
        contentTypes: { prometheus: PROMETHEUS_CONTENT_TYPE, openmetrics: OPENMETRICS_CONTENT_TYPE },
      }
    : undefined;
  let server;
  try {
    server = await startHttpServer({
      host: config.listen.host,
      port: config.listen.port,
      metricsPath: config.metricsPath,
      metrics,
      version: VERSION,
      log,
      limits: config.http,
      ...(web && { web: new WebConfigWatcher(web, log) }),
    });
  } catch (err) {
    availability.stop();
    await Promise.all(collectors.map((c) => c.stop?.() ?? Promise.resolve()));
    client.close();
    throw err;
  }
  for (const c of collectors) c.start?.();
  // OpenTelemetry is loaded only when OTLP is on: without it the SDK costs no memory (README).
  const otlp = otlpHealth
    ? (await import('./sinks/otel.js')).startOtlpPipeline({
        source: collection,
        otlp: config.otlp,
        resource: config.resource,
        version: VERSION,
        health: otlpHealth,
        log,
      })
    : undefined;
  log.info(
    { address: server.address, tls: server.tls, collectors: config.collectors, exporters: config.exporters },
    'conntrack-exporter listening',
  );
  const releaseTimer = releaseStartPagesLater(config.releaseFilePagesAfterMs, log);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'shutting down');
  clearTimeout(releaseTimer);
  const deadline = new Promise<'timeout'>((resolve) =>
    setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs).unref(),
  );
  // The last OTLP export runs alongside; collectors still answer collect() after stop().
  const failuresBefore = otlpHealth?.failures ?? 0;
  let otlpFinished = false;
  const done = Promise.all([
    server.close(),
    otlp?.shutdown(config.shutdownTimeoutMs).then(() => (otlpFinished = true)),
    ...collectors.map((c) => c.stop?.()),
  ]).then(() => 'done' as const);
  const outcome = await Promise.race([done, deadline]);
  availability.stop();
  client.close();
  if (outcome === 'timeout') log.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown deadline passed');
  // The SDK reports a failed last export to its own error handler only: say it here.
  if (otlpHealth && (!otlpFinished || otlpHealth.failures > failuresBefore)) {
    log.warn(
      { endpoint: config.otlp.endpoint, reason: otlpFinished ? 'export failed' : 'shutdown deadline passed' },
      'final OTLP export lost: the metrics since the last successful export were not delivered',
    );
  }
  return 0;
}

/**
 * Once the start is over (its code loaded and run, the first passes and scrapes compiled), the
 * process stops mapping the clean file pages it no longer touches (src/netlink/native.ts); what
 * scrapes and passes use maps again on first touch. One log line says how much was dropped.
 */
function releaseStartPagesLater(afterMs: number, log: Logger): NodeJS.Timeout | undefined {
  if (afterMs === 0) return undefined;
  return setTimeout(() => {
    try {
      const bytes = releaseFilePages();
      if (bytes === undefined) log.debug('start-up pages kept: the netlink socket addon is not built');
      else log.info({ releasedMb: Math.round(bytes / 1e5) / 10 }, 'released the mappings of start-up pages');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not release the mappings of start-up pages');
    }
  }, afterMs).unref();
}

/** Entry point used by cli.ts: runs main and ends the process with its code. */
export function run(): void {
  main(process.argv.slice(2), process.env, { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
      // Sockets and timers are closed by then; exit explicitly in case a library kept a handle.
      setImmediate(() => process.exit(code)).unref();
    },
    (err: unknown) => {
      process.stderr.write(`conntrack-exporter: fatal: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
