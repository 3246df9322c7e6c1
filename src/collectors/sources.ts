// Layer: collectors. Decides whether collectors read ctnetlink or fall back to sysctl/procfs, and
// says so in one log line. ctnetlink needs CAP_NET_ADMIN for every request, reads included
// (nfnetlink_rcv() in net/netfilter/nfnetlink.c; docs/ctnetlink.md#permissions): only that refusal
// (EPERM) is final. Any other probe failure (a timeout, a socket error, the module still loading)
// falls back for now and is retried with backoff until ctnetlink answers or refuses with EPERM.

import type { Logger } from '../log.js';

export type SourceMode = 'auto' | 'netlink' | 'procfs';

/** What the probe sends: the cheapest read, IPCTNL_MSG_CT_GET_STATS (ConntrackClient.globalStats). */
export interface ProbeTarget {
  globalStats(): Promise<unknown>;
}

export interface RetryPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { initialMs: 1000, maxMs: 60_000 };

const FALLBACK =
  'table from the nf_conntrack_count/nf_conntrack_max sysctls, cpu_stats and expect_stats from /proc/net/stat/nf_conntrack, flows unavailable';

type State = 'netlink' | 'fallback' | 'retrying';

/** Whether ctnetlink is usable now; collectors read `usable` at every collection. */
export class NetlinkAvailability {
  private state: State;
  private timer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private stopped = false;
  private probing: Promise<void> | undefined;

  constructor(
    private readonly target: ProbeTarget,
    private readonly mode: SourceMode,
    private readonly log: Logger,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.state = mode === 'procfs' ? 'fallback' : 'netlink';
    this.delayMs = retry.initialMs;
  }

  get usable(): boolean {
    return this.state === 'netlink';
  }

  /** True while a non-EPERM failure is being retried. */
  get retrying(): boolean {
    return this.state === 'retrying';
  }

  /** True while a retry is waiting for its turn. */
  get retryScheduled(): boolean {
    return this.timer !== undefined;
  }

  /** Probes once (auto mode); on a failure other than EPERM, keeps retrying in the background. */
  async start(): Promise<boolean> {
    if (this.mode === 'procfs') {
      this.log.info(
        { source: 'procfs' },
        `ctnetlink disabled by CONNTRACK_EXPORTER_SOURCE=procfs: ${FALLBACK}`,
      );
      return false;
    }
    if (this.mode === 'netlink') return true;
    await this.probe();
    return this.usable;
  }

  /** Settles the retry in progress, if any (tests, and `once` before it collects). */
  async settled(): Promise<void> {
    await this.probing;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private probe(): Promise<void> {
    this.probing ??= this.target
      .globalStats()
      .then(
        () => this.succeeded(),
        (err: unknown) => this.failed(err),
      )
      .finally(() => {
        this.probing = undefined;
      });
    return this.probing;
  }

  private succeeded(): void {
    if (this.state === 'retrying') {
      this.log.info({ source: 'netlink' }, 'ctnetlink answers now: collectors read ctnetlink again');
    }
    this.state = 'netlink';
    this.delayMs = this.retry.initialMs;
  }

  private failed(err: unknown): void {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_NETLINK_PERMISSION') {
      this.state = 'fallback';
      this.log.warn(
        { source: 'fallback', code },
        `CAP_NET_ADMIN is missing, so the kernel refuses ctnetlink requests (EPERM): ${FALLBACK}`,
      );
      return;
    }
    const message = (err as Error).message;
    if (this.state !== 'retrying') {
      this.log.warn(
        { source: 'fallback', code, retryInMs: this.delayMs },
        `ctnetlink is not usable (${message}): ${FALLBACK}; retrying`,
      );
    } else {
      this.log.debug({ code, err: message, retryInMs: this.delayMs }, 'ctnetlink probe failed again');
    }
    this.state = 'retrying';
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.retry.maxMs, this.delayMs * 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.probe();
    }, delay);
    // A pending retry never keeps the process alive (`once`, shutdown).
    this.timer.unref();
  }
}
