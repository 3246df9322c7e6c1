// Unit: the pod and unreplied-DNAT breakdowns of the flow aggregate (src/flows/pods.ts), on the recorded NAT flows
// (test/fixtures/flows-nat.json) with the CLI's own text as the oracle, and on hand-built flows
// for the roles (client, server by destination, server behind DNAT).

import { describe, expect, it } from 'vitest';
import { FlowAggregator, type AggregateResult } from '../../src/flows/aggregate.js';
import { ByPod } from '../../src/flows/pods.js';
import type { GaugeSample } from '../../src/metrics/sample.js';
import { IPS } from '../../src/conntrack/constants.js';
import { decodeFlowFields, FlowFields } from '../../src/conntrack/flow.js';
import { parseConntrackLine, tally } from '../support/conntrack-output.js';
import { loadFixture, viewOf } from '../support/fixtures.js';

const WIDE = { topK: 1000, seriesBudget: 1_000_000 };
const v4 = (a: number, b: number, c: number, d: number): number => (a << 24) | (b << 16) | (c << 8) | d | 0;

function gauges(r: AggregateResult, metric: string): Record<string, number> {
  return Object.fromEntries(
    r.samples
      .filter((s): s is GaugeSample => s.kind === 'value' && s.metric.name === metric)
      .map((s) => [Object.values(s.labels).join('/'), s.value]),
  );
}

function flow(
  src: number,
  dst: number,
  replySrc: number,
  status: number = IPS.SEEN_REPLY,
  proto = 17,
): FlowFields {
  const f = new FlowFields();
  f.family = 2;
  f.orig.proto = f.reply.proto = proto;
  f.orig.src = src;
  f.orig.dst = dst;
  f.reply.src = replySrc;
  f.reply.dst = src;
  f.orig.sport = f.reply.dport = 40000;
  f.orig.dport = f.reply.sport = 53;
  f.status = status;
  return f;
}

