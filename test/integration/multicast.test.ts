// The netlink multicast listener on the real kernel (src/netlink/multicast.ts over the addon in
// native/nlmc.c): in a throwaway namespace, the receive buffer is forced past net.core.rmem_max
// with CAP_NET_ADMIN; queued NEW events are all read in batches; a buffer too small for a burst
// reports the overrun and reading goes on exactly afterwards; a datagram larger than its read
// slot is counted as malformed, never delivered cut. Traffic: test/support/traffic.ts.

import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Netns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';

const NODE = process.execPath;
const PROBE = fileURLToPath(new URL('../../dist/test/support/multicast-probe.js', import.meta.url));
const TRAFFIC = fileURLToPath(new URL('../../dist/test/support/traffic.js', import.meta.url));

interface Counts {
  messages: number;
  overruns: number;
  malformed: number;
  errors: number;
}

class Probe {
  private lines: string[] = [];
  constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      this.lines.push(...parts);
    });
  }
  async next(): Promise<Record<string, unknown>> {
    await waitFor(() => this.lines.length > 0, { timeout: 10_000 });
    return JSON.parse(this.lines.shift() ?? '{}') as Record<string, unknown>;
  }
  async read(): Promise<Counts> {
    this.child.kill('SIGUSR1');
    return (await this.next()) as unknown as Counts;
  }
}

let ns: Netns | undefined;
afterEach(async () => {
  await ns?.destroy();
  ns = undefined;
});

async function probe(
  receiveBufferBytes: number,
  readBytes?: number,
): Promise<{ p: Probe; opened: Record<string, unknown> }> {
  ns = await Netns.create();
  // Long enough that no DESTROY arrives while a test runs: only NEW events are counted.
  await ns.sysctl('net.netfilter.nf_conntrack_udp_timeout', '600');
  const p = new Probe(ns.spawn(NODE, [PROBE, JSON.stringify({ receiveBufferBytes, readBytes })]));
  return { p, opened: await p.next() };
}

async function udpFlows(count: number, net: number, rate?: number): Promise<void> {
  await ns?.exec(NODE, [TRAFFIC, JSON.stringify({ udpFlows: { count, net, ...(rate ? { rate } : {}) } })]);
}

describe('multicast listener (real kernel)', () => {
  it('forces its buffer past net.core.rmem_max and reads every queued NEW event in batches', async () => {
    const rmemMax = Number((await readFile('/proc/sys/net/core/rmem_max', 'utf8')).trim());
    const request = rmemMax * 2;
    const { p, opened } = await probe(request);
    expect(opened).toEqual({ receiveBufferBytes: request * 2, forced: true });
    await udpFlows(3000, 40);
    expect(await ns?.conntrackCount()).toBe(3000);
    expect(await p.read()).toEqual({ messages: 3000, overruns: 0, malformed: 0, errors: 0 });
  });

  it('a burst beyond a small buffer is an overrun, counted; reading goes on exactly afterwards', async () => {
    const { p, opened } = await probe(65536);
    expect(opened.receiveBufferBytes).toBe(131072);
    await udpFlows(5000, 41);
    const burst = await p.read();
    expect(burst.overruns).toBeGreaterThan(0);
    expect(burst.messages).toBeLessThan(5000);
    expect(burst.errors).toBe(0);
    await udpFlows(50, 42);
    const after = await p.read();
    expect(after.messages - burst.messages).toBe(50);
    expect(after.overruns).toBe(burst.overruns);
  });

  it('a datagram larger than its read slot is malformed, never delivered cut', async () => {
    const { p } = await probe(1 << 20, 64);
    await udpFlows(20, 43);
    expect(await p.read()).toEqual({ messages: 0, overruns: 0, malformed: 20, errors: 0 });
  });
});
