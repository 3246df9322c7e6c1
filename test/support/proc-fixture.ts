// Test support: fixture /proc trees for collector unit tests (what CONNTRACK_EXPORTER_PROC_PATH
// points at), so collectors run without root and without the kernel. The tree under
// test/fixtures/proc/kernel-6.18/ has this kernel's file layout (see its README.md).

import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

/** The recorded tree; read-only: tests that change files use copyProcTree(). */
export const PROC_FIXTURE = fileURLToPath(new URL('../fixtures/proc/kernel-6.18/', import.meta.url)).replace(
  /dist\/test\//,
  'test/',
);

/** The release the fixture's layout comes from (what parseProcStats gets as kernelRelease). */
export const PROC_FIXTURE_RELEASE = '6.18.44';

export interface ProcTree {
  readonly path: string;
  write(relative: string, text: string): Promise<void>;
  remove(relative: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** A private, writable copy of the fixture tree. */
export async function copyProcTree(): Promise<ProcTree> {
  const path = await mkdtemp(join(tmpdir(), 'cte-proc-'));
  await cp(PROC_FIXTURE, path, { recursive: true });
  return {
    path,
    write: (relative, text) => writeFile(join(path, relative), text),
    remove: (relative) => rm(join(path, relative), { force: true }),
    cleanup: () => rm(path, { recursive: true, force: true }),
  };
}

/** /proc/net/stat/nf_conntrack in the kernel's layout: the header, then one line of hex per CPU. */
export function statFile(header: string, rows: readonly (readonly number[])[]): string {
  const lines = rows.map((row) => row.map((v) => v.toString(16).padStart(8, '0')).join(' '));
  return `${[header, ...lines].join('\n')}\n`;
}

/** For a test file: returns a function that makes a private copy, removed after each test. */
export function procTrees(): () => Promise<ProcTree> {
  const made: ProcTree[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((t) => t.cleanup()));
  });
  return async () => {
    const tree = await copyProcTree();
    made.push(tree);
    return tree;
  };
}
