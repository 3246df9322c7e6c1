// Test support: real cgroups named the way the kubelet names a pod's, so the exporter finds the pod
// UID in /proc/<pid>/cgroup as it does on a node. cgroupfs driver: kubepods/besteffort/pod<UID>;
// systemd driver: kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<UID with _>.slice.
// Made in the cgroup v1 `pids` hierarchy where it is mounted, else in the cgroup v2 tree. Every
// directory this creates is removed in destroy() (parents only if this created them and they are
// empty); processes are moved back to the root first.

import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type CgroupDriver = 'cgroupfs' | 'systemd';

/** The hierarchy to make pod cgroups in. */
export function cgroupRoot(): string {
  for (const dir of ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    if (existsSync(join(dir, 'cgroup.procs'))) return dir;
  }
  throw new Error('no writable cgroup hierarchy (neither v1 pids nor v2) is mounted under /sys/fs/cgroup');
}

export function podCgroupPath(uid: string, driver: CgroupDriver, qos = 'besteffort'): string[] {
  return driver === 'cgroupfs'
    ? ['kubepods', qos, `pod${uid}`]
    : ['kubepods.slice', `kubepods-${qos}.slice`, `kubepods-${qos}-pod${uid.replace(/-/g, '_')}.slice`];
}

export class PodCgroup {
  private constructor(
    readonly uid: string,
    private readonly root: string,
    /** Directories this created, outermost first. */
    private readonly created: string[],
    readonly dir: string,
  ) {}

  static async create(driver: CgroupDriver, uid: string = randomUUID()): Promise<PodCgroup> {
    const root = cgroupRoot();
    const created: string[] = [];
    let dir = root;
    for (const part of podCgroupPath(uid, driver)) {
      dir = join(dir, part);
      if (!existsSync(dir)) {
        await mkdir(dir);
        created.push(dir);
      }
    }
    return new PodCgroup(uid, root, created, dir);
  }

  async add(pid: number): Promise<void> {
    await writeFile(join(this.dir, 'cgroup.procs'), `${pid}\n`);
  }

  async destroy(): Promise<void> {
    const procs = await readFile(join(this.dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) {
      await writeFile(join(this.root, 'cgroup.procs'), `${pid}\n`).catch(() => undefined);
    }
    for (const dir of [...this.created].reverse()) await rmdir(dir).catch(() => undefined);
  }
}
