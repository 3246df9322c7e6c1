// The read-only guard: only GET-family ctnetlink requests leave the process. Every write type,
// the counter-zeroing GET, unknown types, write flags and malformed buffers are refused with
// ReadOnlyViolationError (ERR_READ_ONLY). The list is the conntrack layer's (src/conntrack/readonly.ts);
// the mechanism is the netlink layer's. The real-kernel proof is in test/netlink/transport.test.ts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRequest, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST } from '../../src/netlink/codec.js';
import { ReadOnlyViolationError } from '../../src/netlink/errors.js';
import {
  assertReadOnly,
  describeReadOnlyRequest,
  READ_ONLY_REQUEST_TYPES,
} from '../../src/conntrack/readonly.js';
import { DUMP_REQUEST_V4 } from '../support/ctnetlink-examples.js';
import { hex, loadFixture, rawView } from '../support/fixtures.js';
import { runs } from '../support/property.js';

const DUMP = NLM_F_REQUEST | NLM_F_DUMP;
const SINGLE = NLM_F_REQUEST | NLM_F_ACK;
// NEW modifiers (netlink.h); on a GET, REPLACE and EXCL are numerically ROOT and MATCH.
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;

function req(type: number, flags: number, attributes?: Buffer): Buffer {
  return encodeRequest({ type, flags, seq: 0x01abcdef, ...(attributes && { attributes }) });
}

function refusal(buf: Buffer): ReadOnlyViolationError {
  let thrown: unknown;
  try {
    assertReadOnly(buf);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ReadOnlyViolationError);
  expect((thrown as ReadOnlyViolationError).code).toBe('ERR_READ_ONLY');
  return thrown as ReadOnlyViolationError;
}

const GET_FAMILY: readonly [number, string][] = [
  [0x0101, 'IPCTNL_MSG_CT_GET'],
  [0x0104, 'IPCTNL_MSG_CT_GET_STATS_CPU'],
  [0x0105, 'IPCTNL_MSG_CT_GET_STATS'],
  [0x0106, 'IPCTNL_MSG_CT_GET_DYING'],
  [0x0107, 'IPCTNL_MSG_CT_GET_UNCONFIRMED'],
  [0x0201, 'IPCTNL_MSG_EXP_GET'],
  [0x0203, 'IPCTNL_MSG_EXP_GET_STATS_CPU'],
];

describe('allowed: every GET-family request', () => {
  it('is exactly the list of GET types, by kernel name', () => {
    expect([...READ_ONLY_REQUEST_TYPES.entries()]).toEqual(GET_FAMILY);
  });

  it.each(GET_FAMILY)(
    '0x%s %s passes as a dump, a single request, and with both ACK and DUMP',
    (type, name) => {
      for (const flags of [DUMP, SINGLE, NLM_F_REQUEST, DUMP | NLM_F_ACK]) {
        expect(assertReadOnly(req(type, flags))).toEqual([name]);
      }
    },
  );

  it('passes filter attributes after the nfgenmsg (a mark-filtered dump)', () => {
    expect(assertReadOnly(req(0x0101, DUMP, hex('08000800 01abcdef')))).toEqual(['IPCTNL_MSG_CT_GET']);
  });

  it('passes the captured dump request and every request recorded from the kernel', () => {
    expect(assertReadOnly(DUMP_REQUEST_V4)).toEqual(['IPCTNL_MSG_CT_GET']);
    const stats = loadFixture('stats');
    expect(assertReadOnly(stats.corpus('ct_get_stats').request)).toEqual(['IPCTNL_MSG_CT_GET_STATS']);
    expect(assertReadOnly(stats.corpus('exp_get_stats_cpu').request)).toEqual([
      'IPCTNL_MSG_EXP_GET_STATS_CPU',
    ]);
  });

  it('passes a batch of GET requests', () => {
    const batch = Buffer.concat([req(0x0105, SINGLE), req(0x0104, DUMP), req(0x0203, DUMP)]);
    expect(assertReadOnly(batch)).toEqual([
      'IPCTNL_MSG_CT_GET_STATS',
      'IPCTNL_MSG_CT_GET_STATS_CPU',
      'IPCTNL_MSG_EXP_GET_STATS_CPU',
    ]);
  });
});

describe('refused: writes and the counter-zeroing read', () => {
  it.each([
    [0x0100, 'IPCTNL_MSG_CT_NEW'],
    [0x0102, 'IPCTNL_MSG_CT_DELETE'],
    [0x0103, 'IPCTNL_MSG_CT_GET_CTRZERO'],
    [0x0200, 'IPCTNL_MSG_EXP_NEW'],
    [0x0202, 'IPCTNL_MSG_EXP_DELETE'],
  ])('0x%s (%s), with any flags', (type) => {
    for (const flags of [
      SINGLE,
      DUMP,
      NLM_F_REQUEST,
      NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
    ]) {
      const err = refusal(req(type, flags));
      expect(err.message).toBe(
        `refusing to send nlmsg_type 0x${type.toString(16).padStart(4, '0')}: only GET-family ctnetlink requests are allowed`,
      );
    }
  });

  it('CT_DELETE with no tuple (a flush of the whole table), with and without a mark filter', () => {
    refusal(req(0x0102, SINGLE));
    refusal(req(0x0102, SINGLE, hex('08000800 01abcdef 08001500 ffffffff')));
  });

  it('CT_NEW carrying a full tuple (an insert)', () => {
    const tuple = hex(`
      34000180 14000180 08000100 7f000001 08000200 7f000001
      1c000280 05000100 11000000 06000200 1f400000 06000300 1f410000`);
    refusal(req(0x0100, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, tuple));
  });

  it.each([0x0000, 0x0001, 0x0002, 0x0003, 0x0010, 0x0108, 0x01ff, 0x0204, 0x0301, 0x0801, 0x0a00, 0xffff])(
    'unknown type 0x%s',
    (type) => {
      refusal(req(type, DUMP));
    },
  );
});

