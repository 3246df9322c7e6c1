// Test support: Debian's real `prometheus` (2.42) running inside a test namespace, scraping only the
// exporter on that namespace's loopback and evaluating our rules. The test process lives in the root
// namespace and cannot reach the namespace's loopback, so the HTTP API is queried with curl run
// inside the namespace. Everything it writes (config, rules, TSDB) is in one temp dir removed by stop().

import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sh, type Netns } from './netns.js';
import { REPO } from './exporter.js';
import { waitFor as awaitCondition } from './wait.js';

export const RULES_FILE = `${REPO}deploy/prometheus/conntrack.rules.yaml`;
export const PARAMETERS_FILE = `${REPO}deploy/prometheus/parameters.json`;

/**
 * Dashboard queries that have data only with pods on the node (pod attribution, unreplied DNAT):
 * test/integration/pods.test.ts runs them on its pod topology, prometheus.test.ts all the others.
 */
export const NEEDS_PODS =
  /conntrack_flows_by_pod|conntrack_flow_attribution_pods|conntrack_flows_unreplied_dnat|conntrack_connections_created_by_pod_total/;

interface Parameter {
  readonly name: string;
  readonly token: string;
  readonly default: string;
}

/**
 * The rules file as a test loads it: parameters substituted the way docs/alerts.md prescribes (two
 * passes: every token to a unique placeholder, then every placeholder to its value, so a value that
 * contains another token is never rewritten), and every `for:` replaced by `forDuration` so alerts
 * can go from pending to firing within a short test. Expressions are left as they are.
 */
export async function testRules(
  forDuration: string,
  values: Readonly<Record<string, string>> = {},
): Promise<{ text: string; alerts: number; forReplaced: number }> {
  const params = JSON.parse(await readFile(PARAMETERS_FILE, 'utf8')) as Parameter[];
  const source = await readFile(RULES_FILE, 'utf8');
  for (const name of Object.keys(values)) {
    if (!params.some((p) => p.name === name)) throw new Error(`unknown rules parameter ${name}`);
  }
  const placeholder = (i: number): string => `\u0000${i}\u0000`;
  let text = params.reduce((acc, p, i) => acc.replaceAll(p.token, placeholder(i)), source);
  params.forEach((p, i) => (text = text.replaceAll(placeholder(i), values[p.name] ?? p.default)));
  let forReplaced = 0;
  text = text.replace(/^(\s+for:\s*)\S+\s*$/gm, (_whole, prefix: string) => {
    forReplaced += 1;
    return `${prefix}${forDuration}`;
  });
  const alerts = [...text.matchAll(/^\s+- alert:/gm)].length;
  return { text, alerts, forReplaced };
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: readonly [number, string];
}

export interface PromAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'pending' | 'firing' | 'inactive';
  readonly activeAt?: string;
  readonly value: string;
}

export interface PromResponse<T> {
  readonly status: 'success' | 'error';
  readonly data?: T;
  readonly errorType?: string;
  readonly error?: string;
  readonly warnings?: readonly string[];
}

export interface PrometheusOptions {
  /** Port Prometheus listens on, on the namespace's 127.0.0.1. */
  readonly port: number;
  /** `host:port` of the exporter, on the namespace's loopback: the only scrape target. */
  readonly target: string;
  readonly job: string;
  /** Rules file text (see testRules). */
  readonly rules: string;
  /** Scrape and evaluation interval. */
  readonly interval?: string;
  /** Extra lines of the scrape job (e.g. `    scheme: https`, `tls_config`, `basic_auth`). */
  readonly scrapeLines?: readonly string[];
  /** Further targets on the namespace's loopback (e.g. a kube-state-metrics stand-in), by job. */
  readonly extraTargets?: readonly { readonly job: string; readonly target: string }[];
}

export class Prometheus {
  private output = '';

  private constructor(
    private readonly ns: Netns,
    private readonly dir: string,
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    const append = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-20_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
  }

