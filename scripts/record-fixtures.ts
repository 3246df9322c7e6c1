// Records raw ctnetlink replies from this machine's real kernel into test/fixtures/*.json, the
// corpora the decoder tests replay. Run as root: `npm run record-fixtures`.
//
// Node has no setns(), so the recording runs as a child process inside each namespace
// (`ip netns exec NAME node record-fixtures.js --child SPEC`). The parent creates the namespace
// (test/support/netns.ts), makes the flows (test/support/traffic.ts, ping), runs the child and
// writes the files. The child sends its requests through our own read-only transport and records
// every datagram exactly as the socket delivered it, while `conntrack` prints the same table just
// before and just after; the capture is retried until both runs agree on everything but the
// clock (timeouts, delta-time), so the recorded text describes the recorded bytes.
//
// The tests pin values from these files (which CPU counted what, ports, timeouts): after
// re-recording, update the exact expectations in test/conntrack/stats.test.ts and friends.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { forEachMessage } from '../src/netlink/codec.js';
import { NetlinkKernelError } from '../src/netlink/errors.js';
import { NetlinkTransport, openNetfilterSocket, type RawSocket } from '../src/netlink/transport.js';
import { CTNETLINK_READ_ONLY } from '../src/conntrack/readonly.js';
import { Netns } from '../test/support/netns.js';
import type { TrafficPlan } from '../test/support/traffic.js';

const execFileP = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);
const ROOT = resolve(dirname(SELF), '../..');
const TRAFFIC = join(ROOT, 'dist/test/support/traffic.js');
const FIXTURES = join(ROOT, 'test/fixtures');

// ---- the fixture format (read back by test/support/fixtures.ts) ----------------------------------

export interface FixtureHeader {
  readonly kernel: string;
  readonly cpus: number;
  /** /sys/devices/system/cpu/possible: per-CPU stats replies come one per possible CPU. */
  readonly possibleCpus: string;
  readonly date: string;
  readonly description: string;
  readonly command: string;
  readonly node: string;
  readonly conntrack: string;
}

export interface Corpus {
  readonly description: string;
  /** The request we sent, hex. */
  readonly request: string;
  /** Every netlink message received, hex, one message each (DONE, ACK and ERROR included). */
  readonly messages: string[];
  /** How many of `messages` each datagram held, in order of arrival. */
  readonly datagrams: number[];
  /** The transport's verdict: "ok", or the error code and message. */
  readonly outcome: string;
}

export interface FixtureFile {
  readonly header: FixtureHeader;
  readonly corpora: Record<string, Corpus>;
  /** Command line -> stdout, run in the same namespace just before the requests (TZ=UTC). */
  readonly cli: Record<string, string>;
  /**
   * The same commands run just after the requests, where the text differs: only timeouts and
   * delta-time may differ (the recorder retries otherwise), so a flow's CTA_TIMEOUT lies between
   * its `cliAfter` and `cli` values.
   */
  readonly cliAfter: Record<string, string>;
  /** Files read in the namespace at the same moment (e.g. /proc/net/stat/nf_conntrack). */
  readonly files: Record<string, string>;
}

// ---- child: runs inside the namespace ------------------------------------------------------------

interface RequestPlan {
  readonly corpus: string;
  readonly description: string;
  readonly kind: 'request' | 'dump';
  readonly type: number;
  readonly name: string;
  readonly family?: number;
}

interface ChildSpec {
  readonly requests: readonly RequestPlan[];
  /** argv of each CLI command; all run before and after the requests and must agree. */
  readonly cli: readonly (readonly string[])[];
  readonly files: readonly string[];
}

interface ChildResult {
  readonly corpora: Record<string, Corpus>;
  readonly cli: Record<string, string>;
  readonly cliAfter: Record<string, string>;
  readonly files: Record<string, string>;
  readonly attempts: number;
}

