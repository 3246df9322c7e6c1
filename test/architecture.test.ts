// The layers run one way: netlink ← conntrack ← collectors → metrics ← sinks (README,
// "Layering"). This parses every import (type-only and dynamic ones included) of every file under
// the layered folders of src/ and fails on any import against that direction, or on a wire-format
// library used outside the layer that owns it.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Which other parts of src/ each layer may import. errors.ts and log.ts are shared leaves. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  netlink: [],
  conntrack: ['netlink'],
  metrics: [],
  flows: ['netlink', 'conntrack', 'metrics'],
  pods: ['conntrack'],
  collectors: ['netlink', 'conntrack', 'metrics', 'flows', 'pods'],
  sinks: ['metrics'],
  scrape: ['collectors', 'metrics'],
};
const SHARED = ['errors.ts', 'log.ts'];

/** Packages that belong to one layer: the socket addon to the transport, wire formats to the sinks. */
const PACKAGE_OWNER: readonly (readonly [RegExp, string])[] = [
  [/^netlink$/, 'netlink'],
  [/^prom-client$/, 'sinks'],
  [/^@opentelemetry\//, 'sinks'],
];

/** The part of src/ a file belongs to: its first folder, or the file itself at the top. */
function partOf(file: string): string {
  const rel = relative(SRC, file).split(sep);
  return rel.length > 1 ? (rel[0] ?? '') : (rel[0] ?? '');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return filesUnder(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

export function importsOf(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/** Every violation in one file's source, as "file -> import (why)". */
export function violations(file: string, source: string): string[] {
  const part = partOf(file);
  const allowed = ALLOWED[part];
  const out: string[] = [];
  for (const spec of importsOf(source)) {
    const where = `${relative(SRC, file)} -> ${spec}`;
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(SRC)) {
        out.push(`${where} (outside src/)`);
        continue;
      }
      const to = partOf(target);
      if (to === part) continue;
      if (SHARED.includes(to.replace(/\.js$/, '.ts'))) {
        if (SHARED.includes(part)) out.push(`${where} (shared leaves import nothing of src/)`);
        continue;
      }
      if (allowed && !allowed.includes(to))
        out.push(`${where} (${part} may import only ${allowed.join(', ') || 'nothing'} of src/)`);
      if (!allowed && SHARED.includes(part)) out.push(`${where} (shared leaves import nothing of src/)`);
    } else if (!spec.startsWith('node:')) {
      const owner = PACKAGE_OWNER.find(([re]) => re.test(spec))?.[1];
      if (owner !== undefined && owner !== part) out.push(`${where} (only ${owner} uses ${spec})`);
    }
  }
  return out;
}

const LAYERED = Object.keys(ALLOWED);

describe('layers run one way', () => {
  const files = filesUnder(SRC).filter((f) => LAYERED.includes(partOf(f)) || SHARED.includes(partOf(f)));

  it('covers every layered folder that exists', () => {
    for (const part of ['netlink', 'conntrack', 'collectors', 'metrics', 'sinks', 'scrape']) {
      expect(files.some((f) => partOf(f) === part)).toBe(true);
    }
  });

  it('no file under src/netlink, conntrack, metrics, sinks, collectors, flows or scrape imports against the direction', () => {
    const found = files.flatMap((f) => violations(f, readFileSync(f, 'utf8')));
    expect(found).toEqual([]);
  });

  it('the check sees what it must: type-only, re-exported and dynamic imports against the direction', () => {
    const at = (p: string): string => join(SRC, p);
    expect(
      violations(at('netlink/x.ts'), "import type { CtMsg } from '../conntrack/constants.js';"),
    ).toHaveLength(1);
    expect(violations(at('conntrack/x.ts'), "export { sample } from '../metrics/sample.js';")).toHaveLength(
      1,
    );
    expect(violations(at('metrics/x.ts'), "const m = await import('../collectors/index.js');")).toHaveLength(
      1,
    );
    expect(violations(at('sinks/x.ts'), "import type { Config } from '../config/config.js';")).toHaveLength(
      1,
    );
    expect(violations(at('collectors/x.ts'), "import { main } from '../main.js';")).toHaveLength(1);
    expect(violations(at('metrics/x.ts'), "import { Registry } from 'prom-client';")).toHaveLength(1);
    expect(violations(at('errors.ts'), "import { x } from './netlink/codec.js';")).toHaveLength(1);
    // and lets through what the direction allows
    expect(violations(at('collectors/x.ts'), "import { sample } from '../metrics/sample.js';")).toEqual([]);
    expect(violations(at('conntrack/x.ts'), "import { forEachMessage } from '../netlink/codec.js';")).toEqual(
      [],
    );
    expect(violations(at('sinks/x.ts'), "import { ExporterError } from '../errors.js';")).toEqual([]);
  });
});
