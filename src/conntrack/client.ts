// Layer: conntrack model. A read-only ctnetlink client: table size, per-CPU and expectation
// statistics, and streamed flow dumps. Two transports: one for small requests, one for dumps, so
// a long flow dump never delays a scrape's stats request (a netlink socket holds one dump at a
// time, net/netlink/af_netlink.c answers a second one with EBUSY; docs/ctnetlink.md#sockets-and-reads).
// Every transport runs with the ctnetlink read-only guard. Malformed messages are reported
// through `onMalformed`; the client keeps no telemetry of its own. Knows nothing of Prometheus
// or OpenTelemetry.
import type { MessageView } from '../netlink/codec.js';
import type { DecodeError } from '../netlink/errors.js';
import { NetlinkTransport, type RawSocket } from '../netlink/transport.js';
import { CtMsg, ExpMsg } from './constants.js';
import { CTNETLINK_READ_ONLY } from './readonly.js';
import {
  decodeCpuStats,
  decodeExpectStats,
  decodeGlobalStats,
  type CpuCounters,
  type CpuStatName,
  type ExpectStatName,
  type GlobalStats,
} from './stats.js';

export interface ConntrackClientOptions {
  readonly timeoutMs: number;
  readonly socketFactory?: () => RawSocket;
  /** Called for every message or datagram skipped as malformed (the exporter's telemetry counts them). */
  readonly onMalformed?: (err: DecodeError) => void;
}

export class ConntrackClient {
  private readonly requests: NetlinkTransport;
  private readonly dumps: NetlinkTransport;

  constructor(options: ConntrackClientOptions) {
    const transportOptions = {
      timeoutMs: options.timeoutMs,
      guard: CTNETLINK_READ_ONLY,
      onMalformed: options.onMalformed,
      socketFactory: options.socketFactory,
    };
    this.requests = new NetlinkTransport(transportOptions);
    this.dumps = new NetlinkTransport(transportOptions);
  }

  /** What `conntrack -C` reads: entries of this netns and the global limit. */
  async globalStats(): Promise<GlobalStats> {
    let stats: GlobalStats = {};
    await this.requests.request({ type: CtMsg.GET_STATS, name: 'IPCTNL_MSG_CT_GET_STATS' }, (msg) => {
      stats = decodeGlobalStats(msg);
    });
    return stats;
  }

  /** What `conntrack -S` reads: one counter set per possible CPU. */
  cpuStats(): Promise<CpuCounters<CpuStatName>[]> {
    return this.dumpAll({ type: CtMsg.GET_STATS_CPU, name: 'IPCTNL_MSG_CT_GET_STATS_CPU' }, decodeCpuStats);
  }

  /** What `conntrack -S expect` reads. */
  expectStats(): Promise<CpuCounters<ExpectStatName>[]> {
    return this.dumpAll(
      { type: ExpMsg.GET_STATS_CPU, name: 'IPCTNL_MSG_EXP_GET_STATS_CPU' },
      decodeExpectStats,
    );
  }

  /**
   * Streams the flow table (IPCTNL_MSG_CT_GET with NLM_F_DUMP, AF_UNSPEC: IPv4 and IPv6).
   * `onMessage` runs once per flow message, inside the datagram's buffer.
   */
  dumpFlows(onMessage: (msg: MessageView) => void): Promise<void> {
    return this.dumps.dump({ type: CtMsg.GET, name: 'IPCTNL_MSG_CT_GET' }, onMessage);
  }

  close(): void {
    this.requests.close();
    this.dumps.close();
  }

  private async dumpAll<T>(
    spec: { type: number; name: string },
    decode: (msg: MessageView) => T,
  ): Promise<T[]> {
    const out: T[] = [];
    // The transport counts and skips a message whose decoder throws DecodeError.
    await this.requests.dump(spec, (msg) => out.push(decode(msg)));
    return out;
  }
}
