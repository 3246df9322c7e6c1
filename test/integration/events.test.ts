// Integration: the `events` collector against the real kernel. Each case runs the exporter inside
// a throwaway namespace (events, acct, timestamp and the UDP timeout are per-netns sysctls) and
// makes known traffic from one process there; `conntrack -C` is the oracle for what exists.
// Expired entries are reaped by the kernel's gc worker (up to a minute) or by any dump walking
// past them: the tests run `conntrack -L` while they wait, so DESTROY follows expiry promptly.
// The machine-global net.core.rmem_max (the receive-buffer cap) is set per case and restored.

import { afterEach, describe, expect, it } from 'vitest';
import { startExporter, startTraffic, type ServingExporter } from '../support/exporter.js';
import { parseExposition, select, type ExpoSample } from '../support/exposition.js';
import { Netns, withConntrackMax, withRmemMax } from '../support/netns.js';
import { quietPeriod, waitFor, WaitTimeout } from '../support/wait.js';
import { HEARTBEAT_MS } from '../../src/collectors/events-reader.js';

const PORT = 9469;
/** The kernel's default net.core.rmem_max: what an untuned node grants (doubled: 416 KiB). */

/** The value of the one sample matching, or undefined (absent, or not exactly one). */
function valueOf(
  s: readonly ExpoSample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = select(s, name, labels);
  return found.length === 1 ? found[0]?.value : undefined;
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function namespace(sysctls: Record<string, string>, acct = false): Promise<Netns> {
  const ns = await Netns.create({ acct });
  cleanup.push(() => ns.destroy());
  for (const [key, value] of Object.entries(sysctls)) await ns.sysctl(key, value);
  return ns;
}

async function exporter(ns: Netns, extra: Record<string, string> = {}): Promise<ServingExporter> {
  const e = await startExporter(ns, PORT, {
    CONNTRACK_EXPORTER_COLLECTORS: 'events',
    CONNTRACK_EXPORTER_LOG_LEVEL: 'info',
    ...extra,
  });
  cleanup.push(() => e.stop());
  // Ready once the reader joined the groups (it then reports the granted buffer).
  await until(ns, (s) => valueOf(s, 'conntrack_events_receive_buffer_bytes') !== undefined, 15_000);
  return e;
}

async function scrape(ns: Netns): Promise<ExpoSample[]> {
  const { stdout } = await ns.exec('curl', ['-sf', `http://127.0.0.1:${PORT}/metrics`]);
  return parseExposition(stdout);
}

/**
 * Polls /metrics until `ok` holds (between polls, optionally runs `between`, e.g. a reaping dump)
 * and returns those samples; at the deadline it returns the last ones, so the assertion that
 * follows shows the values reached.
 */
async function until(
  ns: Netns,
  ok: (s: ExpoSample[]) => boolean,
  timeoutMs: number,
  between?: () => Promise<unknown>,
): Promise<ExpoSample[]> {
  let last: ExpoSample[] = [];
  return waitFor(
    async () => {
      last = await scrape(ns);
      if (ok(last)) return last;
      await between?.();
      return undefined;
    },
    { timeout: timeoutMs, interval: 200, what: 'the event counters' },
  ).catch((err: unknown) => {
    if (err instanceof WaitTimeout) return last;
    throw err;
  });
}

const created = (s: ExpoSample[], protocol = 'udp'): number =>
  valueOf(s, 'conntrack_connections_created_total', { family: 'ipv4', protocol }) ?? NaN;
const destroyed = (s: ExpoSample[], protocol = 'udp'): number =>
  valueOf(s, 'conntrack_connections_destroyed_total', { family: 'ipv4', protocol }) ?? NaN;
const overruns = (s: ExpoSample[]): number => valueOf(s, 'conntrack_events_overruns_total') ?? NaN;

async function flows(ns: Netns, count: number, net: number, rate?: number): Promise<void> {
  (await startTraffic(ns, { udpFlows: { count, net, ...(rate ? { rate } : {}) } })).kill('SIGKILL');
}

/** `conntrack -L` reaps expired entries it walks past (ctnetlink_dump_table), like the gc worker. */
const reap = (ns: Netns) => () => ns.exec('conntrack', ['-L']).catch(() => undefined);

/** UDP entries in the namespace (the scrapes leave TCP entries in TIME_WAIT). */
async function udpEntries(ns: Netns): Promise<number> {
  const { stdout } = await ns.exec('bash', ['-c', 'conntrack -L -p udp 2>/dev/null | wc -l']);
  return Number(stdout.trim());
}

describe('events collector (real kernel)', () => {
  it('counts 20,000 new UDP flows exactly; after expiry, 20,000 DESTROY with lifetimes and final counters', async () => {
    await withRmemMax(32 << 20, async () => {
      const ns = await namespace({ 'net.netfilter.nf_conntrack_udp_timeout': '2' }, true);
      await exporter(ns, {
        CONNTRACK_EXPORTER_EVENTS_RECEIVE_BUFFER_BYTES: String(32 << 20),
        CONNTRACK_EXPORTER_EVENTS_PORTS: '1024,1025,53',
      });
      await flows(ns, 20_000, 20);
      let s = await until(ns, (x) => created(x) >= 20_000, 30_000);
      expect(created(s)).toBe(20_000);
      expect(overruns(s)).toBe(0);
      // The flows go to ports 1024, 1025, ... one each (test/support/traffic.ts).
      const byPort = (port: string) =>
        valueOf(s, 'conntrack_connections_created_by_dst_port_total', { protocol: 'udp', port });
      expect(['1024', '1025', '53', 'other'].map(byPort)).toEqual([1, 1, 0, 19_998]);

      s = await until(ns, (x) => destroyed(x) >= 20_000, 90_000, reap(ns));
      expect(await udpEntries(ns)).toBe(0);
      expect(destroyed(s)).toBe(20_000);
      expect(created(s)).toBe(20_000);
      expect(overruns(s)).toBe(0);
      const life = (le: string): number | undefined =>
        valueOf(s, 'conntrack_connection_lifetime_seconds_bucket', { protocol: 'udp', le });
      expect(valueOf(s, 'conntrack_connection_lifetime_seconds_count', { protocol: 'udp' })).toBe(20_000);
      // Each lived one UDP timeout (2 s): the stop of an expired entry is its expiry time.
      expect(life('1')).toBe(0);
      expect(life('5')).toBe(20_000);
      // One 8-byte datagram each: 36 bytes at L3, one packet, nothing back.
      const fin = (name: string, direction: string) => valueOf(s, name, { protocol: 'udp', direction });
      expect(fin('conntrack_connection_finished_bytes_total', 'original')).toBe(20_000 * 36);
      expect(fin('conntrack_connection_finished_packets_total', 'original')).toBe(20_000);
      expect(fin('conntrack_connection_finished_packets_total', 'reply')).toBe(0);
    });
  }, 150_000);

  it('a 300,000-flow burst leaves the exporter serving; all counted or overruns counted; 1,000 paced flows after it exactly', async () => {
    // The smallest buffer (128 KiB granted, about 100 queued events): the burst overruns it for sure.
    await withConntrackMax(1 << 19, async () => {
      const ns = await namespace({ 'net.netfilter.nf_conntrack_udp_timeout': '600' });
      const e = await exporter(ns, { CONNTRACK_EXPORTER_EVENTS_RECEIVE_BUFFER_BYTES: '65536' });
      expect(valueOf(await scrape(ns), 'conntrack_events_receive_buffer_bytes')).toBe(131072);
      await flows(ns, 300_000, 30);
      expect(await udpEntries(ns)).toBe(300_000);
      expect(e.child.exitCode).toBeNull();
      // Serving, and the reader healthy.
      let s = await until(
        ns,
        (x) => valueOf(x, 'conntrack_scrape_collector_success', { collector: 'events' }) === 1,
        20_000,
      );
      expect(valueOf(s, 'conntrack_scrape_collector_success', { collector: 'events' })).toBe(1);
      // Settled: the reader drains what the kernel queued (at most a buffer's worth) and flushes
      // every 200 ms; the count is final once three scrapes, 200 ms or more apart, agree.
      let previous = -1;
      let stable = 0;
      s = await until(
        ns,
        (x) => {
          const now = created(x);
          stable = now === previous ? stable + 1 : 0;
          previous = now;
          return stable >= 2;
        },
        20_000,
      );
      const burst = created(s);
      const lost = overruns(s);
      expect(burst).toBeLessThanOrEqual(300_000);
      expect(burst === 300_000 || lost > 0).toBe(true);
      expect(lost).toBeGreaterThan(0);

      await flows(ns, 1000, 31, 1000);
      s = await until(ns, (x) => created(x) >= burst + 1000, 20_000);
      expect(created(s) - burst).toBe(1000);
      expect(overruns(s)).toBe(lost);
      expect(e.child.exitCode).toBeNull();
    });
  }, 150_000);

  it('nf_conntrack_events=0: no events (coverage none, said in one log line); turned on, exact counts again', async () => {
    const ns = await namespace({ 'net.netfilter.nf_conntrack_events': '0' });
    const e = await exporter(ns);
    await flows(ns, 500, 40);
    expect(await udpEntries(ns)).toBe(500);
    let s = await scrape(ns);
    expect(valueOf(s, 'conntrack_events_coverage_info', { coverage: 'none' })).toBe(1);
    expect(e.stderr()).toMatch(
      /"coverage":"none".*nf_conntrack_events=0: the kernel sends no connection events/,
    );

    await ns.sysctl('net.netfilter.nf_conntrack_events', '1');
    await flows(ns, 100, 41);
    s = await until(ns, (x) => created(x) >= 100, 15_000);
    // The listener was there all along: the 500 earlier flows were never sent.
    expect(created(s)).toBe(100);
    expect(valueOf(s, 'conntrack_events_coverage_info', { coverage: 'all' })).toBe(1);
  }, 60_000);

  it.each([
    { mode: '2', coverage: 'since_listening', destroyedBefore: 0 },
    { mode: '1', coverage: 'all', destroyedBefore: 200 },
  ])(
    'nf_conntrack_events=$mode: flows from before the listener send DESTROY only with 1',
    async ({ mode, coverage, destroyedBefore }) => {
      const ns = await namespace({ 'net.netfilter.nf_conntrack_events': mode });
      // 200 flows while no listener exists (nor any elsewhere on the host: the flag is host-wide).
      await flows(ns, 200, 50);
      const e = await exporter(ns);
      await flows(ns, 300, 51);
      let s = await until(ns, (x) => created(x) >= 300, 15_000);
      expect(created(s)).toBe(300);

      // Deleting entries sends DESTROY at once (expiry is covered above): all 500 go.
      await ns.exec('conntrack', ['-D', '-p', 'udp']);
      expect(await udpEntries(ns)).toBe(0);
      s = await until(ns, (x) => destroyed(x) >= 300 + destroyedBefore, 15_000);
      // Two reader heartbeats (each carries any pending count): nothing else arrives for the earlier flows.
      await quietPeriod(2 * HEARTBEAT_MS);
      s = await scrape(ns);
      // With events=2 the earlier flows carry the event extension only if some other ctnetlink
      // listener existed on the host when they were created (the flag is host-wide, docs/events.md).
      expect(destroyed(s), 'DESTROY events (another event listener on the host breaks events=2)').toBe(
        300 + destroyedBefore,
      );
      expect(created(s)).toBe(300);
      expect(valueOf(s, 'conntrack_events_coverage_info', { coverage })).toBe(1);
      expect(e.stderr()).toContain(`nf_conntrack_events=${mode}:`);
    },
    60_000,
  );
});
