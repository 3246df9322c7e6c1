// Test support: drives the flow walker (src/flows/walk.ts) inside a namespace (run it with
// `ip netns exec`), pass after pass, on this thread: between passes that hold the walk it blocks,
// as the flow worker does, or (mode `paused`) leaves the walker's socket paused and returns to
// the event loop, as the main thread does; either way it runs the plan's shell commands
// meanwhile (the kernel sees the table change while the walk is paused). Prints one JSON line per pass:
// the report's counts and the identities of the flows the pass aggregated.
// Usage: node flow-walk-child.js '<plan json>'

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { FlowWalker, identity, type PassRequest } from '../../src/flows/walk.js';
import { PolledNetlinkSocket } from '../../src/netlink/polled.js';
import { openNetfilterSocket } from '../../src/netlink/transport.js';

interface Step {
  /** Shell commands to run before this pass (while the walk is paused). */
  readonly before?: readonly string[];
  /** Pretend nf_conntrack_buckets changed to this value. */
  readonly buckets?: number;
}

interface Plan {
  readonly budget: number;
  readonly steps: readonly Step[];
  readonly timeoutMs?: number;
  /**
   * `blocking` (the flow worker's way, on the `netlink` package's socket it uses when the
   * project's addon is not built): between passes the walker blocks in awaitNext.
   * `paused` (the main thread's way, on the addon's socket): no awaitNext; the walker pauses its
   * socket and the next pass is started from the event loop.
   */
  readonly mode?: 'blocking' | 'paused';
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan;
const paused = plan.mode === 'paused';
const buckets = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_buckets', 'utf8').trim());
let index = 0;
let keys: string[] = [];

function request(step: Step): PassRequest {
  for (const cmd of step.before ?? []) execFileSync('sh', ['-c', cmd], { stdio: 'ignore' });
  const entries = Number(execFileSync('conntrack', ['-C'], { encoding: 'utf8' }).trim());
  keys = [];
  return {
    budget: plan.budget,
    entries,
    buckets: step.buckets ?? buckets,
    nowNs: Date.now() * 1e6,
    topK: 10,
    seriesBudget: 300,
  };
}

function next(): PassRequest | undefined {
  index += 1;
  const step = plan.steps[index];
  return step ? request(step) : undefined;
}

const walker = new FlowWalker(
  {
    timeoutMs: plan.timeoutMs ?? 5000,
    socketFactory: paused ? () => new PolledNetlinkSocket() : openNetfilterSocket,
  },
  {
    report: (r) => {
      if (r.kind === 'error') {
        process.stdout.write(
          `${JSON.stringify({ error: r.error.message, code: (r.error as { code?: string }).code })}\n`,
        );
      } else {
        const { read, decoded, duplicates, complete, held, starts } = r;
        const total = r.output.samples
          .filter((s) => s.name === 'conntrack_flows' && s.kind === 'value')
          .reduce((n, s) => n + (s.kind === 'value' ? s.value : 0), 0);
        process.stdout.write(
          `${JSON.stringify({ read, decoded, duplicates, complete, held, starts, total, keys })}\n`,
        );
      }
      if (r.kind === 'error' || !r.held || paused) {
        // The walk is over, or held paused: the next pass (if any) starts from the event loop.
        setImmediate(() => {
          const n = next();
          if (n) walker.pass(n);
        });
      }
    },
    ...(paused ? {} : { awaitNext: next }),
    onFlow: (f) => keys.push(identity(f)),
  },
);

const first = plan.steps[0];
if (first) walker.pass(request(first));
