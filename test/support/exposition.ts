// Test support: a small parser for the Prometheus text format, for asserting exact values.

export interface ExpoSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parseExposition(text: string): ExpoSample[] {
  const out: ExpoSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1] ?? ''] = (lm[2] ?? '').replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const raw = m[3] ?? '';
    out.push({
      name: m[1] ?? '',
      labels,
      value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw),
    });
  }
  return out;
}

/** The single value of `name` whose labels include `match`; throws if not exactly one. */
export function valueOf(
  samples: readonly ExpoSample[],
  name: string,
  match: Record<string, string> = {},
): number {
  const found = select(samples, name, match);
  if (found.length !== 1) throw new Error(`${name}${JSON.stringify(match)}: ${found.length} samples`);
  return found[0]?.value ?? NaN;
}

export function select(
  samples: readonly ExpoSample[],
  name: string,
  match: Record<string, string> = {},
): ExpoSample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

export function sumOf(
  samples: readonly ExpoSample[],
  name: string,
  match: Record<string, string> = {},
): number {
  return select(samples, name, match).reduce((a, s) => a + s.value, 0);
}

/** Sums of `name` by the values of `labels`, joined with "/" (e.g. "udp/other"). */
export function byLabels(
  samples: readonly ExpoSample[],
  name: string,
  labels: readonly string[],
): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of select(samples, name)) {
    const key = labels.map((l) => s.labels[l]).join('/');
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}
