// Layer: conntrack model. Which endpoint of a flow an owner of addresses (a pod) is: the client
// by the original source, the server by the original destination or, when the flow was DNATed
// (its reply comes from elsewhere than the original destination), by the reply's source: the
// backend a Service address was translated to. Shared by the flow pass (src/flows/pods.ts) and the
// event reader (src/collectors/events-tally.ts), so a flow and its NEW event are attributed alike.

import type { AddressKey, FlowFields } from './flow.js';

/** The owners (indices) of a flow's client and server, undefined where no owner has the address. */
export function flowOwners(
  owner: ReadonlyMap<AddressKey, number>,
  f: FlowFields,
): { client: number | undefined; server: number | undefined } {
  const client = owner.get(f.orig.src);
  let server = owner.get(f.orig.dst);
  if (server === undefined && f.reply.src !== f.orig.dst) server = owner.get(f.reply.src);
  return { client, server };
}
