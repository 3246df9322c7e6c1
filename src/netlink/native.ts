// Layer: netlink protocol. Loads the project's receive-only netlink socket addon
// (native/nlmc.c, built by `npm run build` into native/build/nlmc.node): open a socket on one
// netlink protocol with its groups joined and its receive buffer sized (forced past
// net.core.rmem_max when CAP_NET_ADMIN allows), and read every queued datagram in one recvmmsg(2)
// call. It never polls and never throws on an overrun: the caller reads on its own schedule.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetlinkSocketError } from './errors.js';

export interface OpenedSocket {
  readonly fd: number;
  /** SO_RCVBUF as the kernel reports it (already doubled). */
  readonly receiveBufferBytes: number;
  /** True when SO_RCVBUFFORCE was allowed (CAP_NET_ADMIN), so net.core.rmem_max did not cap it. */
  readonly forced: boolean;
}

/** The addon's functions (native/nlmc.c documents them). Tests may pass their own. */
export interface NetlinkSocketApi {
  open(protocol: number, groups: readonly number[], receiveBufferBytes: number): OpenedSocket;
  /** Datagrams read into fixed slots (lengths[i] < 0: truncated, its real length), or -errno. */
  read(fd: number, buffer: Uint8Array, lengths: Int32Array): number;
  close(fd: number): void;
}

/** A socket that also sends, for dumps (src/netlink/polled.ts). */
export interface DumpSocketApi extends NetlinkSocketApi {
  /** Sends one request to the kernel: the bytes sent, or -errno. */
  send(fd: number, buffer: Uint8Array): number;
}

/** The whole addon: the socket functions, malloc_trim and the file-page release. */
interface Addon extends DumpSocketApi {
  trim(): boolean;
  releaseFilePages(): number;
}

/** The package root: the nearest directory up from this module with a package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dir;
}

let loaded: Addon | undefined;

/** The addon, loaded once. A missing build is a typed error that says how to make it. */
export function nativeSocketApi(): DumpSocketApi {
  return addon();
}

function addon(): Addon {
  if (loaded) return loaded;
  const file = join(packageRoot(), 'native', 'build', 'nlmc.node');
  try {
    loaded = createRequire(import.meta.url)(file) as Addon;
  } catch (err) {
    throw new NetlinkSocketError(`cannot load the netlink socket addon ${file} (run npm run build)`, {
      cause: err,
    });
  }
  return loaded;
}

/**
 * Gives the C heap's free pages back to the kernel (malloc_trim(3), through the addon): after a
 * flow pass, glibc would otherwise keep the pages of its freed datagrams and decoder memory
 * resident until the next pass. False when nothing was given back or the addon is not built
 * (then the pages are only reused, nothing else changes).
 */
export function trimNativeHeap(): boolean {
  return builtAddon()?.trim() ?? false;
}

/** The addon, or undefined when it is not built (the callers then change nothing). */
function builtAddon(): Addon | undefined {
  try {
    return addon();
  } catch {
    return undefined;
  }
}

/**
 * Drops the page table entries of the process's clean file-backed pages (native/nlmc.c says
 * which mappings and why nothing visible changes): the node binary's pages that only the start
 * used (its snapshot, bootstrap code, the compilers' first work) stop counting as resident; they
 * stay in the page cache and come back on their next use. Returns the resident bytes dropped, or
 * undefined when the addon is not built (then nothing changes).
 */
export function releaseFilePages(): number | undefined {
  return builtAddon()?.releaseFilePages();
}
