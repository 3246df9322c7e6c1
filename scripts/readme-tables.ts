// Generates the README's metric and configuration tables from the catalogue and the config
// schema, so the docs cannot drift: `npm run docs` rewrites them; test/docs.test.ts fails when the
// README differs from what this produces.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VARIABLES } from '../src/config/config.js';
import { CATALOG, OTEL_ATTRIBUTE } from '../src/metrics/catalog.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function metricTable(): string {
  const rows = CATALOG.map((m) => {
    const labels = m.labels.map((l) => `\`${l}\``).join(', ') || '—';
    const otelAttrs = m.labels.map((l) => OTEL_ATTRIBUTE[l] ?? l).join(', ');
    const otel =
      m.type === 'gaugehistogram'
        ? `\`${m.otelName}\`: gauges \`.bucket\` ({flows}; ${otelAttrs ? `${otelAttrs}, ` : ''}le), \`.count\`, \`.sum\` (${m.unit})`
        : `\`${m.otelName}\` (${m.unit}${otelAttrs ? `; ${otelAttrs}` : ''})`;
    return `| \`${m.name}\` | ${m.type} | ${labels} | ${otel} | ${m.collector} | ${cell(m.help)} |`;
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
  return replace(replace(readme, 'metrics', metricTable()), 'config', configTable());
}

export const README = fileURLToPath(new URL('../../README.md', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(README, renderReadme(readFileSync(README, 'utf8')));
}
