// The documentation against the code: the README's metric and configuration tables say what the
// catalogue and the configuration schema say (read back from the markdown, not from the
// generator that wrote them), nothing users rely on disappears without a [CHANGE] entry, every
// link and docs/ citation resolves, and nothing cites material outside the project.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReadme } from '../scripts/readme-tables.js';
import { CATALOG, OTEL_ATTRIBUTE } from '../src/metrics/catalog.js';
import { VARIABLES } from '../src/config/config.js';
import {
  anchors,
  brokenLink,
  codeList,
  docCitations,
  filesUnder,
  foreignCitations,
  markdownLinks,
  ROOT,
  slug,
  tableRows,
  type Finding,
} from './support/docs-check.js';

const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');
const readme = read('README.md');
const changelog = read('CHANGELOG.md');

/** Where the project's own text lives: code, tests, scripts, docs and the deployment files. */
const PROJECT_TEXT = [
  ...['src', 'test', 'scripts', 'bench'].flatMap((d) => filesUnder(d, ['.ts', '.mjs', '.json'])),
  ...filesUnder('docs', ['.md']),
  ...filesUnder('deploy', ['.md', '.yaml', '.yml', '.json', '.tpl', '.txt']),
  'README.md',
  'CHANGELOG.md',
  'Dockerfile',
].filter((f) => !f.startsWith('test/fixtures/deploy/'));
const MARKDOWN = [
  'README.md',
  'CHANGELOG.md',
  ...filesUnder('docs', ['.md']),
  ...filesUnder('deploy', ['.md']),
];

describe('README metric table', () => {
  const rows = tableRows(readme, 'metrics');
  const byName = new Map(rows.map((r) => [codeList(r[0] ?? '')[0] ?? '', r]));

  it('is what `npm run docs` generates (run it after changing the catalogue or the schema)', () => {
    expect(readme).toBe(renderReadme(readme));
  });

  it('has one row per catalogue metric, with its type, labels, OpenTelemetry name and collector', () => {
    expect(rows.map((r) => codeList(r[0] ?? '')[0])).toEqual(CATALOG.map((m) => m.name));
    for (const m of CATALOG) {
      const [, type, labels, otel, collector] = byName.get(m.name) ?? [];
      expect({ name: m.name, type, labels: codeList(labels ?? ''), collector }).toEqual({
        name: m.name,
        type: m.type,
        labels: [...m.labels],
        collector: m.collector,
      });
      expect(codeList(otel ?? '')[0], m.name).toBe(m.otelName);
      for (const l of m.labels) expect(otel, m.name).toContain(OTEL_ATTRIBUTE[l] ?? l);
    }
  });
});

describe('README configuration table', () => {
  const rows = tableRows(readme, 'config');

  it('has one row per variable, with its default', () => {
    expect(rows.map((r) => codeList(r[0] ?? '')[0])).toEqual(Object.keys(VARIABLES));
    for (const [name, spec] of Object.entries(VARIABLES)) {
      const row = rows.find((r) => codeList(r[0] ?? '')[0] === name) ?? [];
      const shown = codeList(row[1] ?? '')[0];
      expect(shown, name).toBe(spec.default === undefined ? undefined : String(spec.default));
      expect(row[3], name).toBe(spec.description);
    }
  });

  it('says what the configuration does with empty values, numbers and listen errors (issue 11)', () => {
    const intro = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('| `CONNTRACK_EXPORTER_'));
    expect(intro).toMatch(/An empty variable counts as\s+unset/);
    expect(intro).toMatch(/Numbers are decimal/);
    expect(intro).toMatch(/one line naming `CONNTRACK_EXPORTER_LISTEN_ADDRESS`/);
  });
});

describe('what users rely on', () => {
  const released = JSON.parse(read('test/fixtures/released-surface.json')) as {
    metrics: { name: string; type: string; labels: string[] }[];
    variables: string[];
  };
  /** A line of CHANGELOG.md that marks a breaking change and names `name`. */
  const announced = (name: string): boolean =>
    changelog.split('\n').some((l) => l.includes('[CHANGE]') && l.includes(name));

  it('keeps every released metric with its type and labels, or says [CHANGE] in CHANGELOG.md', () => {
    const changed = released.metrics.filter((r) => {
      const now = CATALOG.find((m) => m.name === r.name);
      const same = now !== undefined && now.type === r.type && now.labels.join(',') === r.labels.join(',');
      return !same && !announced(r.name);
    });
    expect(changed.map((m) => m.name)).toEqual([]);
  });

  it('keeps every released configuration variable, or says [CHANGE] in CHANGELOG.md', () => {
    expect(released.variables.filter((v) => !(v in VARIABLES) && !announced(v))).toEqual([]);
  });
});

