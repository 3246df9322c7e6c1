// Layer: conntrack model. The read-only guarantee for ctnetlink: the list of requests this
// process may send, handed to every transport it opens (src/netlink/readonly.ts enforces it).
// Only GET-family requests are on it; writes (NEW, DELETE, a flush) and
// IPCTNL_MSG_CT_GET_CTRZERO (which zeroes counters as it reads them) are not.
// Message types: include/uapi/linux/netfilter/nfnetlink_conntrack.h (enum cntl_msg_types,
// enum ctnl_exp_msg_types); docs/ctnetlink.md#message-types.

import type { MessageView } from '../netlink/codec.js';
import { readOnlyGuard, type RequestGuard } from '../netlink/readonly.js';
import { CtMsg, ExpMsg } from './constants.js';

/** Every request type this process may send, by full nlmsg_type, with its kernel name. */
export const READ_ONLY_REQUEST_TYPES: ReadonlyMap<number, string> = new Map([
  [CtMsg.GET, 'IPCTNL_MSG_CT_GET'],
  [CtMsg.GET_STATS_CPU, 'IPCTNL_MSG_CT_GET_STATS_CPU'],
  [CtMsg.GET_STATS, 'IPCTNL_MSG_CT_GET_STATS'],
  [CtMsg.GET_DYING, 'IPCTNL_MSG_CT_GET_DYING'],
  [CtMsg.GET_UNCONFIRMED, 'IPCTNL_MSG_CT_GET_UNCONFIRMED'],
  [ExpMsg.GET, 'IPCTNL_MSG_EXP_GET'],
  [ExpMsg.GET_STATS_CPU, 'IPCTNL_MSG_EXP_GET_STATS_CPU'],
]);

/** The guard every ctnetlink transport of this process runs with. */
export const CTNETLINK_READ_ONLY: RequestGuard = readOnlyGuard(
  READ_ONLY_REQUEST_TYPES,
  'GET-family ctnetlink requests',
);

/** Checks every message in an outgoing buffer; returns their kernel names, or throws ReadOnlyViolationError. */
export function assertReadOnly(buf: Buffer): string[] {
  return CTNETLINK_READ_ONLY.assert(buf);
}

/** Returns the kernel name of the request, or throws ReadOnlyViolationError. */
export function describeReadOnlyRequest(msg: MessageView): string {
  return CTNETLINK_READ_ONLY.describe(msg);
}
