// Test support: network namespaces on the real kernel. Every namespace gets a per-run unique
// name under the `cte-` prefix, is deleted in teardown (with its processes), and never touches a
// namespace it did not create. Conntrack in a new netns tracks only once a rule uses it, so each
// namespace gets an output chain with `ct state new accept`.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { parseCpuStats } from './conntrack-output.js';

const execFileP = promisify(execFile);

export const NETNS_PREFIX = `cte-${process.pid}-${randomBytes(2).toString('hex')}`;
let counter = 0;

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

export async function sh(cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
  if (input === undefined) {
    const { stdout, stderr } = await execFileP(cmd, [...args], { maxBuffer: 1 << 30 });
    return { stdout, stderr };
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
    child.stdin.end(input);
  });
}

export interface NetnsOptions {
  /** Turn on the acct and timestamp extensions (per netns, default off) before any flow exists. */
  readonly acct?: boolean;
  /** Extra nft ruleset text loaded after the tracking chain (e.g. NAT rules). */
  readonly nft?: string;
}

export class Netns {
  private readonly children = new Set<ChildProcess>();

  private constructor(readonly name: string) {}

  static async create(options: NetnsOptions = {}): Promise<Netns> {
    counter += 1;
    const ns = new Netns(`${NETNS_PREFIX}-${counter}`);
    await sh('ip', ['netns', 'add', ns.name]);
    try {
      await sh('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
      await ns.nft(`table inet cte_track {
  chain output { type filter hook output priority 0; policy accept; ct state new accept; }
}
`);
      if (options.acct) {
        await ns.sysctl('net.netfilter.nf_conntrack_acct', '1');
        await ns.sysctl('net.netfilter.nf_conntrack_timestamp', '1');
      }
      if (options.nft) await ns.nft(options.nft);
    } catch (err) {
      await ns.destroy();
      throw err;
    }
    return ns;
  }

  exec(cmd: string, args: readonly string[] = [], input?: string): Promise<ExecResult> {
    return sh('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }

  async nft(ruleset: string): Promise<void> {
    await this.exec('nft', ['-f', '-'], ruleset);
  }

  async sysctl(key: string, value: string): Promise<void> {
    await this.exec('sysctl', ['-q', '-w', `${key}=${value}`]);
  }

  /** Starts a long-running process inside the namespace; it is killed in destroy(). */
  spawn(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** `conntrack -C` in this namespace. */
  async conntrackCount(): Promise<number> {
    return Number((await this.exec('conntrack', ['-C'])).stdout.trim());
  }

  /** `conntrack -S` in this namespace: cpu -> counter -> value. */
  async conntrackStats(): Promise<Map<number, Map<string, number>>> {
    const { stdout } = await this.exec('conntrack', ['-S']);
    const out = new Map<number, Map<string, number>>();
    for (const [cpu, counters] of parseCpuStats(stdout)) out.set(cpu, new Map(Object.entries(counters)));
    return out;
  }

  /** `conntrack -L -o extended` lines (the summary line on stderr is dropped). */
  async conntrackList(): Promise<string[]> {
    const { stdout } = await this.exec('conntrack', ['-L', '-o', 'extended']);
    return stdout.split('\n').filter((l) => l.trim() !== '');
  }

  async destroy(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    try {
      const { stdout } = await sh('ip', ['netns', 'pids', this.name]);
      for (const pid of stdout.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    } catch {
      // The namespace may not exist if creation failed half way.
    }
    await sh('ip', ['netns', 'del', this.name]).catch(() => undefined);
  }
}

const MAX_PATH = '/proc/sys/net/netfilter/nf_conntrack_max';
const RMEM_MAX_PATH = '/proc/sys/net/core/rmem_max';

/**
 * Runs `fn` with a machine-global sysctl (a /proc/sys path) set to `value`, restoring it
 * afterwards whatever happens (exception, or the process being interrupted).
 */
export async function withGlobalSysctl<T>(path: string, value: number, fn: () => Promise<T>): Promise<T> {
  const { writeFile } = await import('node:fs/promises');
  const { writeFileSync } = await import('node:fs');
  const original = (await readFile(path, 'utf8')).trim();
  const restore = (): void => writeFileSync(path, `${original}\n`);
  const onSignal = (): void => {
    restore();
    process.exit(130);
  };
  process.once('exit', restore);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await writeFile(path, `${value}\n`);
    return await fn();
  } finally {
    restore();
    process.off('exit', restore);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Runs `fn` with the machine-global nf_conntrack_max set to `max`, restored afterwards. */
export function withConntrackMax<T>(max: number, fn: () => Promise<T>): Promise<T> {
  return withGlobalSysctl(MAX_PATH, max, fn);
}

/** Runs `fn` with the machine-global net.core.rmem_max (the SO_RCVBUF cap) set, restored afterwards. */
export function withRmemMax<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
  return withGlobalSysctl(RMEM_MAX_PATH, bytes, fn);
}

/** Whether `child` is running the program `comm` (e.g. once `ip netns exec … sleep` has exec'd). */
export async function runningAs(child: ChildProcess, comm: string): Promise<boolean> {
  if (child.pid === undefined) return false;
  return (await readFile(`/proc/${child.pid}/comm`, 'utf8')).trim() === comm;
}
