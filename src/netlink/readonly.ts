// Layer: netlink protocol. The read-only guarantee: the transport passes every outgoing buffer
// through `assertReadOnly`, and only GET-family ctnetlink requests get through. Writes (NEW,
// DELETE, flush) and IPCTNL_MSG_CT_GET_CTRZERO (which zeroes counters as it reads them) are
// refused before they reach the socket.
// Message types: include/uapi/linux/netfilter/nfnetlink_conntrack.h; docs/ctnetlink.md#message-types.

import {
  forEachMessage,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NFNL_ATTR_OFFSET,
  type MessageView,
} from './codec.js';
import { DecodeError, ReadOnlyViolationError } from './errors.js';

const NFNL_SUBSYS_CTNETLINK = 1;
const NFNL_SUBSYS_CTNETLINK_EXP = 2;

/** Every request type this process may send, by full nlmsg_type. */
export const READ_ONLY_REQUEST_TYPES: ReadonlyMap<number, string> = new Map([
  [(NFNL_SUBSYS_CTNETLINK << 8) | 1, 'IPCTNL_MSG_CT_GET'],
  [(NFNL_SUBSYS_CTNETLINK << 8) | 4, 'IPCTNL_MSG_CT_GET_STATS_CPU'],
  [(NFNL_SUBSYS_CTNETLINK << 8) | 5, 'IPCTNL_MSG_CT_GET_STATS'],
  [(NFNL_SUBSYS_CTNETLINK << 8) | 6, 'IPCTNL_MSG_CT_GET_DYING'],
  [(NFNL_SUBSYS_CTNETLINK << 8) | 7, 'IPCTNL_MSG_CT_GET_UNCONFIRMED'],
  [(NFNL_SUBSYS_CTNETLINK_EXP << 8) | 1, 'IPCTNL_MSG_EXP_GET'],
  [(NFNL_SUBSYS_CTNETLINK_EXP << 8) | 3, 'IPCTNL_MSG_EXP_GET_STATS_CPU'],
]);

/** REQUEST, ACK and the dump pair; anything else (CREATE, EXCL, REPLACE, APPEND...) is refused. */
const ALLOWED_FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;

/** Returns the kernel name of the request, or throws ReadOnlyViolationError. */
export function describeReadOnlyRequest(msg: MessageView): string {
  const name = READ_ONLY_REQUEST_TYPES.get(msg.type);
  if (name === undefined) {
    throw new ReadOnlyViolationError(
      `refusing to send nlmsg_type 0x${msg.type.toString(16).padStart(4, '0')}: only GET-family ctnetlink requests are allowed`,
    );
  }
  // ROOT and MATCH share their bits with REPLACE and EXCL: only the pair (a dump) is a GET modifier.
  const dumpBits = msg.flags & NLM_F_DUMP;
  if (
    (msg.flags & NLM_F_REQUEST) === 0 ||
    (msg.flags & ~ALLOWED_FLAGS) !== 0 ||
    (dumpBits !== 0 && dumpBits !== NLM_F_DUMP)
  ) {
    throw new ReadOnlyViolationError(`refusing to send ${name} with flags 0x${msg.flags.toString(16)}`);
  }
  if (msg.end - msg.start < NFNL_ATTR_OFFSET) {
    throw new ReadOnlyViolationError(`refusing to send a ${name} without an nfgenmsg`);
  }
  return name;
}

/** Checks every message in an outgoing buffer; returns their names. */
export function assertReadOnly(buf: Buffer): string[] {
  const names: string[] = [];
  try {
    forEachMessage(buf, (msg) => names.push(describeReadOnlyRequest(msg)));
  } catch (err) {
    if (err instanceof DecodeError) {
      throw new ReadOnlyViolationError(`refusing to send a malformed buffer: ${err.message}`);
    }
    throw err;
  }
  if (names.length === 0) throw new ReadOnlyViolationError('refusing to send an empty buffer');
  return names;
}
