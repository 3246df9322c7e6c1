// Test helper run inside a network namespace (test/integration/multicast.test.ts): opens the real
// multicast listener on the ctnetlink NEW/DESTROY groups, prints its receive buffer, and on each
// SIGUSR1 reads everything queued and prints what it counted so far, one JSON line per read.
// Usage: node dist/test/support/multicast-probe.js '{"receiveBufferBytes":65536,"readBytes":2048}'

import { EVENT_GROUPS } from '../../src/conntrack/events.js';
import { NETLINK_NETFILTER } from '../../src/conntrack/constants.js';
import { MulticastListener } from '../../src/netlink/multicast.js';

const options = JSON.parse(process.argv[2] ?? '{}') as { receiveBufferBytes: number; readBytes?: number };
const seen = { messages: 0, overruns: 0, malformed: 0, errors: 0 };
const listener = new MulticastListener({
  protocol: NETLINK_NETFILTER,
  groups: EVENT_GROUPS,
  receiveBufferBytes: options.receiveBufferBytes,
  ...(options.readBytes !== undefined ? { readBytes: options.readBytes } : {}),
  onMessage: () => (seen.messages += 1),
  onOverrun: () => (seen.overruns += 1),
  onMalformed: () => (seen.malformed += 1),
  onError: () => (seen.errors += 1),
});
process.stdout.write(
  `${JSON.stringify({ receiveBufferBytes: listener.receiveBufferBytes, forced: listener.forced })}\n`,
);
process.on('SIGUSR1', () => {
  while (listener.poll() > 0);
  process.stdout.write(`${JSON.stringify(seen)}\n`);
});
setInterval(() => undefined, 1 << 30);
