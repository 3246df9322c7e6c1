// Layer: collectors (flows). Flows and bytes per address for one pass, without an object per
// address. A pass over a sample of 100,000 flows can meet as many distinct source addresses; a
// Map of per-address objects then costs several MB of heap per pass and most of the pass's
// garbage-collection time. Here the counts live in typed arrays in first-seen order (so a tie in
// a top-K goes to the address seen first, as with a Map) and IPv4 keys (int32) are found through
// an open-addressing index; IPv6 keys (16-byte strings) through a Map of entry numbers.

import type { AddressKey } from '../conntrack/flow.js';
import type { Ranked } from './shape.js';

const EMPTY = -1;
/** 2^32 / golden ratio: multiplicative hashing, using the product's top bits. */
const GOLDEN = 0x9e3779b1;

export class AddressTally {
  /** Entry number per slot of the IPv4 index, EMPTY when the slot is free. */
  private index: Int32Array;
  /** 32 - log2(index length): the hash is the product's top bits. */
  private shift: number;
  private readonly strings = new Map<string, number>();
  /** Per entry: its IPv4 key; for an IPv6 entry, its string in `v6` (allocated only for IPv6). */
  private v4: Int32Array<ArrayBuffer>;
  private v6: string[] | undefined;
  private count = 0;
  private flows: Float64Array<ArrayBuffer>;
  private bytes: Float64Array<ArrayBuffer>;

  /** @param expected addresses to make room for up front (growing costs copies and rehashing) */
  constructor(expected = 0) {
    let bits = 10;
    while (1 << bits < 2 * expected && bits < 30) bits++;
    this.index = new Int32Array(1 << bits).fill(EMPTY);
    this.shift = 32 - bits;
    const entries = Math.max(256, 1 << (bits - 1));
    this.v4 = new Int32Array(entries);
    this.flows = new Float64Array(entries);
    this.bytes = new Float64Array(entries);
  }

  /** Distinct addresses counted. */
  get size(): number {
    return this.count;
  }

  /** Counts one flow of `key` carrying `bytes` (0 when the flow has no acct counters). */
  add(key: AddressKey, bytes: number): void {
    const e = typeof key === 'number' ? this.entryOfNumber(key) : this.entryOfString(key);
    this.flows[e] = (this.flows[e] ?? 0) + 1;
    this.bytes[e] = (this.bytes[e] ?? 0) + bytes;
  }

  /** The addresses by their flows, or their bytes, in first-seen order, read in place by topK. */
  ranked(weight: 'flows' | 'bytes'): Ranked<AddressKey> {
    return new TallyRanked(this.v4, this.v6, weight === 'flows' ? this.flows : this.bytes, this.count);
  }

  /** Every address with its flows, or its bytes, in first-seen order. */
  *entries(weight: 'flows' | 'bytes'): Generator<readonly [AddressKey, number]> {
    const ranked = this.ranked(weight);
    for (let e = 0; e < ranked.length; e++) yield [ranked.key(e), ranked.weight(e)];
  }

  private entryOfNumber(key: number): number {
    const index = this.index;
    const mask = index.length - 1;
    let slot = Math.imul(key, GOLDEN) >>> this.shift;
    for (;;) {
      const e = index[slot] ?? EMPTY;
      if (e === EMPTY) break;
      // The index holds IPv4 entries only (IPv6 ones are found through `strings`).
      if (this.v4[e] === key) return e;
      slot = (slot + 1) & mask;
    }
    const e = this.append(key);
    index[slot] = e;
    // At most half full, so probes stay short.
    if (2 * this.count > index.length) this.growIndex();
    return e;
  }

  private entryOfString(key: string): number {
    const known = this.strings.get(key);
    if (known !== undefined) return known;
    const e = this.append(key);
    this.strings.set(key, e);
    return e;
  }

  private append(key: AddressKey): number {
    const e = this.count++;
    if (e === this.flows.length) {
      this.v4 = grown(this.v4);
      this.flows = grown(this.flows);
      this.bytes = grown(this.bytes);
    }
    if (typeof key === 'number') this.v4[e] = key;
    else (this.v6 ??= [])[e] = key;
    return e;
  }

  private growIndex(): void {
    const index = new Int32Array(this.index.length * 2).fill(EMPTY);
    const mask = index.length - 1;
    this.shift -= 1;
    for (let e = 0; e < this.count; e++) {
      if (this.v6?.[e] !== undefined) continue;
      const key = this.v4[e] ?? 0;
      let slot = Math.imul(key, GOLDEN) >>> this.shift;
      while ((index[slot] ?? EMPTY) !== EMPTY) slot = (slot + 1) & mask;
      index[slot] = e;
    }
    this.index = index;
  }
}

class TallyRanked implements Ranked<AddressKey> {
  constructor(
    private readonly v4: Int32Array,
    private readonly v6: readonly string[] | undefined,
    private readonly values: Float64Array,
    readonly length: number,
  ) {}

  weight(i: number): number {
    return this.values[i] ?? 0;
  }

  key(i: number): AddressKey {
    return this.v6?.[i] ?? this.v4[i] ?? 0;
  }

  bucket(): number {
    return 0;
  }
}

function grown<T extends Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer>>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}
