// Layer: pods (below collectors). Finds the network namespaces visible through the proc tree and,
// for each, one process that holds it and the Kubernetes pod it belongs to. The netns collector
// and the flow pass's pod attribution share one instance, so /proc is walked once for both.
//
// A namespace is told apart by the inode of /proc/<pid>/net/stat/nf_conntrack, which is per
// namespace and, unlike /proc/<pid>/ns/net, readable without ptrace rights. Inodes are reused
// (proc_alloc_inum in fs/proc/generic.c takes the lowest free number), so the identity of the
// state kept for a namespace also carries its holder's start time and pod UID: a namespace that
// inherits a dead one's inode gets a new key. Knows nothing of metrics.
//
// Cost: every refresh lists /proc once, stats only the processes it has not seen, and checks
// each holder's start time; every process is examined again only once per full-rescan interval.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressKey } from '../conntrack/flow.js';
import { namespaceAddresses } from './addresses.js';

/** Every process is examined again at this interval (catches PID reuse by a non-holder). */
export const FULL_RESCAN_MS = 30_000;
const CHUNK = 128;

export interface Namespace {
  /** The identity of this namespace's state: proc inode, holder start time, pod UID. */
  readonly key: string;
  /** The proc inode (the `netns` label). */
  readonly inode: string;
  /** A process in the namespace; its files are read to see the namespace. */
  readonly pid: string;
  /** The holder's start time (field 22 of /proc/<pid>/stat, clock ticks since boot). */
  readonly startTime: string;
  /** The Kubernetes pod UID from the holder's cgroup; empty outside pods. */
  readonly podUid: string;
}

/** Pod addresses as the flow pass looks them up: each address maps to an index into `uids`. */
export interface PodAddresses {
  readonly uids: readonly string[];
  readonly addresses: readonly (readonly [AddressKey, number])[];
  /** Pod namespaces seen (with or without usable addresses). */
  readonly pods: number;
  /** Addresses claimed by two pods, left out. */
  readonly ambiguous: number;
}

/**
 * The pod UID in a cgroup path, for both cgroup drivers: systemd
 * (`kubepods-besteffort-pod1b4e_..._slice`, dashes as underscores) and cgroupfs (`/kubepods/burstable/pod1b4e-...`).
 */
export function podUidFromCgroup(cgroup: string): string {
  const m = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/.exec(cgroup);
  return m?.[1]?.replace(/_/g, '-') ?? '';
}

/**
 * Field 22 (starttime) of /proc/<pid>/stat. The command name (field 2) is in parentheses and may
 * hold spaces or parentheses, so fields are counted from the last ')'.
 */
export function startTimeFromStat(text: string): string | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ")": field 3 (state) is the first; starttime is field 22, so index 19.
  const value = text
    .slice(close + 1)
    .trim()
    .split(/\s+/)[19];
  return value !== undefined && /^\d+$/.test(value) ? value : undefined;
}

export interface DiscoveryOptions {
  readonly fullRescanMs?: number;
  /** Milliseconds clock (tests). */
  readonly now?: () => number;
}

export class NamespaceDiscovery {
  /** Last known namespace inode of each listed process ('' for none: kernel threads, exited). */
  private readonly pidInode = new Map<string, string>();
  private namespaces = new Map<string, Namespace>();
  private lastFull = -Infinity;
  private running: Promise<readonly Namespace[]> | undefined;
  private readonly fullRescanMs: number;
  private readonly now: () => number;

  constructor(
    private readonly procPath: string,
    options: DiscoveryOptions = {},
  ) {
    this.fullRescanMs = options.fullRescanMs ?? FULL_RESCAN_MS;
    this.now = options.now ?? Date.now;
  }

