// `npm run chart:sync`: copies the alert rules (deploy/prometheus) and the dashboards
// (deploy/grafana) into the chart's files/ directory, because Helm's .Files cannot read outside
// the chart. deploy/ stays the source of truth. `--check` only reports drift (exit 1), as
// test/deploy/helm.test.ts does; `--root DIR` works on another checkout. Run directly by Node
// (type stripping): `node scripts/chart-sync.ts [--check] [--root DIR]`.

import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface SyncDir {
  dir: string;
  sources: string[];
}

/** Each chart files/ subdirectory and the source files it mirrors. */
export function syncPlan(root: string = repoRoot): SyncDir[] {
  const grafana = join(root, 'deploy', 'grafana');
  return [
    {
      dir: join(root, 'deploy', 'helm', 'conntrack-exporter', 'files', 'prometheus'),
      sources: ['conntrack.rules.yaml', 'parameters.json'].map((f) => join(root, 'deploy', 'prometheus', f)),
    },
    {
      dir: join(root, 'deploy', 'helm', 'conntrack-exporter', 'files', 'grafana'),
      sources: existsSync(grafana)
        ? readdirSync(grafana)
            .filter((f) => f.endsWith('.json'))
            .sort()
            .map((f) => join(grafana, f))
        : [],
    },
  ];
}

/** Differences between deploy/ and the chart's copies, as human-readable lines. */
export function drift(root: string = repoRoot): string[] {
  const problems: string[] = [];
  for (const { dir, sources } of syncPlan(root)) {
    const wanted = new Set<string>();
    for (const src of sources) {
      const name = src.slice(src.lastIndexOf('/') + 1);
      wanted.add(name);
      const copy = join(dir, name);
      if (!existsSync(src)) problems.push(`missing source ${src}`);
      else if (!existsSync(copy)) problems.push(`missing copy ${copy}`);
      else if (!readFileSync(src).equals(readFileSync(copy))) problems.push(`${copy} differs from ${src}`);
    }
    if (existsSync(dir)) {
      for (const name of readdirSync(dir)) {
        if (!wanted.has(name)) problems.push(`stale copy ${join(dir, name)} (no source)`);
      }
    }
  }
  return problems;
}

function sync(root: string): void {
  for (const { dir, sources } of syncPlan(root)) {
    mkdirSync(dir, { recursive: true });
    const names = new Set<string>();
    for (const src of sources) {
      const name = src.slice(src.lastIndexOf('/') + 1);
      names.add(name);
      copyFileSync(src, join(dir, name));
    }
    for (const name of readdirSync(dir)) {
      if (!names.has(name)) rmSync(join(dir, name));
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rootFlag = process.argv.indexOf('--root');
  const rootArg = rootFlag > 0 ? process.argv[rootFlag + 1] : undefined;
  const root = rootArg ? resolve(rootArg) : repoRoot;
  if (process.argv.includes('--check')) {
    const problems = drift(root);
    for (const p of problems) process.stderr.write(`${p}\n`);
    if (problems.length > 0) process.stderr.write('run `npm run chart:sync` to update the chart\n');
    process.exitCode = problems.length > 0 ? 1 : 0;
  } else {
    sync(root);
    process.stdout.write(
      `chart files synced into ${join(root, 'deploy', 'helm', 'conntrack-exporter', 'files')}\n`,
    );
  }
}