/** A RawSocket that keeps a copy of everything sent and received. */
class RecordingSocket implements RawSocket {
  readonly sent: Buffer[] = [];
  readonly received: Buffer[] = [];
  private readonly inner = openNetfilterSocket();

  send(buf: Uint8Array, options?: undefined, callback?: (error?: Error) => void): void {
    this.sent.push(Buffer.from(buf));
    this.inner.send(buf, options, callback);
  }

  on(event: 'message' | 'truncatedMessage', listener: (msg: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: string, listener: (arg: never) => void): unknown {
    if (event === 'message') {
      return this.inner.on('message', (msg: Buffer) => {
        this.received.push(Buffer.from(msg));
        (listener as (msg: Buffer) => void)(msg);
      });
    }
    return this.inner.on(event as 'error', listener as (err: Error) => void);
  }

  close(): void {
    this.inner.close();
  }
}

async function capture(plan: RequestPlan): Promise<Corpus> {
  const sockets: RecordingSocket[] = [];
  const transport = new NetlinkTransport({
    timeoutMs: 5000,
    guard: CTNETLINK_READ_ONLY,
    socketFactory: () => {
      const s = new RecordingSocket();
      sockets.push(s);
      return s;
    },
  });
  const spec = {
    type: plan.type,
    name: plan.name,
    ...(plan.family !== undefined && { family: plan.family }),
  };
  let outcome = 'ok';
  try {
    if (plan.kind === 'dump') await transport.dump(spec, () => undefined);
    else await transport.request(spec, () => undefined);
  } catch (err) {
    if (!(err instanceof NetlinkKernelError)) throw err;
    outcome = `${err.code}: ${err.message}`;
  } finally {
    transport.close();
  }
  const socket = sockets[0];
  if (!socket || sockets.length !== 1 || socket.sent.length !== 1) {
    throw new Error(`${plan.corpus}: expected one socket and one request`);
  }
  const messages: string[] = [];
  const datagrams: number[] = [];
  for (const datagram of socket.received) {
    let n = 0;
    forEachMessage(datagram, (msg) => {
      messages.push(msg.buf.subarray(msg.start, msg.end).toString('hex'));
      n += 1;
    });
    datagrams.push(n);
  }
  return {
    description: plan.description,
    request: (socket.sent[0] ?? Buffer.alloc(0)).toString('hex'),
    messages,
    datagrams,
    outcome,
  };
}

async function runCli(argv: readonly string[]): Promise<string> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  // conntrack prints ktimestamp dates in local time: pin it so the text does not depend on the host.
  const { stdout } = await execFileP(cmd, args, { env: { ...process.env, TZ: 'UTC' } });
  return stdout;
}

/** The text with what ticks every second (the timeout column, delta-time) blanked out. */
function withoutClock(text: string): string {
  return text
    .split('\n')
    .map((line) =>
      line.replace(/^(\S+\s+\d+\s+\S+\s+\d+\s+)\d+/, '$1T').replace(/delta-time=\d+/, 'delta-time=T'),
    )
    .join('\n');
}

async function child(spec: ChildSpec): Promise<ChildResult> {
  let changed = '';
  for (let attempt = 1; attempt <= 20; attempt++) {
    const before: string[] = [];
    for (const argv of spec.cli) before.push(await runCli(argv));
    const corpora: Record<string, Corpus> = {};
    for (const plan of spec.requests) corpora[plan.corpus] = await capture(plan);
    const after: string[] = [];
    for (const argv of spec.cli) after.push(await runCli(argv));
    // Timeouts tick once a second per flow, each at its own phase, and a dump takes ~70 ms (it
    // walks the host-wide hash table, docs/ctnetlink.md#large-tables): the capture brackets the
    // bytes between two CLI runs that agree on everything but the clock, and keeps both when the
    // clock moved.
    const i = before.findIndex((text, j) => withoutClock(text) !== withoutClock(after[j] ?? ''));
    if (i < 0) {
      const files: Record<string, string> = {};
      for (const f of spec.files) files[f] = readFileSync(f, 'utf8');
      const cli: Record<string, string> = {};
      const cliAfter: Record<string, string> = {};
      spec.cli.forEach((argv, j) => {
        cli[argv.join(' ')] = before[j] ?? '';
        if (after[j] !== before[j]) cliAfter[argv.join(' ')] = after[j] ?? '';
      });
      return { corpora, cli, cliAfter, files, attempts: attempt };
    }
    changed = `${spec.cli[i]?.join(' ')}:\n${before[i]}---\n${after[i]}`;
  }
  throw new Error(`the table kept changing under the capture; last change in ${changed}`);
}

