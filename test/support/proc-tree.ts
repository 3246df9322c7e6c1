// Test support: a /proc tree in a temporary directory, made of files recorded from the real kernel
// (test/fixtures/*.json `files`), for running collectors or the whole exporter with
// CONNTRACK_EXPORTER_PROC_PATH and no kernel at all.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadFixture, type FixtureName } from './fixtures.js';

export interface ProcTree {
  /** The directory to pass as CONNTRACK_EXPORTER_PROC_PATH. */
  readonly path: string;
  remove(): Promise<void>;
}

/** Writes the recorded files of `fixture` (`/proc/...` paths) under a new temporary directory. */
export async function procTree(fixture: FixtureName): Promise<ProcTree> {
  const files = loadFixture(fixture).files;
  if (Object.keys(files).length === 0) throw new Error(`fixture ${fixture} recorded no /proc files`);
  const path = await mkdtemp(join(tmpdir(), 'cte-proc-'));
  for (const [file, text] of Object.entries(files)) {
    if (!file.startsWith('/proc/')) throw new Error(`fixture ${fixture}: ${file} is not under /proc`);
    const target = join(path, file.slice('/proc/'.length));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, text);
  }
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
