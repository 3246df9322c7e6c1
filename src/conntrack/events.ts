// Layer: conntrack model. ctnetlink connection events: which groups to join, what kind of event
// a message is, and its decoding, which is the flow decoder's (a NEW or DESTROY event has the
// shape of a dump part; DESTROY adds the final counters and CTA_TIMESTAMP_STOP). Also what the
// per-netns sysctl net.netfilter.nf_conntrack_events means for a listener.
// Knows nothing of sockets, processes or metrics.
// Sources: net/netfilter/nf_conntrack_netlink.c (ctnetlink_conntrack_event),
// net/netfilter/nf_conntrack_ecache.c (nf_ct_ecache_ext_add), include/uapi/linux/netfilter/nfnetlink.h.

import type { MessageView } from '../netlink/codec.js';
import { DecodeError } from '../netlink/errors.js';
import { CtMsg, NFNLGRP, NLM_F_CREATE, NLM_F_EXCL } from './constants.js';
import { decodeFlowFields, type FlowFields } from './flow.js';

/** NEW and DESTROY only: UPDATE fires on every state change and would multiply the volume. */
export const EVENT_GROUPS: readonly number[] = [NFNLGRP.CONNTRACK_NEW, NFNLGRP.CONNTRACK_DESTROY];

export type EventKind = 'new' | 'update' | 'destroy';

/** NEW and UPDATE share IPCTNL_MSG_CT_NEW; NEW carries NLM_F_CREATE|NLM_F_EXCL (as libnetfilter_conntrack tells them apart). */
export function eventKind(msg: MessageView): EventKind {
  if (msg.type === CtMsg.DELETE) return 'destroy';
  if (msg.type === CtMsg.NEW) return (msg.flags & (NLM_F_CREATE | NLM_F_EXCL)) !== 0 ? 'new' : 'update';
  throw new DecodeError(`not a conntrack event: type 0x${msg.type.toString(16)}`);
}

/** Decodes an event into `f` (reused) and returns its kind. Throws only DecodeError. */
export function decodeEvent(msg: MessageView, f: FlowFields): EventKind {
  const kind = eventKind(msg);
  decodeFlowFields(msg, f);
  return kind;
}

/** What nf_conntrack_events=0/1/2 means for the events a listener gets. */
export type EventsCoverage = 'none' | 'all' | 'since_listening';

/**
 * The kernel attaches the event extension when an entry is created: always (1), never (0), or
 * only while some ctnetlink listener exists (2, the default). With 2, entries created before
 * any listener existed send no event at all, not even DESTROY.
 */
export function eventsCoverage(mode: number): EventsCoverage {
  if (mode === 0) return 'none';
  if (mode === 1) return 'all';
  return 'since_listening';
}
