// The u32 unwrapper behind the per-CPU counters: for any sequence of increments (each below 2^32
// between two reads), the unwrapped total is the true running sum, whatever wraps happened, for
// every (cpu, counter) key independently, and across reads a CPU was missing from.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CounterUnwrapper } from '../../src/conntrack/wrap.js';
import { runs } from '../support/property.js';

const U32 = 2 ** 32;

describe('CounterUnwrapper', () => {
  it('starts at the first raw value, then adds the increments', () => {
    const u = new CounterUnwrapper();
    expect(u.update('cpu0/found', 0x01abcdef)).toBe(0x01abcdef);
    expect(u.update('cpu0/found', 0x01abcdf0)).toBe(0x01abcdf0);
    expect(u.update('cpu0/found', 0x01abcdf0)).toBe(0x01abcdf0);
  });

  it('counts through a wrap: 0xfffffff0 then 0x10 is 32 more', () => {
    const u = new CounterUnwrapper();
    u.update('k', 0xfffffff0);
    expect(u.update('k', 0x10)).toBe(0xfffffff0 + 0x20);
    expect(u.update('k', 0x11)).toBe(0xfffffff0 + 0x21);
  });

  it('counts an increment of exactly 2^32 - 1 across a wrap', () => {
    const u = new CounterUnwrapper();
    u.update('k', 1);
    expect(u.update('k', 0)).toBe(1 + (U32 - 1));
  });

  it('keeps keys apart', () => {
    const u = new CounterUnwrapper();
    u.update('0/drop', 5);
    u.update('1/drop', 0xffffffff);
    expect(u.update('0/drop', 7)).toBe(7);
    expect(u.update('1/drop', 2)).toBe(0xffffffff + 3);
  });

  it('a CPU missing from some reads continues where it was when it comes back', () => {
    const u = new CounterUnwrapper();
    u.update('0/insert', 100);
    u.update('1/insert', 200);
    u.update('0/insert', 150); // CPU 1 absent from this read
    u.update('0/insert', 160); // and this one
    expect(u.update('1/insert', 260)).toBe(260);
    expect(u.update('0/insert', 170)).toBe(170);
  });

  it('property: the total equals the true sum for any increments with wraps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: U32 - 1 }),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: U32 - 1 })), {
          maxLength: 60,
        }),
        (start, increments) => {
          const u = new CounterUnwrapper();
          let trueTotal = start;
          expect(u.update('k', start)).toBe(start);
          for (const inc of increments) {
            trueTotal += inc;
            expect(u.update('k', trueTotal % U32)).toBe(trueTotal);
          }
        },
      ),
      runs(2000),
    );
  });

  it('property: interleaved CPUs, each absent from arbitrary reads, each continue their own sum', () => {
    // Per read: for each of 4 CPUs, either absent or present with the increment since the last
    // read it appeared in (what it counted while absent included, still below 2^32).
    const read = fc.array(fc.option(fc.integer({ min: 0, max: U32 - 1 }), { nil: undefined }), {
      minLength: 4,
      maxLength: 4,
    });
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: U32 - 1 }), { minLength: 4, maxLength: 4 }),
        fc.array(read, { maxLength: 40 }),
        (starts, reads) => {
          const u = new CounterUnwrapper();
          const totals = [...starts];
          starts.forEach((s, cpu) => u.update(`${cpu}/found`, s));
          for (const r of reads) {
            r.forEach((inc, cpu) => {
              if (inc === undefined) return;
              totals[cpu] = (totals[cpu] ?? 0) + inc;
              expect(u.update(`${cpu}/found`, (totals[cpu] ?? 0) % U32)).toBe(totals[cpu]);
            });
          }
        },
      ),
      runs(1000),
    );
  });
});
