// Integration: the unprivileged fallback's file on the real kernel. /proc/<pid>/net/stat/nf_conntrack
// of a process in a namespace this test creates equals `conntrack -S` and `-C` there, and anyone
// may read it. (The parser itself, on every kernel layout: test/conntrack/procfs.test.ts.)

import { stat } from 'node:fs/promises';
import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readProcStats } from '../../src/conntrack/procfs.js';
import { parseCpuStats } from '../support/conntrack-output.js';
import { startTraffic } from '../support/exporter.js';
import { Netns, runningAs } from '../support/netns.js';
import { waitFor } from '../support/wait.js';

describe('/proc/<pid>/net/stat/nf_conntrack of a namespace', () => {
  let ns: Netns;
  let pid: number;

  beforeAll(async () => {
    // Three datagrams to a closed port, untracked: each ICMP port-unreachable relates to no flow
    // (icmp_error); the untracked SYN of a TCP connection makes its SYN-ACK invalid.
    ns = await Netns.create({
      nft: `table inet probe {
  chain raw_out {
    type filter hook output priority -300;
    udp dport 9999 notrack
    tcp dport 5401 tcp flags & (syn | ack) == syn notrack
  }
}
`,
    });
    await startTraffic(ns, { udp: { count: 1, port: 9999 } });
    await startTraffic(ns, { udp: { count: 1, port: 9999 } });
    await startTraffic(ns, { udp: { count: 1, port: 9999 } });
    await startTraffic(ns, { tcpHold: { count: 1, port: 5401 } });
    const sleeper = ns.spawn('sleep', ['60']);
    pid = sleeper.pid ?? 0;
    // `ip netns exec` enters the namespace, then execs: once it is `sleep`, it is inside.
    await waitFor(() => runningAs(sleeper, 'sleep'), {
      what: 'sleep inside the namespace',
      retryErrors: true,
    });
  });

  afterAll(async () => {
    await ns?.destroy();
  });

  it('equals conntrack -S and conntrack -C in that namespace, read without CAP_NET_ADMIN', async () => {
    const stats = await readProcStats(`/proc/${pid}`, release());
    const cli = parseCpuStats((await ns.exec('conntrack', ['-S'])).stdout);
    expect(stats.cpu.map((c) => c.cpu)).toEqual([...cli.keys()]);
    for (const c of stats.cpu) expect(c.counters).toEqual(cli.get(c.cpu));
    const sum = (name: 'error' | 'invalid'): number =>
      stats.cpu.reduce((n, c) => n + (c.counters[name] ?? 0), 0);
    // Each port-unreachable passes conntrack twice on loopback (output, then prerouting).
    expect(sum('error')).toBe(6);
    expect(sum('invalid')).toBeGreaterThanOrEqual(1);
    expect(stats.entries).toBe(await ns.conntrackCount());
    // The file is world-readable (0444): the fallback works for an unprivileged exporter.
    expect((await stat(`/proc/${pid}/net/stat/nf_conntrack`)).mode & 0o777).toBe(0o444);
  });
});