  /** Writes config and rules, checks both with promtool, starts Prometheus and waits until ready. */
  static async start(ns: Netns, opts: PrometheusOptions): Promise<Prometheus> {
    const dir = await mkdtemp(join(tmpdir(), 'cte-prometheus-'));
    const interval = opts.interval ?? '1s';
    try {
      const rulesPath = join(dir, 'conntrack.rules.yaml');
      const configPath = join(dir, 'prometheus.yml');
      await writeFile(rulesPath, opts.rules);
      // One static target and nothing else: no self-scrape, no service discovery, no alertmanager.
      await writeFile(
        configPath,
        [
          'global:',
          `  scrape_interval: ${interval}`,
          `  scrape_timeout: ${interval}`,
          `  evaluation_interval: ${interval}`,
          'rule_files:',
          `  - ${JSON.stringify(rulesPath)}`,
          'scrape_configs:',
          `  - job_name: ${JSON.stringify(opts.job)}`,
          ...(opts.scrapeLines ?? []),
          '    static_configs:',
          `      - targets: [${JSON.stringify(opts.target)}]`,
          ...(opts.extraTargets ?? []).flatMap((t) => [
            `  - job_name: ${JSON.stringify(t.job)}`,
            '    static_configs:',
            `      - targets: [${JSON.stringify(t.target)}]`,
          ]),
          '',
        ].join('\n'),
      );
      await sh('promtool', ['check', 'rules', rulesPath]);
      await sh('promtool', ['check', 'config', configPath]);
      const child = ns.spawn('prometheus', [
        `--config.file=${configPath}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${opts.port}`,
        '--log.level=warn',
      ]);
      const prom = new Prometheus(ns, dir, child, `http://127.0.0.1:${opts.port}`);
      try {
        await awaitCondition(
          async () => {
            if (child.exitCode !== null)
              throw new Error(`prometheus exited ${child.exitCode}: ${prom.output}`);
            return ns
              .exec('curl', ['-sf', '--max-time', '2', `${prom.url}/-/ready`])
              .then(() => true)
              .catch(() => false);
          },
          { timeout: 20_000, interval: 100, what: 'prometheus /-/ready' },
        );
      } catch (err) {
        await prom.stop();
        throw new Error(`prometheus did not become ready: ${prom.output}`, { cause: err });
      }
      return prom;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Prometheus's own log (last 20 kB), for failure messages. */
  log(): string {
    return this.output;
  }

  /** GET an API path with form parameters; the parsed JSON envelope, success or not. */
  async api<T>(path: string, params: Readonly<Record<string, string>> = {}): Promise<PromResponse<T>> {
    const args = ['-sS', '--max-time', '10', '--get'];
    for (const [k, v] of Object.entries(params)) args.push('--data-urlencode', `${k}=${v}`);
    args.push(`${this.url}${path}`);
    const { stdout } = await this.ns.exec('curl', args);
    try {
      return JSON.parse(stdout) as PromResponse<T>;
    } catch {
      throw new Error(`${path}: not JSON: ${stdout.slice(0, 500)}`);
    }
  }

  /** Instant query; throws on an API error (a query that errors is never "no data"). */
  async query(expr: string): Promise<PromSample[]> {
    const res = await this.api<{ resultType: string; result: unknown }>('/api/v1/query', { query: expr });
    if (res.status !== 'success' || res.data === undefined) {
      throw new Error(`query failed (${res.errorType ?? '?'}: ${res.error ?? '?'}): ${expr}`);
    }
    const { resultType, result } = res.data;
    if (resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
    if (resultType !== 'vector') throw new Error(`unexpected result type ${resultType}: ${expr}`);
    return result as PromSample[];
  }

  async alerts(): Promise<PromAlert[]> {
    const res = await this.api<{ alerts: PromAlert[] }>('/api/v1/alerts');
    if (res.status !== 'success' || res.data === undefined) throw new Error(`alerts failed: ${res.error}`);
    return res.data.alerts;
  }

  async targets(): Promise<{ scrapeUrl: string; health: string; labels: Record<string, string> }[]> {
    const res = await this.api<{
      activeTargets: { scrapeUrl: string; health: string; labels: Record<string, string> }[];
    }>('/api/v1/targets');
    if (res.status !== 'success' || res.data === undefined) throw new Error(`targets failed: ${res.error}`);
    return res.data.activeTargets;
  }

  /** Stops Prometheus (SIGTERM, then SIGKILL after 5 s) and deletes its config, rules and TSDB. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Polls `probe` every `everyMs` until it returns a value other than undefined, or throws after
 * `timeoutMs`; a probe that throws counts as "not yet". (support/wait.ts's waitFor, with the
 * argument order these tests were written with.)
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 500,
): Promise<T> {
  return awaitCondition(probe, { what, timeout: timeoutMs, interval: everyMs, retryErrors: true });
}
