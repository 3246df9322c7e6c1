// Unit: namespace discovery over a fixture /proc tree (CONNTRACK_EXPORTER_PROC_PATH's shape).
// A namespace is a directory; each process's `net` is a symlink to it, so stat sees one inode per
// namespace, as procfs does. The real-kernel counterpart (inode reuse) is test/integration/netns.test.ts.

import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, symlink, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatAddress } from '../../src/conntrack/flow.js';
import { NamespaceDiscovery, podUidFromCgroup, startTimeFromStat } from '../../src/pods/namespaces.js';

const UID_A = '1b4e2f3a-9c8d-4e7f-a6b5-0c1d2e3f4a5b';
const UID_B = '2c5f3a4b-0d9e-4f80-b7c6-1d2e3f4a5b6c';
const FIXTURES = new URL('../fixtures/pods/', import.meta.url);

let proc: string;

beforeEach(async () => {
  proc = await mkdtemp(join(tmpdir(), 'cte-pods-'));
});
afterEach(async () => {
  await rm(proc, { recursive: true, force: true });
});

async function namespace(name: string, fib = '', inet6 = ''): Promise<void> {
  await mkdir(join(proc, 'ns', name, 'stat'), { recursive: true });
  await writeFile(join(proc, 'ns', name, 'stat', 'nf_conntrack'), 'entries\n');
  await writeFile(join(proc, 'ns', name, 'fib_trie'), fib);
  await writeFile(join(proc, 'ns', name, 'if_inet6'), inet6);
}

async function processIn(pid: number, ns: string, start: number, cgroup = '0::/'): Promise<void> {
  await mkdir(join(proc, String(pid)), { recursive: true });
  await symlink(join(proc, 'ns', ns), join(proc, String(pid), 'net'));
  await writeFile(
    join(proc, String(pid), 'stat'),
    `${pid} (sh) S 1 1 1 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 ${start} 0 0\n`,
  );
  await writeFile(join(proc, String(pid), 'cgroup'), `${cgroup}\n`);
}

async function exit(pid: number): Promise<void> {
  await rm(join(proc, String(pid)), { recursive: true });
}

describe('startTimeFromStat', () => {
  it('reads field 22 even when the command name holds spaces and parentheses', () => {
    const line = '4242 (a) b (c) S 1 1 1 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 987654 0 0';
    expect(startTimeFromStat(line)).toBe('987654');
    // This process's own line, from the real kernel.
    expect(startTimeFromStat(readFileSync('/proc/self/stat', 'utf8'))).toMatch(/^\d+$/);
    expect(startTimeFromStat('garbage')).toBeUndefined();
  });
});

describe('podUidFromCgroup', () => {
  it.each([
    [
      `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_A.replace(/-/g, '_')}.slice/cri-containerd-abc.scope`,
      UID_A,
    ],
    [`12:pids:/kubepods/besteffort/pod${UID_A}`, UID_A],
    ['0::/system.slice/sshd.service', ''],
  ])('%s -> %s', (cgroup, uid) => {
    expect(podUidFromCgroup(cgroup)).toBe(uid);
  });
});

