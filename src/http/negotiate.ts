// Layer: wiring (HTTP). Content negotiation for /metrics: the exposition format from `Accept` and
// the encoding from `Accept-Encoding`, both honouring q-values (RFC 9110's proactive negotiation). Pure
// functions; knows nothing of sockets or metrics.

export type ExpositionFormat = 'prometheus' | 'openmetrics';
export type ContentEncoding = 'gzip' | 'identity';

interface Range {
  readonly value: string;
  readonly q: number;
}

/** "a;q=0.5, b" -> [{value:"a", q:0.5}, {value:"b", q:1}]; a malformed q counts as 0 (ignored). */
function parseList(header: string): Range[] {
  const out: Range[] = [];
  for (const part of header.split(',')) {
    const [first, ...params] = part.split(';');
    const value = (first ?? '').trim().toLowerCase();
    if (value === '') continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*(.*?)\s*$/i.exec(p);
      if (!m) continue;
      q = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(m[1] ?? '') ? Number(m[1]) : 0;
    }
    out.push({ value, q });
  }
  return out;
}

/** The q of the most specific media range that matches `type/subtype`; undefined if none does. */
function qualityOf(ranges: readonly Range[], mediaType: string): number | undefined {
  const [type] = mediaType.split('/');
  let best: { specificity: number; q: number } | undefined;
  for (const r of ranges) {
    const specificity = r.value === mediaType ? 3 : r.value === `${type}/*` ? 2 : r.value === '*/*' ? 1 : 0;
    if (specificity > 0 && (!best || specificity > best.specificity)) best = { specificity, q: r.q };
  }
  return best?.q;
}

/**
 * OpenMetrics only when the client rates it strictly higher than the text format (Prometheus
 * sends openmetrics-text with q=1 and text/plain with q=0.5 when it wants OpenMetrics). Ties, no
 * header and a header that accepts neither get the text format, as Prometheus's own servers do.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (accept === undefined || accept.trim() === '') return 'prometheus';
  const ranges = parseList(accept);
  const om = qualityOf(ranges, 'application/openmetrics-text') ?? 0;
  const text = qualityOf(ranges, 'text/plain') ?? 0;
  return om > 0 && om > text ? 'openmetrics' : 'prometheus';
}

/** gzip when the client accepts it with q > 0 (explicitly or through "*"), else identity. */
export function negotiateEncoding(acceptEncoding: string | undefined): ContentEncoding {
  if (acceptEncoding === undefined) return 'identity';
  const ranges = parseList(acceptEncoding);
  const explicit = ranges.find((r) => r.value === 'gzip' || r.value === 'x-gzip');
  const star = ranges.find((r) => r.value === '*');
  const q = explicit?.q ?? star?.q ?? 0;
  return q > 0 ? 'gzip' : 'identity';
}
