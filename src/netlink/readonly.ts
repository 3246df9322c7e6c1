// Layer: netlink protocol. The read-only guard mechanism: the transport passes every outgoing
// buffer through the guard it was given, and only requests whose nlmsg_type is on the guard's
// list, with plain GET flags, get through; anything else is refused before it reaches the socket.
// This layer knows no message names: the subsystem layer (src/conntrack/readonly.ts) supplies the
// list of allowed types and their kernel names. Flags: include/uapi/linux/netlink.h.

import {
  forEachMessage,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NFNL_ATTR_OFFSET,
  type MessageView,
} from './codec.js';
import { DecodeError, ReadOnlyViolationError } from './errors.js';

/** REQUEST, ACK and the dump pair; anything else (CREATE, EXCL, REPLACE, APPEND...) is refused. */
const ALLOWED_FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;

/** What the transport calls on every outgoing buffer; it throws ReadOnlyViolationError to refuse. */
export interface RequestGuard {
  /** Checks every message in an outgoing buffer; returns their names. */
  assert(buf: Buffer): string[];
  /** Returns the name of one request, or throws ReadOnlyViolationError. */
  describe(msg: MessageView): string;
}

/**
 * A guard that lets through only the given nlmsg_types (full type, subsystem << 8 | message, to
 * the name used in errors), each as a single request or a dump, with an nfgenmsg. `what` names
 * the allowed requests in refusals (e.g. "GET-family ctnetlink requests").
 */
export function readOnlyGuard(allowed: ReadonlyMap<number, string>, what: string): RequestGuard {
  function describe(msg: MessageView): string {
    const name = allowed.get(msg.type);
    if (name === undefined) {
      throw new ReadOnlyViolationError(
        `refusing to send nlmsg_type 0x${msg.type.toString(16).padStart(4, '0')}: only ${what} are allowed`,
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

  function assert(buf: Buffer): string[] {
    const names: string[] = [];
    try {
      forEachMessage(buf, (msg) => names.push(describe(msg)));
    } catch (err) {
      if (err instanceof DecodeError) {
        throw new ReadOnlyViolationError(`refusing to send a malformed buffer: ${err.message}`);
      }
      throw err;
    }
    if (names.length === 0) throw new ReadOnlyViolationError('refusing to send an empty buffer');
    return names;
  }

  return { assert, describe };
}
