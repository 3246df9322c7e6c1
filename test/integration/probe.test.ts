// The CAP_NET_ADMIN probe on the real kernel: a client whose first socket could not be opened (a
// transient failure, not EPERM) is retried and then reads ctnetlink. The policy itself is tested
// with scripted probes in test/collectors/sources.test.ts.

import { createLogger } from '../../src/log.js';
import { describe, expect, it } from 'vitest';
import { NetlinkAvailability } from '../../src/collectors/sources.js';
import { ConntrackClient } from '../../src/conntrack/client.js';
import { openNetfilterSocket } from '../../src/netlink/transport.js';
import { waitFor } from '../support/wait.js';

const FAST = { initialMs: 1, maxMs: 4 };

const isRoot = process.getuid?.() === 0;

// Locally a non-root run skips this; in CI a missing prerequisite is a failure, never a skip.
describe.skipIf(!isRoot && process.env.CI !== 'true')('real kernel: the probe recovers', () => {
  it('a client whose first socket could not be opened reads ctnetlink after the retry', async () => {
    let opened = 0;
    const client = new ConntrackClient({
      timeoutMs: 2000,
      socketFactory: () => {
        opened += 1;
        if (opened === 1) throw new Error('socket: EMFILE');
        return openNetfilterSocket();
      },
    });
    const availability = new NetlinkAvailability(client, 'auto', createLogger('silent'), FAST);
    try {
      expect(await availability.start()).toBe(false);
      await waitFor(() => availability.usable || undefined, { what: 'ctnetlink usable after the retry' });
      // The same client answers a real CT_GET_STATS (the table of this test's namespace).
      expect((await client.globalStats()).entries).toBeGreaterThanOrEqual(0);
      expect(opened).toBe(2);
    } finally {
      availability.stop();
      client.close();
    }
  });
});
