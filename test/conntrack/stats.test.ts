// The statistics decoders on recorded kernel bytes (counters made non-zero on purpose, see
// scripts/record-fixtures.ts), cross-checked with `conntrack -S`, `-S expect`, `-C`, the sysctls
// and /proc/net/stat/nf_conntrack read at the same moment; the captured examples of
// test/support/ctnetlink-examples.ts;
// absent counters; and a property test.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CPU_STAT_NAMES,
  decodeCpuStats,
  decodeExpectStats,
  decodeGlobalStats,
  EXPECT_STAT_NAMES,
  requireDefined,
} from '../../src/conntrack/stats.js';
import { parseProcStats } from '../../src/conntrack/procfs.js';
import { DecodeError } from '../../src/netlink/errors.js';
import { CPU_STATS_CPU1, GLOBAL_STATS_REPLY } from '../support/ctnetlink-examples.js';
import { parseCpuStats } from '../support/conntrack-output.js';
import { loadFixture, rawView, viewOf } from '../support/fixtures.js';
import { be16, be32, nfnlMessage } from '../support/nlattr.js';
import { runs } from '../support/property.js';

const fx = loadFixture('stats');
const SIX_18 = [
  'found',
  'invalid',
  'insert',
  'insert_failed',
  'drop',
  'early_drop',
  'error',
  'search_restart',
  'clash_resolve',
  'chaintoolong',
];

describe('decodeGlobalStats (CT_GET_STATS)', () => {
  const corpus = fx.corpus('ct_get_stats');

  it('is one NLM_F_MULTI reply and then a CAPPED ACK, in two datagrams', () => {
    expect(corpus.messages.map((m) => viewOf(m)).map((m) => [m.type, m.flags])).toEqual([
      [0x0105, 0x0002],
      [0x0002, 0x0100],
    ]);
    expect(corpus.datagrams.length).toBe(2);
  });

  it('decodes entries and the global limit, equal to conntrack -C and the sysctls', () => {
    const stats = decodeGlobalStats(viewOf(corpus.messages[0] ?? Buffer.alloc(0)));
    expect(stats).toEqual({ entries: 4, maxEntries: 262144 });
    expect(Number(fx.cli['conntrack -C'])).toBe(stats.entries);
    expect(Number(fx.files['/proc/sys/net/netfilter/nf_conntrack_count'])).toBe(stats.entries);
    expect(Number(fx.files['/proc/sys/net/netfilter/nf_conntrack_max'])).toBe(stats.maxEntries);
  });

  it('decodes the captured CT_GET_STATS reply: entries 1, max 4000000', () => {
    expect(decodeGlobalStats(viewOf(GLOBAL_STATS_REPLY))).toEqual({ entries: 1, maxEntries: 4000000 });
  });

  it('leaves out what the kernel did not send (absent is not zero)', () => {
    expect(decodeGlobalStats(viewOf(nfnlMessage(0x0105, 0, [be32(1, 0x01abcdef)])))).toEqual({
      entries: 0x01abcdef,
    });
    expect(decodeGlobalStats(viewOf(nfnlMessage(0x0105, 0, [be32(2, 7)])))).toEqual({ maxEntries: 7 });
    expect(decodeGlobalStats(viewOf(nfnlMessage(0x0105, 0, [be32(9, 1)])))).toEqual({});
  });

  it('requireDefined turns an absent value into a DecodeError', () => {
    expect(requireDefined(0, 'entries')).toBe(0);
    expect(() => requireDefined(undefined, 'CTA_STATS_GLOBAL_ENTRIES')).toThrow(
      new DecodeError('CTA_STATS_GLOBAL_ENTRIES missing from the kernel reply'),
    );
  });
});

