// The collector registry is the one list of collectors: the configuration's valid names and
// defaults, the catalogue's collector field, the README's tables and the chart's list of names all
// agree with it. A definition that contradicts the catalogue fails at load.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COLLECTORS, createCollectors, findCollector } from '../../src/collectors/index.js';
import { defineCollector, RegistryError } from '../../src/collectors/registry.js';
import { COLLECTOR_NAMES, DEFAULT_COLLECTORS, loadConfig, VARIABLES } from '../../src/config/config.js';
import { CATALOG, entries, flows } from '../../src/metrics/catalog.js';
import { collectorTable } from '../../scripts/readme-tables.js';
import { fakeContext } from '../support/collector-context.js';

const names = COLLECTORS.map((c) => c.name);

describe('the registry', () => {
  it('lists each collector once, with the names the exporter has always had', () => {
    expect(names).toEqual(['table', 'cpu_stats', 'expect_stats', 'sysctl', 'flows', 'netns', 'events']);
    expect(new Set(names).size).toBe(names.length);
  });

  it('claims every catalogue entry exactly once, under the name in its collector field', () => {
    for (const metric of CATALOG) {
      const owners = COLLECTORS.filter((c) => c.metrics.includes(metric)).map((c) => c.name);
      expect({ metric: metric.name, owners }).toEqual({
        metric: metric.name,
        owners: metric.collector === 'exporter' ? [] : [metric.collector],
      });
    }
    for (const c of COLLECTORS) for (const m of c.metrics) expect(CATALOG).toContain(m);
  });

  it('refuses a definition whose metrics belong to another collector, or a reserved name', () => {
    const base = {
      defaultEnabled: false,
      reads: { withNetAdmin: '', without: '' },
      needs: { netAdmin: 'none', hostPid: false },
      create: () => ({ name: 'x', collect: () => Promise.reject(new Error('unused')) }),
    } as const;
    expect(() => defineCollector({ ...base, name: 'mine', metrics: [entries] })).toThrow(RegistryError);
    expect(() => defineCollector({ ...base, name: 'mine', metrics: [entries] })).toThrow(
      'collector mine lists conntrack_entries, whose catalogue entry says collector table',
    );
    expect(() => defineCollector({ ...base, name: 'exporter', metrics: [] })).toThrow(RegistryError);
    expect(() => defineCollector({ ...base, name: 'Bad-Name', metrics: [] })).toThrow(RegistryError);
    expect(defineCollector({ ...base, name: 'flows', metrics: [flows] }).name).toBe('flows');
  });
});

describe('what derives from it', () => {
  it('configuration: valid names, defaults, and the default of CONNTRACK_EXPORTER_COLLECTORS', () => {
    expect(COLLECTOR_NAMES).toEqual(names);
    expect(DEFAULT_COLLECTORS).toEqual(COLLECTORS.filter((c) => c.defaultEnabled).map((c) => c.name));
    expect(DEFAULT_COLLECTORS).toEqual(['table', 'cpu_stats', 'expect_stats', 'sysctl', 'flows']);
    expect(VARIABLES.CONNTRACK_EXPORTER_COLLECTORS?.default).toBe(DEFAULT_COLLECTORS.join(','));
    expect(loadConfig({}).collectors).toEqual(DEFAULT_COLLECTORS);
    expect(loadConfig({ CONNTRACK_EXPORTER_COLLECTORS: names.join(',') }).collectors).toEqual(names);
  });

  it("configuration: every collector's own variables are validated and reach its factory", () => {
    for (const c of COLLECTORS) {
      for (const v of Object.keys(c.settings?.variables ?? {}))
        expect(VARIABLES[v]).toBe(c.settings?.variables[v]);
    }
    const config = loadConfig({ CONNTRACK_EXPORTER_FLOW_TOP_K: '7' });
    expect(config.collectorOptions.get('flows')).toMatchObject({ topK: 7 });
    expect(config.collectorOptions.get('flows')).toBe(config.flow);
    expect(() => loadConfig({ CONNTRACK_EXPORTER_FLOW_TOP_K: '0' })).toThrow(
      'CONNTRACK_EXPORTER_FLOW_TOP_K: must be >= 1',
    );
  });

  it('createCollectors builds the enabled ones by name, each named after its definition', () => {
    const built = createCollectors(['sysctl', 'table'], fakeContext('/nonexistent'), new Map());
    expect(built.map((c) => c.name)).toEqual(['sysctl', 'table']);
    expect(findCollector('nosuch')).toBeUndefined();
    expect(() => createCollectors(['nosuch'], fakeContext('/nonexistent'), new Map())).toThrow(RegistryError);
  });

  it("the README's collector table has one row per definition", () => {
    const rows = collectorTable().split('\n').slice(2);
    expect(rows.map((r) => /^\| `([a-z_]+)` \|/.exec(r)?.[1])).toEqual(names);
    expect(rows.find((r) => r.startsWith('| `netns`'))).toContain('| opt-in |');
    expect(rows.find((r) => r.startsWith('| `netns`'))).toContain('host PID namespace');
    expect(rows.find((r) => r.startsWith('| `flows`'))).toContain('`CAP_NET_ADMIN`');
  });

  it("the chart's values schema lists exactly the registered collectors", () => {
    const schema = JSON.parse(
      readFileSync(
        new URL('../../deploy/helm/conntrack-exporter/values.schema.json', import.meta.url),
        'utf8',
      ),
    ) as { properties: { config: { properties: { collectors: { items: { enum: string[] } } } } } };
    expect(schema.properties.config.properties.collectors.items.enum).toEqual(names);
  });
});
