// Generates the README's collector, metric and configuration tables from the collector registry,
// the catalogue and the config schema, so the docs cannot drift: `npm run docs` rewrites them;
// test/docs.test.ts fails when the README differs from what this produces.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { COLLECTORS } from '../src/collectors/index.js';
import { VARIABLES } from '../src/config/config.js';
import { CATALOG, OTEL_ATTRIBUTE, type MetricDef } from '../src/metrics/catalog.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The collector whose registry definition lists the metric; `exporter` for self-metrics. */
function collectorOf(metric: MetricDef): string {
  return COLLECTORS.find((c) => c.metrics.includes(metric))?.name ?? 'exporter';
}

export function collectorTable(): string {
  const rows = COLLECTORS.map((c) => {
    const needs = [
      c.needs.netAdmin === 'required' && '`CAP_NET_ADMIN`',
      c.needs.hostPid && 'host PID namespace',
    ].filter(Boolean);
    return `| \`${c.name}\` | ${c.defaultEnabled ? 'yes' : 'opt-in'} | ${cell(c.reads.withNetAdmin)} | ${cell(c.reads.without)} | ${needs.join(', ') || '—'} |`;
  });
  return [
    '| collector | default | with CAP_NET_ADMIN | without | needs |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

export function metricTable(): string {
  const rows = CATALOG.map((m) => {
    const labels = m.labels.map((l) => `\`${l}\``).join(', ') || '—';
    const otelAttrs = m.labels.map((l) => OTEL_ATTRIBUTE[l] ?? l).join(', ');
    const otel =
      m.type === 'gaugehistogram'
        ? `\`${m.otelName}\`: gauges \`.bucket\` ({flows}; ${otelAttrs ? `${otelAttrs}, ` : ''}le), \`.count\`, \`.sum\` (${m.unit})`
        : m.type === 'histogram'
          ? `\`${m.otelName}\`: explicit-bucket histogram (${m.unit}${otelAttrs ? `; ${otelAttrs}` : ''})`
          : `\`${m.otelName}\` (${m.unit}${otelAttrs ? `; ${otelAttrs}` : ''})`;
    return `| \`${m.name}\` | ${m.type} | ${labels} | ${otel} | ${collectorOf(m)} | ${cell(m.help)} |`;
  });
  return [
    '| Prometheus | type | labels | OpenTelemetry (unit; attributes) | collector | description |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

export function configTable(): string {
  const rows = Object.entries(VARIABLES).map(([name, spec]) => {
    const def = spec.default === undefined ? '—' : `\`${String(spec.default)}\``;
    return `| \`${name}\` | ${def} | ${cell(spec.valid)} | ${cell(spec.description)} |`;
  });
  return ['| variable | default | valid values | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

export function renderReadme(readme: string): string {
  const replace = (text: string, name: string, body: string): string => {
    const re = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!re.test(text)) throw new Error(`README lacks the ${name} markers`);
    return text.replace(re, (_m, a: string, b: string) => `${a}\n${body}\n${b}`);
  };
  return replace(
    replace(replace(readme, 'collectors', collectorTable()), 'metrics', metricTable()),
    'config',
    configTable(),
  );
}

export const README = fileURLToPath(new URL('../../README.md', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(README, renderReadme(readFileSync(README, 'utf8')));
}
