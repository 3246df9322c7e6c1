// Layer: pods (beside collectors, below them). A network namespace's own addresses, from the
// procfs views of one of its processes: IPv4 from /proc/<pid>/net/fib_trie (the "/32 host LOCAL"
// leaves of the local table, see net/ipv4/fib_trie.c fib_trie_seq_show) and IPv6 from
// /proc/<pid>/net/if_inet6 (net/ipv6/addrconf.c if6_seq_show). Addresses come out as the flow
// decoder's AddressKey, so a flow's tuple looks them up without formatting text.
// Knows nothing of metrics or collectors.

import type { AddressKey } from '../conntrack/flow.js';

/** Signed int32, as the flow decoder reads IPv4 addresses (readBe32Signed). */
function ipv4Key(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let key = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    key = (key << 8) | n;
  }
  return key | 0;
}

/** 127.0.0.0/8 (loopback) and 169.254.0.0/16 (link-local) are never a pod's identity. */
function usableIPv4(key: number): boolean {
  const first = key >>> 24;
  return first !== 127 && !(first === 169 && ((key >>> 16) & 0xff) === 254);
}

/**
 * The namespace's local IPv4 addresses: every `|-- a.b.c.d` leaf followed by `/32 host LOCAL`.
 * The file prints the main and the local table, so an address can appear twice.
 */
export function parseFibTrieLocal(text: string): number[] {
  const out = new Set<number>();
  let leaf: string | undefined;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('|-- ')) {
      leaf = trimmed.slice(4);
    } else if (leaf !== undefined && /^\/32 host LOCAL$/.test(trimmed)) {
      const key = ipv4Key(leaf);
      if (key !== undefined && usableIPv4(key)) out.add(key);
    } else if (!trimmed.startsWith('/')) {
      leaf = undefined;
    }
  }
  return [...out];
}

/**
 * The namespace's IPv6 addresses from if_inet6 (`<32 hex> <ifindex> <prefixlen> <scope> <flags> <name>`),
 * without loopback (::1) and link-local (fe80::/10), as 16-byte latin1 keys.
 */
export function parseIfInet6(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const hex = line.trim().split(/\s+/)[0] ?? '';
    if (!/^[0-9a-f]{32}$/i.test(hex)) continue;
    const bytes = Buffer.from(hex, 'hex');
    const loopback = bytes.subarray(0, 15).every((b) => b === 0) && bytes[15] === 1;
    const linkLocal = bytes[0] === 0xfe && ((bytes[1] ?? 0) & 0xc0) === 0x80;
    if (!loopback && !linkLocal) out.add(bytes.toString('latin1'));
  }
  return [...out];
}

/** Both families' usable addresses of one namespace. */
export function namespaceAddresses(fibTrie: string, ifInet6: string): AddressKey[] {
  return [...parseFibTrieLocal(fibTrie), ...parseIfInet6(ifInet6)];
}
