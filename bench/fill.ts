// Bench support: fills the current network namespace's conntrack table with `count` unreplied UDP
// flows, fast, with real packets on loopback (run with `ip netns exec`). Each (source socket,
// destination port) pair is one flow. Prints "filled <count>" when done.

import { createSocket, type Socket } from 'node:dgram';

const count = Number(process.argv[2] ?? '100000');
const PORTS = 60000;
const payload = Buffer.alloc(8, 0x63);

async function bind(sock: Socket, address: string): Promise<void> {
  await new Promise<void>((resolve) => sock.bind(0, address, resolve));
}

async function main(): Promise<void> {
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
      if (pending > 2000) await new Promise((r) => setImmediate(r));
    }
    while (pending > 0) await new Promise((r) => setImmediate(r));
    sock.close();
    sent += batch;
  }
  process.stdout.write(`filled ${sent}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`fill: ${String(err)}\n`);
  process.exit(1);
});
