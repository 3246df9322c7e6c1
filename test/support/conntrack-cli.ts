// Test support: parses `conntrack -L -o extended` lines, the oracle for flow aggregates. It is
// written independently of src/conntrack so a decoder bug cannot hide behind a shared parser.

export interface CliTuple {
  readonly src: string;
  readonly dst: string;
  readonly sport?: number;
  readonly dport?: number;
  readonly id?: number;
  readonly packets?: number;
  readonly bytes?: number;
}

export interface CliFlow {
  readonly family: 'ipv4' | 'ipv6';
  readonly protocol: string;
  readonly state: string;
  readonly orig: CliTuple;
  readonly reply: CliTuple;
  readonly flags: readonly string[];
  readonly zone: number;
  readonly mark: number;
}

function tuple(pairs: Map<string, string>): CliTuple {
  const num = (k: string): number | undefined => (pairs.has(k) ? Number(pairs.get(k)) : undefined);
  return {
    src: pairs.get('src') ?? '',
    dst: pairs.get('dst') ?? '',
    ...(num('sport') !== undefined && { sport: num('sport') }),
    ...(num('dport') !== undefined && { dport: num('dport') }),
    ...(num('id') !== undefined && { id: num('id') }),
    ...(num('packets') !== undefined && { packets: num('packets') }),
    ...(num('bytes') !== undefined && { bytes: num('bytes') }),
  };
}

export function parseConntrackLine(line: string): CliFlow {
  const tokens = line.trim().split(/\s+/);
  const [family, , protocol, , , maybeState] = tokens;
  const hasState = maybeState !== undefined && /^[A-Z_0-9]+$/.test(maybeState);
  const rest = tokens.slice(hasState ? 6 : 5);
  const orig = new Map<string, string>();
  const reply = new Map<string, string>();
  const flags: string[] = [];
  let zone = 0;
  let mark = 0;
  let current = orig;
  for (const t of rest) {
    if (t.startsWith('[')) {
      flags.push(t.slice(1, -1));
      continue;
    }
    const eq = t.indexOf('=');
    if (eq < 0) continue;
    const [k, v] = [t.slice(0, eq), t.slice(eq + 1)];
    if (k === 'zone') zone = Number(v);
    else if (k === 'mark') mark = Number(v);
    else if (k === 'src' && current.has('src')) {
      current = reply;
      current.set(k, v);
    } else if (!current.has(k)) current.set(k, v);
  }
  return {
    family: family === 'ipv6' ? 'ipv6' : 'ipv4',
    protocol: protocol ?? '',
    state: hasState ? (maybeState ?? '').toLowerCase() : 'none',
    orig: tuple(orig),
    reply: tuple(reply),
    flags,
    zone,
    mark,
  };
}

/** NAT kind by comparing the tuples (shared/ctnetlink.md §12), computed from the CLI's text. */
export function cliNat(f: CliFlow): 'none' | 'snat' | 'dnat' | 'both' {
  const snat = f.reply.dst !== f.orig.src || (f.orig.sport !== undefined && f.reply.dport !== f.orig.sport);
  const dnat = f.reply.src !== f.orig.dst || (f.orig.dport !== undefined && f.reply.sport !== f.orig.dport);
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
