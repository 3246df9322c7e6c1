// Test support: runs the built exporter (dist/) as a real process, inside a namespace or not.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { sh, type ExecResult, type Netns } from './netns.js';

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
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the exporter serving on a loopback port inside `ns` (or in the test's own netns). */
export async function startExporter(
  ns: Netns | undefined,
  port: number,
  extra: Record<string, string> = {},
): Promise<ServingExporter> {
  const env = exporterEnv({ CONNTRACK_EXPORTER_LISTEN_ADDRESS: `127.0.0.1:${port}`, ...extra });
  const child = ns
    ? ns.spawn(NODE, [CLI], env)
    : spawn(NODE, [CLI], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exporter exited ${child.exitCode}: ${err}`);
    try {
      const res = ns
        ? await ns.exec('curl', ['-sf', `${url}/healthz`]).then(() => true)
        : (await fetch(`${url}/healthz`)).ok;
      if (res) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`exporter did not become healthy: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    url,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}