describe('NamespaceDiscovery', () => {
  it('one holder per namespace, the lowest pid, with its pod UID', async () => {
    await namespace('host');
    await namespace('pod-a');
    await processIn(1, 'host', 10);
    await processIn(30, 'pod-a', 300, `12:pids:/kubepods/besteffort/pod${UID_A}`);
    await processIn(20, 'pod-a', 200, `12:pids:/kubepods/besteffort/pod${UID_A}/c1`);
    const found = await new NamespaceDiscovery(proc).refresh();
    expect(found.map((n) => [n.pid, n.startTime, n.podUid])).toEqual([
      ['1', '10', ''],
      ['20', '200', UID_A],
    ]);
    expect(new Set(found.map((n) => n.inode)).size).toBe(2);
  });

  it('sees a new namespace at the next refresh, without a full rescan', async () => {
    let now = 0;
    const d = new NamespaceDiscovery(proc, { now: () => now, fullRescanMs: 30_000 });
    await namespace('host');
    await processIn(1, 'host', 10);
    expect((await d.refresh()).length).toBe(1);
    now = 1000;
    await namespace('new');
    await processIn(50, 'new', 500);
    expect((await d.refresh()).map((n) => n.pid)).toEqual(['1', '50']);
  });

  it('gives a namespace that inherits a dead one’s inode a new key', async () => {
    let now = 0;
    const d = new NamespaceDiscovery(proc, { now: () => now });
    await namespace('host');
    await processIn(1, 'host', 10);
    await namespace('x');
    await processIn(40, 'x', 400);
    const before = (await d.refresh()).find((n) => n.pid === '40');
    // The holder dies and a new process (a new namespace, to the kernel) shows the same inode.
    await exit(40);
    await processIn(41, 'x', 900);
    now = 1000;
    const after = (await d.refresh()).find((n) => n.inode === before?.inode);
    expect(after?.pid).toBe('41');
    expect(after?.key).not.toBe(before?.key);
    // A holder that stays keeps its key.
    now = 2000;
    expect((await d.refresh()).find((n) => n.inode === before?.inode)?.key).toBe(after?.key);
  });

  it('notices a reused holder pid by its start time', async () => {
    let now = 0;
    const d = new NamespaceDiscovery(proc, { now: () => now });
    await namespace('x');
    await processIn(40, 'x', 400);
    const before = (await d.refresh())[0];
    await exit(40);
    await processIn(40, 'x', 401);
    now = 1000;
    const after = (await d.refresh())[0];
    expect(after?.inode).toBe(before?.inode);
    expect(after?.key).not.toBe(before?.key);
  });

  it('drops a namespace whose processes are gone', async () => {
    let now = 0;
    const d = new NamespaceDiscovery(proc, { now: () => now });
    await namespace('host');
    await processIn(1, 'host', 10);
    await namespace('x');
    await processIn(40, 'x', 400);
    expect((await d.refresh()).length).toBe(2);
    await exit(40);
    now = 1000;
    expect((await d.refresh()).map((n) => n.pid)).toEqual(['1']);
  });

  it('maps pod addresses, without the own namespace’s and without ambiguous ones', async () => {
    const fib = await readFile(new URL('fib_trie', FIXTURES), 'utf8');
    const inet6 = await readFile(new URL('if_inet6', FIXTURES), 'utf8');
    const leaf = (a: string): string => `  |-- ${a}\n     /32 host LOCAL\n`;
    await namespace('host', leaf('192.0.2.10') + leaf('198.18.9.9'));
    await processIn(1, 'host', 10);
    await symlink(join(proc, '1'), join(proc, 'self'));
    await namespace('pod-a', fib, inet6);
    await processIn(20, 'pod-a', 200, `12:pids:/kubepods/besteffort/pod${UID_A}`);
    await namespace('pod-b', leaf('198.18.2.2') + leaf('198.18.7.7'));
    await processIn(
      30,
      'pod-b',
      300,
      `0::/kubepods.slice/kubepods-besteffort-pod${UID_B.replace(/-/g, '_')}.slice`,
    );
    // A third pod claiming 198.18.7.7 makes it ambiguous: neither gets it.
    await namespace('pod-c', leaf('198.18.7.7'));
    await processIn(35, 'pod-c', 350, `12:pids:/kubepods/burstable/pod${UID_B.replace('2c5f', '3d6a')}`);
    const pods = await new NamespaceDiscovery(proc).pods();
    const byUid = new Map<string, string[]>();
    for (const [address, i] of pods.addresses) {
      const uid = pods.uids[i] ?? '?';
      byUid.set(uid, [...(byUid.get(uid) ?? []), formatAddress(address)].sort());
    }
    expect(Object.fromEntries(byUid)).toEqual({
      // 198.18.9.9 is the host's too (a host-network pod would look like that).
      [UID_A]: ['198.18.1.2', '2001:2::1:2'],
      [UID_B]: ['198.18.2.2'],
    });
    expect(pods.pods).toBe(3);
    expect(pods.ambiguous).toBe(1);
  });
});
