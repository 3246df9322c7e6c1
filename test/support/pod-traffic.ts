// Test support: the processes of the pod topology (test/integration/pods.test.ts), run inside a
// namespace with `ip netns exec`. Usage: node pod-traffic.js '<json plan>'.
// - serve: a pod's long-lived process: UDP echo and silent UDP sinks on every address; prints
//   "ready" and stays until killed.
// - send: `count` UDP sockets each send one datagram to host:port (so `count` flows with distinct
//   source ports) and, with `reply`, wait for the answer; prints "ready" and exits.

import { createSocket, type Socket } from 'node:dgram';

export interface PodTrafficPlan {
  readonly serve?: { readonly echo?: readonly number[]; readonly sink?: readonly number[] };
  readonly send?: {
    readonly host: string;
    readonly port: number;
    readonly count: number;
    readonly reply: boolean;
  };
}

function bind(type: 'udp4' | 'udp6', port: number): Promise<Socket> {
  const s = createSocket({ type, ipv6Only: type === 'udp6' });
  return new Promise((resolve) => s.bind(port, type === 'udp6' ? '::' : '0.0.0.0', () => resolve(s)));
}

async function serve(plan: NonNullable<PodTrafficPlan['serve']>): Promise<void> {
  for (const type of ['udp4', 'udp6'] as const) {
    for (const port of plan.echo ?? []) {
      const s = await bind(type, port);
      s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
    }
    for (const port of plan.sink ?? []) (await bind(type, port)).on('message', () => undefined);
  }
}

async function send(plan: NonNullable<PodTrafficPlan['send']>): Promise<void> {
  const type = plan.host.includes(':') ? 'udp6' : 'udp4';
  for (let i = 0; i < plan.count; i++) {
    const s = createSocket(type);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply from ${plan.host}:${plan.port}`)), 5000);
      if (plan.reply)
        s.once('message', () => {
          clearTimeout(timer);
          resolve();
        });
      s.send(Buffer.from('ping'), plan.port, plan.host, (err) => {
        if (err) reject(err);
        else if (!plan.reply) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    s.close();
  }
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '{}') as PodTrafficPlan;
  if (plan.serve) await serve(plan.serve);
  if (plan.send) await send(plan.send);
  process.stdout.write('ready\n');
  if (!plan.serve) process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`pod-traffic: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
