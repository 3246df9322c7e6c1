// The README's metric and configuration tables are generated from the catalogue and the config
// schema; this fails when someone changes one without `npm run docs`.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderReadme } from '../scripts/readme-tables.js';
import { CATALOG } from '../src/metrics/catalog.js';
import { VARIABLES } from '../src/config/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('has up-to-date metric and configuration tables (run `npm run docs`)', () => {
    expect(readme).toBe(renderReadme(readme));
  });

  it('documents every metric and every variable', () => {
    for (const m of CATALOG) expect(readme).toContain(`\`${m.name}\``);
    for (const v of Object.keys(VARIABLES)) expect(readme).toContain(`\`${v}\``);
  });

  it('CHANGELOG follows Keep a Changelog', () => {
    const changelog = readFileSync(new URL('../CHANGELOG.md', import.meta.url), 'utf8');
    expect(changelog).toMatch(/^# Changelog/m);
    expect(changelog).toMatch(/^## \[Unreleased\]/m);
  });
});
