// Layer: collectors. Two tallies the flow aggregator keeps per pass, on its hot path:
// - flows by pod and role, from the pods' own addresses (src/pods/namespaces.ts): "client" when
//   the original source is the pod, "server" when the original destination is, or when the reply
//   comes from the pod after DNAT (a Service's backend: reply source ≠ original destination);
// - unreplied DNAT flows by backend: the destination was rewritten and no reply was ever seen
//   (IPS_SEEN_REPLY clear, include/uapi/linux/netfilter/nf_conntrack_common.h), the signature of
//   entries left pointing at a backend that is gone.
// Knows nothing of how pods were found; gets them as plain data that crosses a worker boundary.

import { IPS } from '../conntrack/constants.js';
import type { AddressKey, FlowFields } from '../conntrack/flow.js';
import type { PodAddresses } from '../pods/namespaces.js';

export type PodTable = Pick<PodAddresses, 'uids' | 'addresses'>;

export type PodRole = 'client' | 'server';

export class PodTally {
  private readonly owner: Map<AddressKey, number>;
  private readonly client: Float64Array;
  private readonly server: Float64Array;

  constructor(private readonly table: PodTable) {
    this.owner = new Map(table.addresses);
    this.client = new Float64Array(table.uids.length);
    this.server = new Float64Array(table.uids.length);
  }

  add(f: FlowFields): void {
    const client = this.owner.get(f.orig.src);
    if (client !== undefined) this.client[client] = (this.client[client] ?? 0) + 1;
    let server = this.owner.get(f.orig.dst);
    if (server === undefined && f.reply.src !== f.orig.dst) server = this.owner.get(f.reply.src);
    if (server !== undefined) this.server[server] = (this.server[server] ?? 0) + 1;
  }

  /** Non-empty (pod, role) cells. */
  series(): [{ pod_uid: string; role: PodRole }, number][] {
    const out: [{ pod_uid: string; role: PodRole }, number][] = [];
    this.table.uids.forEach((pod_uid, i) => {
      const c = this.client[i] ?? 0;
      const s = this.server[i] ?? 0;
      if (c > 0) out.push([{ pod_uid, role: 'client' }, c]);
      if (s > 0) out.push([{ pod_uid, role: 'server' }, s]);
    });
    return out;
  }
}

export interface Backend {
  readonly protocol: number;
  readonly address: AddressKey;
}

export class UnrepliedDnatTally {
  /** protocol -> backend address -> flows */
  private readonly byProtocol: (Map<AddressKey, number> | undefined)[] = [];

  add(f: FlowFields): void {
    if (f.status < 0 || f.status & IPS.SEEN_REPLY || f.reply.src === f.orig.dst) return;
    const proto = f.orig.proto;
    let m = this.byProtocol[proto];
    if (!m) this.byProtocol[proto] = m = new Map();
    m.set(f.reply.src, (m.get(f.reply.src) ?? 0) + 1);
  }

  /** Each (protocol, backend) with its flow count. */
  backends(): Map<Backend, number> {
    const out = new Map<Backend, number>();
    this.byProtocol.forEach((m, protocol) => {
      if (m) for (const [address, n] of m) out.set({ protocol, address }, n);
    });
    return out;
  }
}
