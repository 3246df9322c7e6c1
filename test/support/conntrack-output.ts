// Test support: parses what conntrack-tools prints, in full (`conntrack -L -o extended[,id][,ktimestamp]`,
// `conntrack -S`): the oracle the decoders are checked against. Unlike conntrack-cli.ts (the
// aggregates' oracle) it keeps every field: timeout, ICMP type/code/id, CTA_ID, ktimestamp start.
// Written apart from src/conntrack so a decoder bug cannot hide behind a shared parser.
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

export function parseFlowList(text: string): ListedFlow[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(parseFlowLine);
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
