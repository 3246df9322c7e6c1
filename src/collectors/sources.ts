// Layer: collectors. Decides once, at start, whether collectors read ctnetlink or fall back to
// sysctl/procfs, and says so in one log line. ctnetlink needs CAP_NET_ADMIN for every request,
// reads included (nfnetlink_rcv() in net/netfilter/nfnetlink.c; docs/ctnetlink.md#permissions).

import type { ConntrackClient } from '../conntrack/client.js';
import type { Logger } from '../log.js';

export type SourceMode = 'auto' | 'netlink' | 'procfs';

const FALLBACK =
  'table from the nf_conntrack_count/nf_conntrack_max sysctls, cpu_stats and expect_stats from /proc/net/stat/nf_conntrack, flows unavailable';

export async function probeNetlink(client: ConntrackClient, mode: SourceMode, log: Logger): Promise<boolean> {
  if (mode === 'procfs') {
    log.info({ source: 'procfs' }, `ctnetlink disabled by CONNTRACK_EXPORTER_SOURCE=procfs: ${FALLBACK}`);
    return false;
  }
  if (mode === 'netlink') return true;
  try {
    await client.globalStats();
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === 'ERR_NETLINK_PERMISSION'
        ? 'CAP_NET_ADMIN is missing, so the kernel refuses ctnetlink requests (EPERM)'
        : `ctnetlink is not usable (${(err as Error).message})`;
    log.warn({ source: 'fallback', code }, `${why}: ${FALLBACK}`);
    return false;
  }
}