/**
 * FTP control traffic with the ftp helper attached: a first line (the helper only parses lines
 * that follow a newline it has seen, nf_conntrack_ftp.c find_nl_seq), then PORT, then the data
 * connection the expectation admits. This makes the expect_new/create/delete counters non-zero.
 */
async function ftpTraffic(): Promise<void> {
  const net = await import('node:net');
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const control = net.createServer((s) => s.on('data', () => undefined));
  await new Promise<void>((r) => control.listen(2121, '127.0.0.1', r));
  const c = net.connect(2121, '127.0.0.1');
  await new Promise<void>((r) => c.once('connect', r));
  c.write('USER anonymous\r\n');
  await sleep(100);
  c.write('PORT 127,0,0,1,31,64\r\n'); // 31 * 256 + 64 = 8000
  await sleep(200);
  const data = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => data.listen(8000, '127.0.0.1', r));
  const d = net.connect({ port: 8000, host: '127.0.0.1', localPort: 2020 });
  await new Promise<void>((r) => d.once('connect', r));
  d.end();
  await sleep(200);
  c.destroy();
  control.close();
  data.close();
}

/**
 * Events child: listens on the NEW and DESTROY groups through our own MulticastListener while
 * `conntrack -E` prints the same events, makes a UDP, a TCP and an IPv6 UDP connection, then
 * flushes the table (DESTROY with final counters and the stop timestamp for each).
 */
async function eventsChild(): Promise<void> {
  const { spawn } = await import('node:child_process');
  const dgram = await import('node:dgram');
  const net = await import('node:net');
  const { MulticastListener } = await import('../src/netlink/multicast.js');
  const { EVENT_GROUPS } = await import('../src/conntrack/events.js');
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const messages: string[] = [];
  const datagrams: number[] = [];
  const listener = new MulticastListener({
    protocol: 12,
    groups: EVENT_GROUPS,
    receiveBufferBytes: 1 << 20,
    onMessage: (msg) => {
      messages.push(msg.buf.subarray(msg.start, msg.end).toString('hex'));
      datagrams.push(1);
    },
    onOverrun: () => {
      throw new Error('overrun while recording events');
    },
    onMalformed: (err) => {
      throw err;
    },
    onError: (err) => {
      throw err;
    },
  });
  const cli = spawn('conntrack', ['-E', '-e', 'NEW,DESTROY', '-o', 'extended,id'], {
    env: { ...process.env, TZ: 'UTC' },
  });
  let text = '';
  cli.stdout.on('data', (d: Buffer) => (text += d.toString()));
  const lines = (): number => text.split('\n').filter((l) => l.trim() !== '').length;
  // conntrack -E listens once it shows a probe flow's NEW (the probe is recorded too).
  const probe = dgram.createSocket('udp4');
  for (let i = 0; lines() === 0 && i < 100; i++) {
    probe.send(Buffer.from('probe'), 9, '127.0.0.1');
    await sleep(50);
  }
  probe.close();
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.send(Buffer.alloc(1337, 0x61), 6100, '127.0.0.1', () => r()));
  udp.close();
  const server = net.createServer((s) => s.on('data', () => undefined));
  await new Promise<void>((r) => server.listen(5201, '127.0.0.1', r));
  const c = net.connect(5201, '127.0.0.1');
  await new Promise<void>((r) => c.once('connect', r));
  await new Promise<void>((r) => c.end(Buffer.alloc(1000, 0x62), () => r()));
  const udp6 = dgram.createSocket('udp6');
  await new Promise<void>((r) => udp6.send(Buffer.alloc(555, 0x63), 6200, '::1', () => r()));
  udp6.close();
  await sleep(300);
  server.close();
  await runCli(['conntrack', '-F']);
  for (let i = 0; (messages.length < 8 || lines() < messages.length) && i < 100; i++) await sleep(50);
  await sleep(200);
  cli.kill('SIGTERM');
  listener.close();
  const corpus: Corpus = {
    description:
      'NEW and DESTROY events (groups 1 and 3), acct and timestamp on: a UDP probe to port 9 (repeated until conntrack -E listened), UDP 1337 B to 6100, TCP with 1000 B to 5201 closed by the client, UDP over IPv6 555 B to 6200; then conntrack -F (one DESTROY each, final counters, CTA_TIMESTAMP_STOP)',
    request: '',
    messages,
    datagrams,
    outcome: 'ok',
  };
  const result: ChildResult = {
    corpora: { events: corpus },
    cli: { 'conntrack -E -e NEW,DESTROY -o extended,id': text },
    cliAfter: {},
    files: {},
    attempts: 1,
  };
  process.stdout.write(JSON.stringify(result));
}

