// Unit: conntrack events decoded from real kernel captures (test/fixtures/events.json, recorded
// with `npm run record-fixtures -- events`), with the `conntrack -E` text of the same events as
// the oracle: kind, tuple, final counters and the lifetime conntrack prints as delta-time.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEvent, eventKind, eventsCoverage, EVENT_GROUPS } from '../../src/conntrack/events.js';
import { FlowFields, formatAddress, protocolName } from '../../src/conntrack/flow.js';
import { DecodeError } from '../../src/netlink/errors.js';
import { loadFixture, rawView, viewOf } from '../support/fixtures.js';
import { runs } from '../support/property.js';

const fixture = loadFixture('events');
const messages = fixture.corpus('events').messages;
const cliText = fixture.cli['conntrack -E -e NEW,DESTROY -o extended,id'] ?? '';

interface CliEvent {
  kind: 'new' | 'destroy';
  protocol: string;
  src: string;
  sport: number;
  dport: number;
  counters: number[];
  deltaTime?: number;
}

/** `[NEW] ipv4 2 udp 17 30 src=… sport=… dport=… … id=N` lines, keyed by id and kind. */
function cliEvents(): Map<string, CliEvent> {
  const out = new Map<string, CliEvent>();
  for (const line of cliText.split('\n').filter((l) => l.trim() !== '')) {
    const kind = line.includes('[NEW]') ? 'new' : 'destroy';
    const id = /id=(\d+)/.exec(line)?.[1];
    const fields = line.trim().split(/\s+/);
    const num = (key: string): number => Number(new RegExp(`${key}=(\\d+)`).exec(line)?.[1]);
    const counters = [...line.matchAll(/(packets|bytes)=(\d+)/g)].map((m) => Number(m[2]));
    const delta = /delta-time=(\d+)/.exec(line)?.[1];
    out.set(`${kind}/${id}`, {
      kind,
      protocol: fields[3] ?? '',
      src: /src=(\S+)/.exec(line)?.[1] ?? '',
      sport: num('sport'),
      dport: num('dport'),
      counters,
      ...(delta !== undefined ? { deltaTime: Number(delta) } : {}),
    });
  }
  return out;
}

describe('conntrack events from the kernel', () => {
  it('joins NEW and DESTROY only, never UPDATE', () => {
    expect(EVENT_GROUPS).toEqual([1, 3]);
  });

  it('every recorded event decodes to what conntrack -E printed for it', () => {
    const cli = cliEvents();
    expect(messages).toHaveLength(8);
    expect(cli.size).toBe(8);
    const f = new FlowFields();
    for (const buf of messages) {
      const kind = decodeEvent(viewOf(buf), f);
      const want = cli.get(`${kind}/${f.id}`);
      expect(want, `${kind} id ${f.id}`).toBeDefined();
      if (!want) continue;
      expect(protocolName(f.orig.proto)).toBe(want.protocol);
      expect(formatAddress(f.orig.src)).toBe(want.src);
      expect([f.orig.sport, f.orig.dport]).toEqual([want.sport, want.dport]);
      if (kind === 'new') {
        // NEW carries neither counters nor CTA_TIMESTAMP (net/netfilter/nf_conntrack_netlink.c).
        expect([f.origBytes, f.replyBytes, f.startNs, f.stopNs]).toEqual([-1, -1, -1, -1]);
      } else {
        expect([f.origPackets, f.origBytes, f.replyPackets, f.replyBytes]).toEqual(want.counters);
        expect(f.stopNs).toBeGreaterThanOrEqual(f.startNs);
        expect(f.startNs).toBeGreaterThan(0);
        // conntrack prints delta-time as the difference of the whole seconds of stop and start.
        expect(Math.floor(f.stopNs / 1e9) - Math.floor(f.startNs / 1e9)).toBe(want.deltaTime);
        expect(f.stopNs - f.startNs).toBeLessThan(5e9);
      }
    }
  });

  it('tells NEW from UPDATE by NLM_F_CREATE|NLM_F_EXCL, and refuses other message types', () => {
    const first = messages[0];
    if (!first) throw new Error('no events in the fixture');
    expect(eventKind(viewOf(first))).toBe('new');
    const update = Buffer.from(first);
    update.writeUInt16LE(0, 6);
    expect(eventKind(viewOf(update))).toBe('update');
    const other = Buffer.from(first);
    other.writeUInt16LE(0x0105, 4);
    expect(() => eventKind(viewOf(other))).toThrow(DecodeError);
  });

  it('arbitrary bytes give an event kind or a DecodeError, never another exception', () => {
    fc.assert(
      fc.property(fc.constantFrom(0x0100, 0x0102), fc.uint8Array({ maxLength: 300 }), (type, body) => {
        const f = new FlowFields();
        try {
          decodeEvent(rawView(Buffer.from(body), type), f);
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
        }
      }),
      runs(),
    );
  });

  it('says what each nf_conntrack_events value means for a listener', () => {
    expect([0, 1, 2].map(eventsCoverage)).toEqual(['none', 'all', 'since_listening']);
  });
});
