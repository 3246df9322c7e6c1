// The per-address tally of a pass: the same counts as a Map of every address, in first-seen
// order (so a top-K tie goes to the address seen first, as it did with a Map), for IPv4 keys
// (int32, through the typed-array index, growing past its first size) and IPv6 keys (strings);
// read as entries or in place (the view topK reads).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AddressKey } from '../../src/conntrack/flow.js';
import { AddressTally } from '../../src/flows/tally.js';
import { runs } from '../support/property.js';

function viaMap(adds: readonly (readonly [AddressKey, number])[]) {
  const m = new Map<AddressKey, { flows: number; bytes: number }>();
  for (const [k, b] of adds) {
    const t = m.get(k) ?? { flows: 0, bytes: 0 };
    t.flows += 1;
    t.bytes += b;
    m.set(k, t);
  }
  return m;
}

describe('AddressTally', () => {
  it('property: equals a Map of every address, in first-seen order, whatever room it starts with', () => {
    const key = fc.oneof(
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      // Few distinct values too, so keys repeat.
      fc.integer({ min: -3, max: 3 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    fc.assert(
      // With and without room made up front (the last pass's count of addresses).
      fc.property(
        fc.array(fc.tuple(key, fc.nat({ max: 1e9 })), { maxLength: 3000 }),
        fc.nat({ max: 5000 }),
        (adds, expected) => {
          const tally = new AddressTally(expected);
          for (const [k, b] of adds) tally.add(k, b);
          const truth = viaMap(adds);
          expect(tally.size).toBe(truth.size);
          expect([...tally.entries('flows')]).toEqual([...truth].map(([k, t]) => [k, t.flows]));
          expect([...tally.entries('bytes')]).toEqual([...truth].map(([k, t]) => [k, t.bytes]));
          // The view topK reads in place: the same entries, by position.
          for (const w of ['flows', 'bytes'] as const) {
            const ranked = tally.ranked(w);
            const read = Array.from({ length: ranked.length }, (_, i) => [ranked.key(i), ranked.weight(i)]);
            expect(read).toEqual([...truth].map(([k, t]) => [k, t[w]]));
            expect(Array.from({ length: ranked.length }, (_, i) => ranked.bucket(i))).toEqual(
              Array<number>(truth.size).fill(0),
            );
          }
        },
      ),
      runs(100),
    );
  });

  it('counts 200,000 distinct IPv4 addresses (the index grows many times) exactly', () => {
    const tally = new AddressTally();
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 200_000; i++) tally.add(i * 7919 - 2 ** 30, 10);
    expect(tally.size).toBe(200_000);
    let flows = 0;
    let bytes = 0;
    for (const [, n] of tally.entries('flows')) {
      expect(n).toBe(2);
      flows += n;
    }
    for (const [, b] of tally.entries('bytes')) bytes += b;
    expect([flows, bytes]).toEqual([400_000, 4_000_000]);
    expect(tally.entries('flows').next().value).toEqual([-(2 ** 30), 2]);
  });
});
