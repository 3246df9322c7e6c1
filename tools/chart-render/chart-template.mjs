#!/usr/bin/env node
// `npm run chart:template -- [NAME] [CHART] [-f values.yaml ...]`: renders the Helm chart like
// `helm template`, with tools/chart-render (Go's text/template + Sprig, Helm's own engine and
// function library). Builds the renderer first when it is missing or older than its sources.
// Without a CHART argument it renders deploy/helm/conntrack-exporter.
//
// `--build-only` builds and prints the binary's path (used by the tests).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const toolDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(toolDir, '..', '..');
const binary = join(toolDir, 'chart-render');
const defaultChart = join(repoRoot, 'deploy', 'helm', 'conntrack-exporter');
// Debian's golang-*-dev packages install their sources here (GOPATH layout).
const debianGopath = '/usr/share/gocode';
const aptPackages = 'golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev';

function isStale() {
  if (!existsSync(binary)) return true;
  const built = statSync(binary).mtimeMs;
  return readdirSync(toolDir)
    .filter((f) => f.endsWith('.go'))
    .some((f) => statSync(join(toolDir, f)).mtimeMs > built);
}

export function buildRenderer() {
  if (!isStale()) return binary;
  const gopath = process.env.CHART_RENDER_GOPATH ?? debianGopath;
  if (!existsSync(join(gopath, 'src', 'github.com', 'Masterminds', 'sprig'))) {
    throw new Error(`Sprig sources not found under ${gopath}/src: apt-get install ${aptPackages}`);
  }
  const cacheDir = join(tmpdir(), 'conntrack-exporter-go-cache');
  mkdirSync(cacheDir, { recursive: true });
  const tmpOut = `${binary}.${process.pid}.tmp`;
  // GOPATH mode: Debian ships GOPATH-style sources and no module proxy is reachable.
  const result = spawnSync('go', ['build', '-trimpath', '-o', tmpOut, '.'], {
    cwd: toolDir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: gopath,
      GOFLAGS: '',
      GOPROXY: 'off',
      GOTOOLCHAIN: 'local',
      GOCACHE:
        process.env.GOCACHE ?? (process.env.HOME ? join(process.env.HOME, '.cache', 'go-build') : cacheDir),
    },
  });
  if (result.error) {
    throw new Error(`cannot run go (${result.error.message}): apt-get install ${aptPackages}`);
  }
  if (result.status !== 0) throw new Error(`go build failed (exit ${result.status})`);
  renameSync(tmpOut, binary);
  return binary;
}

function main(argv) {
  let bin;
  try {
    bin = buildRenderer();
  } catch (err) {
    process.stderr.write(`chart-render: ${err.message}\n`);
    return 1;
  }
  if (argv.includes('--build-only')) {
    process.stdout.write(`${bin}\n`);
    return 0;
  }
  // npm runs scripts from the package root; resolve -f paths from where the user typed.
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const result = spawnSync(bin, ['--default-chart', defaultChart, ...argv], { cwd, stdio: 'inherit' });
  if (result.error) {
    process.stderr.write(`chart-render: ${result.error.message}\n`);
    return 1;
  }
  return result.status ?? 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
