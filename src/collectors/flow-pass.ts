// Layer: collectors. One flow pass's reading half: dump the table, pick every step-th flow up to
// the cap (systematic sampling), and stream the picked messages to a decoder backend; then ask
// the backend for the aggregate. It runs in the flow reader worker (flow-worker.ts), or inline
// where no worker file exists (tests on the TypeScript sources).

import type { ConntrackClient } from '../conntrack/client.js';
import { align4 } from '../netlink/codec.js';
import type { AggregateOptions } from './flow-aggregate.js';
import { BatchWriter, type DecoderBackend, type PassOutput } from './flow-decoder.js';

export interface PassParams extends AggregateOptions {
  /** Decode every step-th flow. */
  readonly step: number;
  /** Never decode more than this many flows. */
  readonly maxFlows: number;
  /** Reference time for flow ages, ns since the epoch. */
  readonly nowNs: number;
}

export interface PassSummary {
  readonly output: PassOutput;
  readonly scanned: number;
  readonly decoded: number;
}

export async function readFlowPass(
  client: ConntrackClient,
  backend: DecoderBackend,
  params: PassParams,
): Promise<PassSummary> {
  backend.begin(params.nowNs);
  const writer = new BatchWriter(backend);
  let scanned = 0;
  let decoded = 0;
  await client.dumpFlows((msg) => {
    scanned += 1;
    if ((scanned - 1) % params.step !== 0 || decoded >= params.maxFlows) return;
    decoded += 1;
    // Whole messages with their padding, so the batch walks like a datagram.
    writer.push(msg.buf, msg.start, Math.min(msg.buf.length, msg.start + align4(msg.end - msg.start)));
  });
  writer.flush();
  const output = await backend.end(
    { topK: params.topK, seriesBudget: params.seriesBudget },
    decoded > 0 ? scanned / decoded : 1,
  );
  return { output, scanned, decoded };
}
