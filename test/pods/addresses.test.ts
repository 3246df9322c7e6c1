// Unit: a namespace's own addresses from procfs text recorded from the real kernel
// (test/fixtures/pods/README.md), as the flow decoder's address keys.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAddress } from '../../src/conntrack/flow.js';
import { namespaceAddresses, parseFibTrieLocal, parseIfInet6 } from '../../src/pods/addresses.js';
import { runs } from '../support/property.js';

const FIXTURES = new URL('../fixtures/pods/', import.meta.url);
const fibTrie = readFileSync(new URL('fib_trie', FIXTURES), 'utf8');
const ifInet6 = readFileSync(new URL('if_inet6', FIXTURES), 'utf8');

describe('parseFibTrieLocal', () => {
  it('finds each local /32 once, without loopback, broadcast or network entries', () => {
    expect(parseFibTrieLocal(fibTrie).map(formatAddress).sort()).toEqual(['198.18.1.2', '198.18.9.9']);
  });

  it('gives keys the flow decoder gives: signed int32, as readBe32Signed reads them', () => {
    const text = '  |-- 203.0.113.200\n     /32 host LOCAL\n  |-- 169.254.1.1\n     /32 host LOCAL\n';
    const keys = parseFibTrieLocal(text);
    expect(keys).toEqual([Buffer.from([203, 0, 113, 200]).readInt32BE(0)]);
  });

  it('ignores a leaf whose prefix line is not a host LOCAL one', () => {
    expect(
      parseFibTrieLocal('|-- 198.18.1.255\n   /32 link BROADCAST\n|-- 198.18.0.0\n   /24 link UNICAST\n'),
    ).toEqual([]);
  });
});

describe('parseIfInet6', () => {
  it('keeps global addresses, drops ::1 and fe80::/10', () => {
    expect(parseIfInet6(ifInet6).map(formatAddress)).toEqual(['2001:2::1:2']);
  });

  it('returns 16-byte latin1 keys, as the decoder keys IPv6', () => {
    const [key] = parseIfInet6('20010002000000000000000000010002 02 40 00 82 veth0\n');
    expect(key).toBe(Buffer.from('20010002000000000000000000010002', 'hex').toString('latin1'));
  });
});

describe('namespaceAddresses', () => {
  it('joins both families', () => {
    expect(namespaceAddresses(fibTrie, ifInet6).map(formatAddress).sort()).toEqual([
      '198.18.1.2',
      '198.18.9.9',
      '2001:2::1:2',
    ]);
  });

  it('never throws on arbitrary text, and returns only valid keys', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        for (const key of namespaceAddresses(a, b)) {
          if (typeof key === 'number') expect(Number.isInteger(key)).toBe(true);
          else expect(key.length).toBe(16);
        }
      }),
      runs(500),
    );
  });
});
