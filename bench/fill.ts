// Bench support: fills the current network namespace's conntrack table with `count` unreplied UDP
// flows, fast, with real packets on loopback (run with `ip netns exec`). Prints "filled <count>".
// Modes:
//   uniform  (default) each (source socket, destination port 1024..61023) pair is one flow;
//   ports    a skewed destination-port mix, as on a real node: ten heavy ports (PORT_MIX) and a
//            tail spread over 2,000 ports, so top-K estimates have something to get right. Each
//            socket has its own source address, so no two flows share a tuple.
// Usage: node fill.js <count> [uniform|ports]

import { createSocket, type Socket } from 'node:dgram';

/** Heavy destination ports and the share of sockets that send to each. */
export const PORT_MIX: readonly (readonly [number, number])[] = [
  [53, 1.0],
  [443, 0.6],
  [80, 0.4],
  [8080, 0.32],
  [5432, 0.24],
  [6379, 0.2],
  [9092, 0.16],
  [3306, 0.12],
  [11211, 0.1],
  [9000, 0.08],
];
const TAIL_BASE = 20000;
const TAIL_PORTS = 2000;

const count = Number(process.argv[2] ?? '100000');
const mode = process.argv[3] ?? 'uniform';
const payload = Buffer.alloc(8, 0x63);

async function bind(sock: Socket, address: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, address, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function uniform(): Promise<number> {
  const PORTS = 60000;
  const sockets = Math.ceil(count / PORTS);
  let sent = 0;
  for (let s = 0; s < sockets && sent < count; s++) {
    const sock = createSocket('udp4');
    // Spread sources over 127.0.0.0/8 so top-K addresses have something to rank.
    await bind(sock, `127.0.${1 + (s % 250)}.${1 + Math.floor(s / 250)}`);
    const batch = Math.min(PORTS, count - sent);
    let pending = 0;
    for (let p = 0; p < batch; p++) {
      pending += 1;
      sock.send(payload, 1024 + p, '127.0.0.1', () => {
        pending -= 1;
      });
      // Keep the send queue short: the kernel answers EAGAIN-free only at a bounded rate.
      if (pending > 2000) await tick();
    }
    while (pending > 0) await tick();
    sock.close();
    sent += batch;
  }
  return sent;
}

/** A deterministic fraction in [0, 1) for socket s and port index j. */
function frac(s: number, j: number): number {
  const x = Math.sin(s * 12.9898 + j * 78.233) * 43758.5453;
  return x - Math.floor(x);
}

async function ports(): Promise<number> {
  let sent = 0;
  let inFlight = 0;
  for (let s = 0; sent < count; s++) {
    const targets: number[] = [];
    PORT_MIX.forEach(([port, share], j) => {
      if (frac(s, j) < share) targets.push(port);
    });
    targets.push(TAIL_BASE + (s % TAIL_PORTS));
    const todo = targets.slice(0, count - sent);
    sent += todo.length;
    const sock = createSocket('udp4');
    // 127.1.0.0 upwards: one source address per socket.
    const a = s + 65536;
    await bind(sock, `127.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`);
    inFlight += 1;
    let left = todo.length;
    for (const port of todo) {
      sock.send(payload, port, '127.0.0.1', () => {
        left -= 1;
        if (left === 0) {
          sock.close();
          inFlight -= 1;
        }
      });
    }
    while (inFlight > 200) await tick();
  }
  while (inFlight > 0) await tick();
  return sent;
}

async function main(): Promise<void> {
  const sent = mode === 'ports' ? await ports() : await uniform();
  process.stdout.write(`filled ${sent}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`fill: ${String(err)}\n`);
  process.exit(1);
});