// ---- parent: namespaces, traffic, files ----------------------------------------------------------

const CT_GET = 0x0101;
const CT_GET_STATS_CPU = 0x0104;
const CT_GET_STATS = 0x0105;
const EXP_GET_STATS_CPU = 0x0203;

const LIST_CLI = [
  ['conntrack', '-L', '-o', 'extended'],
  ['conntrack', '-L', '-o', 'extended,id'],
  ['conntrack', '-L', '-o', 'extended,ktimestamp'],
] as const;

function flowDump(corpus: string, description: string): RequestPlan {
  return { corpus, description, kind: 'dump', type: CT_GET, name: 'IPCTNL_MSG_CT_GET' };
}

async function startTraffic(ns: Netns, plan: TrafficPlan): Promise<void> {
  const proc = ns.spawn(process.execPath, [TRAFFIC, JSON.stringify(plan)]);
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolveReady, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolveReady();
    });
    proc.on('exit', (code) =>
      code === 0 ? resolveReady() : reject(new Error(`traffic exited ${code}: ${stderr}`)),
    );
  });
}

async function runChild(ns: Netns, spec: ChildSpec, asNobody = false): Promise<ChildResult> {
  const node = [process.execPath, SELF, '--child', JSON.stringify(spec)];
  // setpriv drops to nobody with no capabilities: the kernel then answers EPERM
  // (docs/ctnetlink.md#permissions).
  const argv = asNobody
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', ...node]
    : node;
  const [cmd, ...args] = argv;
  const { stdout } = await ns.exec(cmd ?? 'node', args);
  return JSON.parse(stdout) as ChildResult;
}

async function header(description: string): Promise<FixtureHeader> {
  const { stdout } = await execFileP('conntrack', ['--version']);
  return {
    kernel: release(),
    cpus: cpus().length,
    possibleCpus: readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim(),
    date: new Date().toISOString(),
    description,
    command: 'npm run record-fixtures (as root)',
    node: process.version,
    conntrack: stdout.trim(),
  };
}

async function withNamespace<T>(
  options: Parameters<typeof Netns.create>[0],
  fn: (ns: Netns) => Promise<T>,
): Promise<T> {
  const ns = await Netns.create(options);
  try {
    return await fn(ns);
  } finally {
    await ns.destroy();
  }
}

