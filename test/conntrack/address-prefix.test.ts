// Unit tests of address prefixes (issue 11, address privacy): masking keeps exactly the network
// bits of both families at every edge length, an IPv4-mapped IPv6 address gets the IPv4 length,
// the label is CIDR text, and the merge by prefix keeps totals.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addressLabel,
  byReportedAddress,
  formatPrefix,
  maskAddress,
  prefixLength,
} from '../../src/conntrack/address-prefix.js';
import { formatAddress } from '../../src/conntrack/flow.js';
import { runs } from '../support/property.js';

/** The decoder's IPv4 key: a signed 32-bit big-endian number. */
const v4 = (text: string): number => text.split('.').reduce((acc, o) => (acc << 8) | Number(o) | 0, 0);
/** The decoder's IPv6 key: 16 latin1 characters. */
const v6 = (hex: string): string => Buffer.from(hex.padEnd(32, '0'), 'hex').toString('latin1');
const at = (ipv4: number, ipv6: number) => ({ ipv4, ipv6 });

describe('maskAddress / formatPrefix', () => {
  it('IPv4 at /24 (the default), /25, /16, and the edges /32 and /0', () => {
    expect(formatPrefix(v4('10.1.2.3'), at(24, 64))).toBe('10.1.2.0/24');
    expect(formatPrefix(v4('192.0.2.200'), at(25, 64))).toBe('192.0.2.128/25');
    expect(formatPrefix(v4('203.0.113.200'), at(16, 64))).toBe('203.0.0.0/16');
    expect(formatPrefix(v4('255.255.255.255'), at(32, 64))).toBe('255.255.255.255/32');
    expect(formatPrefix(v4('10.1.2.3'), at(32, 64))).toBe('10.1.2.3/32');
    expect(formatPrefix(v4('255.255.255.255'), at(0, 64))).toBe('0.0.0.0/0');
    expect(formatPrefix(v4('255.255.255.255'), at(1, 64))).toBe('128.0.0.0/1');
    expect(formatPrefix(v4('255.255.255.255'), at(31, 64))).toBe('255.255.255.254/31');
  });

  it('IPv6 at /64 (the default), /48, /60, and the edges /128 and /0', () => {
    const a = v6('20010db8000100020003000400050006');
    expect(formatPrefix(a, at(24, 64))).toBe('2001:db8:1:2::/64');
    expect(formatPrefix(a, at(24, 48))).toBe('2001:db8:1::/48');
    expect(formatPrefix(v6('20010db8abcd00ff'), at(24, 60))).toBe('2001:db8:abcd:f0::/60');
    expect(formatPrefix(a, at(24, 128))).toBe('2001:db8:1:2:3:4:5:6/128');
    expect(formatPrefix(v6('ff'.repeat(16)), at(24, 0))).toBe('::/0');
    expect(formatPrefix(v6('ff'.repeat(16)), at(24, 127))).toBe(
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127',
    );
  });

  it('an IPv4-mapped IPv6 address gets the IPv4 length, as 96 + it', () => {
    const mapped = v6('00000000000000000000ffff0a010203'); // ::ffff:10.1.2.3
    expect(prefixLength(mapped, at(24, 64))).toBe(120);
    expect(formatPrefix(mapped, at(24, 64))).toBe('::ffff:10.1.2.0/120');
    expect(formatPrefix(mapped, at(32, 64))).toBe('::ffff:10.1.2.3/128');
    // /0 keeps the mapped form's 96 bits: the family stays visible, no IPv4 bit does.
    expect(formatPrefix(mapped, at(0, 64))).toBe('::ffff:0.0.0.0/96');
    // Not mapped (::fffe:…, or ffff in the wrong place): the IPv6 length.
    expect(prefixLength(v6('00000000000000000000fffe0a010203'), at(24, 64))).toBe(64);
    expect(prefixLength(v6('0000000000000000ffff00000a010203'), at(24, 64))).toBe(64);
  });

  it("addresses in one prefix share one key; the key stays in the decoder's form", () => {
    const l = at(24, 64);
    expect(maskAddress(v4('10.1.2.3'), l)).toBe(maskAddress(v4('10.1.2.250'), l));
    expect(maskAddress(v4('10.1.2.3'), l)).not.toBe(maskAddress(v4('10.1.3.3'), l));
    // Signed 32-bit, as the decoder reads IPv4.
    expect(maskAddress(v4('200.1.2.3'), l)).toBe(v4('200.1.2.0'));
    expect(maskAddress(v4('200.1.2.3'), l)).toBeLessThan(0);
    expect(maskAddress(v6('20010db8000100020003'), l)).toBe(maskAddress(v6('20010db80001000200ff'), l));
    expect((maskAddress(v6('20010db8000100020003'), l) as string).length).toBe(16);
  });

  it('addressLabel: the address, its prefix, or nothing', () => {
    const key = v4('10.1.2.3');
    expect(addressLabel(key, { mode: 'full' })).toBe('10.1.2.3');
    expect(addressLabel(key, { mode: 'prefix', ipv4: 24, ipv6: 64 })).toBe('10.1.2.0/24');
    expect(addressLabel(key, { mode: 'none' })).toBeUndefined();
  });

  it('byReportedAddress merges by prefix and keeps the total; full and none leave keys alone', () => {
    const entries = [
      [v4('10.1.2.3'), 5],
      [v4('10.1.2.4'), 7],
      [v4('10.1.3.4'), 1],
      [v6('20010db8000100020003'), 2],
      [v6('20010db8000100029999'), 3],
    ] as const;
    const merged = byReportedAddress(entries, { mode: 'prefix', ipv4: 24, ipv6: 64 });
    expect(merged.map(([k, n]) => [formatAddress(k), n])).toEqual([
      ['10.1.2.0', 12],
      ['10.1.3.0', 1],
      ['2001:db8:1:2::', 5],
    ]);
    expect(byReportedAddress(entries, { mode: 'full' })).toEqual(entries);
  });

  it('property: masking is idempotent, never sets a bit, and clears every bit past the length', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.integer({ min: 0, max: 32 }),
        (key, bits) => {
          const l = at(bits, 64);
          const m = maskAddress(key, l) as number;
          expect(maskAddress(m, l)).toBe(m);
          expect((m & ~key) | 0).toBe(0);
          expect(bits === 32 ? m : (m << bits) | 0).toBe(bits === 32 ? key : 0);
          expect(formatAddress(m)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        },
      ),
      runs(500),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 128 }),
        (bytes, bits) => {
          const key = Buffer.from(bytes).toString('latin1');
          const l = at(24, bits);
          const m = maskAddress(key, l) as string;
          expect(maskAddress(m, l)).toBe(m);
          const len = prefixLength(key, l);
          const kb = Buffer.from(key, 'latin1');
          const mb = Buffer.from(m, 'latin1');
          for (let bit = 0; bit < 128; bit++) {
            const byte = bit >> 3;
            const mask = 0x80 >> (bit & 7);
            expect(mb[byte]! & mask).toBe(bit < len ? kb[byte]! & mask : 0);
          }
        },
      ),
      runs(300),
    );
  });
});
