// The flow walker on recorded kernel datagrams behind a fake socket (the cases the real kernel
// cannot be made to produce on demand; test/integration/flow-walk.test.ts covers the walk itself
// against the real kernel): a read that times out fails the pass with the transport's typed error
// and drops the walk; broken framing and truncated datagrams are counted as malformed and
// skipped; a kernel error arrives as NetlinkKernelError.

import { describe, expect, it } from 'vitest';
import { FlowWalker, type PassReport, type PassRequest } from '../../src/flows/walk.js';
import { NetlinkKernelError, NetlinkTimeoutError } from '../../src/netlink/errors.js';
import { FakeKernel } from '../support/fake-socket.js';
import { loadFixture } from '../support/fixtures.js';

const request: PassRequest = {
  budget: 100,
  entries: 10,
  nowNs: Date.now() * 1e6,
  topK: 10,
  seriesBudget: 300,
};

type Outcome = PassReport | { kind: 'error'; error: Error };

function onePass(kernel: FakeKernel, timeoutMs = 200): Promise<Outcome> {
  return new Promise((resolve) => {
    const walker = new FlowWalker(
      { timeoutMs, socketFactory: kernel.factory },
      { report: resolve, awaitNext: () => undefined },
    );
    walker.pass(request);
  });
}

const dump = loadFixture('flows-acct').corpus('flows');

describe('the flow walker', () => {
  it('reads a recorded dump whole: every flow, exact, the walk over', async () => {
    const r = await onePass(new FakeKernel(() => dump.datagrams));
    expect(r.kind).toBe('report');
    if (r.kind !== 'report') return;
    const flows = dump.messages.length - 1; // the last message is NLMSG_DONE
    expect([r.read, r.decoded, r.complete, r.held]).toEqual([flows, flows, true, false]);
    expect(r.output.malformed).toBe(0);
  });

  it('names why each pass starts a fresh walk: new, then fits while the table fits, end after it grew', async () => {
    const kernel = new FakeKernel(() => dump.datagrams);
    const reports: Outcome[] = [];
    let next: (() => void) | undefined;
    const walker = new FlowWalker(
      { timeoutMs: 200, socketFactory: kernel.factory },
      {
        report: (r) => {
          reports.push(r);
          next?.();
        },
      },
    );
    const pass = (r: PassRequest): Promise<void> =>
      new Promise((resolve) => {
        next = resolve;
        walker.pass(r);
      });
    await pass(request);
    await pass(request);
    // The table now holds more than the budget: the last walk read to its end, so it starts over.
    const flows = dump.messages.length - 1;
    await pass({ ...request, entries: flows + 1, budget: flows });
    walker.close();
    await pass(request);
    expect(reports.map((r) => (r.kind === 'report' ? r.starts : r.error.message))).toEqual([
      ['new'],
      ['fits'],
      ['end'],
      ['new'],
    ]);
  });

  it('a read that times out fails the pass with NetlinkTimeoutError and closes the socket', async () => {
    // Two datagrams of flows, then silence: no DONE.
    const kernel = new FakeKernel(() => dump.datagrams.slice(0, -1));
    const r = await onePass(kernel, 100);
    expect(r.kind).toBe('error');
    if (r.kind === 'error') {
      expect(r.error).toBeInstanceOf(NetlinkTimeoutError);
      expect(r.error).toMatchObject({ code: 'ERR_NETLINK_TIMEOUT' });
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(kernel.last.closed).toBe(true);
  });

  it('counts a datagram with broken framing and a truncated one as malformed, and goes on', async () => {
    const broken = Buffer.from(dump.datagrams[0] ?? Buffer.alloc(0));
    broken.writeUInt32LE(broken.length + 100, 0); // nlmsg_len past the end of the datagram
    const kernel = new FakeKernel(() => [broken, ...dump.datagrams]);
    const pass = onePass(kernel);
    await new Promise((resolve) => setImmediate(resolve));
    kernel.last.emit('truncatedMessage', Buffer.alloc(16));
    const r = await pass;
    expect(r.kind).toBe('report');
    if (r.kind === 'report') expect(r.output.malformed).toBe(2);
  });

  it('a kernel error ends the pass with NetlinkKernelError', async () => {
    const einval = loadFixture('errors').corpus('einval');
    const r = await onePass(new FakeKernel(() => einval.datagrams));
    expect(r.kind).toBe('error');
    if (r.kind === 'error') {
      expect(r.error).toBeInstanceOf(NetlinkKernelError);
      expect(r.error).toMatchObject({ errno: 22 });
    }
  });
});
