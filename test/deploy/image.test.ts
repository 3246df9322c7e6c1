// Smoke test of the image's runtime stage, without a registry or a container engine: a clean
// directory gets what the Dockerfile's final stage gets (production-only `npm ci --omit=dev`,
// dist/src, package.json), the exporter starts the way the image's CMD starts it (node running
// dist/src/cli.js, NODE_ENV=production, the image's non-root UID when we can switch to it), and
// its HTTP endpoints are scraped. Needs `npm run build` first (npm test runs it).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listeningPort } from '../support/exporter.js';
import { REPO_ROOT } from '../support/helm-render.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
/** The image's USER (Dockerfile): distroless's nonroot. */
const IMAGE_UID = 65532;

interface LockEntry {
  dev?: boolean;
}
interface PackageJson {
  devDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
}

/** Node 24: this process when it is one, else the `node` devDependency's binary. */
function node24(): string {
  if (Number(process.versions.node.split('.')[0]) >= 24) return process.execPath;
  const bin = realpathSync(join(REPO_ROOT, 'node_modules', '.bin', 'node'));
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (!version.startsWith('v24.')) throw new Error(`${bin} is ${version}, not Node 24`);
  return bin;
}

function npmCli(): string {
  if (process.env.npm_execpath?.endsWith('.js')) return process.env.npm_execpath;
  const which = spawnSync('which', ['npm'], { encoding: 'utf8' }).stdout.trim();
  if (!which) throw new Error('npm not found');
  return realpathSync(which);
}

/** Whether another UID can execute path: every parent directory searchable, the file executable. */
function executableByOthers(path: string): boolean {
  for (let p = path; ; p = dirname(p)) {
    const mode = statSync(p).mode;
    if ((mode & 0o001) === 0) return false;
    if (dirname(p) === p) return true;
  }
}

describe('runtime stage of the image', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  let output = '';
  let port: number;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let runAsImageUser = false;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
    const node = node24();
    dir = mkdtempSync(join(tmpdir(), 'conntrack-exporter-image-'));
    // The image's layout: /app/{package.json,node_modules,dist/src,native/build/nlmc.node}.
    for (const f of ['package.json', 'package-lock.json', '.npmrc']) cpSync(join(REPO_ROOT, f), join(dir, f));
    const install = spawnSync(node, [npmCli(), 'ci', '--omit=dev', '--no-audit', '--no-fund'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}`, NODE_ENV: 'production' },
      timeout: 300_000,
    });
    if (install.status !== 0)
      throw new Error(`npm ci --omit=dev failed:\n${install.stdout}\n${install.stderr}`);
    cpSync(join(REPO_ROOT, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
    cpSync(join(REPO_ROOT, 'native', 'build', 'nlmc.node'), join(dir, 'native', 'build', 'nlmc.node'));

    // As root we can drop to the image's UID (the files stay root-owned and read-only to it),
    // provided that UID can reach the node binary (not from a checkout under /root, say).
    runAsImageUser = process.getuid?.() === 0 && executableByOthers(node);
    if (runAsImageUser) chmodSync(dir, 0o755);

    child = spawn(node, [join(dir, 'dist', 'src', 'cli.js')], {
      cwd: dir,
      // The image's environment: NODE_ENV from the Dockerfile, nothing from this machine.
      env: {
        PATH: '/usr/bin:/bin',
        NODE_ENV: 'production',
        // Port 0: the kernel picks a free one, the exporter logs it (no find-then-bind race).
        CONNTRACK_EXPORTER_LISTEN_ADDRESS: '127.0.0.1:0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(runAsImageUser && { uid: IMAGE_UID, gid: IMAGE_UID }),
    });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const proc = child;
    exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));

    port = await listeningPort(proc, () => output);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  }, 360_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("loads the events collector's socket addon from the image's layout", () => {
    const load = spawnSync(
      node24(),
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(join(dir, 'dist', 'src', 'netlink', 'native.js'))});
         const api = m.nativeSocketApi();
         console.log(['open', 'read', 'close'].map((f) => typeof api[f]).join(','));`,
      ],
      { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', NODE_ENV: 'production' } },
    );
    expect(load.stderr).toBe('');
    expect(load.stdout.trim()).toBe('function,function,function');
  });

  it('installs no devDependency', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    };
    const installed = JSON.parse(readFileSync(join(dir, 'node_modules', '.package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    };
    expect(
      Object.entries(installed.packages)
        .filter(([, e]) => e.dev === true)
        .map(([p]) => p),
    ).toEqual([]);
    // A devDependency may only be present when a production package needs it too.
    const devOnly = Object.keys(pkg.devDependencies ?? {}).filter(
      (n) => lock.packages[`node_modules/${n}`]?.dev === true,
    );
    expect(devOnly).toContain('typescript');
    expect(devOnly.filter((n) => existsSync(join(dir, 'node_modules', n)))).toEqual([]);
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      expect(existsSync(join(dir, 'node_modules', dep)), dep).toBe(true);
    }
    expect(readdirSync(dir).sort()).toEqual([
      '.npmrc',
      'dist',
      'native',
      'node_modules',
      'package-lock.json',
      'package.json',
    ]);
  });

  it('serves /metrics with the build info, and the landing page', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const body = await res.text();
    expect(body).toMatch(/^conntrack_exporter_build_info\{[^}]*\} 1$/m);
    const landing = await fetch(`http://127.0.0.1:${port}/`);
    expect(landing.status).toBe(200);
  });

  it('stops on SIGTERM, as a container runtime stops it', async () => {
    expect(child?.kill('SIGTERM')).toBe(true);
    const result = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
    expect(result, output).toEqual({ code: 0, signal: null });
  }, 20_000);
});
