// Integration: the supervisor of the flow worker, with the real compiled worker (dist/, built by
// `npm test`) against the real kernel (a dump of this process's namespace): a worker that dies or hangs in a
// pass is terminated, the pass fails within its deadline with a typed error, and the next pass,
// on a fresh worker, succeeds. Errors raised in the worker arrive with their class and code.

import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowPassDeadlineError, FlowWorkerExitError } from '../../src/flows/errors.js';
import { spawnFlowWorker, WorkerPassRunner, type SpawnWorker } from '../../src/flows/runner.js';
import type { PassRequest } from '../../src/flows/walk.js';
import { NetlinkTimeoutError } from '../../src/netlink/errors.js';
import { REPO } from '../support/exporter.js';

const WORKER = `${REPO}dist/src/flows/worker.js`;

const request: PassRequest = {
  budget: 1000,
  entries: 0,
  nowNs: Date.now() * 1e6,
  topK: 10,
  seriesBudget: 300,
};

/** Workers that take the pass and then crash, or never answer. */
const FAULTS = {
  crash: `require('node:worker_threads').workerData.port.on('message', () => { throw new Error('decoder exploded'); });`,
  hang: `require('node:worker_threads').workerData.port.on('message', () => { for (;;); });`,
  exit: `require('node:worker_threads').workerData.port.on('message', () => process.exit(7));`,
} as const;

/** The first spawn is faulty, every later one the real worker. */
function faultyFirst(fault: keyof typeof FAULTS): { spawn: SpawnWorker; spawned: Worker[] } {
  const real = spawnFlowWorker(WORKER);
  const spawned: Worker[] = [];
  const spawn: SpawnWorker = (data, transfer) => {
    const w =
      spawned.length === 0
        ? new Worker(FAULTS[fault], { eval: true, workerData: data, transferList: transfer })
        : real(data, transfer);
    spawned.push(w);
    return w;
  };
  return { spawn, spawned };
}

const runners: WorkerPassRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.close();
});

describe('the flow worker supervisor', () => {
  it('needs the compiled worker', () => {
    expect(existsSync(WORKER), `${WORKER} (run npm run build)`).toBe(true);
  });

  for (const fault of ['crash', 'exit'] as const) {
    it(`a worker that dies in a pass (${fault}): the pass fails with ERR_FLOW_WORKER_EXIT, the next succeeds`, async () => {
      const { spawn, spawned } = faultyFirst(fault);
      const runner = new WorkerPassRunner(spawn, 2000);
      runners.push(runner);
      const failed = runner.run(request, 10_000);
      await expect(failed).rejects.toBeInstanceOf(FlowWorkerExitError);
      await expect(failed).rejects.toMatchObject({ code: 'ERR_FLOW_WORKER_EXIT' });
      const report = await runner.run(request, 10_000);
      expect(report.kind).toBe('report');
      expect(report.starts).toEqual(['new']);
      expect(spawned.length).toBe(2);
      // The table fits the budget: no thread is kept between passes.
      expect(report.held).toBe(false);
    });
  }

  it('a worker that hangs: terminated at the deadline, ERR_FLOW_PASS_DEADLINE, the next pass succeeds', async () => {
    const { spawn, spawned } = faultyFirst('hang');
    const runner = new WorkerPassRunner(spawn, 2000);
    runners.push(runner);
    const started = performance.now();
    const failed = runner.run(request, 300);
    await expect(failed).rejects.toBeInstanceOf(FlowPassDeadlineError);
    await expect(failed).rejects.toMatchObject({ code: 'ERR_FLOW_PASS_DEADLINE' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    // The hung thread was terminated, not left spinning.
    const first = spawned[0];
    if (first)
      await new Promise<void>((resolve) =>
        first.threadId === -1 ? resolve() : first.once('exit', () => resolve()),
      );
    expect(first?.threadId).toBe(-1);
    const report = await runner.run(request, 10_000);
    expect(report.kind).toBe('report');
  });

  it('an error raised in the worker keeps its class and code', async () => {
    // A worker whose walk fails with the transport's own NetlinkTimeoutError.
    const spawn: SpawnWorker = (data, transfer) =>
      new Worker(
        `const { workerData } = require('node:worker_threads');
         import(${JSON.stringify(`${REPO}dist/src/flows/errors.js`)}).then(async (e) => {
           const { NetlinkTimeoutError } = await import(${JSON.stringify(`${REPO}dist/src/netlink/errors.js`)});
           workerData.port.on('message', () =>
             workerData.port.postMessage({ kind: 'error', error: e.toPlainError(new NetlinkTimeoutError('IPCTNL_MSG_CT_GET', 5)) }));
         });`,
        { eval: true, workerData: data, transferList: transfer },
      );
    const runner = new WorkerPassRunner(spawn, 2000);
    runners.push(runner);
    const failed = runner.run(request, 10_000);
    await expect(failed).rejects.toBeInstanceOf(NetlinkTimeoutError);
    await expect(failed).rejects.toMatchObject({
      code: 'ERR_NETLINK_TIMEOUT',
      message: 'no reply to IPCTNL_MSG_CT_GET within 5 ms',
    });
  });
});
