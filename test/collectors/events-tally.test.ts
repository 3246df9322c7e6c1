// Unit: event tallies and totals over the recorded kernel events (test/fixtures/events.json):
// NEW/DESTROY counts by family and protocol, final counters and lifetimes from DESTROY, true
// counters across deltas, and the histogram's `le` boundaries.

import { describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/conntrack/events.js';
import { FlowFields } from '../../src/conntrack/flow.js';
import { bucketIndex, EventTally, EventTotals } from '../../src/collectors/events-tally.js';
import { LIFETIME_BUCKETS } from '../../src/metrics/catalog.js';
import type { Sample } from '../../src/metrics/sample.js';
import { loadFixture, viewOf } from '../support/fixtures.js';

const messages = loadFixture('events').corpus('events').messages;

function tallied(): EventTally {
  const tally = new EventTally();
  const f = new FlowFields();
  for (const m of messages) tally.add(decodeEvent(viewOf(m), f), f);
  return tally;
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const s = samples.find(
    (x) => x.metric.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
  if (!s) return undefined;
  return s.kind === 'value' ? s.value : s.count;
}

describe('event tally', () => {
  it('counts the recorded NEW and DESTROY events by family and protocol, as conntrack -E listed them', () => {
    const totals = new EventTotals();
    const delta = tallied().takeDelta();
    if (!delta) throw new Error('nothing tallied');
    totals.merge(delta);
    const s = totals.samples();
    const created = (family: string, protocol: string) =>
      value(s, 'conntrack_connections_created_total', { family, protocol });
    const destroyed = (family: string, protocol: string) =>
      value(s, 'conntrack_connections_destroyed_total', { family, protocol });
    expect([created('ipv4', 'udp'), created('ipv4', 'tcp'), created('ipv6', 'udp')]).toEqual([2, 1, 1]);
    expect([destroyed('ipv4', 'udp'), destroyed('ipv4', 'tcp'), destroyed('ipv6', 'udp')]).toEqual([2, 1, 1]);
    // The common series exist from the start at 0, so rate() sees the first connection.
    expect(created('ipv6', 'tcp')).toBe(0);
    // Final counters (conntrack -E: udp 66 + 1365 + 603 bytes original, tcp 1268/164).
    const bytes = (protocol: string, direction: string) =>
      value(s, 'conntrack_connection_finished_bytes_total', { protocol, direction });
    const packets = (protocol: string, direction: string) =>
      value(s, 'conntrack_connection_finished_packets_total', { protocol, direction });
    expect([
      bytes('udp', 'original'),
      bytes('udp', 'reply'),
      bytes('tcp', 'original'),
      bytes('tcp', 'reply'),
    ]).toEqual([2034, 0, 1268, 164]);
    expect([packets('udp', 'original'), packets('tcp', 'original'), packets('tcp', 'reply')]).toEqual([
      4, 5, 3,
    ]);
    const udpLife = s.find(
      (x) => x.metric.name === 'conntrack_connection_lifetime_seconds' && x.labels.protocol === 'udp',
    );
    expect(udpLife).toMatchObject({ kind: 'histogram', count: 3 });
    if (udpLife?.kind !== 'histogram') return;
    // 0.41 to 0.61 s: none at or under 0.1 s, all at or under 1 s.
    expect(udpLife.bucketCounts.slice(0, 3)).toEqual([0, 1, 3]);
    expect(udpLife.sum).toBeGreaterThan(1.2);
    expect(udpLife.sum).toBeLessThan(2);
  });

  it('counts NEW events by the configured destination ports, every other port as other', () => {
    // The recorded NEW events: UDP to 9 and 6100 (IPv4) and 6200 (IPv6), TCP to 5201.
    const ports = new Set([9, 5201, 53]);
    const tally = new EventTally(ports);
    const f = new FlowFields();
    for (const m of messages) tally.add(decodeEvent(viewOf(m), f), f);
    const totals = new EventTotals(ports);
    const delta = tally.takeDelta();
    if (!delta) throw new Error('nothing tallied');
    totals.merge(delta);
    const byPort = totals
      .samples()
      .filter((x) => x.metric.name === 'conntrack_connections_created_by_dst_port_total')
      .map((x) => [x.labels.protocol, x.labels.port, x.kind === 'value' ? x.value : NaN]);
    // Every configured port of TCP and UDP is there from the start, 0 until its first connection;
    // DESTROY events count nowhere here.
    expect(byPort).toEqual([
      ['tcp', '9', 0],
      ['tcp', '53', 0],
      ['tcp', '5201', 1],
      ['tcp', 'other', 0],
      ['udp', '9', 1],
      ['udp', '53', 0],
      ['udp', '5201', 0],
      ['udp', 'other', 2],
    ]);
  });

  it('counts NEW events by pod and role once it has the pods; new pods start at 0, gone ones go', () => {
    // The recorded events are on loopback: 127.0.0.1 -> 127.0.0.1 (three NEW), ::1 -> ::1 (one).
    const f = new FlowFields();
    decodeEvent(viewOf(messages[0] ?? Buffer.alloc(0)), f);
    const v4 = f.orig.src;
    decodeEvent(viewOf(messages[3] ?? Buffer.alloc(0)), f);
    const v6 = f.orig.src;
    const tally = new EventTally();
    tally.setPods(
      ['pod-a', 'pod-b'],
      [
        [v4, 0],
        [v6, 1],
      ],
    );
    for (const m of messages) tally.add(decodeEvent(viewOf(m), f), f);
    const totals = new EventTotals();
    const delta = tally.takeDelta();
    if (!delta) throw new Error('nothing tallied');
    totals.merge(delta);
    const byPod = () =>
      totals
        .samples()
        .filter((x) => x.metric.name === 'conntrack_connections_created_by_pod_total')
        .map((x) => `${x.labels.pod_uid}/${x.labels.role}=${x.kind === 'value' ? x.value : NaN}`)
        .sort();
    // DESTROY events are not counted here; a pod talking to itself is its own client and server.
    expect(byPod()).toEqual(['pod-a/client=3', 'pod-a/server=3', 'pod-b/client=1', 'pod-b/server=1']);
    totals.setPods(['pod-b', 'pod-c']);
    expect(byPod()).toEqual(['pod-b/client=1', 'pod-b/server=1', 'pod-c/client=0', 'pod-c/server=0']);
  });

  it('hands over each count once, and the totals only grow across deltas', () => {
    const tally = tallied();
    const first = tally.takeDelta();
    expect(tally.takeDelta()).toBeUndefined();
    const totals = new EventTotals();
    if (!first) throw new Error('nothing tallied');
    totals.merge(first);
    totals.merge(first);
    expect(totals.count('created', 'ipv4', 'udp')).toBe(4);
    expect(totals.count('destroyed', 'ipv4', 'tcp')).toBe(2);
  });

  it('ignores UPDATE events, and lifetimes or counters a DESTROY did not carry stay absent', () => {
    const tally = new EventTally();
    const f = new FlowFields();
    decodeEvent(viewOf(messages[0] ?? Buffer.alloc(0)), f);
    tally.add('update', f);
    expect(tally.takeDelta()).toBeUndefined();
    // A DESTROY without timestamp or acct (both sysctls off): counted, nothing else.
    f.startNs = f.stopNs = f.origBytes = f.replyBytes = f.origPackets = f.replyPackets = -1;
    tally.add('destroy', f);
    const totals = new EventTotals();
    totals.merge(
      tally.takeDelta() ?? {
        created: {},
        createdByPort: {},
        createdByPod: {},
        destroyed: {},
        lifetime: {},
        finished: {},
      },
    );
    const names = new Set(totals.samples().map((s) => s.metric.name));
    expect(names).toEqual(
      new Set([
        'conntrack_connections_created_total',
        'conntrack_connections_created_by_dst_port_total',
        'conntrack_connections_destroyed_total',
      ]),
    );
  });

  it('puts a lifetime equal to a bound in that bucket (le), and above every bound in +Inf only', () => {
    expect(bucketIndex(0.1)).toBe(0);
    expect(bucketIndex(0.100001)).toBe(1);
    expect(bucketIndex(0)).toBe(0);
    expect(bucketIndex(30)).toBe(LIFETIME_BUCKETS.indexOf(30));
    expect(bucketIndex(1e9)).toBe(LIFETIME_BUCKETS.length);
  });
});