describe('refused: flags beyond REQUEST, ACK and the dump pair', () => {
  it.each([
    ['CREATE', NLM_F_CREATE],
    ['APPEND', NLM_F_APPEND],
    ['ECHO', 0x08],
    ['CREATE|EXCL', NLM_F_CREATE | NLM_F_EXCL],
    ['DUMP|CREATE', NLM_F_DUMP | NLM_F_CREATE],
    ['a high bit', 0x8000],
  ])('%s on a GET', (_name, extra) => {
    const err = refusal(req(0x0101, NLM_F_REQUEST | extra));
    expect(err.message).toBe(
      `refusing to send IPCTNL_MSG_CT_GET with flags 0x${(NLM_F_REQUEST | extra).toString(16)}`,
    );
  });

  // Regression (lone REPLACE/EXCL passed the guard): REPLACE and EXCL share their bits with ROOT
  // and MATCH, so a mask of allowed bits let either through alone; only the pair means a dump.
  it.each([
    ['REPLACE', NLM_F_REPLACE],
    ['EXCL', NLM_F_EXCL],
    ['REPLACE|ACK', NLM_F_REPLACE | NLM_F_ACK],
    ['EXCL|ACK', NLM_F_EXCL | NLM_F_ACK],
  ])('regression (lone REPLACE/EXCL passed): %s on a GET', (_name, extra) => {
    const err = refusal(req(0x0105, NLM_F_REQUEST | extra));
    expect(err.message).toBe(
      `refusing to send IPCTNL_MSG_CT_GET_STATS with flags 0x${(NLM_F_REQUEST | extra).toString(16)}`,
    );
  });

  it('a GET without NLM_F_REQUEST (it would be a reply, not a request)', () => {
    refusal(req(0x0101, NLM_F_DUMP));
    refusal(req(0x0105, NLM_F_ACK));
  });
});

describe('refused: malformed or mixed buffers', () => {
  it('one bad message among good ones refuses the whole buffer', () => {
    for (const bad of [req(0x0102, SINGLE), req(0x0103, DUMP), req(0x0101, NLM_F_REQUEST | NLM_F_CREATE)]) {
      refusal(Buffer.concat([req(0x0105, SINGLE), bad]));
      refusal(Buffer.concat([bad, req(0x0105, SINGLE)]));
      refusal(Buffer.concat([req(0x0104, DUMP), bad, req(0x0203, DUMP)]));
    }
  });

  it('an empty buffer', () => {
    expect(refusal(Buffer.alloc(0)).message).toBe('refusing to send an empty buffer');
  });

  it('broken framing: short header, nlmsg_len 0, past the end, or trailing bytes after a good request', () => {
    const good = req(0x0101, DUMP);
    const zeroLen = Buffer.from(good);
    zeroLen.writeUInt32LE(0, 0);
    const pastEnd = Buffer.from(good);
    pastEnd.writeUInt32LE(good.length + 4, 0);
    for (const buf of [good.subarray(0, 15), zeroLen, pastEnd, Buffer.concat([good, Buffer.alloc(5)])]) {
      expect(refusal(buf).message).toMatch(/^refusing to send a malformed buffer: /);
    }
  });

  it('a GET without its nfgenmsg (16 bytes)', () => {
    const bare = req(0x0101, DUMP).subarray(0, 16);
    bare.writeUInt32LE(16, 0);
    expect(refusal(bare).message).toBe('refusing to send a IPCTNL_MSG_CT_GET without an nfgenmsg');
  });
});

describe('property', () => {
  it('arbitrary bytes: a list of GET names, or ReadOnlyViolationError; nothing else', () => {
    const allowed = new Set(READ_ONLY_REQUEST_TYPES.values());
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          const names = assertReadOnly(Buffer.from(bytes));
          expect(names.length).toBeGreaterThan(0);
          for (const n of names) expect(allowed.has(n)).toBe(true);
        } catch (err) {
          if (!(err instanceof ReadOnlyViolationError)) throw err;
        }
      }),
      runs(3000),
    );
  });

  it('any well-framed request passes only with a GET type and flags in {REQUEST, ACK, ROOT|MATCH}', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom(...GET_FAMILY.map(([t]) => t), 0x0100, 0x0102, 0x0103),
          fc.integer({ min: 0, max: 0xffff }),
        ),
        fc.oneof(
          // Mostly combinations of the named flag bits, where the interesting cases are.
          fc
            .subarray([0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x100, 0x200, 0x400, 0x800])
            .map((bits) => bits.reduce((a, b) => a | b, 0)),
          fc.integer({ min: 0, max: 0xffff }),
        ),
        (type, flags) => {
          const ok =
            READ_ONLY_REQUEST_TYPES.has(type) &&
            (flags & NLM_F_REQUEST) !== 0 &&
            (flags & ~(NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP)) === 0 &&
            [0, NLM_F_DUMP].includes(flags & NLM_F_DUMP);
          let passed: boolean;
          try {
            describeReadOnlyRequest(rawView(req(type, flags)));
            passed = true;
          } catch (err) {
            if (!(err instanceof ReadOnlyViolationError)) throw err;
            passed = false;
          }
          expect(passed).toBe(ok);
        },
      ),
      runs(5000),
    );
  });
});
