// Layer: conntrack model. Reducing flow addresses to their network prefix (IPv4 /24 and IPv6 /64
// by default), for clusters where peer addresses must not leave the node and to bound the
// cardinality of the address metrics. Pure functions over the decoder's AddressKey (a signed
// 32-bit number for IPv4, 16 latin1 characters for IPv6); knows nothing of metrics.

import { formatAddress, type AddressKey } from './flow.js';

export interface PrefixLengths {
  /** 0..32 */
  readonly ipv4: number;
  /** 0..128 */
  readonly ipv6: number;
}

/**
 * How flow addresses are reported (CONNTRACK_EXPORTER_FLOW_ADDRESSES): as they are, as network
 * prefixes, or not at all.
 */
export type AddressReporting =
  { readonly mode: 'full' } | { readonly mode: 'none' } | ({ readonly mode: 'prefix' } & PrefixLengths);

export const FULL_ADDRESSES: AddressReporting = { mode: 'full' };

/** The 12 bytes that start an IPv4-mapped IPv6 address (RFC 4291, "IPv4-Mapped IPv6 Address"). */
const V4_MAPPED = '\0'.repeat(10) + '\xff\xff';

function isV4Mapped(key: string): boolean {
  return key.startsWith(V4_MAPPED);
}

function clamp(bits: number, max: number): number {
  return Math.max(0, Math.min(max, Math.trunc(bits)));
}

/**
 * The prefix length applied to a key: the IPv4 length for IPv4, the IPv6 length for IPv6, and
 * 96 + the IPv4 length for an IPv4-mapped IPv6 address (it is an IPv4 peer: the IPv6 length
 * would keep all of it at /128, or merge every IPv4 peer into ::/64).
 */
export function prefixLength(key: AddressKey, lengths: PrefixLengths): number {
  if (typeof key === 'number') return clamp(lengths.ipv4, 32);
  return isV4Mapped(key) ? 96 + clamp(lengths.ipv4, 32) : clamp(lengths.ipv6, 128);
}

/** The key with every bit past its prefix length cleared, in the decoder's form. */
export function maskAddress(key: AddressKey, lengths: PrefixLengths): AddressKey {
  const bits = prefixLength(key, lengths);
  if (typeof key === 'number') {
    // `<<` takes its count mod 32, so /0 needs its own case; `| 0` keeps the signed form.
    const mask = bits === 0 ? 0 : -1 << (32 - bits);
    return (key & mask) | 0;
  }
  let out = '';
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    out += String.fromCharCode(key.charCodeAt(i) & mask);
  }
  return out;
}

/** "10.1.2.0/24", "2001:db8:1:2::/64", "::ffff:10.1.2.0/120": a key's prefix in CIDR notation. */
export function formatPrefix(key: AddressKey, lengths: PrefixLengths): string {
  return `${formatAddress(maskAddress(key, lengths))}/${prefixLength(key, lengths)}`;
}

/**
 * The label value of an address under a reporting mode; `undefined` for `none` (the caller
 * reports no address at all).
 */
export function addressLabel(key: AddressKey, reporting: AddressReporting): string | undefined {
  switch (reporting.mode) {
    case 'full':
      return formatAddress(key);
    case 'prefix':
      return formatPrefix(key, reporting);
    case 'none':
      return undefined;
  }
}

/**
 * Weights by address, summed by network prefix when addresses are reported by prefix (the keys
 * are then the masked ones). Once per pass, over the distinct addresses.
 */
export function byReportedAddress(
  entries: Iterable<readonly [AddressKey, number]>,
  reporting: AddressReporting,
): (readonly [AddressKey, number])[] {
  if (reporting.mode !== 'prefix') return [...entries];
  const merged = new Map<AddressKey, number>();
  for (const [key, w] of entries) {
    const masked = maskAddress(key, reporting);
    merged.set(masked, (merged.get(masked) ?? 0) + w);
  }
  return [...merged];
}