async function write(file: string, description: string, result: ChildResult): Promise<void> {
  const fixture: FixtureFile = {
    header: await header(description),
    corpora: result.corpora,
    cli: result.cli,
    cliAfter: result.cliAfter,
    files: result.files,
  };
  const path = join(FIXTURES, file);
  writeFileSync(path, `${JSON.stringify(fixture, null, 2)}\n`);
  const size = Buffer.byteLength(JSON.stringify(fixture));
  process.stdout.write(
    `${path}: ${Object.keys(fixture.corpora).join(', ')} (${size} bytes, ${result.attempts} attempt(s))\n`,
  );
}

/** Per-CPU counters made non-zero on purpose, each by a rule that provokes one kernel path. */
const STATS_RULES = `table inet fixture {
  ct helper ftp-standard { type "ftp" protocol tcp; }
  chain raw_out {
    type filter hook output priority -300;
    # An untracked SYN: the SYN-ACK then opens a flow, which tcp_new() refuses -> invalid.
    tcp dport 5401 tcp flags & (syn | ack) == syn notrack
    # An untracked datagram: its ICMP port-unreachable relates to no flow -> error (icmp_error).
    udp dport 9999 notrack
  }
  chain helper_out { type filter hook output priority 0; tcp dport 2121 ct helper set "ftp-standard"; }
}
table ip fixture_nat {
  # Two flows NATed onto one reply tuple: the second finds it taken (found), cannot move to
  # another port, and fails at confirmation (insert_failed, drop).
  chain out { type nat hook output priority -100; udp dport 5701 dnat to 127.0.0.1:5700; }
  chain post { type nat hook postrouting priority 100; udp dport 5700 snat to 127.0.0.9:40000; }
}
`;

async function recordStats(): Promise<void> {
  const result = await withNamespace({ acct: true, nft: STATS_RULES }, async (ns) => {
    await startTraffic(ns, { tcpHold: { count: 1, port: 5401 } });
    await startTraffic(ns, { udp: { count: 2, port: 5700 } });
    await startTraffic(ns, { udp: { count: 1, port: 9999 } });
    await ns.exec(process.execPath, [SELF, '--ftp-traffic']);
    return runChild(ns, {
      requests: [
        {
          corpus: 'ct_get_stats',
          description: 'IPCTNL_MSG_CT_GET_STATS (REQUEST|ACK): one reply with NLM_F_MULTI, then the ACK',
          kind: 'request',
          type: CT_GET_STATS,
          name: 'IPCTNL_MSG_CT_GET_STATS',
        },
        {
          corpus: 'ct_get_stats_cpu',
          description:
            'IPCTNL_MSG_CT_GET_STATS_CPU dump: one part per possible CPU (res_id = CPU), then DONE',
          kind: 'dump',
          type: CT_GET_STATS_CPU,
          name: 'IPCTNL_MSG_CT_GET_STATS_CPU',
        },
        {
          corpus: 'exp_get_stats_cpu',
          description: 'IPCTNL_MSG_EXP_GET_STATS_CPU dump: parts typed 0x0103 (kernel quirk), then DONE',
          kind: 'dump',
          type: EXP_GET_STATS_CPU,
          name: 'IPCTNL_MSG_EXP_GET_STATS_CPU',
        },
      ],
      cli: [['conntrack', '-S'], ['conntrack', '-S', 'expect'], ['conntrack', '-C'], ...LIST_CLI],
      files: [
        '/proc/net/stat/nf_conntrack',
        '/proc/sys/net/netfilter/nf_conntrack_count',
        '/proc/sys/net/netfilter/nf_conntrack_max',
      ],
    });
  });
  await write(
    'stats.json',
    'Statistics replies with non-zero counters: found, invalid, insert_failed, drop, error (see STATS_RULES in scripts/record-fixtures.ts) and expect_new/create/delete (ftp helper)',
    result,
  );
}

