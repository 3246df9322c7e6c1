// Integration: the read-only guarantee on the real kernel. Writes pushed through the transport
// inside a namespace this test creates never reach the socket, and the table and its counters are
// untouched; a control sends the same flush around the guard and sees the table emptied.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE, REPO, startTraffic } from '../support/exporter.js';
import { Netns } from '../support/netns.js';
import type { ProbeResult } from '../support/readonly-probe.js';

const execFileP = promisify(execFile);

describe('real kernel: writes through the transport never reach the socket', () => {
  const PROBE = `${REPO}dist/test/support/readonly-probe.js`;
  let ns: Netns;

  beforeAll(async () => {
    await execFileP('test', ['-f', PROBE]).catch(() => {
      throw new Error(`${PROBE} is missing: run npm run build`);
    });
    ns = await Netns.create({ acct: true });
    await startTraffic(ns, {
      tcpHold: { count: 3, port: 5201, bytes: 1000 },
      udp: { count: 4, port: 6100, payload: 1337 },
    });
  });

  afterAll(async () => {
    await ns?.destroy();
  });

  /** `conntrack -L -o extended,id` without what ticks every second. */
  async function table(): Promise<string[]> {
    const { stdout } = await ns.exec('conntrack', ['-L', '-o', 'extended,id']);
    return stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.replace(/^(\S+\s+\d+\s+\S+\s+\d+\s+)\d+/, '$1T').replace(/delta-time=\d+/, ''))
      .sort();
  }

  it('refuses flush, delete, insert and the counter-zeroing dump; the table and its counters are untouched', async () => {
    const before = await table();
    expect(before.length).toBe(7);
    const countBefore = await ns.conntrackCount();
    const { stdout } = await ns.exec(NODE, [PROBE]);
    const result = JSON.parse(stdout) as ProbeResult;
    expect(result.attempts.map((a) => a.outcome)).toEqual(
      Array(6).fill('ReadOnlyViolationError ERR_READ_ONLY'),
    );
    expect(result.sendsDuringWrites).toBe(0);
    expect(result.sendsTotal).toBe(1);
    expect(result.entriesAfter).toBe(7);
    expect(await ns.conntrackCount()).toBe(countBefore);
    // Same flows, same ids, same packet and byte counters (CTRZERO would have zeroed them).
    expect(await table()).toEqual(before);
  });

  it('control: the flush the guard refused does empty the table when sent around it', async () => {
    expect(await ns.conntrackCount()).toBe(7);
    const { stdout } = await ns.exec(NODE, [PROBE, '--control-flush']);
    expect(JSON.parse(stdout)).toEqual({ errno: 0 });
    expect(await ns.conntrackCount()).toBe(0);
  });
});
