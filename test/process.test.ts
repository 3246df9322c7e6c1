// Process tests: the real CLI, forked, asserting exit codes and output.

import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { NODE_ENV, NODE_FLAGS } from '../src/node-flags.js';
import { CLI, NODE, exporterEnv, startExporter } from './support/exporter.js';
import { parseExposition, valueOf } from './support/exposition.js';
import { sh } from './support/netns.js';
import { procTree } from './support/proc-tree.js';
import { quietPeriod, waitFor } from './support/wait.js';

const execFileP = promisify(execFile);

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(NODE, [CLI, ...args], { env: exporterEnv(env) });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('command line', () => {
  it('lists every configuration problem at once and exits non-zero', async () => {
    const { code, stdout, stderr } = await cli(['once'], {
      CONNTRACK_EXPORTER_LISTEN_ADRESS: ':1',
      CONNTRACK_EXPORTER_FLOW_TOP_K: 'many',
      CONNTRACK_EXPORTER_SOURCE: 'magic',
      CONNTRACK_EXPORTER_COLLECTORS: 'table,bogus',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(
      'CONNTRACK_EXPORTER_LISTEN_ADRESS: unknown variable (did you mean CONNTRACK_EXPORTER_LISTEN_ADDRESS?)',
    );
    expect(stderr).toContain(
      'CONNTRACK_EXPORTER_FLOW_TOP_K: must be integer (got "many"); valid: an integer from 1 to 1000',
    );
    expect(stderr).toContain('CONNTRACK_EXPORTER_SOURCE');
    expect(stderr).toContain('valid: auto, netlink, procfs');
    expect(stderr).toContain('CONNTRACK_EXPORTER_COLLECTORS: unknown collector bogus');
    expect(stderr).toContain('OTEL_EXPORTER_OTLP_PROTOCOL');
    expect(stderr.match(/^ {2}- /gm)).toHaveLength(5);
  });

  it('accepts the variables Kubernetes injects for a Service named conntrack-exporter', async () => {
    const { code, stderr } = await cli(['once'], {
      CONNTRACK_EXPORTER_SERVICE_HOST: '10.0.0.1',
      CONNTRACK_EXPORTER_SERVICE_PORT: '9469',
      CONNTRACK_EXPORTER_SERVICE_PORT_METRICS: '9469',
      CONNTRACK_EXPORTER_PORT: 'tcp://10.0.0.1:9469',
      CONNTRACK_EXPORTER_PORT_9469_TCP: 'tcp://10.0.0.1:9469',
      CONNTRACK_EXPORTER_PORT_9469_TCP_ADDR: '10.0.0.1',
      CONNTRACK_EXPORTER_PORT_9469_TCP_PORT: '9469',
      CONNTRACK_EXPORTER_PORT_9469_TCP_PROTO: 'tcp',
      CONNTRACK_EXPORTER_FLOW_INTERVAL: '30',
    });
    // Only the genuine typo is reported.
    expect(code).toBe(2);
    expect(stderr.match(/^ {2}- /gm)).toHaveLength(1);
    expect(stderr).toContain('CONNTRACK_EXPORTER_FLOW_INTERVAL: unknown variable');
  });

  it('a listen address that cannot be bound: exit 1, one line naming the variable, no stack trace (issue 11)', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as AddressInfo).port;
    try {
      for (const [address, why] of [
        [`127.0.0.1:${busyPort}`, /the port is already in use \(EADDRINUSE\)/],
        ['192.0.2.1:0', /\(EADDRNOTAVAIL\)/],
        ['nosuch.invalid:9469', /does not resolve|could not be resolved/],
      ] as const) {
        const run = await execFileP(NODE, [CLI], {
          env: exporterEnv({
            CONNTRACK_EXPORTER_LISTEN_ADDRESS: address,
            CONNTRACK_EXPORTER_COLLECTORS: 'table',
          }),
          timeout: 30_000,
        }).then(
          () => ({ code: 0, stderr: '' }),
          (err: unknown) => err as { code: number | null; stderr: string },
        );
        expect(run.code, address).toBe(1);
        const lines = run.stderr.split('\n').filter((l) => l.includes('CONNTRACK_EXPORTER_LISTEN_ADDRESS'));
        expect(lines, run.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(
          new RegExp(
            `^conntrack-exporter: CONNTRACK_EXPORTER_LISTEN_ADDRESS=${address.replace(/\./g, '\\.')}: `,
          ),
        );
        expect(lines[0]).toMatch(why);
        expect(run.stderr).not.toMatch(/^\s+at /m);
      }
    } finally {
      busy.close();
    }
  });

  it('prints --help and --version', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('once');
    expect(help.stdout).toContain('CONNTRACK_EXPORTER_LISTEN_ADDRESS');
    const version = await cli(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('rejects unknown arguments', async () => {
    const { code, stderr } = await cli(['serve-forever']);
    expect(code).toBe(2);
    expect(stderr).toContain('unknown arguments');
  });

  it('`once` prints only the exposition on stdout, logs on stderr', async () => {
    const tree = await procTree('stats');
    const { code, stdout, stderr } = await cli(['once'], {
      CONNTRACK_EXPORTER_LOG_LEVEL: 'debug',
      CONNTRACK_EXPORTER_SOURCE: 'procfs',
      CONNTRACK_EXPORTER_PROC_PATH: tree.path,
      CONNTRACK_EXPORTER_COLLECTORS: 'table,cpu_stats',
    });
    await tree.remove();
    expect(code).toBe(0);
    const samples = parseExposition(stdout);
    expect(valueOf(samples, 'conntrack_exporter_build_info', {})).toBe(1);
    expect(valueOf(samples, 'conntrack_entries')).toBe(4);
    // stderr is JSON lines only (the procfs choice is logged at info).
    const logs = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string });
    expect(logs.some((l) => l.msg.includes('CONNTRACK_EXPORTER_SOURCE=procfs'))).toBe(true);
  });
});

describe('HTTP server', () => {
  it('serves /metrics, OpenMetrics on request, the landing page and /healthz, and stops on SIGTERM', async () => {
    // Port 0: the kernel picks a free port and the exporter's log says which. Files recorded
    // from the kernel stand in for /proc, so this runs anywhere.
    const tree = await procTree('stats');
    const exporter = await startExporter(undefined, 0, {
      CONNTRACK_EXPORTER_COLLECTORS: 'table,cpu_stats',
      CONNTRACK_EXPORTER_SOURCE: 'procfs',
      CONNTRACK_EXPORTER_PROC_PATH: tree.path,
      CONNTRACK_EXPORTER_LOG_LEVEL: 'info',
    });
    try {
      const text = await fetch(`${exporter.url}/metrics`);
      expect(text.status).toBe(200);
      expect(text.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const body = await text.text();
      expect(
        valueOf(parseExposition(body), 'conntrack_scrape_collector_success', { collector: 'table' }),
      ).toBe(1);
      const lint = await sh('promtool', ['check', 'metrics'], body);
      expect(lint.stdout + lint.stderr).toBe('');

      const om = await fetch(`${exporter.url}/metrics`, {
        headers: { Accept: 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5' },
      });
      expect(om.headers.get('content-type')).toBe(
        'application/openmetrics-text; version=1.0.0; charset=utf-8',
      );
      const omBody = await om.text();
      expect(omBody.endsWith('# EOF\n')).toBe(true);
      expect(omBody).toContain('# TYPE conntrack_stat_insert counter');
      expect(omBody).toMatch(/^conntrack_stat_insert_total\{cpu="0"\} \d+$/m);

      const landing = await fetch(`${exporter.url}/`);
      expect(landing.headers.get('content-type')).toContain('text/html');
      expect(await landing.text()).toContain('href="/metrics"');
      expect(await (await fetch(`${exporter.url}/healthz`)).text()).toBe('ok\n');
      expect((await fetch(`${exporter.url}/nope`)).status).toBe(404);
      expect((await fetch(`${exporter.url}/metrics`, { method: 'POST' })).status).toBe(405);

      // Concurrent scrapes all succeed (they share one collection: see test/metrics/collection.test.ts).
      const bodies = await Promise.all(
        Array.from({ length: 20 }, () => fetch(`${exporter.url}/metrics`).then((r) => r.text())),
      );
      for (const b of bodies) expect(b).toContain('conntrack_entries ');
    } finally {
      const code = await exporter.stop('SIGTERM');
      expect(code).toBe(0);
      expect(exporter.stderr()).toContain('shutting down');
      await tree.remove();
    }
  });
});

describe('OpenTelemetry loading', () => {
  // A resolve hook in the exporter process reports every module it loads of the packages that only
  // some configurations need: OpenTelemetry (OTLP), yaml (a web configuration), bcryptjs (users).
  const HOOK = `data:text/javascript,${encodeURIComponent(
    [
      "import { registerHooks } from 'node:module';",
      'registerHooks({ resolve(specifier, context, next) {',
      '  const r = next(specifier, context);',
      '  if (/\\/node_modules\\/(@opentelemetry|yaml|bcryptjs)\\//.test(r.url)) process.stderr.write(`lazy-module ${r.url}\\n`);',
      '  return r;',
      '} });',
    ].join('\n'),
  )}`;

  async function loadedWith(env: Record<string, string>): Promise<string[]> {
    const exporter = await startExporter(undefined, 0, { NODE_OPTIONS: `--import=${HOOK}`, ...env });
    try {
      expect((await fetch(`${exporter.url}/metrics`)).status).toBe(200);
    } finally {
      await exporter.stop('SIGKILL');
    }
    return exporter
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('lazy-module '));
  }

  /** The package of a reported module: `@opentelemetry/<name>`, `yaml` or `bcryptjs`. */
  const packages = (lines: string[]) =>
    [
      ...new Set(
        lines.map((l) => /\/node_modules\/(@opentelemetry\/[^/]+|yaml|bcryptjs)\//.exec(l)?.[1] ?? l),
      ),
    ].sort();

  it('loads the OpenTelemetry SDK only when OTLP is on, yaml and bcryptjs never without a web configuration', async () => {
    // Not even @opentelemetry/api: the renderer loads prom-client's registry and metric classes
    // only, not its index (whose default metrics require the API).
    expect(packages(await loadedWith({}))).toEqual([]);
    const withOtlp = await loadedWith({
      OTEL_METRICS_EXPORTER: 'otlp,prometheus',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      OTEL_METRIC_EXPORT_INTERVAL: '3600000',
    });
    expect(packages(withOtlp)).toEqual(
      expect.arrayContaining(['@opentelemetry/exporter-metrics-otlp-http', '@opentelemetry/sdk-metrics']),
    );
  });
});

describe('node flags', () => {
  /** The command line of the exporter's process (the PID the test spawned). */
  async function commandLine(env: Record<string, string>, nodeArgs: string[] = []): Promise<string[]> {
    return (await started(env, nodeArgs)).cmdline;
  }

  /** The command line and environment of the running exporter process. */
  async function started(
    env: Record<string, string>,
    nodeArgs: string[] = [],
  ): Promise<{ cmdline: string[]; environ: string[] }> {
    const exporter = await startExporter(undefined, 0, env, nodeArgs);
    try {
      const read = async (what: string) =>
        (await readFile(`/proc/${exporter.child.pid}/${what}`, 'utf8')).split('\0');
      return { cmdline: await read('cmdline'), environ: await read('environ') };
    } finally {
      expect(await exporter.stop('SIGTERM')).toBe(0);
    }
  }

  it('re-executes the same process with the flags of src/node-flags.ts, keeping explicit ones', async () => {
    const plain = await commandLine({});
    for (const flag of NODE_FLAGS) expect(plain).toContain(flag);
    expect(plain.at(-2)).toBe(CLI);
    // Given in NODE_OPTIONS: node already has it, nothing is added.
    const chosen = await commandLine({ NODE_OPTIONS: '--max-semi-space-size=4' }, ['--maglev']);
    expect(chosen.filter((a) => a.startsWith('--max-semi-space-size'))).toEqual([]);
    // On node's command line (V8's flags are not allowed in NODE_OPTIONS), and the opposite of a
    // boolean flag counts as given.
    expect(chosen).toContain('--maglev');
    expect(chosen).not.toContain('--no-maglev');
  });

  it('re-executes with the environment of src/node-flags.ts, keeping variables given explicitly', async () => {
    const plain = await started({});
    for (const [name, value] of Object.entries(NODE_ENV)) expect(plain.environ).toContain(`${name}=${value}`);
    // Everything else of the environment is kept.
    expect(plain.environ.some((v) => v.startsWith('PATH='))).toBe(true);
    // Given explicitly (and the flags given too, so nothing else could cause a re-exec): kept as is.
    const chosen = await started({ MALLOC_ARENA_MAX: '4' }, [...NODE_FLAGS]);
    expect(chosen.environ).toContain('MALLOC_ARENA_MAX=4');
    expect(chosen.environ).not.toContain('MALLOC_ARENA_MAX=1');
  });
});

describe('start-up pages', () => {
  const rssFile = async (pid: number | undefined): Promise<number> =>
    Number(/^RssFile:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);

  it('releases the mappings of start-up pages once, when CONNTRACK_EXPORTER_RELEASE_FILE_PAGES_AFTER_SECONDS says, and serves on', async () => {
    const exporter = await startExporter(undefined, 0, {
      CONNTRACK_EXPORTER_RELEASE_FILE_PAGES_AFTER_SECONDS: '2',
    });
    try {
      const before = await rssFile(exporter.child.pid);
      const line = await waitFor(
        () =>
          exporter
            .stderr()
            .split('\n')
            .find((l) => l.includes('released the mappings of start-up pages')),
        { timeout: 10_000, what: 'the release log line' },
      );
      const releasedMb = (JSON.parse(line) as { releasedMb: number }).releasedMb;
      expect(releasedMb).toBeGreaterThan(10);
      expect(before - (await rssFile(exporter.child.pid))).toBeGreaterThan(5_000);
      const res = await fetch(`${exporter.url}/metrics`);
      expect(res.status).toBe(200);
      const body = parseExposition(await res.text());
      expect(valueOf(body, 'conntrack_scrape_collector_success', { collector: 'table' })).toBe(1);
      // Once: no second line (a timer repeating at its interval would have written one).
      await quietPeriod(2500);
      expect(
        exporter
          .stderr()
          .split('\n')
          .filter((l) => l.includes('start-up pages')),
      ).toHaveLength(1);
    } finally {
      expect(await exporter.stop('SIGTERM')).toBe(0);
    }
  });

  it('keeps them with 0', async () => {
    const exporter = await startExporter(undefined, 0, {
      CONNTRACK_EXPORTER_RELEASE_FILE_PAGES_AFTER_SECONDS: '0',
    });
    try {
      // 0 is never, not at once.
      await quietPeriod(1500);
      expect(exporter.stderr()).not.toContain('start-up pages');
    } finally {
      expect(await exporter.stop('SIGTERM')).toBe(0);
    }
  });
});
