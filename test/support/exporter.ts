// Test support: runs the built exporter (dist/) as a real process, inside a namespace or not.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { sh, type ExecResult, type Netns } from './netns.js';
import { waitFor } from './wait.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url)).replace(/dist\/$/, '');
export const NODE = process.execPath;
export const CLI = `${REPO}dist/src/cli.js`;
export const TRAFFIC = `${REPO}dist/test/support/traffic.js`;

/** Only our variables: the test's environment must not leak CONNTRACK_EXPORTER_* settings. */
export function exporterEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, CONNTRACK_EXPORTER_LOG_LEVEL: 'warn' };
  return { ...env, ...extra };
}

function envArgs(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`);
}

/** `conntrack-exporter once` inside `ns` (optionally without CAP_NET_ADMIN). */
export async function runOnce(
  ns: Netns | undefined,
  extra: Record<string, string> = {},
  opts: { dropNetAdmin?: boolean } = {},
): Promise<ExecResult> {
  const env = envArgs(exporterEnv(extra));
  const command = opts.dropNetAdmin
    ? [
        'capsh',
        '--drop=cap_net_admin',
        '--',
        '-c',
        `exec env -i ${env.map(shellQuote).join(' ')} ${NODE} ${CLI} once`,
      ]
    : ['env', '-i', ...env, NODE, CLI, 'once'];
  if (!ns) return sh(command[0] ?? '', command.slice(1));
  return ns.exec(command[0] ?? '', command.slice(1));
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Starts the traffic generator in `ns` and waits for "ready". */
export async function startTraffic(ns: Netns, plan: object): Promise<ChildProcess> {
  const child = ns.spawn(NODE, [TRAFFIC, JSON.stringify(plan)]);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (out.includes('ready')) resolve();
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) =>
      out.includes('ready') ? resolve() : reject(new Error(`traffic exited ${code}: ${err}`)),
    );
  });
  return child;
}

export interface ServingExporter {
  readonly child: ChildProcess;
  readonly url: string;
  /** The port it listens on (read back from its log when started on port 0). */
  readonly port: number;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The exporter's log line once it serves: `conntrack-exporter listening`, with `address.port`. */
export const LISTENING = 'conntrack-exporter listening';

/** The port in the exporter's "listening" log line, if `log` (JSON lines on stderr) has it. */
export function announcedPort(log: string): number | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes(LISTENING)) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; address?: { port?: unknown } };
      if (entry.msg === LISTENING && typeof entry.address?.port === 'number') return entry.address.port;
    } catch {
      // Not a JSON line.
    }
  }
  return undefined;
}

/**
 * Resolves with the port `child` announces in its log once it serves; rejects when it exits
 * first or stays silent past the deadline. `output` returns what it has written to stderr so far.
 */
export async function listeningPort(
  child: ChildProcess,
  output: () => string,
  timeoutMs = 30_000,
): Promise<number> {
  try {
    return await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`the exporter exited (${child.exitCode ?? child.signalCode}) before listening`);
        return announcedPort(output());
      },
      { timeout: timeoutMs, what: `"${LISTENING}" in the exporter's log` },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}:\n${output()}`, { cause: err });
  }
}

const QUIET_LEVELS = new Set(['warn', 'error', 'fatal', 'silent']);

/**
 * Starts the exporter serving on a loopback port inside `ns` (or in the test's own netns) and
 * resolves once it listens. Port 0 (use it outside a namespace of the test's own) lets the kernel
 * choose and reads the port back from the log, so no other process can take it in between.
 * Inside a fresh namespace a fixed port is safe, and nftables rules can name it in advance.
 */
export async function startExporter(
  ns: Netns | undefined,
  port: number,
  extra: Record<string, string> = {},
  /** node's own flags, before the script. */
  nodeArgs: readonly string[] = [],
): Promise<ServingExporter> {
  const env = exporterEnv({
    CONNTRACK_EXPORTER_LISTEN_ADDRESS: `127.0.0.1:${port}`,
    // The "listening" line is logged at info.
    CONNTRACK_EXPORTER_LOG_LEVEL: 'info',
    ...extra,
  });
  if (QUIET_LEVELS.has(env.CONNTRACK_EXPORTER_LOG_LEVEL ?? ''))
    throw new Error('startExporter reads the "listening" log line: use log level info or lower');
  const child = ns
    ? ns.spawn(NODE, [...nodeArgs, CLI], env)
    : spawn(NODE, [...nodeArgs, CLI], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  let bound: number;
  try {
    bound = await listeningPort(child, () => err);
  } catch (e) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw e;
  }
  if (port !== 0 && bound !== port) throw new Error(`the exporter listens on ${bound}, not ${port}`);
  return {
    child,
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}
