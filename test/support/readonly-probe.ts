// Test support: tries to push writes through the transport against the real kernel. Run it inside
// a test namespace (`ip netns exec NAME node readonly-probe.js`), where it prints one JSON object:
// what each write attempt raised, how many buffers reached the socket, and a permitted read
// afterwards. `--control-flush` instead sends the very flush the guard refuses straight to a raw
// socket, so the test can show that the refused bytes would really have emptied the table.

import { RawNetlinkSocket } from 'netlink';
import { CtMsg, ExpMsg } from '../../src/conntrack/constants.js';
import { CTNETLINK_READ_ONLY } from '../../src/conntrack/readonly.js';
import { decodeGlobalStats } from '../../src/conntrack/stats.js';
import {
  encodeRequest,
  forEachMessage,
  readErrorPayload,
  NLM_F_ACK,
  NLM_F_REQUEST,
  NLMSG_ERROR,
} from '../../src/netlink/codec.js';
import { ExporterError } from '../../src/errors.js';
import { NetlinkTransport, openNetfilterSocket, type RawSocket } from '../../src/netlink/transport.js';

export interface ProbeAttempt {
  readonly label: string;
  /** The error's class and code, or "completed" if the call went through. */
  readonly outcome: string;
}

export interface ProbeResult {
  readonly attempts: readonly ProbeAttempt[];
  /** Buffers handed to the socket while the writes were attempted (must be 0). */
  readonly sendsDuringWrites: number;
  /** Entries reported by a permitted CT_GET_STATS afterwards, through the same transport. */
  readonly entriesAfter: number | undefined;
  readonly sendsTotal: number;
}

const WRITES = [
  { label: 'IPCTNL_MSG_CT_DELETE without a tuple (flush)', kind: 'request', type: CtMsg.DELETE },
  { label: 'IPCTNL_MSG_CT_DELETE as a dump', kind: 'dump', type: CtMsg.DELETE },
  { label: 'IPCTNL_MSG_CT_NEW', kind: 'request', type: CtMsg.NEW },
  { label: 'IPCTNL_MSG_CT_GET_CTRZERO (dump that zeroes counters)', kind: 'dump', type: CtMsg.GET_CTRZERO },
  { label: 'IPCTNL_MSG_EXP_NEW', kind: 'request', type: ExpMsg.NEW },
  { label: 'IPCTNL_MSG_EXP_DELETE without a tuple (flush)', kind: 'request', type: ExpMsg.DELETE },
] as const;

async function probe(): Promise<ProbeResult> {
  let sends = 0;
  const factory = (): RawSocket => {
    const inner = openNetfilterSocket();
    // Counts what reaches the real socket; everything else is the real socket's behaviour.
    return {
      send: (buf, options, callback) => {
        sends += 1;
        inner.send(buf, options, callback);
      },
      on: inner.on.bind<RawSocket['on']>(inner),
      close: () => inner.close(),
    };
  };
  // The same guard the exporter's client runs with.
  const transport = new NetlinkTransport({
    timeoutMs: 3000,
    guard: CTNETLINK_READ_ONLY,
    socketFactory: factory,
  });
  const attempts: ProbeAttempt[] = [];
  for (const w of WRITES) {
    const spec = { type: w.type, name: w.label };
    try {
      if (w.kind === 'dump') await transport.dump(spec, () => undefined);
      else await transport.request(spec, () => undefined);
      attempts.push({ label: w.label, outcome: 'completed' });
    } catch (err) {
      const code = err instanceof ExporterError ? err.code : 'no code';
      attempts.push({ label: w.label, outcome: `${(err as Error).name} ${code}` });
    }
  }
  const sendsDuringWrites = sends;
  let entriesAfter: number | undefined;
  await transport.request({ type: CtMsg.GET_STATS, name: 'IPCTNL_MSG_CT_GET_STATS' }, (msg) => {
    entriesAfter = decodeGlobalStats(msg).entries;
  });
  transport.close();
  return { attempts, sendsDuringWrites, entriesAfter, sendsTotal: sends };
}

/** The flush the guard refused, sent without the guard: returns the kernel's errno (0 = done). */
async function controlFlush(): Promise<{ errno: number }> {
  const socket = new RawNetlinkSocket(12, { recvBufferSize: 65536, sendBufferSize: 65536 });
  const seq = 0x01abcdef;
  const request = encodeRequest({ type: CtMsg.DELETE, flags: NLM_F_REQUEST | NLM_F_ACK, seq });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ACK to the control flush')), 3000);
      socket.on('message', (buf: Buffer) => {
        forEachMessage(buf, (msg) => {
          if (msg.type === NLMSG_ERROR && msg.seq === seq) {
            clearTimeout(timer);
            resolve({ errno: readErrorPayload(msg).errno });
          }
        });
      });
      socket.send(request);
    });
  } finally {
    socket.close();
  }
}

const run = process.argv[2] === '--control-flush' ? controlFlush() : probe();
run.then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (err: unknown) => {
    process.stderr.write(`readonly-probe: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