describe('CHANGELOG.md', () => {
  it('follows Keep a Changelog: Unreleased first, versions with dates, known section names', () => {
    const versions = [...changelog.matchAll(/^## (.*)$/gm)].map((m) => m[1] ?? '');
    expect(versions[0]).toBe('[Unreleased]');
    for (const v of versions.slice(1)) expect(v).toMatch(/^\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}$/);
    const sections = [...changelog.matchAll(/^### (.*)$/gm)].map((m) => m[1]);
    const known = ['Added', 'Changed', 'Deprecated', 'Removed', 'Fixed', 'Security'];
    expect(sections.filter((s) => !known.includes(s ?? ''))).toEqual([]);
  });
});

describe('links and citations', () => {
  it('every relative link in the markdown resolves, anchors included', () => {
    // Not vacuous: the README and docs/ link to each other and to headings.
    expect(MARKDOWN.flatMap((file) => markdownLinks(read(file))).length).toBeGreaterThan(20);
    const broken = MARKDOWN.flatMap((file) =>
      markdownLinks(read(file)).flatMap(({ target, line }) => {
        const why = brokenLink(target, file);
        return why ? [`${file}:${line}: ${why}`] : [];
      }),
    );
    expect(broken).toEqual([]);
  });

  it('every docs/… citation in code, tests and docs resolves, anchors included', () => {
    expect(PROJECT_TEXT.filter((f) => f.startsWith('src/')).length).toBeGreaterThan(20);
    expect(PROJECT_TEXT.flatMap((file) => docCitations(read(file))).length).toBeGreaterThan(10);
    const broken = PROJECT_TEXT.flatMap((file) =>
      docCitations(read(file), { commentsOnly: file.startsWith('test/') }).flatMap(({ target, line }) => {
        const why = brokenLink(target, undefined);
        return why ? [`${file}:${line}: ${why}`] : [];
      }),
    );
    expect(broken).toEqual([]);
  });

  it('nothing cites material outside the project (the reference notes, numbered sections)', () => {
    const found: Finding[] = PROJECT_TEXT.flatMap((file) => foreignCitations(file, read(file)));
    expect(found.map((f) => `${f.file}:${f.line}: ${f.text}`)).toEqual([]);
  });
});

describe('the checks themselves', () => {
  it('find foreign citations in any line', () => {
    const text = [
      '// ok: include/uapi/linux/netfilter/nfnetlink_conntrack.h',
      `// see ${'shared'}/ctnetlink.md`,
      'x',
      `/work/${'shared'}/STYLE.md`,
      `(${'\u00a7'}3)`,
    ].join('\n');
    expect(foreignCitations('f.ts', text).map((f) => f.line)).toEqual([2, 4, 5]);
    expect(foreignCitations('f.ts', 'src/unshared/x and node_modules/a-shared/b')).toEqual([]);
  });

  it('compute GitHub anchors and find broken ones', () => {
    expect(slug('Pod Security: why the namespace must be `privileged`')).toBe(
      'pod-security-why-the-namespace-must-be-privileged',
    );
    expect([...anchors('# A\n## B b\n```\n# not a heading\n```\n## B b\n')]).toEqual(['a', 'b-b', 'b-b-1']);
    expect(brokenLink('docs/ctnetlink.md#statistics', undefined)).toBeUndefined();
    expect(brokenLink('docs/ctnetlink.md#no-such-heading', undefined)).toMatch(/no heading/);
    expect(brokenLink('docs/nope.md', undefined)).toMatch(/no such file/);
    expect(brokenLink('runbooks/ConntrackTableFull.md', 'docs/alerts.md')).toBeUndefined();
    expect(markdownLinks('[a](x.md) [b](https://e.org) `[c](y.md)`\n```\n[d](z.md)\n```')).toEqual([
      { target: 'x.md', line: 1 },
    ]);
  });

  it('read table cells with escaped pipes', () => {
    const md = '<!-- t:start -->\n| a | b |\n|---|---|\n| `x` | p \\| q |\n<!-- t:end -->';
    expect(tableRows(md, 't')).toEqual([['`x`', 'p | q']]);
  });
});