const FLOW_RULES = `table inet fixture {
  # Zone 7 for one UDP exchange, both directions, before conntrack's own hook (-200).
  chain zone_out {
    type filter hook output priority -300;
    udp dport 7007 ct zone set 7
    udp sport 7007 ct zone set 7
  }
  chain mark_out { type filter hook output priority 0; udp dport 6000 ct mark set 0x01abcdef; }
}
`;

async function recordAcctFlows(): Promise<void> {
  const result = await withNamespace({ acct: true, nft: FLOW_RULES }, async (ns) => {
    await ns.exec('ip', ['-6', 'addr', 'add', '2001:db8:cafe::7/128', 'dev', 'lo', 'nodad']);
    await startTraffic(ns, { tcpHold: { count: 1, port: 5201, bytes: 1000 } });
    await startTraffic(ns, { tcpClose: { count: 1, port: 5301 } });
    await startTraffic(ns, {
      udp: { count: 1, port: 6100, payload: 1337 },
      udpReply: { count: 1, port: 6200 },
    });
    await startTraffic(ns, { udp: { count: 1, port: 6000, payload: 555 } });
    await startTraffic(ns, { udpReply: { count: 1, port: 7007 } });
    await startTraffic(ns, {
      udp: { count: 1, port: 6100, host: '2001:db8:cafe::7', payload: 1337 },
      udpReply: { count: 1, port: 6200, host: '::1' },
    });
    await ns.exec('ping', ['-c', '3', '-i', '0.2', '-s', '1000', '127.0.0.1']);
    await ns.exec('ping', ['-6', '-c', '2', '-i', '0.2', '-s', '777', '::1']);
    return runChild(ns, {
      requests: [
        flowDump(
          'flows',
          'CT_GET dump, AF_UNSPEC, acct and timestamp on: TCP ESTABLISHED (1000 B sent) and TIME_WAIT, UDP unreplied (1337 B payload) and replied, UDP mark 0x01abcdef (555 B), UDP zone 7, ICMP echo (3 x 1000 B), IPv6 UDP unreplied to 2001:db8:cafe::7 (1337 B) and replied on ::1, ICMPv6 echo (2 x 777 B)',
        ),
      ],
      cli: LIST_CLI,
      files: [],
    });
  });
  await write('flows-acct.json', 'Flow dump with nf_conntrack_acct=1 and nf_conntrack_timestamp=1', result);
}

const NAT_RULES = `table ip fixture_nat {
  chain out {
    type nat hook output priority -100;
    tcp dport 5601 dnat to 127.0.0.1:5602
    udp dport 6301 dnat to 127.0.0.1:6401
  }
  chain post {
    type nat hook postrouting priority 100;
    ct status dnat tcp dport 5602 snat to 127.0.0.9
    udp dport 6300 snat to 127.0.0.9
  }
}
`;

async function recordNatFlows(): Promise<void> {
  const result = await withNamespace({ acct: true, nft: NAT_RULES }, async (ns) => {
    // The server on 5602 (its own direct connection is a NAT-less flow in a netns with a nat table);
    // then a client to 5601, DNATed to 5602 and SNATed to 127.0.0.9.
    await startTraffic(ns, { tcpHold: { count: 1, port: 5602 } });
    await startTraffic(ns, { tcpHold: { count: 1, port: 5601, bytes: 1000 } });
    await startTraffic(ns, { udp: { count: 2, port: 6300, payload: 321 } });
    await ns.exec('ping', ['-c', '1', '-s', '64', '127.0.0.1']);
    return runChild(ns, {
      requests: [
        flowDump(
          'flows',
          'CT_GET dump with a nat table: TCP 5601 DNAT to 127.0.0.1:5602 and SNAT to 127.0.0.9 (both), TCP 5602 direct (none), UDP 6300 SNAT to 127.0.0.9 (snat), UDP 6301 DNAT to 127.0.0.1:6401 (dnat), ICMP (none, NAT_DONE bits set)',
        ),
      ],
      cli: LIST_CLI,
      files: [],
    });
  });
  await write(
    'flows-nat.json',
    'Flow dump of NATed flows (docs/ctnetlink.md#nat-from-the-two-tuples), acct and timestamp on',
    result,
  );
}