describe('unreplied DNAT by backend', () => {
  it('matches the CLI on the recorded NAT flows (SNAT and port-only DNAT: none counted)', () => {
    const fixture = loadFixture('flows-nat');
    const agg = new FlowAggregator(0);
    const fields = new FlowFields();
    for (const m of fixture.corpus('flows').messages.slice(0, -1))
      agg.add(decodeFlowFields(viewOf(m), fields));
    const cli = (fixture.cli['conntrack -L -o extended'] ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(parseConntrackLine)
      .filter((f) => f.flags.includes('UNREPLIED') && f.reply.src !== f.orig.dst);
    const expected = Object.fromEntries(tally(cli, (f) => `${f.protocol}/${f.reply.src}`));
    // The recording rewrites only ports and sources; an unreplied port-only DNAT is in it.
    expect(cli.length).toBe(0);
    expect(gauges(agg.result(WIDE, 1), 'conntrack_flows_unreplied_dnat')).toEqual(expected);
  });

  it('keeps the top K backends per protocol and sums the rest into backend="other"', () => {
    const agg = new FlowAggregator(0);
    const node = v4(198, 18, 0, 1);
    const service = v4(198, 19, 0, 10);
    for (let b = 1; b <= 4; b++)
      for (let i = 0; i < b; i++) agg.add(flow(node, service, v4(198, 18, 1, b), 0));
    agg.add(flow(node, service, v4(198, 18, 1, 9), IPS.SEEN_REPLY)); // replied: not counted
    agg.add(flow(node, v4(198, 18, 1, 8), v4(198, 18, 1, 8), 0)); // not DNATed: not counted
    expect(gauges(agg.result({ topK: 2, seriesBudget: 1000 }, 2), 'conntrack_flows_unreplied_dnat')).toEqual({
      'udp/198.18.1.4': 8,
      'udp/198.18.1.3': 6,
      'udp/other': 6,
    });
  });

  it('by prefix: backends merge per network before the top K; with none only backend="other" (issue 11)', () => {
    const node = v4(198, 18, 0, 1);
    const service = v4(198, 19, 0, 10);
    const add = (agg: FlowAggregator): FlowAggregator => {
      for (let b = 1; b <= 4; b++)
        for (let i = 0; i < b; i++) agg.add(flow(node, service, v4(198, 18, 1, b), 0));
      agg.add(flow(node, service, v4(198, 18, 2, 7), 0));
      agg.add(flow(node, service, v4(198, 18, 3, 7), 0, 6));
      return agg;
    };
    const prefix = add(new FlowAggregator(0, undefined, { mode: 'prefix', ipv4: 24, ipv6: 64 }));
    // The top 1 of the /24s (198.18.1.0/24 holds 1+2+3+4 flows); the rest in each protocol's "other".
    expect(
      gauges(prefix.result({ topK: 1, seriesBudget: 1000 }, 1), 'conntrack_flows_unreplied_dnat'),
    ).toEqual({
      'udp/198.18.1.0/24': 10,
      'udp/other': 1,
      'tcp/other': 1,
    });
    const none = add(new FlowAggregator(0, undefined, { mode: 'none' }));
    expect(gauges(none.result(WIDE, 1), 'conntrack_flows_unreplied_dnat')).toEqual({
      'udp/other': 11,
      'tcp/other': 1,
    });
  });
});

describe('flows by pod', () => {
  const A = v4(198, 18, 1, 2);
  const B = v4(198, 18, 2, 2);
  const pods = {
    uids: ['pod-a', 'pod-b'],
    addresses: [
      [A, 0],
      [B, 1],
    ] as [number, number][],
  };
  const outside = v4(198, 19, 9, 9);
  const service = v4(198, 19, 0, 10);

  it('client by original source, server by original destination or by the reply after DNAT', () => {
    const tallyPods = new ByPod(pods);
    tallyPods.add(flow(A, outside, outside)); // a client
    tallyPods.add(flow(A, B, B)); // a client, b server
    tallyPods.add(flow(outside, service, B)); // b server behind a Service
    tallyPods.add(flow(A, service, B)); // a client, b server behind a Service
    tallyPods.add(flow(outside, service, outside)); // nobody's
    const series = tallyPods.gauges()[0]?.series ?? [];
    expect(Object.fromEntries(series.map((x) => [`${x.labels.pod_uid}/${x.labels.role}`, x.value]))).toEqual({
      'pod-a/client': 3,
      'pod-b/server': 3,
    });
  });

  it('matches full addresses whatever the address reporting; labels carry only pod UIDs (issue 11)', () => {
    for (const addresses of [{ mode: 'none' }, { mode: 'prefix', ipv4: 8, ipv6: 64 }] as const) {
      const agg = new FlowAggregator(0, pods, addresses);
      agg.add(flow(A, B, B));
      agg.add(flow(v4(198, 18, 1, 3), outside, outside)); // same /8 and /24 as A, not a pod
      expect(gauges(agg.result(WIDE, 1), 'conntrack_flows_by_pod')).toEqual({
        'pod-a/client': 1,
        'pod-b/server': 1,
      });
    }
  });

  it('is scaled like the other flow metrics, and absent without a pod table', () => {
    const withPods = new FlowAggregator(0, pods);
    const without = new FlowAggregator(0);
    for (const agg of [withPods, without]) {
      agg.add(flow(A, B, B));
      agg.add(flow(B, outside, outside));
    }
    expect(gauges(withPods.result(WIDE, 4), 'conntrack_flows_by_pod')).toEqual({
      'pod-a/client': 4,
      'pod-b/server': 4,
      'pod-b/client': 4,
    });
    expect(gauges(without.result(WIDE, 4), 'conntrack_flows_by_pod')).toEqual({});
  });

  it('folds pods into pod_uid="other" under the budget, keeping the role and the totals', () => {
    const many = Array.from({ length: 50 }, (_, i) => v4(198, 18, 3, i + 1));
    const table = {
      uids: many.map((_, i) => `pod-${i}`),
      addresses: many.map((a, i) => [a, i] as [number, number]),
    };
    const agg = new FlowAggregator(0, table);
    many.forEach((a, i) => {
      for (let n = 0; n <= i; n++) agg.add(flow(a, outside, outside));
      agg.add(flow(outside, a, a));
    });
    const r = agg.result({ topK: 10, seriesBudget: 40 }, 1);
    const byPod = r.samples.filter(
      (s): s is GaugeSample => s.kind === 'value' && s.metric.name === 'conntrack_flows_by_pod',
    );
    const total = (role: string): number =>
      byPod.filter((s) => s.labels.role === role).reduce((n, s) => n + s.value, 0);
    expect(total('client')).toBe((50 * 51) / 2);
    expect(total('server')).toBe(50);
    expect(byPod.some((s) => s.labels.pod_uid === 'other')).toBe(true);
    expect(r.samples.length).toBeLessThanOrEqual(40);
  });
});
