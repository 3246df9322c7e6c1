// The unprivileged fallback: /proc/net/stat/nf_conntrack by header name across kernel layouts
// (6.18, and a 4.9 one with searched/delete_list), unknown columns, the per-netns `entries` column
// never summed, dead columns dropped from 4.10 on, malformed text; the sysctl reader. (The real
// file of a namespace against `conntrack -S` in it: test/integration/procfs.test.ts.)

import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  kernelAtLeast,
  parseProcStats,
  ProcfsError,
  readNetfilterSysctl,
  readSmallFile,
  readProcStats,
} from '../../src/conntrack/procfs.js';
import { CPU_STAT_NAMES, EXPECT_STAT_NAMES } from '../../src/conntrack/stats.js';
import { runs } from '../support/property.js';

const HEADER_6_18 =
  'entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart';
const HEADER_4_9 =
  'entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart';

/** A line as ct_cpu_seq_show prints it: %08x, two spaces after fields 1 and 13. */
function line(values: readonly number[]): string {
  const hex = values.map((v) => v.toString(16).padStart(8, '0'));
  return `${hex[0]}  ${hex.slice(1, 13).join(' ')}  ${hex.slice(13).join(' ')}`;
}

function file(header: string, rows: readonly (readonly number[])[]): string {
  return `${header}\n${rows.map(line).join('\n')}\n`;
}

function procfsError(fn: () => unknown): ProcfsError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ProcfsError);
  expect((thrown as ProcfsError).code).toBe('ERR_PROCFS');
  return thrown as ProcfsError;
}

