// Layer: flows. Two breakdowns of a pass's flows, on its hot path:
// - flows by pod and role, from the pods' own addresses (src/pods/namespaces.ts finds them):
//   "client" when the original source is the pod, "server" when the original destination is, or
//   when the reply comes from the pod after DNAT (a Service's backend: reply source ≠ original
//   destination);
// - unreplied DNAT flows by backend: the destination was rewritten and no reply was ever seen
//   (IPS_SEEN_REPLY clear, include/uapi/linux/netfilter/nf_conntrack_common.h), the signature of
//   entries left pointing at a backend that is gone. Top K per protocol, the rest in "other";
//   backends by prefix when addresses are reported by prefix, and only "other" with `none`.
// Knows nothing of how pods were found: it gets them as plain data that crosses a worker boundary.

import { flowOwners } from '../conntrack/owners.js';
import {
  addressLabel,
  byReportedAddress,
  FULL_ADDRESSES,
  type AddressReporting,
} from '../conntrack/address-prefix.js';
import { IPS } from '../conntrack/constants.js';
import { protocolName, type AddressKey, type FlowFields } from '../conntrack/flow.js';
import { flowsByPod, flowsUnrepliedDnat } from '../metrics/catalog.js';
import type { Aggregate, AggregateOptions, MetricGroup } from './aggregate.js';
import { Listed, topK, type Labels } from './shape.js';

/** The pods' addresses: UIDs, and each address with the index of its pod in `uids`. */
export interface PodTable {
  readonly uids: readonly string[];
  readonly addresses: readonly (readonly [AddressKey, number])[];
}

export type PodRole = 'client' | 'server';

/** conntrack_flows_by_pod{pod_uid, role}. */
export class ByPod implements Aggregate {
  private readonly owner: Map<AddressKey, number>;
  private readonly client: Float64Array;
  private readonly server: Float64Array;

  constructor(private readonly table: PodTable) {
    this.owner = new Map(table.addresses);
    this.client = new Float64Array(table.uids.length);
    this.server = new Float64Array(table.uids.length);
  }

  add(f: FlowFields): void {
    const { client, server } = flowOwners(this.owner, f);
    if (client !== undefined) this.client[client] = (this.client[client] ?? 0) + 1;
    if (server !== undefined) this.server[server] = (this.server[server] ?? 0) + 1;
  }

  gauges(): MetricGroup[] {
    const series: { labels: Labels; value: number }[] = [];
    this.table.uids.forEach((pod_uid, i) => {
      const c = this.client[i] ?? 0;
      const s = this.server[i] ?? 0;
      if (c > 0) series.push({ labels: { pod_uid, role: 'client' }, value: c });
      if (s > 0) series.push({ labels: { pod_uid, role: 'server' }, value: s });
    });
    // The role partitions the flows: folding under the budget keeps it.
    return [{ metric: flowsByPod, labelNames: flowsByPod.labels, keep: ['role'], series }];
  }
}

/** The "other" bucket of an unreplied-DNAT entry: its protocol (a module function, see topK). */
const protocolOfEntry = ([protocol]: readonly [number, AddressKey]): number => protocol;

/** conntrack_flows_unreplied_dnat{protocol, backend}. */
export class UnrepliedDnat implements Aggregate {
  /** protocol -> backend address -> flows */
  private readonly byProtocol: (Map<AddressKey, number> | undefined)[] = [];

  constructor(private readonly reporting: AddressReporting = FULL_ADDRESSES) {}

  add(f: FlowFields): void {
    if (f.status < 0 || f.status & IPS.SEEN_REPLY || f.reply.src === f.orig.dst) return;
    const proto = f.orig.proto;
    let m = this.byProtocol[proto];
    if (!m) this.byProtocol[proto] = m = new Map();
    m.set(f.reply.src, (m.get(f.reply.src) ?? 0) + 1);
  }

  gauges(options: AggregateOptions): MetricGroup[] {
    const entries: (readonly [readonly [number, AddressKey], number])[] = [];
    this.byProtocol.forEach((m, protocol) => {
      if (!m) return;
      for (const [address, n] of byReportedAddress(m, this.reporting))
        entries.push([[protocol, address], n] as const);
    });
    // With `none` no backend is named: every flow is in its protocol's "other".
    const series = topK(
      Listed.of(entries, protocolOfEntry),
      this.reporting.mode === 'none' ? 0 : options.topK,
      ([protocol, address]) => ({
        protocol: protocolName(protocol),
        backend: addressLabel(address, this.reporting) ?? 'other',
      }),
      (protocol) => ({ protocol: protocolName(protocol), backend: 'other' }),
    );
    return [{ metric: flowsUnrepliedDnat, labelNames: flowsUnrepliedDnat.labels, keep: [], series }];
  }
}
