// Test support: the one parser of what conntrack-tools prints (`conntrack -L -o
// extended[,id][,ktimestamp]`, `conntrack -S`): the oracle the decoders and the flow aggregates
// are checked against. It keeps every field (timeout, ICMP type/code/id, CTA_ID, ktimestamp start)
// and offers the aggregates' view of a flow (`CliFlow`: family, lower-case state, zone, NAT kind,
// status). Written apart from src/conntrack so a decoder bug cannot hide behind a shared parser.
// Format: libnetfilter_conntrack src/conntrack/snprintf_default.c; conntrack-tools src/conntrack.c.

export interface ListedTuple {
  readonly src: string;
  readonly dst: string;
  readonly sport?: number;
  readonly dport?: number;
  readonly type?: number;
  readonly code?: number;
  readonly id?: number;
  readonly packets?: number;
  readonly bytes?: number;
}

export interface ListedFlow {
  readonly l3: string;
  readonly l3num: number;
  readonly l4: string;
  readonly l4num: number;
  readonly timeout: number;
  readonly state?: string;
  readonly orig: ListedTuple;
  readonly reply: ListedTuple;
  /** Bracketed flags: UNREPLIED, ASSURED, OFFLOAD... */
  readonly flags: readonly string[];
  /** mark, zone, use, id, helper... after the tuples. */
  readonly meta: Readonly<Record<string, string>>;
  /** `[start=...]` of -o ktimestamp (ctime text, in the TZ conntrack ran with). */
  readonly start?: string;
}

const TUPLE_NUMBERS = new Set(['sport', 'dport', 'type', 'code', 'id', 'packets', 'bytes']);

function tuple(pairs: readonly [string, string][]): ListedTuple {
  const t: Record<string, string | number> = {};
  for (const [k, v] of pairs) t[k] = TUPLE_NUMBERS.has(k) ? Number(v) : v;
  if (typeof t.src !== 'string' || typeof t.dst !== 'string') throw new Error('tuple without src/dst');
  return t as unknown as ListedTuple;
}

/** One line of `conntrack -L -o extended...`. */
export function parseFlowLine(line: string): ListedFlow {
  let start: string | undefined;
  const text = line.replace(/\[start=([^\]]*)\]/, (_m, s: string) => {
    start = s;
    return '';
  });
  const tokens = text.trim().split(/\s+/);
  const [l3, l3num, l4, l4num, timeout, maybeState] = tokens;
  if (!l3 || !l3num || !l4 || !l4num || !timeout) throw new Error(`short line: ${line}`);
  let i = 5;
  let state: string | undefined;
  if (maybeState !== undefined && !maybeState.includes('=') && !maybeState.startsWith('[')) {
    state = maybeState;
    i = 6;
  }
  const orig: [string, string][] = [];
  const reply: [string, string][] = [];
  const meta: Record<string, string> = {};
  const flags: string[] = [];
  // The original tuple runs to the second src=; the reply tuple to mark= (always printed).
  let section: 'orig' | 'reply' | 'meta' = 'orig';
  for (const token of tokens.slice(i)) {
    if (token.startsWith('[')) {
      flags.push(token.slice(1, -1));
      continue;
    }
    const eq = token.indexOf('=');
    if (eq <= 0) throw new Error(`unexpected token ${JSON.stringify(token)} in: ${line}`);
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    if (key === 'src' && section === 'orig' && orig.length > 0) section = 'reply';
    if (key === 'mark') section = 'meta';
    if (section === 'orig') orig.push([key, value]);
    else if (section === 'reply') reply.push([key, value]);
    else meta[key] = value;
  }
  return {
    l3,
    l3num: Number(l3num),
    l4,
    l4num: Number(l4num),
    timeout: Number(timeout),
    ...(state !== undefined && { state }),
    orig: tuple(orig),
    reply: tuple(reply),
    flags,
    meta,
    ...(start !== undefined && { start }),
  };
}

/** The lines of `conntrack -L -o extended…` output (blank lines skipped). */
export function parseFlowList(text: string): ListedFlow[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(parseFlowLine);
}

/** A flow as the aggregate tests see it: what the exporter's flow metrics are labelled by. */
export interface CliFlow {
  readonly family: 'ipv4' | 'ipv6';
  readonly protocol: string;
  /** The protocol state in lower case, as the exporter labels it; `none` for stateless protocols. */
  readonly state: string;
  readonly orig: ListedTuple;
  readonly reply: ListedTuple;
  readonly flags: readonly string[];
  readonly zone: number;
  readonly mark: number;
}

export function cliFlow(f: ListedFlow): CliFlow {
  if (f.l3 !== 'ipv4' && f.l3 !== 'ipv6') throw new Error(`unexpected family ${f.l3}`);
  return {
    family: f.l3,
    protocol: f.l4,
    state: f.state?.toLowerCase() ?? 'none',
    orig: f.orig,
    reply: f.reply,
    flags: f.flags,
    zone: Number(f.meta['zone'] ?? 0),
    mark: Number(f.meta['mark'] ?? 0),
  };
}

/** One line of `conntrack -L -o extended`, in the aggregates' view. */
export function parseConntrackLine(line: string): CliFlow {
  return cliFlow(parseFlowLine(line));
}

/**
 * NAT kind by comparing the tuples (docs/ctnetlink.md#nat-from-the-two-tuples), from the CLI's
 * text: ports where the protocol has them, the ICMP id otherwise.
 */
export function cliNat(f: CliFlow): 'none' | 'snat' | 'dnat' | 'both' {
  const ported = f.orig.sport !== undefined;
  const snat =
    f.reply.dst !== f.orig.src || (ported ? f.reply.dport !== f.orig.sport : f.reply.id !== f.orig.id);
  const dnat = f.reply.src !== f.orig.dst || (ported && f.reply.sport !== f.orig.dport);
  return snat ? (dnat ? 'both' : 'snat') : dnat ? 'dnat' : 'none';
}

export function cliStatus(f: CliFlow): 'unreplied' | 'assured' | 'replied' {
  return f.flags.includes('UNREPLIED') ? 'unreplied' : f.flags.includes('ASSURED') ? 'assured' : 'replied';
}

/** Counts (or sums of `value`) by a key. */
export function tally<T>(
  items: readonly T[],
  key: (t: T) => string,
  value: (t: T) => number = () => 1,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const i of items) out.set(key(i), (out.get(key(i)) ?? 0) + value(i));
  return out;
}

/** `conntrack -S` / `conntrack -S expect`: cpu -> counter name -> value. */
export function parseCpuStats(text: string): Map<number, Record<string, number>> {
  const out = new Map<number, Record<string, number>>();
  for (const line of text.split('\n')) {
    const m = /^cpu=(\d+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const counters: Record<string, number> = {};
    for (const pair of (m[2] ?? '').trim().split(/\s+/)) {
      const [k, v] = pair.split('=');
      if (k && v !== undefined) counters[k] = Number(v);
    }
    out.set(Number(m[1]), counters);
  }
  return out;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime(3) text of a UTC instant, as conntrack prints `[start=...]` with TZ=UTC. */
export function ctimeUtc(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}