describe('parseProcStats', () => {
  // Distinct values per column and per CPU: 0x0c01 is CPU 0's column 1, and so on.
  const v = (cpu: number, col: number): number => 0x01abcd00 + cpu * 0x100 + col;
  const rows = (entries: number, cpus: number): number[][] =>
    Array.from({ length: cpus }, (_, cpu) => [
      entries,
      ...Array.from({ length: 16 }, (_, i) => v(cpu, i + 1)),
    ]);

  it('reads the 6.18 layout by name; entries once; the always-zero columns dropped', () => {
    const stats = parseProcStats(file(HEADER_6_18, rows(0x1234, 2)), '6.18.44-fc-v782');
    expect(stats.entries).toBe(0x1234);
    expect(stats.cpu).toEqual(
      [0, 1].map((cpu) => ({
        cpu,
        counters: {
          clash_resolve: v(cpu, 1),
          found: v(cpu, 2),
          invalid: v(cpu, 4),
          chaintoolong: v(cpu, 7),
          insert: v(cpu, 8),
          insert_failed: v(cpu, 9),
          drop: v(cpu, 10),
          early_drop: v(cpu, 11),
          error: v(cpu, 12),
          search_restart: v(cpu, 16),
        },
      })),
    );
    expect(stats.expect).toEqual(
      [0, 1].map((cpu) => ({ cpu, counters: { new: v(cpu, 13), create: v(cpu, 14), delete: v(cpu, 15) } })),
    );
  });

  it('reads the 4.9 layout: searched and delete_list, and the columns 4.9 still counted', () => {
    const stats = parseProcStats(file(HEADER_4_9, rows(9, 1)), '4.9.337');
    expect(stats.cpu[0]?.counters).toEqual({
      searched: v(0, 1),
      found: v(0, 2),
      new: v(0, 3),
      invalid: v(0, 4),
      ignore: v(0, 5),
      delete: v(0, 6),
      delete_list: v(0, 7),
      insert: v(0, 8),
      insert_failed: v(0, 9),
      drop: v(0, 10),
      early_drop: v(0, 11),
      error: v(0, 12),
      search_restart: v(0, 16),
    });
  });

  it('drops the columns ctnetlink stopped sending (commit 8e8118f) from 4.10 on, so both sources agree', () => {
    const stats = parseProcStats(file(HEADER_4_9, rows(9, 1)), '5.4.0-150-generic');
    expect(Object.keys(stats.cpu[0]?.counters ?? {})).toEqual([
      'found',
      'invalid',
      'insert',
      'insert_failed',
      'drop',
      'early_drop',
      'error',
      'search_restart',
    ]);
    expect(parseProcStats(file(HEADER_4_9, rows(9, 1)), '4.10.0').cpu[0]?.counters.searched).toBeUndefined();
  });

  it('never sums `entries` over CPUs: it is the per-netns count on every line', () => {
    const stats = parseProcStats(file(HEADER_6_18, rows(1000, 8)), '6.18.0');
    expect(stats.entries).toBe(1000);
    expect(stats.cpu.map((c) => c.cpu)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(stats.cpu.every((c) => !('entries' in c.counters))).toBe(true);
  });

  it('ignores unknown columns, wherever they are', () => {
    const header = HEADER_6_18.replace('entries ', 'entries  future_a').concat(' future_b');
    const values = [7, 0xaaaa, ...Array.from({ length: 16 }, (_, i) => v(0, i + 1)), 0xbbbb];
    const text = `${header}\n${values.map((x) => x.toString(16).padStart(8, '0')).join(' ')}\n`;
    const stats = parseProcStats(text, '6.18.0');
    expect(stats.entries).toBe(7);
    expect(stats.cpu[0]?.counters.clash_resolve).toBe(v(0, 1));
    expect(Object.values(stats.cpu[0]?.counters ?? {})).not.toContain(0xaaaa);
    expect(Object.values(stats.cpu[0]?.counters ?? {})).not.toContain(0xbbbb);
  });

  it('regression (prototype names taken for columns): ignores columns named like Object members', () => {
    const header = 'entries constructor toString __proto__ hasOwnProperty found';
    const stats = parseProcStats(
      `${header}\n00000001 00000002 00000003 00000004 00000005 00000006\n`,
      '6.18.0',
    );
    expect(stats.cpu).toEqual([{ cpu: 0, counters: { found: 6 } }]);
    expect(stats.expect).toEqual([{ cpu: 0, counters: {} }]);
  });

  it('reads a header with no CPU lines as no CPUs', () => {
    expect(parseProcStats(`${HEADER_6_18}\n`, '6.18.0')).toEqual({ entries: undefined, cpu: [], expect: [] });
  });

  it('refuses a file without the entries header', () => {
    expect(procfsError(() => parseProcStats('', '6.18.0')).message).toBe(
      'unrecognised /proc/net/stat/nf_conntrack header',
    );
    procfsError(() => parseProcStats('00000001 00000002\n', '6.18.0'));
  });

  it('refuses a ragged line, naming it', () => {
    const text = `${file(HEADER_6_18, rows(1, 2))}00000001 00000002\n`;
    expect(procfsError(() => parseProcStats(text, '6.18.0')).message).toBe(
      'line 4 has 2 fields, the header 17',
    );
  });

  it('refuses a value that is not hex, naming the column', () => {
    const text = file(HEADER_6_18, rows(1, 1)).replace(/\n([0-9a-f]{8}) {2}([0-9a-f]{8})/, '\n$1  0000zz00');
    expect(procfsError(() => parseProcStats(text, '6.18.0')).message).toBe(
      'column clashres: "0000zz00" is not hex',
    );
    expect(
      procfsError(() =>
        parseProcStats(file(HEADER_6_18, rows(1, 1)).replace('01abcd01', '-1abcd01'), '6.18.0'),
      ).message,
    ).toBe('column clashres: "-1abcd01" is not hex');
  });

  it('refuses a counter above 2^53, which a double cannot hold exactly (issue 11)', () => {
    const text = file(HEADER_6_18, rows(1, 1)).replace(
      /\n([0-9a-f]{8}) {2}([0-9a-f]{8})/,
      '\n$1  20000000000001',
    );
    expect(procfsError(() => parseProcStats(text, '6.18.0')).message).toBe(
      'column clashres: "20000000000001" is above 2^53',
    );
    // 2^53 - 1 is still exact.
    const max = file(HEADER_6_18, rows(1, 1)).replace(
      /\n([0-9a-f]{8}) {2}([0-9a-f]{8})/,
      '\n$1  1fffffffffffff',
    );
    expect(parseProcStats(max, '6.18.0').cpu[0]?.counters.clash_resolve).toBe(2 ** 53 - 1);
  });

  it('property: any text gives ProcStats with known names only, or a ProcfsError', () => {
    const column = fc.oneof(
      fc.constantFrom(
        ...HEADER_4_9.split(/\s+/),
        'clashres',
        'chainlength',
        'constructor',
        '__proto__',
        'valueOf',
      ),
      fc.stringMatching(/^[a-z_]{1,12}$/),
    );
    const text = fc.oneof(
      fc.string(),
      fc
        .tuple(
          fc.array(column, { minLength: 1, maxLength: 20 }),
          fc.array(
            fc.array(
              fc.oneof(
                fc.nat().map((n) => n.toString(16)),
                fc.string({ maxLength: 4 }),
              ),
              { maxLength: 21 },
            ),
            { maxLength: 4 },
          ),
        )
        .map(([cols, lines]) => [cols.join(' '), ...lines.map((l) => l.join(' '))].join('\n')),
    );
    const names = new Set<string>([...CPU_STAT_NAMES, ...EXPECT_STAT_NAMES]);
    fc.assert(
      fc.property(text, fc.constantFrom('4.9.0', '6.18.44', 'weird'), (t, release) => {
        try {
          const stats = parseProcStats(t, release);
          for (const c of [...stats.cpu, ...stats.expect]) {
            for (const [k, value] of Object.entries(c.counters)) {
              expect(names.has(k)).toBe(true);
              expect(Number.isInteger(value)).toBe(true);
            }
          }
        } catch (err) {
          if (!(err instanceof ProcfsError)) throw err;
        }
      }),
      runs(3000),
    );
  });
});

describe('kernelAtLeast', () => {
  it.each([
    ['4.9.337', false],
    ['4.10.0', true],
    ['4.19.0-26-amd64', true],
    ['3.18.140', false],
    ['6.18.44-fc-v782', true],
    ['10.0', true],
    ['not a version', true],
  ])('%s >= 4.10: %s', (release, expected) => {
    expect(kernelAtLeast(release, 4, 10)).toBe(expected);
  });
});

describe('readSmallFile', () => {
  it('reads the whole text of a file larger than its first buffer, and of the real procfs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cte-small-'));
    try {
      // 10,000 bytes against a first buffer of 4096: two doublings, then the whole text.
      const text = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(9, '0')}\n`).join('');
      await writeFile(join(dir, 'big'), text);
      expect(await readSmallFile(join(dir, 'big'))).toBe(text);
      await writeFile(join(dir, 'exact'), 'x'.repeat(4096));
      expect(await readSmallFile(join(dir, 'exact'))).toBe('x'.repeat(4096));
      await writeFile(join(dir, 'empty'), '');
      expect(await readSmallFile(join(dir, 'empty'))).toBe('');
      await expect(readSmallFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // procfs says size 0: the text comes from the read itself, as readFile gives it.
    expect(await readSmallFile('/proc/self/status')).toMatch(/^Name:/);
    expect(await readSmallFile('/proc/sys/kernel/osrelease')).toBe(
      await readFile('/proc/sys/kernel/osrelease', 'utf8'),
    );
  });
});

describe('readNetfilterSysctl and readProcStats on files', () => {
  let proc: string;

  beforeAll(async () => {
    proc = await mkdtemp(join(tmpdir(), 'cte-procfs-'));
    await mkdir(join(proc, 'sys/net/netfilter'), { recursive: true });
    await mkdir(join(proc, 'net/stat'), { recursive: true });
    await writeFile(join(proc, 'sys/net/netfilter/nf_conntrack_max'), '262144\n');
    await writeFile(join(proc, 'sys/net/netfilter/nf_conntrack_count'), '\n');
    await writeFile(join(proc, 'sys/net/netfilter/nf_conntrack_acct'), 'on\n');
    await writeFile(join(proc, 'sys/net/netfilter/nf_conntrack_huge'), '9007199254740993\n');
    await writeFile(join(proc, 'sys/net/netfilter/nf_conntrack_hex'), '0x10\n');
    await writeFile(
      join(proc, 'net/stat/nf_conntrack'),
      file(HEADER_6_18, [[3, ...Array<number>(16).fill(1)]]),
    );
  });

  afterAll(async () => {
    await rm(proc, { recursive: true, force: true });
  });

  it('reads an integer sysctl', async () => {
    expect(await readNetfilterSysctl(proc, 'nf_conntrack_max')).toBe(262144);
  });

  it('refuses an empty or non-numeric sysctl, and a missing one, with ProcfsError', async () => {
    for (const name of [
      'nf_conntrack_count',
      'nf_conntrack_acct',
      'nf_conntrack_missing',
      'nf_conntrack_huge',
      'nf_conntrack_hex',
    ]) {
      const err = await readNetfilterSysctl(proc, name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProcfsError);
      expect((err as ProcfsError).message).toContain(join(proc, 'sys/net/netfilter', name));
    }
  });

  it('reads net/stat/nf_conntrack under the given proc path', async () => {
    const stats = await readProcStats(proc, '6.18.0');
    expect(stats.entries).toBe(3);
    expect(stats.cpu[0]?.counters.found).toBe(1);
    const missing = await readProcStats(join(proc, 'nowhere'), '6.18.0').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ProcfsError);
    expect((missing as ProcfsError).cause).toBeInstanceOf(Error);
  });
});
