// Layer: conntrack model. Decoders for the statistics replies: CT_GET_STATS (entries, limit),
// CT_GET_STATS_CPU and EXP_GET_STATS_CPU (per-CPU u32 counters). Absent is not zero: a counter
// the kernel did not send is not in the result. Unknown attribute ids are ignored.
// Reference: enum ctattr_stats_cpu / ctattr_expect_stats in
// include/uapi/linux/netfilter/nfnetlink_conntrack.h; docs/ctnetlink.md#statistics.

import {
  forEachAttribute,
  readBe32,
  readNfGenMsg,
  NFNL_ATTR_OFFSET,
  type MessageView,
} from '../netlink/codec.js';
import { DecodeError } from '../netlink/errors.js';
import { CTA_STATS_GLOBAL_ENTRIES, CTA_STATS_GLOBAL_MAX_ENTRIES } from './constants.js';

/**
 * Per-CPU counters by attribute id - 1, named as `conntrack -S` prints them
 * (conntrack-tools src/conntrack.c). The first, third and fifth to seventh are no longer sent
 * since commit 8e8118f (about 4.10); an older kernel that still sends them gets its series.
 */
export const CPU_STAT_NAMES = [
  'searched', // CTA_STATS_SEARCHED (1)
  'found', // CTA_STATS_FOUND (2)
  'new', // CTA_STATS_NEW (3)
  'invalid', // CTA_STATS_INVALID (4)
  'ignore', // CTA_STATS_IGNORE (5)
  'delete', // CTA_STATS_DELETE (6)
  'delete_list', // CTA_STATS_DELETE_LIST (7)
  'insert', // CTA_STATS_INSERT (8)
  'insert_failed', // CTA_STATS_INSERT_FAILED (9)
  'drop', // CTA_STATS_DROP (10)
  'early_drop', // CTA_STATS_EARLY_DROP (11)
  'error', // CTA_STATS_ERROR (12)
  'search_restart', // CTA_STATS_SEARCH_RESTART (13)
  'clash_resolve', // CTA_STATS_CLASH_RESOLVE (14)
  'chaintoolong', // CTA_STATS_CHAIN_TOOLONG (15)
] as const;
export type CpuStatName = (typeof CPU_STAT_NAMES)[number];

/** Expectation counters by attribute id - 1 (enum ctattr_expect_stats). */
export const EXPECT_STAT_NAMES = [
  'new', // CTA_STATS_EXP_NEW (1)
  'create', // CTA_STATS_EXP_CREATE (2)
  'delete', // CTA_STATS_EXP_DELETE (3)
] as const;
export type ExpectStatName = (typeof EXPECT_STAT_NAMES)[number];

export interface GlobalStats {
  /** Entries in the requesting socket's network namespace. */
  readonly entries?: number;
  /** The global nf_conntrack_max. */
  readonly maxEntries?: number;
}

export interface CpuCounters<N extends string> {
  readonly cpu: number;
  readonly counters: Partial<Record<N, number>>;
}

export function decodeGlobalStats(msg: MessageView): GlobalStats {
  readNfGenMsg(msg);
  let entries: number | undefined;
  let maxEntries: number | undefined;
  forEachAttribute(msg.buf, msg.start + NFNL_ATTR_OFFSET, msg.end, (type, start, end) => {
    if (type === CTA_STATS_GLOBAL_ENTRIES) entries = readBe32(msg.buf, start, end);
    else if (type === CTA_STATS_GLOBAL_MAX_ENTRIES) maxEntries = readBe32(msg.buf, start, end);
  });
  return { ...(entries !== undefined && { entries }), ...(maxEntries !== undefined && { maxEntries }) };
}

function decodePerCpu<N extends string>(msg: MessageView, names: readonly N[]): CpuCounters<N> {
  const { resId } = readNfGenMsg(msg);
  const counters: Partial<Record<N, number>> = {};
  forEachAttribute(msg.buf, msg.start + NFNL_ATTR_OFFSET, msg.end, (type, start, end) => {
    const name = names[type - 1];
    if (name === undefined) return; // unknown or future counter: ignored
    counters[name] = readBe32(msg.buf, start, end);
  });
  return { cpu: resId, counters };
}

/** One reply part of CT_GET_STATS_CPU; nfgenmsg.res_id is the CPU number. */
export function decodeCpuStats(msg: MessageView): CpuCounters<CpuStatName> {
  return decodePerCpu(msg, CPU_STAT_NAMES);
}

/** One reply part of EXP_GET_STATS_CPU. */
export function decodeExpectStats(msg: MessageView): CpuCounters<ExpectStatName> {
  return decodePerCpu(msg, EXPECT_STAT_NAMES);
}

export function requireDefined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new DecodeError(`${what} missing from the kernel reply`);
  return value;
}
