// Layer: conntrack model. The unprivileged sources: /proc/net/stat/nf_conntrack (per-CPU
// counters, 0444) and the /proc/sys/net/netfilter sysctls. Columns are matched by header name,
// never by position: kernels renamed columns (searched -> clashres, delete_list -> chainlength)
// and added some. The `entries` column is the per-netns count repeated on every line: it is never
// summed over CPUs (the Telegraf/Metricbeat bug). Reference: ct_cpu_seq_show() in
// net/netfilter/nf_conntrack_standalone.c; docs/ctnetlink.md#the-procfs-fallback.

import { close, open, read } from 'node:fs';
import { join } from 'node:path';
import { ExporterError } from '../errors.js';
import type { CpuCounters, CpuStatName, ExpectStatName } from './stats.js';

export class ProcfsError extends ExporterError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_PROCFS', message, options);
  }
}

/** procfs header name -> `conntrack -S` name. */
const CPU_COLUMNS: Readonly<Record<string, CpuStatName>> = {
  searched: 'searched',
  found: 'found',
  new: 'new',
  invalid: 'invalid',
  ignore: 'ignore',
  delete: 'delete',
  delete_list: 'delete_list',
  insert: 'insert',
  insert_failed: 'insert_failed',
  drop: 'drop',
  early_drop: 'early_drop',
  icmp_error: 'error',
  search_restart: 'search_restart',
  clashres: 'clash_resolve',
  chainlength: 'chaintoolong',
};

const EXPECT_COLUMNS: Readonly<Record<string, ExpectStatName>> = {
  expect_new: 'new',
  expect_create: 'create',
  expect_delete: 'delete',
};

/**
 * Columns the kernel still prints but has filled with 0 since commit 8e8118f (4.10), where
 * ctnetlink stopped sending them. Dropped so both sources give the same series (absent, not 0).
 */
const DEAD_COLUMNS = new Set(['searched', 'new', 'ignore', 'delete', 'delete_list']);

export interface ProcStats {
  /** Per-netns entry count (the `entries` column of the first line). */
  readonly entries: number | undefined;
  readonly cpu: CpuCounters<CpuStatName>[];
  readonly expect: CpuCounters<ExpectStatName>[];
}

/** Parses /proc/net/stat/nf_conntrack. Lines are the possible CPUs in order (ct_cpu_seq_start). */
export function parseProcStats(text: string, kernelRelease: string): ProcStats {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines[0]?.trim().split(/\s+/);
  if (!header || header.length === 0 || !header.includes('entries')) {
    throw new ProcfsError('unrecognised /proc/net/stat/nf_conntrack header');
  }
  const dropDead = kernelAtLeast(kernelRelease, 4, 10);
  const cpu: CpuCounters<CpuStatName>[] = [];
  const expect: CpuCounters<ExpectStatName>[] = [];
  let entries: number | undefined;
  lines.slice(1).forEach((line, index) => {
    const fields = line.trim().split(/\s+/);
    if (fields.length !== header.length) {
      throw new ProcfsError(`line ${index + 2} has ${fields.length} fields, the header ${header.length}`);
    }
    const counters: Partial<Record<CpuStatName, number>> = {};
    const expectCounters: Partial<Record<ExpectStatName, number>> = {};
    header.forEach((column, i) => {
      const raw = fields[i] ?? '';
      if (!/^[0-9a-fA-F]+$/.test(raw)) throw new ProcfsError(`column ${column}: "${raw}" is not hex`);
      const value = parseInt(raw, 16);
      // Above 2^53 a double cannot hold the counter exactly: a malformed file, not a value.
      if (!Number.isSafeInteger(value)) throw new ProcfsError(`column ${column}: "${raw}" is above 2^53`);
      // Own properties only: a column named "constructor" must not find Object.prototype's.
      const cpuName = Object.hasOwn(CPU_COLUMNS, column) ? CPU_COLUMNS[column] : undefined;
      const expectName = Object.hasOwn(EXPECT_COLUMNS, column) ? EXPECT_COLUMNS[column] : undefined;
      if (column === 'entries') entries ??= value;
      else if (cpuName && !(dropDead && DEAD_COLUMNS.has(column))) counters[cpuName] = value;
      else if (expectName) expectCounters[expectName] = value;
      // Unknown columns (a future kernel's) are ignored.
    });
    cpu.push({ cpu: index, counters });
    expect.push({ cpu: index, counters: expectCounters });
  });
  return { entries, cpu, expect };
}

export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return true;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/**
 * The text of a procfs or sysctl file: open, one read at offset 0 into a buffer that doubles
 * until the text fits, close. procfs files have no size (fstat says 0), so readFile fstats and
 * then reads until a read returns nothing: five thread-pool round trips a file against three
 * here, and at fifteen files a scrape those trips were most of a scrape's CPU time.
 */
export function readSmallFile(file: string, size = 4096): Promise<string> {
  return new Promise((resolve, reject) => {
    open(file, 'r', (openErr, fd) => {
      if (openErr) {
        reject(openErr);
        return;
      }
      const attempt = (buf: Buffer): void => {
        read(fd, buf, 0, buf.length, 0, (readErr, n) => {
          if (!readErr && n === buf.length) {
            attempt(Buffer.allocUnsafe(buf.length * 2));
            return;
          }
          close(fd, () => undefined);
          if (readErr) reject(readErr);
          else resolve(buf.toString('utf8', 0, n));
        });
      };
      attempt(Buffer.allocUnsafe(size));
    });
  });
}

export async function readProcStats(procPath: string, kernelRelease: string): Promise<ProcStats> {
  const file = join(procPath, 'net/stat/nf_conntrack');
  let text: string;
  try {
    text = await readSmallFile(file);
  } catch (err) {
    throw new ProcfsError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseProcStats(text, kernelRelease);
}

/** Reads one integer sysctl under net/netfilter (e.g. `nf_conntrack_max`). */
export async function readNetfilterSysctl(procPath: string, name: string): Promise<number> {
  const file = join(procPath, 'sys/net/netfilter', name);
  let text: string;
  try {
    text = await readSmallFile(file);
  } catch (err) {
    throw new ProcfsError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const trimmed = text.trim();
  if (!/^-?\d+$/.test(trimmed)) throw new ProcfsError(`${file}: "${trimmed}" is not an integer`);
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value)) throw new ProcfsError(`${file}: "${trimmed}" is above 2^53`);
  return value;
}
