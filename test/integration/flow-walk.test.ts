// Integration: the flow walk against the real kernel. A namespace holds more flows than a pass's
// budget; successive passes continue the kernel's dump where the last one stopped, wrap around
// at the end, and together visit every flow `conntrack -L` lists, never one twice within a pass;
// flows deleted while the walk is paused, a resized hash table and a table that fits the budget
// are handled as documented in src/flows/walk.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE, REPO } from '../support/exporter.js';
import { parseConntrackLine } from '../support/conntrack-cli.js';
import { Netns } from '../support/netns.js';

const CHILD = `${REPO}dist/test/support/flow-walk-child.js`;
const FILL = `${REPO}dist/bench/fill.js`;
const FLOWS = 3000;

interface PassLine {
  read: number;
  decoded: number;
  duplicates: number;
  complete: boolean;
  held: boolean;
  starts: string[];
  total: number;
  keys: string[];
  error?: string;
}

type Mode = 'blocking' | 'paused';

async function walk(ns: Netns, plan: object, mode: Mode): Promise<PassLine[]> {
  const { stdout } = await ns.exec(NODE, [CHILD, JSON.stringify({ ...plan, mode })]);
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as PassLine);
}

/** The identities `identity()` gives, from the CLI's text: family/zone/proto/src/dst/sport/dport. */
async function listed(ns: Netns): Promise<Set<string>> {
  const flows = (await ns.conntrackList()).map(parseConntrackLine);
  return new Set(flows.map((f) => `${f.orig.src}:${f.orig.sport ?? -1}>${f.orig.dst}:${f.orig.dport ?? -1}`));
}

/** The same short form from a walker identity (IPv4 keys are int32 addresses). */
function short(key: string): string {
  const [, , , src, dst, sport, dport] = key.split('/');
  const ip = (n: string): string => {
    const v = Number(n) >>> 0;
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  };
  return `${ip(src ?? '')}:${sport}>${ip(dst ?? '')}:${dport}`;
}

// Both ways of holding a walk between passes: blocking the thread (the flow worker) and pausing
// the dump socket (passes on the main thread, src/netlink/polled.ts).
describe.each(['blocking', 'paused'] as const)(
  'the flow walk continues where the last pass stopped (%s)',
  (mode) => {
    let ns: Netns;

    beforeAll(async () => {
      ns = await Netns.create();
      await ns.sysctl('net.netfilter.nf_conntrack_udp_timeout', '3600');
      // Flows to destination ports 1024..2523 get mark 7, so a test can delete half the table.
      await ns.nft(`table inet cte_mark {
  chain output { type filter hook output priority 10; policy accept; udp dport 1024-2523 ct mark set 7; }
}
`);
      await ns.exec(NODE, [FILL, String(FLOWS)]);
      expect(await ns.conntrackCount()).toBe(FLOWS);
    });

    afterAll(async () => {
      await ns?.destroy();
    });

    it('reads the budget per pass, wraps around, and visits every flow', async () => {
      const passes = await walk(ns, { budget: 700, steps: Array.from({ length: 6 }, () => ({})) }, mode);
      const truth = await listed(ns);
      expect(truth.size).toBe(FLOWS);
      for (const p of passes) {
        expect(p.error).toBeUndefined();
        expect(p.read).toBe(700);
        // Never a flow twice within a pass.
        expect(new Set(p.keys).size).toBe(p.keys.length);
        // Scaled to the exact entry count.
        expect(p.total).toBeCloseTo(FLOWS, 6);
        expect(p.complete).toBe(false);
      }
      expect(passes[0]?.starts).toEqual(['new']);
      // 3000 flows in stretches of 700: the fifth pass reaches the end and wraps.
      expect(passes.flatMap((p) => p.starts)).toEqual(['new', 'end']);
      const seen = new Set(passes.slice(0, 5).flatMap((p) => p.keys.map(short)));
      expect(seen).toEqual(truth);
    });

    it('a table within the budget is read whole and exactly, on a fresh walk', async () => {
      const passes = await walk(ns, { budget: 1000, steps: [{}, { before: [] }] }, mode);
      const [first] = passes;
      expect(first?.read).toBe(1000);
      const exact = await walk(ns, { budget: FLOWS + 10, steps: [{}, {}] }, mode);
      for (const p of exact) {
        expect(p.complete).toBe(true);
        expect(p.held).toBe(false);
        expect(p.decoded).toBe(FLOWS);
        expect(p.total).toBe(FLOWS);
        expect(new Set(p.keys.map(short))).toEqual(await listed(ns));
      }
    });

    it('restarts the walk when the hash table was resized', async () => {
      const passes = await walk(
        ns,
        { budget: 500, steps: [{}, { buckets: 12345 }, { buckets: 12345 }, {}] },
        mode,
      );
      expect(passes.map((p) => p.starts)).toEqual([['new'], ['resize'], [], ['resize']]);
      for (const p of passes) expect(new Set(p.keys).size).toBe(p.keys.length);
    });

    it('flows deleted while the walk is paused: no double count, the rest still visited', async () => {
      // Half the table (mark 7) goes between the first and the second pass.
      const passes = await walk(
        ns,
        {
          budget: 400,
          steps: [
            {},
            { before: ['conntrack -D -m 7 >/dev/null 2>&1 || true'] },
            ...Array.from({ length: 12 }, () => ({})),
          ],
        },
        mode,
      );
      const remaining = await listed(ns);
      expect(remaining.size).toBe(FLOWS / 2);
      for (const p of passes) {
        expect(p.error).toBeUndefined();
        expect(new Set(p.keys).size).toBe(p.keys.length);
      }
      // What the walk had already received before the pause (up to 32 datagrams, here the whole
      // rest of this small table) still shows deleted flows; once it wraps around, a fresh walk
      // sees only what is left, and all of it.
      const wrap = passes.findIndex((p, i) => i > 0 && p.starts.includes('end'));
      expect(wrap).toBeGreaterThan(0);
      const after = passes.slice(wrap + 1).flatMap((p) => p.keys.map(short));
      expect(after.filter((k) => !remaining.has(k))).toEqual([]);
      expect(new Set(after)).toEqual(remaining);
    });
  },
);
