// Layer: netlink protocol. Typed errors for the socket transport and the byte decoders.
// Knows nothing of conntrack or metrics.

import { ExporterError } from '../errors.js';

/** Malformed bytes from the kernel (or from a fuzzer). Decoders throw only this. */
export class DecodeError extends ExporterError {
  constructor(message: string) {
    super('ERR_NETLINK_DECODE', message);
  }
}

/** The kernel answered a request with NLMSG_ERROR and a negative errno. */
export class NetlinkKernelError extends ExporterError {
  readonly errno: number;

  constructor(errno: number, request: string, code = 'ERR_NETLINK_KERNEL') {
    super(code, `kernel refused ${request}: ${errnoName(errno)} (${errno})`);
    this.errno = errno;
  }
}

/** EPERM: ctnetlink checks CAP_NET_ADMIN on every request, reads included (net/netfilter/nfnetlink.c). */
export class NetlinkPermissionError extends NetlinkKernelError {
  constructor(request: string) {
    super(1, request, 'ERR_NETLINK_PERMISSION');
    this.message = `kernel refused ${request}: EPERM, the process lacks CAP_NET_ADMIN in its network namespace`;
  }
}

export class NetlinkTimeoutError extends ExporterError {
  constructor(request: string, timeoutMs: number) {
    super('ERR_NETLINK_TIMEOUT', `no reply to ${request} within ${timeoutMs} ms`);
  }
}

export class NetlinkSocketError extends ExporterError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_NETLINK_SOCKET', message, options);
  }
}

/** A message that is not a read-only GET-family request was about to be sent. */
export class ReadOnlyViolationError extends ExporterError {
  constructor(message: string) {
    super('ERR_READ_ONLY', message);
  }
}

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM',
  2: 'ENOENT',
  12: 'ENOMEM',
  16: 'EBUSY',
  17: 'EEXIST',
  22: 'EINVAL',
  95: 'EOPNOTSUPP',
  105: 'ENOBUFS',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}
