// Test support: makes real flows on loopback inside a namespace (run it with `ip netns exec`).
// Usage: node traffic.js '<json plan>'. Prints "ready" once every flow exists; with held TCP
// connections it then stays alive until killed, so those flows stay ESTABLISHED.

import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';

export interface TrafficPlan {
  /**
   * One datagram to each of `count` ports from one socket: unreplied UDP flows; from each of
   * `from` (source addresses on lo, e.g. 127.0.1.x) in turn when given.
   */
  readonly udp?: { count: number; port: number; host?: string; payload?: number; from?: readonly string[] };
  /** A UDP echo server and `count` client sockets that get a reply: replied UDP flows. */
  readonly udpReply?: { count: number; port: number; host?: string };
  /** `count` TCP connections to a local server, held open: ESTABLISHED flows. */
  readonly tcpHold?: { count: number; port: number; host?: string; bytes?: number; connectPort?: number };
  /** `count` TCP connections opened and closed by the client: TIME_WAIT flows. */
  readonly tcpClose?: { count: number; port: number; host?: string };
  /**
   * `count` distinct unreplied UDP flows from one socket, to 127.<net>.<k>.1 port 1024 + (i mod
   * 64000): more flows than one address has ports. Paced at `rate` flows per second, or as fast
   * as one process can send when `rate` is absent.
   */
  readonly udpFlows?: { count: number; net: number; rate?: number };
}

const PORTS_PER_HOST = 64000;

async function udpFlows(plan: NonNullable<TrafficPlan['udpFlows']>): Promise<void> {
  const sock = createSocket('udp4');
  const payload = Buffer.alloc(8, 0x63);
  const target = (i: number): [number, string] => [
    1024 + (i % PORTS_PER_HOST),
    `127.${plan.net}.${Math.floor(i / PORTS_PER_HOST)}.1`,
  ];
  const started = Date.now();
  for (let i = 0; i < plan.count;) {
    // Unpaced: keep up to 1024 sends queued in libuv, then wait for the last one to leave.
    const batch = plan.rate ? Math.max(1, Math.round(plan.rate / 100)) : 1024;
    const end = Math.min(plan.count, i + batch);
    await new Promise<void>((resolve) => {
      for (; i < end; i++) {
        const [port, host] = target(i);
        sock.send(payload, port, host, i === end - 1 ? () => resolve() : undefined);
      }
    });
    if (plan.rate) {
      const due = started + (i / plan.rate) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
  sock.close();
}

async function udp(plan: NonNullable<TrafficPlan['udp']>): Promise<void> {
  for (const from of plan.from ?? [undefined]) await udpFrom(plan, from);
}

async function udpFrom(plan: NonNullable<TrafficPlan['udp']>, from: string | undefined): Promise<void> {
  const host = plan.host ?? '127.0.0.1';
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  if (from !== undefined) await new Promise<void>((resolve) => sock.bind(0, from, resolve));
  const payload = Buffer.alloc(plan.payload ?? 16, 0x61);
  for (let i = 0; i < plan.count; i++) {
    // A full table makes the kernel drop the packet and sendto() fail with EPERM: expected there.
    await new Promise<void>((resolve) => sock.send(payload, plan.port + i, host, () => resolve()));
  }
  sock.close();
}

async function udpReply(plan: NonNullable<TrafficPlan['udpReply']>): Promise<void> {
  const host = plan.host ?? '127.0.0.1';
  const type = host.includes(':') ? 'udp6' : 'udp4';
  const server = createSocket(type);
  server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => server.bind(plan.port, host, resolve));
  for (let i = 0; i < plan.count; i++) {
    const client = createSocket(type);
    await new Promise<void>((resolve, reject) => {
      client.once('message', () => resolve());
      client.send(Buffer.from('ping'), plan.port, host, (err) => err && reject(err));
    });
    client.close();
  }
  server.close();
}

interface TcpServer {
  /** Resolves once `done(connections accepted, bytes received)` holds. */
  until(done: (accepted: number, bytes: number) => boolean): Promise<void>;
  stop(): void;
}

/**
 * A local TCP server that counts what it saw, so the plan can wait for the packets to have
 * crossed conntrack (loopback delivers through the same netfilter hooks) instead of sleeping.
 */
async function tcpServer(port: number, host: string): Promise<TcpServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let bytes = 0;
  const waiters = new Set<() => void>();
  const changed = (): void => {
    for (const w of waiters) w();
  };
  const server = createServer((s) => {
    sockets.add(s);
    accepted++;
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      changed();
    });
    s.on('error', () => undefined);
    // Half-open off (the default): the server answers the client's FIN with its own.
    s.on('close', () => sockets.delete(s));
    changed();
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    until: (done) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (!done(accepted, bytes)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
    stop: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function open(port: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => resolve(s));
    s.on('error', reject);
  });
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '{}') as TrafficPlan;
  const held: Socket[] = [];
  if (plan.udp) await udp(plan.udp);
  if (plan.udpFlows) await udpFlows(plan.udpFlows);
  if (plan.udpReply) await udpReply(plan.udpReply);
  if (plan.tcpClose) {
    const host = plan.tcpClose.host ?? '127.0.0.1';
    const server = await tcpServer(plan.tcpClose.port, host);
    for (let i = 0; i < plan.tcpClose.count; i++) {
      const s = await open(plan.tcpClose.port, host);
      // 'close' comes once the server's FIN has arrived, and the kernel sends the last ACK while
      // it processes that FIN: conntrack has then seen the whole close (TIME_WAIT). One at a time.
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.end();
      });
    }
    server.stop();
  }
  if (plan.tcpHold) {
    const { count, port, bytes = 0 } = plan.tcpHold;
    const host = plan.tcpHold.host ?? '127.0.0.1';
    const server = await tcpServer(port, host);
    for (let i = 0; i < count; i++) {
      // connectPort differs from port when a DNAT rule redirects connectPort to the server.
      const s = await open(plan.tcpHold.connectPort ?? port, host);
      if (bytes) s.write(Buffer.alloc(bytes, 0x62));
      held.push(s);
    }
    // Every handshake completed and every byte arrived: conntrack has seen those packets.
    await server.until((accepted, received) => accepted >= count && received >= count * bytes);
  }
  // SIGUSR1 sends one byte on every held connection (tests use it to make mid-stream packets).
  process.on('SIGUSR1', () => {
    for (const s of held) s.write('x');
  });
  process.stdout.write('ready\n');
  if (held.length === 0) process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`traffic: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
