// The addon's memory functions (src/netlink/native.ts, native/nlmc.c) in a fresh node process:
// releasing the clean file pages drops resident memory, keeps every private page, and the process
// goes on working.

import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { NODE, REPO } from '../support/exporter.js';

const execFileP = promisify(execFile);

/** Runs in the child: the mappings (/proc/self/smaps) and RssFile around a release, then some work. */
const CHILD = `
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
const { releaseFilePages, trimNativeHeap } = await import(${JSON.stringify(`${REPO}dist/src/netlink/native.js`)});
const status = (key) => Number(new RegExp('^' + key + ':\\\\s+(\\\\d+)', 'm').exec(readFileSync('/proc/self/status', 'utf8'))[1]);
function mappings() {
  const out = [];
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
    const head = /^([0-9a-f]+-[0-9a-f]+) (\\S{4}) \\S+ \\S+ \\S+\\s*(.*)$/.exec(line);
    if (head) out.push({ range: head[1], perms: head[2], path: head[3], rss: 0, anonymous: 0 });
    const field = /^(Rss|Anonymous):\\s+(\\d+) kB/.exec(line);
    if (field && out.length) out[out.length - 1][field[1] === 'Rss' ? 'rss' : 'anonymous'] = Number(field[2]);
  }
  return out;
}
const before = { file: status('RssFile'), mappings: mappings() };
const released = releaseFilePages();
const after = { file: status('RssFile'), mappings: mappings() };
// Work that runs through code, data and relocations the release could have broken.
const work = {
  json: JSON.stringify(JSON.parse('{"a":[1,2,{"b":"c"}]}')),
  intl: new Intl.NumberFormat('de-DE').format(1234567.891),
  sha256: createHash('sha256').update('conntrack').digest('hex'),
  regexp: 'fill 53 udp'.replace(/(\\d+) (\\w+)/, '$2/$1'),
  trimmed: typeof trimNativeHeap(),
};
console.log(JSON.stringify({ released, before, after, work }));
`;

interface Mapping {
  range: string;
  perms: string;
  path: string;
  rss: number;
  anonymous: number;
}
interface Result {
  released: number;
  before: { file: number; mappings: Mapping[] };
  after: { file: number; mappings: Mapping[] };
  work: Record<string, string>;
}

describe('releaseFilePages', () => {
  it('drops the start-up pages of the node binary, keeps every private page, and the process works on', async () => {
    const { stdout } = await execFileP(NODE, ['--input-type=module', '-e', CHILD]);
    const r = JSON.parse(stdout) as Result;
    // A fresh node has touched tens of MB of its binary by the time its first script runs.
    expect(r.released).toBeGreaterThan(10e6);
    expect(r.before.file - r.after.file).toBeGreaterThan(10_000);
    const node = r.before.mappings.filter((m) => m.path === NODE || m.path.endsWith('/node'));
    const text = node.find((m) => m.perms === 'r-xp' && m.rss > 1000);
    expect(text).toBeDefined();
    // Mappings with private (copy-on-write) pages, writable ones and anonymous ones keep them.
    const afterByRange = new Map(r.after.mappings.map((m) => [m.range, m]));
    const kept = r.before.mappings.filter((m) => m.anonymous > 0 && m.path.startsWith('/'));
    expect(kept.length).toBeGreaterThan(0);
    for (const m of kept)
      expect(afterByRange.get(m.range)?.anonymous, `${m.range} ${m.path}`).toBe(m.anonymous);
    // The binary's text is among what was dropped.
    expect(afterByRange.get(text?.range ?? '')?.rss ?? Infinity).toBeLessThan((text?.rss ?? 0) / 2);
    expect(r.work).toEqual({
      json: '{"a":[1,2,{"b":"c"}]}',
      intl: '1.234.567,891',
      sha256: createHash('sha256').update('conntrack').digest('hex'),
      regexp: 'fill udp/53',
      trimmed: 'boolean',
    });
  });
});