  /** The namespaces now. Concurrent callers share one refresh. */
  refresh(): Promise<readonly Namespace[]> {
    this.running ??= this.discover().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The file the netns collector reads for a namespace. */
  statsFile(pid: string): string {
    return join(this.procPath, pid, 'net/stat/nf_conntrack');
  }

  private async inodeOf(pid: string): Promise<string> {
    return stat(this.statsFile(pid)).then(
      (st) => String(st.ino),
      // The process exited, or it is a kernel thread without a net directory.
      () => '',
    );
  }

  private async startTime(pid: string): Promise<string | undefined> {
    const text = await readFile(join(this.procPath, pid, 'stat'), 'utf8').catch(() => '');
    return startTimeFromStat(text);
  }

  private async podUid(pid: string): Promise<string> {
    return podUidFromCgroup(await readFile(join(this.procPath, pid, 'cgroup'), 'utf8').catch(() => ''));
  }

  private async discover(): Promise<readonly Namespace[]> {
    const full = this.now() - this.lastFull >= this.fullRescanMs;
    const pids = (await readdir(this.procPath)).filter((name) => /^\d+$/.test(name));
    if (full) {
      this.pidInode.clear();
      this.lastFull = this.now();
    } else {
      const listed = new Set(pids);
      for (const pid of this.pidInode.keys()) if (!listed.has(pid)) this.pidInode.delete(pid);
    }
    const unseen = pids.filter((pid) => !this.pidInode.has(pid));
    // In chunks, so a node with thousands of processes costs a few round trips, not thousands.
    for (let i = 0; i < unseen.length; i += CHUNK) {
      const chunk = unseen.slice(i, i + CHUNK);
      const inodes = await Promise.all(chunk.map((pid) => this.inodeOf(pid)));
      chunk.forEach((pid, j) => this.pidInode.set(pid, inodes[j] ?? ''));
    }
    const members = new Map<string, string[]>();
    for (const [pid, inode] of this.pidInode) {
      if (inode === '') continue;
      const list = members.get(inode);
      if (list) list.push(pid);
      else members.set(inode, [pid]);
    }

    const next = new Map<string, Namespace>();
    await Promise.all(
      [...members].map(async ([inode, pids]) => {
        const known = this.namespaces.get(inode);
        // A holder stays while it is the same process: a stable holder keeps the key stable.
        if (known && (await this.startTime(known.pid)) === known.startTime) {
          const podUid = full && known.podUid === '' ? await this.podUid(known.pid) : known.podUid;
          next.set(
            inode,
            podUid === known.podUid ? known : this.identify(inode, known.pid, known.startTime, podUid),
          );
          return;
        }
        const found = await this.holder(inode, pids);
        if (found) next.set(inode, found);
      }),
    );
    this.namespaces = next;
    return [...next.values()].sort((a, b) => Number(a.pid) - Number(b.pid));
  }

  /** The lowest-numbered process still in the namespace (a pod's pause container, a host's init). */
  private async holder(inode: string, pids: string[]): Promise<Namespace | undefined> {
    for (const pid of pids.sort((a, b) => Number(a) - Number(b))) {
      const startTime = await this.startTime(pid);
      // Confirm the process is (still) in this namespace: its pid may have been reused.
      const now = startTime === undefined ? '' : await this.inodeOf(pid);
      if (now !== inode) {
        this.pidInode.set(pid, now);
        continue;
      }
      if (startTime === undefined) continue;
      return this.identify(inode, pid, startTime, await this.podUid(pid));
    }
    return undefined;
  }

  private identify(inode: string, pid: string, startTime: string, podUid: string): Namespace {
    return { key: `${inode}/${startTime}/${podUid}`, inode, pid, startTime, podUid };
  }

  /** The inode of the exporter's own namespace (the one whose table the flow pass reads). */
  private async ownInode(): Promise<string> {
    return this.inodeOf('self');
  }

  private async addressesOf(pid: string): Promise<AddressKey[]> {
    const [fib, inet6] = await Promise.all([
      readFile(join(this.procPath, pid, 'net/fib_trie'), 'utf8').catch(() => ''),
      readFile(join(this.procPath, pid, 'net/if_inet6'), 'utf8').catch(() => ''),
    ]);
    return namespaceAddresses(fib, inet6);
  }

  /**
   * Every pod namespace's own addresses, read afresh (a pod gets its address from the CNI plugin
   * after its namespace exists). Addresses the exporter's own namespace also has (host-network
   * pods share the node's) and addresses two pods claim are left out.
   */
  async pods(): Promise<PodAddresses> {
    const [namespaces, own, ownAddresses] = await Promise.all([
      this.refresh(),
      this.ownInode(),
      this.addressesOf('self'),
    ]);
    const pods = namespaces.filter((ns) => ns.podUid !== '' && ns.inode !== own);
    const lists = await Promise.all(pods.map((ns) => this.addressesOf(ns.pid)));
    const excluded = new Set<AddressKey>(ownAddresses);
    const uids: string[] = [];
    const uidIndex = new Map<string, number>();
    const owner = new Map<AddressKey, number>();
    const ambiguous = new Set<AddressKey>();
    pods.forEach((ns, i) => {
      let index = uidIndex.get(ns.podUid);
      if (index === undefined) {
        index = uids.push(ns.podUid) - 1;
        uidIndex.set(ns.podUid, index);
      }
      for (const address of lists[i] ?? []) {
        if (excluded.has(address)) continue;
        const prev = owner.get(address);
        if (prev !== undefined && prev !== index) ambiguous.add(address);
        owner.set(address, index);
      }
    });
    for (const address of ambiguous) owner.delete(address);
    return { uids, addresses: [...owner], pods: uidIndex.size, ambiguous: ambiguous.size };
  }
}