async function recordPlainFlows(): Promise<void> {
  const result = await withNamespace({}, async (ns) => {
    await startTraffic(ns, { tcpHold: { count: 1, port: 5201, bytes: 1000 } });
    await startTraffic(ns, { udp: { count: 1, port: 6100, payload: 1337 } });
    await ns.exec('ping', ['-c', '1', '-s', '64', '127.0.0.1']);
    return runChild(ns, {
      requests: [
        flowDump(
          'flows',
          'CT_GET dump with acct and timestamp off: no CTA_COUNTERS_*, no CTA_TIMESTAMP (TCP ESTABLISHED, UDP unreplied, ICMP)',
        ),
      ],
      cli: LIST_CLI,
      files: [],
    });
  });
  await write(
    'flows-noacct.json',
    'Flow dump with nf_conntrack_acct=0 and nf_conntrack_timestamp=0 (the netns defaults)',
    result,
  );
}

async function recordErrors(): Promise<void> {
  const root = await withNamespace({}, (ns) =>
    runChild(ns, {
      requests: [
        flowDump('empty_dump', 'CT_GET dump of an empty table: DONE only'),
        {
          corpus: 'einval',
          description: 'IPCTNL_MSG_CT_GET without NLM_F_DUMP and without a tuple: NLMSG_ERROR -EINVAL',
          kind: 'request',
          type: CT_GET,
          name: 'IPCTNL_MSG_CT_GET',
        },
      ],
      cli: [['conntrack', '-C']],
      files: [],
    }),
  );
  const nobody = await withNamespace({}, (ns) =>
    runChild(
      ns,
      {
        requests: [
          {
            corpus: 'eperm',
            description: 'IPCTNL_MSG_CT_GET_STATS as uid 65534 without CAP_NET_ADMIN: NLMSG_ERROR -EPERM',
            kind: 'request',
            type: CT_GET_STATS,
            name: 'IPCTNL_MSG_CT_GET_STATS',
          },
        ],
        cli: [],
        files: [],
      },
      true,
    ),
  );
  await write(
    'errors.json',
    'Error and empty replies: EINVAL, EPERM (uid 65534, no capabilities), an empty dump',
    {
      corpora: { ...root.corpora, ...nobody.corpora },
      cli: root.cli,
      cliAfter: root.cliAfter,
      files: {},
      attempts: root.attempts,
    },
  );
}

async function recordEvents(): Promise<void> {
  const result = await withNamespace({ acct: true }, async (ns) => {
    const { stdout } = await ns.exec(process.execPath, [SELF, '--events-child']);
    return JSON.parse(stdout) as ChildResult;
  });
  await write(
    'events.json',
    'ctnetlink NEW/DESTROY events with nf_conntrack_acct=1 and nf_conntrack_timestamp=1',
    result,
  );
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === '--events-child') return eventsChild();
  if (mode === '--child') {
    const result = await child(JSON.parse(process.argv[3] ?? '{}') as ChildSpec);
    process.stdout.write(JSON.stringify(result));
    return;
  }
  if (mode === '--ftp-traffic') return ftpTraffic();
  if (process.getuid?.() !== 0) throw new Error('run as root: it creates network namespaces');
  if (!existsSync(TRAFFIC)) throw new Error(`${TRAFFIC} is missing: run npm run build first`);
  mkdirSync(FIXTURES, { recursive: true });
  // `npm run record-fixtures -- events` records only the event corpus.
  if (mode === 'events') return recordEvents();
  await recordStats();
  await recordAcctFlows();
  await recordNatFlows();
  await recordPlainFlows();
  await recordErrors();
  await recordEvents();
}

main().catch((err: unknown) => {
  process.stderr.write(`record-fixtures: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
