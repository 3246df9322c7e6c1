// Test support: renders the Helm chart with tools/chart-render (our `helm template`) and parses
// its multi-document output. YAML is read with YAML 1.1 rules and unique keys, as the API
// server's decoder (sigs.k8s.io/yaml over go-yaml v2) reads it.

import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { KubeObject } from './k8s-schema.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'deploy', 'helm', 'conntrack-exporter');
export const MONITORING_API = 'monitoring.coreos.com/v1';

export interface RenderOptions {
  chart?: string;
  releaseName?: string;
  namespace?: string;
  valuesFiles?: readonly string[];
  set?: readonly string[];
  setString?: readonly string[];
  setJson?: readonly string[];
  apiVersions?: readonly string[];
  kubeVersion?: string;
  /** Fail on references to missing values (default true: catches typos in templates). */
  strict?: boolean;
  notes?: boolean;
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

let binary: string | undefined;

/** Builds tools/chart-render if needed (once per process) and returns the binary's path. */
export function rendererBinary(): string {
  if (binary) return binary;
  const result = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'tools', 'chart-render', 'chart-template.mjs'), '--build-only'],
    {
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) throw new Error(`building chart-render failed:\n${result.stderr}`);
  binary = result.stdout.trim();
  return binary;
}

export function renderArgs(opts: RenderOptions = {}): string[] {
  const args = [opts.releaseName ?? 'conntrack-exporter', opts.chart ?? CHART_DIR];
  args.push('--namespace', opts.namespace ?? 'monitoring');
  for (const f of opts.valuesFiles ?? []) args.push('--values', f);
  for (const s of opts.set ?? []) args.push('--set', s);
  for (const s of opts.setString ?? []) args.push('--set-string', s);
  for (const s of opts.setJson ?? []) args.push('--set-json', s);
  for (const a of opts.apiVersions ?? []) args.push('--api-versions', a);
  if (opts.kubeVersion) args.push('--kube-version', opts.kubeVersion);
  if (opts.strict ?? true) args.push('--strict');
  if (opts.notes) args.push('--notes');
  return args;
}

export function renderRaw(opts: RenderOptions = {}): RenderResult {
  const result = spawnSync(rendererBinary(), renderArgs(opts), { encoding: 'utf8', cwd: REPO_ROOT });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Renders and parses; throws with the renderer's message when rendering fails. */
export function renderChart(opts: RenderOptions = {}): RenderedObject[] {
  const result = renderRaw(opts);
  if (result.status !== 0) throw new Error(`chart-render failed (${result.status}):\n${result.stderr}`);
  return parseManifests(result.stdout);
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
