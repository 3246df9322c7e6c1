// Layer: conntrack model. Kernel enums, each member named after its kernel constant.
// Sources: include/uapi/linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h, nf_conntrack_common.h,
// nf_conntrack_tcp.h, nf_conntrack_sctp.h; docs/ctnetlink.md.

export const NFNL_SUBSYS_CTNETLINK = 1;
export const NFNL_SUBSYS_CTNETLINK_EXP = 2;

/** enum cntl_msg_types, as full nlmsg_type values. */
export const CtMsg = {
  NEW: (NFNL_SUBSYS_CTNETLINK << 8) | 0, // IPCTNL_MSG_CT_NEW: also the type of every dump part
  GET: (NFNL_SUBSYS_CTNETLINK << 8) | 1, // IPCTNL_MSG_CT_GET
  DELETE: (NFNL_SUBSYS_CTNETLINK << 8) | 2, // IPCTNL_MSG_CT_DELETE
  GET_CTRZERO: (NFNL_SUBSYS_CTNETLINK << 8) | 3, // IPCTNL_MSG_CT_GET_CTRZERO (zeroes counters: never sent)
  GET_STATS_CPU: (NFNL_SUBSYS_CTNETLINK << 8) | 4, // IPCTNL_MSG_CT_GET_STATS_CPU
  GET_STATS: (NFNL_SUBSYS_CTNETLINK << 8) | 5, // IPCTNL_MSG_CT_GET_STATS
  GET_DYING: (NFNL_SUBSYS_CTNETLINK << 8) | 6, // IPCTNL_MSG_CT_GET_DYING
  GET_UNCONFIRMED: (NFNL_SUBSYS_CTNETLINK << 8) | 7, // IPCTNL_MSG_CT_GET_UNCONFIRMED
} as const;

/**
 * enum ctnl_exp_msg_types. Replies to EXP_GET_STATS_CPU carry type 0x0103 (a kernel quirk:
 * docs/ctnetlink.md#message-types).
 */
export const ExpMsg = {
  NEW: (NFNL_SUBSYS_CTNETLINK_EXP << 8) | 0, // IPCTNL_MSG_EXP_NEW
  GET: (NFNL_SUBSYS_CTNETLINK_EXP << 8) | 1, // IPCTNL_MSG_EXP_GET
  DELETE: (NFNL_SUBSYS_CTNETLINK_EXP << 8) | 2, // IPCTNL_MSG_EXP_DELETE
  GET_STATS_CPU: (NFNL_SUBSYS_CTNETLINK_EXP << 8) | 3, // IPCTNL_MSG_EXP_GET_STATS_CPU
} as const;

export const AF_INET = 2;
export const AF_INET6 = 10;

/** enum ctattr_stats_global. */
export const CTA_STATS_GLOBAL_ENTRIES = 1;
export const CTA_STATS_GLOBAL_MAX_ENTRIES = 2;

/** enum ctattr_type (top level of a flow message). */
export const Cta = {
  TUPLE_ORIG: 1, // CTA_TUPLE_ORIG
  TUPLE_REPLY: 2, // CTA_TUPLE_REPLY
  STATUS: 3, // CTA_STATUS
  PROTOINFO: 4, // CTA_PROTOINFO
  HELP: 5, // CTA_HELP
  TIMEOUT: 7, // CTA_TIMEOUT
  MARK: 8, // CTA_MARK
  COUNTERS_ORIG: 9, // CTA_COUNTERS_ORIG
  COUNTERS_REPLY: 10, // CTA_COUNTERS_REPLY
  USE: 11, // CTA_USE
  ID: 12, // CTA_ID
  TUPLE_MASTER: 14, // CTA_TUPLE_MASTER
  ZONE: 18, // CTA_ZONE
  TIMESTAMP: 20, // CTA_TIMESTAMP
  LABELS: 22, // CTA_LABELS
} as const;

/** enum ctattr_tuple. */
export const CtaTuple = {
  IP: 1, // CTA_TUPLE_IP
  PROTO: 2, // CTA_TUPLE_PROTO
  ZONE: 3, // CTA_TUPLE_ZONE
} as const;

/** enum ctattr_ip. */
export const CtaIp = {
  V4_SRC: 1, // CTA_IP_V4_SRC
  V4_DST: 2, // CTA_IP_V4_DST
  V6_SRC: 3, // CTA_IP_V6_SRC
  V6_DST: 4, // CTA_IP_V6_DST
} as const;

/** enum ctattr_l4proto. */
export const CtaProto = {
  NUM: 1, // CTA_PROTO_NUM
  SRC_PORT: 2, // CTA_PROTO_SRC_PORT
  DST_PORT: 3, // CTA_PROTO_DST_PORT
  ICMP_ID: 4, // CTA_PROTO_ICMP_ID
  ICMP_TYPE: 5, // CTA_PROTO_ICMP_TYPE
  ICMP_CODE: 6, // CTA_PROTO_ICMP_CODE
  ICMPV6_ID: 7, // CTA_PROTO_ICMPV6_ID
  ICMPV6_TYPE: 8, // CTA_PROTO_ICMPV6_TYPE
  ICMPV6_CODE: 9, // CTA_PROTO_ICMPV6_CODE
} as const;

