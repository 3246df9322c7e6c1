// The per-collector deadline in the real process: a sysctl file that blocks every read (a FIFO
// with no writer stands in for a hung procfs read) holds only its own collector. Scrapes are
// served with that collector failing and the others fresh. No root needed. (The blocked read
// holds a libuv thread, which a normal exit waits for, so the process is killed at the end.)

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startExporter } from '../support/exporter.js';
import { parseExposition, valueOf } from '../support/exposition.js';
import { procTrees } from '../support/proc-fixture.js';

const execFileP = promisify(execFile);

describe('a hung source in the real process', () => {
  const newTree = procTrees();

  it('serves the other collectors and reports the hung one as failing with ERR_COLLECTOR_TIMEOUT', async () => {
    const tree = await newTree();
    await tree.remove('sys/net/netfilter/nf_conntrack_acct');
    await execFileP('mkfifo', [`${tree.path}/sys/net/netfilter/nf_conntrack_acct`]);
    const exporter = await startExporter(undefined, 0, {
      CONNTRACK_EXPORTER_SOURCE: 'procfs',
      CONNTRACK_EXPORTER_PROC_PATH: tree.path,
      CONNTRACK_EXPORTER_COLLECTORS: 'table,sysctl',
      // The collector deadline is twice this: 0.5 s.
      CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS: '0.25',
    });
    try {
      for (const round of [1, 2]) {
        const samples = parseExposition(await (await fetch(`${exporter.url}/metrics`)).text());
        const success = (collector: string) =>
          valueOf(samples, 'conntrack_scrape_collector_success', { collector });
        expect({ round, table: success('table'), sysctl: success('sysctl') }).toEqual({
          round,
          table: 1,
          sysctl: 0,
        });
        expect(valueOf(samples, 'conntrack_entries', {})).toBe(1234);
        expect(samples.filter((s) => s.name === 'conntrack_timeout_seconds')).toEqual([]);
      }
      const failing = exporter
        .stderr()
        .split('\n')
        .filter((l) => l.includes('collector failing'))
        .map((l) => JSON.parse(l) as { collector: string; code: string });
      // Logged once, on the change of state, with the timeout's code.
      expect(failing).toEqual([
        expect.objectContaining({ collector: 'sysctl', code: 'ERR_COLLECTOR_TIMEOUT' }),
      ]);
    } finally {
      await exporter.stop('SIGKILL');
    }
  });
});
