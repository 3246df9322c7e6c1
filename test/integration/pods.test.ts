// Integration: pod attribution on a real topology. A "node" namespace routes between veth pairs to
// three "pod" namespaces, each with one long-lived process in a real cgroup named like the
// kubelet's (cgroupfs and systemd drivers); nftables DNAT rules in the node stand in for Services
// (one to a live pod that answers, one to a live pod that stays silent, one to an address with no
// pod behind it). A process of a host-network pod runs in the node namespace itself. The exporter
// runs in the node namespace with only the default collectors plus CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION,
// and `conntrack -L` there is the oracle. Addresses: 198.18.0.0/15 and 2001:2::/48 only.

import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConntrackLine, tally, type CliFlow } from '../support/conntrack-cli.js';
import { PodCgroup } from '../support/cgroups.js';
import { readFile } from 'node:fs/promises';
import { collectQueries, renderQuery } from '../support/dashboard-lint.js';
import { NODE, REPO, runOnce, startExporter, type ServingExporter } from '../support/exporter.js';
import { parseExposition, select, valueOf } from '../support/exposition.js';
import { Netns } from '../support/netns.js';
import type { PodTrafficPlan } from '../support/pod-traffic.js';
import { NEEDS_PODS, Prometheus, testRules, waitFor } from '../support/prometheus.js';

const POD_TRAFFIC = `${REPO}dist/test/support/pod-traffic.js`;

/** A dead backend: routed onto a link in the node namespace where no host has that address. */
const DEAD = '198.18.250.9';
const OUTSIDE = '198.18.250.50';
const SERVICES = { live: '198.19.0.10', dead: '198.19.0.20', silent: '198.19.0.30' } as const;
const ECHO = 5353;
const SINK = 7777;
const POD1_ECHO = 6000;

interface Pod {
  readonly ns: Netns;
  readonly cgroup: PodCgroup;
  readonly v4: string;
  readonly v6: string;
  process?: ChildProcess;
}

async function waitReady(child: ChildProcess): Promise<void> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', () => out.includes('ready') && resolve());
    child.on('exit', (code) =>
      out.includes('ready') ? resolve() : reject(new Error(`pod-traffic exited ${code}: ${err}`)),
    );
  });
}

async function run(ns: Netns, plan: PodTrafficPlan): Promise<ChildProcess> {
  const child = ns.spawn(NODE, [POD_TRAFFIC, JSON.stringify(plan)]);
  await waitReady(child);
  return child;
}