/** enum ctattr_protoinfo and children. */
export const CtaProtoinfo = {
  TCP: 1, // CTA_PROTOINFO_TCP
  DCCP: 2, // CTA_PROTOINFO_DCCP
  SCTP: 3, // CTA_PROTOINFO_SCTP
} as const;
export const CTA_PROTOINFO_TCP_STATE = 1;
export const CTA_PROTOINFO_DCCP_STATE = 1;
export const CTA_PROTOINFO_SCTP_STATE = 1;

/** enum ctattr_counters. */
export const CtaCounters = {
  PACKETS: 1, // CTA_COUNTERS_PACKETS (be64)
  BYTES: 2, // CTA_COUNTERS_BYTES (be64)
  PACKETS32: 3, // CTA_COUNTERS32_PACKETS (be32, old kernels)
  BYTES32: 4, // CTA_COUNTERS32_BYTES (be32, old kernels)
} as const;

/** enum ctattr_tstamp. */
export const CTA_TIMESTAMP_START = 1;
export const CTA_TIMESTAMP_STOP = 2;

/** enum ip_conntrack_status bits. */
export const IPS = {
  EXPECTED: 0x0001, // IPS_EXPECTED
  SEEN_REPLY: 0x0002, // IPS_SEEN_REPLY
  ASSURED: 0x0004, // IPS_ASSURED
  CONFIRMED: 0x0008, // IPS_CONFIRMED
  SRC_NAT: 0x0010, // IPS_SRC_NAT
  DST_NAT: 0x0020, // IPS_DST_NAT
  SRC_NAT_DONE: 0x0080, // IPS_SRC_NAT_DONE
  DST_NAT_DONE: 0x0100, // IPS_DST_NAT_DONE
  DYING: 0x0200, // IPS_DYING
  OFFLOAD: 0x4000, // IPS_OFFLOAD
} as const;

/** enum tcp_conntrack, named as conntrack -L prints them (lowercased by the flow model). */
export const TCP_STATES = [
  'NONE', // TCP_CONNTRACK_NONE
  'SYN_SENT', // TCP_CONNTRACK_SYN_SENT
  'SYN_RECV', // TCP_CONNTRACK_SYN_RECV
  'ESTABLISHED', // TCP_CONNTRACK_ESTABLISHED
  'FIN_WAIT', // TCP_CONNTRACK_FIN_WAIT
  'CLOSE_WAIT', // TCP_CONNTRACK_CLOSE_WAIT
  'LAST_ACK', // TCP_CONNTRACK_LAST_ACK
  'TIME_WAIT', // TCP_CONNTRACK_TIME_WAIT
  'CLOSE', // TCP_CONNTRACK_CLOSE
  'SYN_SENT2', // TCP_CONNTRACK_SYN_SENT2 (formerly LISTEN)
] as const;

/** enum sctp_conntrack. */
export const SCTP_STATES = [
  'NONE',
  'CLOSED',
  'COOKIE_WAIT',
  'COOKIE_ECHOED',
  'ESTABLISHED',
  'SHUTDOWN_SENT',
  'SHUTDOWN_RECD',
  'SHUTDOWN_ACK_SENT',
  'HEARTBEAT_SENT',
  'HEARTBEAT_ACKED',
] as const;

/** enum ct_dccp_states. */
export const DCCP_STATES = [
  'NONE',
  'REQUEST',
  'RESPOND',
  'PARTOPEN',
  'OPEN',
  'CLOSEREQ',
  'CLOSING',
  'TIMEWAIT',
  'IGNORE',
  'INVALID',
] as const;

/** L4 protocol names as conntrack -L prints them (libnetfilter_conntrack proto table). */
export const L4_PROTO_NAMES: Readonly<Record<number, string>> = {
  1: 'icmp',
  2: 'igmp',
  6: 'tcp',
  17: 'udp',
  33: 'dccp',
  41: 'ipv6',
  47: 'gre',
  58: 'icmpv6',
  132: 'sctp',
  136: 'udplite',
};

/** enum nfnetlink_groups: the ctnetlink event groups (include/uapi/linux/netfilter/nfnetlink.h). */
export const NFNLGRP = {
  CONNTRACK_NEW: 1, // NFNLGRP_CONNTRACK_NEW
  CONNTRACK_UPDATE: 2, // NFNLGRP_CONNTRACK_UPDATE (never joined: it multiplies the volume)
  CONNTRACK_DESTROY: 3, // NFNLGRP_CONNTRACK_DESTROY
} as const;

/** NETLINK_NETFILTER, the protocol ctnetlink speaks (include/uapi/linux/netlink.h). */
export const NETLINK_NETFILTER = 12;

/** nlmsg_flags a NEW event carries (NLM_F_CREATE | NLM_F_EXCL); an UPDATE has neither. */
export const NLM_F_CREATE = 0x400;
export const NLM_F_EXCL = 0x200;
