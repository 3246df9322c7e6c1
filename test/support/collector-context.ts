// Test support: a CollectorContext for unit tests of collectors. By default ctnetlink is off, so
// collectors read the fixture /proc tree at `procPath` (what CONNTRACK_EXPORTER_PROC_PATH points
// at) and nothing reaches the kernel; no socket is opened unless a test turns netlink on.

import { release } from 'node:os';
import { createLogger } from '../../src/log.js';
import type { CollectorContext } from '../../src/collectors/types.js';
import { ConntrackClient } from '../../src/conntrack/client.js';
import { Telemetry } from '../../src/metrics/telemetry.js';

export function fakeContext(procPath: string, overrides: Partial<CollectorContext> = {}): CollectorContext {
  return {
    client: new ConntrackClient({ timeoutMs: 1000 }),
    netlink: false,
    procPath,
    kernelRelease: release(),
    timeoutMs: 1000,
    log: createLogger('silent'),
    telemetry: new Telemetry('test'),
    ...overrides,
  };
}