describe('decodeCpuStats (CT_GET_STATS_CPU)', () => {
  const corpus = fx.corpus('ct_get_stats_cpu');
  const parts = corpus.messages.slice(0, -1).map(viewOf).map(decodeCpuStats);

  it('has one part per possible CPU (res_id = CPU), then DONE', () => {
    expect(fx.header.possibleCpus).toBe('0-1');
    expect(parts.map((p) => p.cpu)).toEqual([0, 1]);
    expect(viewOf(corpus.messages.at(-1) ?? Buffer.alloc(0)).type).toBe(3);
  });

  it('decodes exactly the ten counters 6.18 sends, with the values provoked at recording', () => {
    expect(parts).toEqual([
      {
        cpu: 0,
        counters: {
          found: 0,
          invalid: 2,
          insert: 0,
          insert_failed: 0,
          drop: 0,
          early_drop: 0,
          error: 2,
          search_restart: 0,
          clash_resolve: 0,
          chaintoolong: 0,
        },
      },
      {
        cpu: 1,
        counters: {
          found: 2,
          invalid: 0,
          insert: 0,
          insert_failed: 1,
          drop: 1,
          early_drop: 0,
          error: 0,
          search_restart: 0,
          clash_resolve: 0,
          chaintoolong: 0,
        },
      },
    ]);
  });

  it('equals conntrack -S, counter by counter, names included', () => {
    const cli = parseCpuStats(fx.cli['conntrack -S'] ?? '');
    expect([...cli.keys()]).toEqual([0, 1]);
    for (const p of parts) expect(p.counters).toEqual(cli.get(p.cpu));
  });

  it('equals /proc/net/stat/nf_conntrack read at the same moment (the procfs fallback)', () => {
    const proc = parseProcStats(fx.files['/proc/net/stat/nf_conntrack'] ?? '', fx.header.kernel);
    expect(proc.cpu).toEqual(parts);
    expect(proc.entries).toBe(4);
  });

  it('decodes the captured per-CPU part as CPU 1 with the ten 6.18 counters', () => {
    const p = decodeCpuStats(viewOf(CPU_STATS_CPU1));
    expect(p.cpu).toBe(1);
    expect(Object.keys(p.counters)).toEqual(SIX_18);
  });

  it('maps every attribute id to its name (distinct values per id)', () => {
    const attrs = CPU_STAT_NAMES.map((_, i) => be32(i + 1, 0x01abcd00 + i));
    const p = decodeCpuStats(viewOf(nfnlMessage(0x0104, 0, attrs, { resId: 0x0107 })));
    expect(p.cpu).toBe(0x0107);
    expect(p.counters).toEqual(Object.fromEntries(CPU_STAT_NAMES.map((n, i) => [n, 0x01abcd00 + i])));
    expect(CPU_STAT_NAMES.slice(13)).toEqual(['clash_resolve', 'chaintoolong']);
  });

  it('leaves out counters an older kernel does not send, and ignores ids it does not know', () => {
    // A 5.4-like part: no CLASH_RESOLVE (14) or CHAIN_TOOLONG (15); then ids 16 and 0 from nowhere.
    const p = decodeCpuStats(
      viewOf(nfnlMessage(0x0104, 0, [be32(2, 5), be32(13, 6), be32(16, 9), be32(0, 9)])),
    );
    expect(p).toEqual({ cpu: 0, counters: { found: 5, search_restart: 6 } });
  });

  it('refuses a counter that is not a be32', () => {
    expect(() => decodeCpuStats(viewOf(nfnlMessage(0x0104, 0, [be16(2, 5)])))).toThrow(
      new DecodeError('be32 attribute: expected 4 payload bytes, got 2'),
    );
  });
});

describe('decodeExpectStats (EXP_GET_STATS_CPU)', () => {
  const corpus = fx.corpus('exp_get_stats_cpu');
  const views = corpus.messages.map(viewOf);

  it('replies typed 0x0103 (built with subsystem CTNETLINK, docs/ctnetlink.md#message-types), then DONE', () => {
    expect(views.map((m) => m.type)).toEqual([0x0103, 0x0103, 3]);
  });

  it('decodes new/create/delete per CPU, equal to conntrack -S expect and to procfs', () => {
    const parts = views.slice(0, -1).map(decodeExpectStats);
    expect(parts).toEqual([
      { cpu: 0, counters: { new: 1, create: 2, delete: 2 } },
      { cpu: 1, counters: { new: 0, create: 0, delete: 0 } },
    ]);
    const cli = parseCpuStats(fx.cli['conntrack -S expect'] ?? '');
    for (const p of parts) {
      const c = cli.get(p.cpu) ?? {};
      expect(p.counters).toEqual({ new: c.expect_new, create: c.expect_create, delete: c.expect_delete });
    }
    expect(parseProcStats(fx.files['/proc/net/stat/nf_conntrack'] ?? '', fx.header.kernel).expect).toEqual(
      parts,
    );
    expect(EXPECT_STAT_NAMES).toEqual(['new', 'create', 'delete']);
  });
});

describe('property: the stats decoders on arbitrary bytes give a value or a DecodeError', () => {
  const decoders = [decodeGlobalStats, decodeCpuStats, decodeExpectStats] as const;
  const recorded = [
    ...fx.corpus('ct_get_stats_cpu').messages,
    ...fx.corpus('exp_get_stats_cpu').messages,
    ...fx.corpus('ct_get_stats').messages,
  ];

  function check(buf: Buffer): void {
    for (const decode of decoders) {
      try {
        const value = decode(rawView(buf));
        for (const v of Object.values('counters' in value ? value.counters : value)) {
          expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true);
        }
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }
  }

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => check(Buffer.from(b))),
      runs(3000),
    );
  });

  it('recorded replies with bytes flipped or cut', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...recorded),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (original, flips, cut) => {
          const b = Buffer.from(original);
          for (const [at, value] of flips) b[at % b.length] = value;
          check(b.subarray(0, cut % (b.length + 1)));
        },
      ),
      runs(3000),
    );
  });
});
