// The CAP_NET_ADMIN probe: only EPERM makes the exporter fall back to sysctl/procfs for good; any
// other probe failure falls back for now and is retried until ctnetlink answers. Scripted probes
// check the policy here; test/integration/probe.test.ts recovers a real client on the real kernel.

import { createLogger, type Logger } from '../../src/log.js';
import { describe, expect, it } from 'vitest';
import { NetlinkAvailability, type ProbeTarget } from '../../src/collectors/sources.js';
import { NetlinkPermissionError, NetlinkTimeoutError } from '../../src/netlink/errors.js';
import { waitFor } from '../support/wait.js';

const FAST = { initialMs: 1, maxMs: 4 };

function logged(): { log: Logger; lines: { msg: string; source?: string; level: number }[] } {
  const lines: { msg: string; source?: string; level: number }[] = [];
  const log = createLogger('info', { write: (l: string) => lines.push(JSON.parse(l) as never) });
  return { log, lines };
}

/** A probe target that fails with the given errors, in order, then answers. */
function scripted(errors: Error[]): ProbeTarget & { calls: number } {
  const target = {
    calls: 0,
    globalStats(): Promise<unknown> {
      const err = errors[target.calls];
      target.calls += 1;
      return err ? Promise.reject(err) : Promise.resolve({ entries: 1 });
    },
  };
  return target;
}

const until = (condition: () => boolean): Promise<unknown> => waitFor(() => condition() || undefined);

describe('NetlinkAvailability', () => {
  it('EPERM falls back for good: one warning naming CAP_NET_ADMIN, never probed again', async () => {
    const { log, lines } = logged();
    const target = scripted([new NetlinkPermissionError('IPCTNL_MSG_CT_GET_STATS')]);
    const availability = new NetlinkAvailability(target, 'auto', log, FAST);
    expect(await availability.start()).toBe(false);
    expect(availability.retryScheduled).toBe(false);
    expect(target.calls).toBe(1);
    expect(availability.usable).toBe(false);
    expect(availability.retrying).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, source: 'fallback' });
    expect(lines[0]?.msg).toContain('CAP_NET_ADMIN');
  });

  it('a timeout or socket error falls back for now and is retried until ctnetlink answers', async () => {
    const { log, lines } = logged();
    const target = scripted([
      new NetlinkTimeoutError('IPCTNL_MSG_CT_GET_STATS', 5000),
      new Error('socket: EMFILE'),
      new NetlinkTimeoutError('IPCTNL_MSG_CT_GET_STATS', 5000),
    ]);
    const availability = new NetlinkAvailability(target, 'auto', log, FAST);
    expect(await availability.start()).toBe(false);
    expect(availability.retrying).toBe(true);
    await until(() => availability.usable);
    expect(target.calls).toBe(4);
    availability.stop();
    // One warning when it fell back, one line when it recovered; the repeats are debug.
    expect(lines.map((l) => [l.level, l.source])).toEqual([
      [40, 'fallback'],
      [30, 'netlink'],
    ]);
  });

  it('a retry that meets EPERM falls back for good', async () => {
    const { log } = logged();
    const target = scripted([
      new Error('socket: ENOBUFS'),
      new NetlinkPermissionError('IPCTNL_MSG_CT_GET_STATS'),
    ]);
    const availability = new NetlinkAvailability(target, 'auto', log, FAST);
    await availability.start();
    await until(() => !availability.retrying);
    expect(availability.retryScheduled).toBe(false);
    expect(target.calls).toBe(2);
    expect(availability.usable).toBe(false);
  });

  it('stop() ends the retries', async () => {
    const { log } = logged();
    const target = scripted(Array.from({ length: 1000 }, () => new Error('socket: EMFILE')));
    const availability = new NetlinkAvailability(target, 'auto', log, FAST);
    await availability.start();
    expect(availability.retryScheduled).toBe(true);
    availability.stop();
    expect(availability.retryScheduled).toBe(false);
    await availability.settled();
    expect(availability.retryScheduled).toBe(false);
  });

  it('procfs and netlink modes do not probe', async () => {
    const { log } = logged();
    const target = scripted([]);
    expect(await new NetlinkAvailability(target, 'procfs', log).start()).toBe(false);
    expect(await new NetlinkAvailability(target, 'netlink', log).start()).toBe(true);
    expect(target.calls).toBe(0);
  });
});