describe('pod attribution on a node with pods and Services', () => {
  let node: Netns;
  const pods: Pod[] = [];
  const cgroups: PodCgroup[] = [];
  let hostNetworkPod: PodCgroup;

  beforeAll(async () => {
    node = await Netns.create({
      nft: `table ip cte_services {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${SERVICES.live} udp dport 53 dnat to 198.18.2.2:${ECHO}
    ip daddr ${SERVICES.dead} udp dport 53 dnat to ${DEAD}:${ECHO}
    ip daddr ${SERVICES.silent} udp dport 53 dnat to 198.18.3.2:${SINK}
  }
}
`,
    });
    await node.sysctl('net.ipv4.ip_forward', '1');
    // Unreplied UDP entries live 30 s by default (per netns): long enough here, not on a slow run.
    await node.sysctl('net.netfilter.nf_conntrack_udp_timeout', '600');
    await node.sysctl('net.ipv6.conf.all.forwarding', '1');
    // Nobody answers ARP for the dead backend on this link; entries are confirmed before that.
    await node.exec('ip', ['link', 'add', 'dead0', 'type', 'veth', 'peer', 'name', 'dead1']);
    await node.exec('ip', ['link', 'set', 'dead0', 'up']);
    await node.exec('ip', ['link', 'set', 'dead1', 'up']);
    await node.exec('ip', ['addr', 'add', '198.18.250.1/24', 'dev', 'dead0']);
    const drivers = ['cgroupfs', 'systemd', 'cgroupfs'] as const;
    for (let i = 1; i <= 3; i++) {
      const ns = await Netns.create();
      const cgroup = await PodCgroup.create(drivers[i - 1] ?? 'cgroupfs');
      cgroups.push(cgroup);
      const pod: Pod = { ns, cgroup, v4: `198.18.${i}.2`, v6: `2001:2::${i}:2` };
      pods.push(pod);
      await node.exec('ip', [
        'link',
        'add',
        `veth${i}`,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns.name,
      ]);
      await node.exec('ip', ['link', 'set', `veth${i}`, 'up']);
      await node.exec('ip', ['addr', 'add', `198.18.${i}.1/24`, 'dev', `veth${i}`]);
      await node.exec('ip', ['-6', 'addr', 'add', `2001:2::${i}:1/112`, 'dev', `veth${i}`, 'nodad']);
      await ns.exec('ip', ['link', 'set', 'eth0', 'up']);
      await ns.exec('ip', ['addr', 'add', `${pod.v4}/24`, 'dev', 'eth0']);
      await ns.exec('ip', ['-6', 'addr', 'add', `${pod.v6}/112`, 'dev', 'eth0', 'nodad']);
      await ns.exec('ip', ['route', 'add', 'default', 'via', `198.18.${i}.1`]);
      await ns.exec('ip', ['-6', 'route', 'add', 'default', 'via', `2001:2::${i}:1`]);
      // The pod's first process (its "pause" container), in the pod's cgroup before anyone looks.
      pod.process = await run(ns, { serve: { echo: i === 3 ? [] : [ECHO, POD1_ECHO], sink: [SINK] } });
      await cgroup.add(pod.process.pid ?? 0);
    }
    // A host-network pod: a process in the node namespace itself, in a pod cgroup.
    hostNetworkPod = await PodCgroup.create('cgroupfs');
    cgroups.push(hostNetworkPod);
    const hostProcess = await run(node, { serve: { sink: [SINK] } });
    await hostNetworkPod.add(hostProcess.pid ?? 0);

    await podTraffic();
  });

  /** What podTraffic() makes, per pod UID and role. */
  function trafficByPod(): Record<string, number> {
    const [pod1, pod2, pod3] = pods as [Pod, Pod, Pod];
    return {
      [`${pod1.cgroup.uid}/client`]: 7 + 5 + 4 + 2,
      [`${pod1.cgroup.uid}/server`]: 3,
      [`${pod2.cgroup.uid}/client`]: 3,
      [`${pod2.cgroup.uid}/server`]: 7 + 2 + 2,
      [`${pod3.cgroup.uid}/client`]: 6,
      [`${pod3.cgroup.uid}/server`]: 4,
    };
  }

  /** The test's traffic; each run makes 18 + 3 + 3 + 6 new flows from pods (see the expectations). */
  async function podTraffic(): Promise<void> {
    const [pod1, pod2, pod3] = pods as [Pod, Pod, Pod];
    // pod1 -> Services: 7 answered by pod2, 5 to the dead backend, 4 to silent pod3.
    await run(pod1.ns, { send: { host: SERVICES.live, port: 53, count: 7, reply: true } });
    await run(pod1.ns, { send: { host: SERVICES.dead, port: 53, count: 5, reply: false } });
    await run(pod1.ns, { send: { host: SERVICES.silent, port: 53, count: 4, reply: false } });
    // pod1 -> pod2 over IPv6, directly: 2. pod2 -> pod1 directly: 3. pod3 -> outside: 6.
    await run(pod1.ns, { send: { host: pod2.v6, port: ECHO, count: 2, reply: true } });
    await run(pod2.ns, { send: { host: pod1.v4, port: POD1_ECHO, count: 3, reply: true } });
    await run(pod3.ns, { send: { host: OUTSIDE, port: 9, count: 6, reply: false } });
    // The node itself -> pod2: 2; the node's address is nobody's pod.
    await run(node, { send: { host: pod2.v4, port: ECHO, count: 2, reply: true } });
  }

  afterAll(async () => {
    for (const pod of pods) await pod.ns.destroy();
    await node?.destroy();
    for (const cgroup of [...cgroups].reverse()) await cgroup.destroy();
  });

  /** Per pod UID and role, the flows `conntrack -L` in the node namespace shows. */
  function cliByPod(flows: readonly CliFlow[]): Record<string, number> {
    const owner = new Map<string, string>();
    for (const pod of pods) {
      owner.set(pod.v4, pod.cgroup.uid);
      owner.set(pod.v6, pod.cgroup.uid);
    }
    const out: string[] = [];
    for (const f of flows) {
      const client = owner.get(f.orig.src);
      if (client) out.push(`${client}/client`);
      const server =
        owner.get(f.orig.dst) ?? (f.reply.src !== f.orig.dst ? owner.get(f.reply.src) : undefined);
      if (server) out.push(`${server}/server`);
    }
    return Object.fromEntries(tally(out, (k) => k));
  }

  it('counts each pod’s flows as client and as server exactly as conntrack -L shows them', async () => {
    const flows = (await node.conntrackList()).map(parseConntrackLine);
    const expected = cliByPod(flows);
    // The oracle agrees with the traffic the test made.
    expect(expected).toEqual(trafficByPod());
    const samples = parseExposition(
      (await runOnce(node, { CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION: 'true' })).stdout,
    );
    // The whole table fits the pass: nothing sampled, nothing folded.
    expect(valueOf(samples, 'conntrack_flow_pass_sampling_ratio')).toBe(1);
    expect(valueOf(samples, 'conntrack_flow_series_folded')).toBe(0);
    const got = Object.fromEntries(
      select(samples, 'conntrack_flows_by_pod').map((s) => [`${s.labels.pod_uid}/${s.labels.role}`, s.value]),
    );
    expect(got).toEqual(expected);
    expect(valueOf(samples, 'conntrack_flow_attribution_pods')).toBe(3);
    // The host-network pod shares the node's addresses: never attributed.
    expect(Object.keys(got).some((k) => k.startsWith(hostNetworkPod.uid))).toBe(false);
  });

  it('shows the dead backend’s and the silent live backend’s unreplied DNAT flows exactly', async () => {
    const flows = (await node.conntrackList()).map(parseConntrackLine);
    const cli = Object.fromEntries(
      tally(
        flows.filter((f) => f.flags.includes('UNREPLIED') && f.reply.src !== f.orig.dst),
        (f) => `${f.protocol}/${f.reply.src}`,
      ),
    );
    expect(cli).toEqual({ [`udp/${DEAD}`]: 5, 'udp/198.18.3.2': 4 });
    const samples = parseExposition(
      (await runOnce(node, { CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION: 'true' })).stdout,
    );
    const got = Object.fromEntries(
      select(samples, 'conntrack_flows_unreplied_dnat').map((s) => [
        `${s.labels.protocol}/${s.labels.backend}`,
        s.value,
      ]),
    );
    expect(got).toEqual(cli);
  });

  it('leaves attribution off by default', async () => {
    const samples = parseExposition((await runOnce(node)).stdout);
    expect(select(samples, 'conntrack_flows_by_pod')).toEqual([]);
    expect(select(samples, 'conntrack_flow_attribution_pods')).toEqual([]);
    expect(select(samples, 'conntrack_flows').length).toBeGreaterThan(0);
  });
  it('fills the dashboard’s pod panels and fires the unreplied DNAT alert in a real Prometheus', async () => {
    const [pod1, pod2, pod3] = pods as [Pod, Pod, Pod];
    const EXPORTER_PORT = 9400;
    const KSM_PORT = 9401;
    const PROMETHEUS_PORT = 9090;
    const JOB = 'conntrack-exporter';
    // kube-state-metrics stand-in: kube_pod_info for pod1 and pod2 only; pod3 must fall back to its UID.
    const info = [pod1, pod2]
      .map(
        (p, i) =>
          `kube_pod_info{namespace="team-${i + 1}",pod="web-${i + 1}",uid="${p.cgroup.uid}",node="node-a"} 1`,
      )
      .join('\n');
    const ksm = node.spawn(NODE, [
      '-e',
      `require('node:http').createServer((q, r) => r.end(${JSON.stringify(`${info}\n`)})).listen(${KSM_PORT}, '127.0.0.1', () => console.log('ready'))`,
    ]);
    await waitReady(ksm);
    let exporter: ServingExporter | undefined;
    let prom: Prometheus | undefined;
    try {
      exporter = await startExporter(node, EXPORTER_PORT, {
        CONNTRACK_EXPORTER_COLLECTORS: 'table,cpu_stats,expect_stats,sysctl,flows,events',
        CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION: 'true',
        CONNTRACK_EXPORTER_EVENTS_POD_ATTRIBUTION: 'true',
        CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS: '1',
      });
      // The threshold lowered to the test's traffic: both backends (5 and 4 flows) qualify.
      const rules = await testRules('5s', { unrepliedDnatMinFlows: '4' });
      prom = await Prometheus.start(node, {
        port: PROMETHEUS_PORT,
        target: `127.0.0.1:${EXPORTER_PORT}`,
        job: JOB,
        rules: rules.text,
        interval: '1s',
        extraTargets: [{ job: 'kube-state-metrics', target: `127.0.0.1:${KSM_PORT}` }],
      });
      const p = prom;
      await waitFor(
        'pod series and kube_pod_info scraped',
        async () =>
          (await p.query('conntrack_flows_by_pod')).length > 0 &&
          (await p.query('kube_pod_info')).length > 0 &&
          // Two scrapes of the per-pod counters (they start at 0 once the pods are known): rate() has data.
          (await p.query('rate(conntrack_connections_created_by_pod_total[15s])')).length > 0
            ? true
            : undefined,
        30_000,
      );
      const dashboard: unknown = JSON.parse(
        await readFile(`${REPO}deploy/grafana/conntrack-node.json`, 'utf8'),
      );
      const queries = collectQueries(dashboard).filter((q) => NEEDS_PODS.test(q.expr));
      expect(queries.length).toBeGreaterThanOrEqual(4);
      const vars = { job: JOB, instance: `127.0.0.1:${EXPORTER_PORT}`, __rate_interval: '15s' };
      const empty: string[] = [];
      for (const q of queries) {
        if ((await p.query(renderQuery(q.expr, vars))).length === 0) empty.push(`${q.panelTitle}: ${q.expr}`);
      }
      expect(empty).toEqual([]);
      // The join names pods kube-state-metrics knows and falls back to the UID for the others.
      const top = queries.find((q) => q.panelTitle === 'Top pods by flows');
      const named = await p.query(renderQuery(top?.expr ?? '', vars));
      const byUid: Record<string, [string, string, number]> = {};
      for (const s of named) {
        byUid[s.metric.pod_uid ?? '?'] = [s.metric.namespace ?? '', s.metric.pod ?? '', Number(s.value[1])];
      }
      expect(byUid).toEqual({
        [pod1.cgroup.uid]: ['team-1', 'web-1', 18 + 3],
        [pod2.cgroup.uid]: ['team-2', 'web-2', 3 + 11],
        [pod3.cgroup.uid]: ['', pod3.cgroup.uid, 6 + 4],
      });
      const alerts = await waitFor(
        'ConntrackUnrepliedDnatBackend for both backends',
        async () => {
          const a = (await p.alerts()).filter((x) => x.labels.alertname === 'ConntrackUnrepliedDnatBackend');
          return a.length === 2 ? a : undefined;
        },
        30_000,
      );
      expect(alerts.map((a) => [a.labels.backend, Number(a.value)]).sort()).toEqual([
        ['198.18.250.9', 5],
        ['198.18.3.2', 4],
      ]);
    } finally {
      await prom?.stop();
      await exporter?.stop();
      ksm.kill('SIGKILL');
    }
  });

  it('counts each pod’s new connections as client and as server from NEW events', async () => {
    // A fresh table, so that every flow below is new (none reuses an entry of the flows above).
    await node.exec('conntrack', ['-F']);
    const exporter = await startExporter(node, 9410, {
      CONNTRACK_EXPORTER_COLLECTORS: 'events',
      CONNTRACK_EXPORTER_EVENTS_POD_ATTRIBUTION: 'true',
    });
    // The exporter listens inside the node namespace: scrape it from there.
    const scrape = async () =>
      parseExposition((await node.exec('curl', ['-sf', `${exporter.url}/metrics`])).stdout);
    try {
      await waitFor(
        'the events collector to see the three pods',
        async () =>
          (valueOf(await scrape(), 'conntrack_events_attribution_pods') ?? 0) === 3 ? true : undefined,
        15_000,
      );
      // The same traffic as at the start: one new connection per datagram exchange.
      await podTraffic();
      const expected = trafficByPod();
      // The oracle: what conntrack -L shows of the new table, attributed as the flow pass does.
      expect(cliByPod((await node.conntrackList()).map(parseConntrackLine))).toEqual(expected);
      const byPod = (samples: ReturnType<typeof parseExposition>) =>
        Object.fromEntries(
          select(samples, 'conntrack_connections_created_by_pod_total').map((x) => [
            `${x.labels.pod_uid}/${x.labels.role}`,
            x.value,
          ]),
        );
      const got = await waitFor(
        'the per-pod connection counters',
        async () => {
          const b = byPod(await scrape());
          const canon = (o: Record<string, number>) => JSON.stringify(Object.entries(o).sort());
          return canon(b) === canon(expected) ? b : undefined;
        },
        15_000,
      ).catch(async () => byPod(await scrape()));
      expect(got).toEqual(expected);
      // The host-network pod shares the node's addresses: never attributed.
      expect(Object.keys(got).some((k) => k.startsWith(hostNetworkPod.uid))).toBe(false);
    } finally {
      await exporter.stop();
    }
  });
});
