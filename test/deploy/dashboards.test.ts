// Lints the shipped Grafana dashboards without Grafana: dashboard-linter's rules plus the metric
// catalogue (test/support/dashboard-lint.ts). The second half feeds the lint deliberately broken
// dashboards, one defect each, and asserts it names the defect: a lint that cannot fail is no test.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parser } from '@prometheus-io/lezer-promql';
import { CATALOG, CPU_STAT_NAMES, type MetricDef } from '../../src/metrics/catalog.js';
import {
  collectQueries,
  lintDashboard,
  renderQuery,
  type LintIssue,
  type LintOptions,
} from '../support/dashboard-lint.js';

type Json = Record<string, unknown>;

const NODE = { file: 'conntrack-node.json', uid: 'conntrack-node' } as const;
const FLEET = { file: 'conntrack-fleet.json', uid: 'conntrack-fleet' } as const;

// The node dashboard shows ONE node, so its instance variable is single-select (a documented
// exception to dashboard-linter's template-instance-rule); the fleet dashboard follows the rule.
/** kube-state-metrics' pod info, joined for pod names (its labels as kube-state-metrics 2.x exports them). */
const KUBE_POD_INFO: MetricDef = {
  name: 'kube_pod_info',
  otelName: 'kube_pod_info',
  help: 'kube-state-metrics: information about a pod',
  type: 'gauge',
  unit: '1',
  labels: ['namespace', 'pod', 'uid', 'node', 'host_ip', 'pod_ip', 'created_by_kind', 'created_by_name'],
  collector: 'exporter',
};

const OPTIONS: Readonly<Record<string, LintOptions>> = {
  [NODE.file]: { catalog: CATALOG, singleSelect: ['instance'], external: [KUBE_POD_INFO] },
  [FLEET.file]: { catalog: CATALOG },
};

function load(file: string): Json {
  return JSON.parse(readFileSync(new URL(`../../deploy/grafana/${file}`, import.meta.url), 'utf8')) as Json;
}

function optionsFor(file: string): LintOptions {
  const o = OPTIONS[file];
  if (o === undefined) throw new Error(`no lint options for ${file}`);
  return o;
}

function format(issues: readonly LintIssue[]): string[] {
  return issues.map((i) => `${i.rule} @ ${i.where}: ${i.message}`);
}

/** Catalogue metrics no dashboard needs to show, with the reason. */
const NOT_ON_DASHBOARDS: Readonly<Record<string, string>> = {
  conntrack_stat_searched_total: 'not sent by kernels since 4.10',
  conntrack_stat_new_total: 'not sent by kernels since 4.10',
  conntrack_stat_ignore_total: 'not sent by current kernels',
  conntrack_stat_delete_total: 'not sent by kernels since 4.10',
  conntrack_stat_delete_list_total: 'not sent by kernels since 4.10',
  conntrack_stat_found_total: 'lookup hits: volume, not health',
  conntrack_stat_error_total: 'ICMP errors not related to a flow: noise for table health',
  conntrack_expect_stat_new_total: 'the panel shows create/delete; new duplicates create',
  conntrack_otlp_export_failures_total: 'OTLP push health belongs to the OpenTelemetry pipeline',
  conntrack_flow_walks_total: 'how the flow walk restarts: a diagnostic of the pass, not of the table',
  conntrack_events_attribution_pods:
    'a health check of event attribution; "Pods attributed" shows the flow pass count',
  conntrack_events_receive_buffer_bytes: 'a setting, said in a log line and in the overrun runbook',
};

describe.each([NODE, FLEET])('$file', ({ file, uid }) => {
  const dashboard = load(file);

  it('passes the dashboard lint', () => {
    expect(format(lintDashboard(dashboard, optionsFor(file)))).toEqual([]);
  });

  it('has its fixed uid and is provisioning-ready', () => {
    expect(dashboard.uid).toBe(uid);
    expect(dashboard.editable).toBe(false);
    expect(dashboard.id ?? null).toBeNull();
    expect(dashboard).not.toHaveProperty('__inputs');
  });

  it('renders every query with concrete variable values into PromQL that parses', () => {
    const queries = collectQueries(dashboard);
    expect(queries.length).toBeGreaterThan(10);
    for (const q of queries) {
      const rendered = renderQuery(q.expr, {
        job: '.+',
        instance: '.+',
        __rate_interval: '1m',
      });
      expect(rendered).not.toContain('$');
      let error = false;
      parser.parse(rendered).iterate({
        enter: (n) => {
          if (n.type.isError) error = true;
        },
      });
      expect(error, `${q.panelTitle}/${q.refId}: ${rendered}`).toBe(false);
    }
  });

  it('never rates the flow age gauge histogram (its buckets are gauges of the last pass)', () => {
    for (const q of collectQueries(dashboard).filter((x) => x.expr.includes('conntrack_flow_age_seconds'))) {
      expect(q.expr).not.toMatch(/\b(rate|irate|increase)\(/);
    }
  });
});

describe('the dashboards together', () => {
  const node = load(NODE.file);
  const fleet = load(FLEET.file);
  const used = new Set(
    [node, fleet]
      .flatMap((d) => collectQueries(d))
      .flatMap((q) => q.expr.match(/\bconntrack_[a-z_]+/g) ?? []),
  );

  it('show every catalogue metric, except those listed with a reason', () => {
    const missing = CATALOG.map((m) => m.name).filter(
      (name) => !used.has(name) && !used.has(`${name}_bucket`) && NOT_ON_DASHBOARDS[name] === undefined,
    );
    expect(missing).toEqual([]);
    // An exemption for a metric that no longer exists, or that is now shown, is stale.
    for (const name of Object.keys(NOT_ON_DASHBOARDS)) {
      expect(
        CATALOG.some((m) => m.name === name),
        name,
      ).toBe(true);
      expect(used.has(name), name).toBe(false);
    }
  });

  it('have distinct uids and titles, and the fleet table links to the node dashboard', () => {
    expect(node.uid).not.toBe(fleet.uid);
    expect(node.title).not.toBe(fleet.title);
    expect(JSON.stringify(fleet)).toContain(`/d/${NODE.uid}/`);
  });

  it('node: one node (single-select instance); fleet: all nodes (multi-select, All = .+)', () => {
    const variable = (d: Json, name: string): Json => {
      const list = (d.templating as { list: Json[] }).list;
      const v = list.find((x) => x.name === name);
      if (v === undefined) throw new Error(`no variable ${name}`);
      return v;
    };
    expect(variable(node, 'instance').multi).toBe(false);
    expect(variable(fleet, 'instance')).toMatchObject({ multi: true, includeAll: true, allValue: '.+' });
  });

  it('node: every watched kernel counter has a per-node (sum without cpu) and a per-CPU query', () => {
    const queries = collectQueries(node);
    const watched = [
      'drop',
      'early_drop',
      'insert_failed',
      'clash_resolve',
      'search_restart',
      'invalid',
      'chaintoolong',
    ];
    for (const stat of watched) {
      expect(CPU_STAT_NAMES).toContain(stat);
      const metric = `conntrack_stat_${stat}_total`;
      expect(
        queries.some((q) => q.expr.startsWith('sum without (cpu) (rate(') && q.expr.includes(`${metric}{`)),
        `${stat} summed over CPUs`,
      ).toBe(true);
      expect(
        queries.some((q) => q.expr.startsWith(`rate(${metric}{`)),
        `${stat} per CPU`,
      ).toBe(true);
    }
  });

  it('time to full is derived from deriv(conntrack_entries), clamped, in hours', () => {
    for (const d of [node, fleet]) {
      const ttf = collectQueries(d).filter((q) => q.expr.includes('deriv(conntrack_entries'));
      expect(ttf.length).toBeGreaterThan(0);
      for (const q of ttf) {
        // clamp_max(clamp_min(headroom, 0) / clamp_min(deriv(entries[1h]), ε), 7 d) / 3600
        expect(q.expr).toContain('clamp_max(clamp_min(');
        expect(q.expr).toContain('clamp_min(deriv(');
        expect(q.expr).toContain(', 604800) / 3600');
      }
    }
  });
});

// ---- the lint rejects what it should --------------------------------------------------------------

const S = 'job=~"$job", instance=~"$instance"';

function clone(file: string): Json {
  return structuredClone(load(file));
}

function panels(d: Json): Json[] {
  const top = d.panels as Json[];
  return top.flatMap((p) => [
    p,
    ...((p.type === 'row' ? (p.panels as Json[] | undefined) : undefined) ?? []),
  ]);
}

function panel(d: Json, title: string): Json {
  const p = panels(d).find((x) => x.title === title);
  if (p === undefined) throw new Error(`no panel "${title}"`);
  return p;
}

function target(d: Json, title: string, index = 0): Json {
  const t = (panel(d, title).targets as Json[])[index];
  if (t === undefined) throw new Error(`panel "${title}" has no target ${index}`);
  return t;
}

function variable(d: Json, name: string): Json {
  const v = (d.templating as { list: Json[] }).list.find((x) => x.name === name);
  if (v === undefined) throw new Error(`no variable ${name}`);
  return v;
}

function setQuery(v: Json, query: string): void {
  v.query = { qryType: 1, query, refId: 'PrometheusVariableQueryEditor-VariableQuery' };
  v.definition = query;
}

const DROPS = 'Drops and early drops';
const setExpr = (expr: string) => (d: Json) => {
  target(d, DROPS).expr = expr;
};

interface BrokenCase {
  readonly name: string;
  readonly rule: string;
  readonly file?: string;
  readonly breakIt: (d: Json) => void;
}

const BROKEN: readonly BrokenCase[] = [
  // dashboard level
  {
    name: 'exported with __inputs',
    rule: 'dashboard-no-inputs',
    breakIt: (d) => void (d.__inputs = [{ name: 'DS_PROMETHEUS' }]),
  },
  {
    name: 'an import-time ${DS_…} datasource',
    rule: 'dashboard-no-inputs',
    breakIt: (d) => void (target(d, DROPS).datasource = { type: 'prometheus', uid: '${DS_PROMETHEUS}' }),
  },
  { name: 'a numeric id', rule: 'dashboard-no-id', breakIt: (d) => void (d.id = 12) },
  { name: 'editable', rule: 'dashboard-uneditable', breakIt: (d) => void (d.editable = true) },
  { name: 'no uid', rule: 'dashboard-uid', breakIt: (d) => void delete d.uid },
  { name: 'a uid over 40 characters', rule: 'dashboard-uid', breakIt: (d) => void (d.uid = 'x'.repeat(41)) },
  { name: 'no tags', rule: 'dashboard-tags', breakIt: (d) => void (d.tags = []) },
  { name: 'no title', rule: 'dashboard-title', breakIt: (d) => void (d.title = ' ') },
  { name: 'an old schemaVersion', rule: 'dashboard-schema', breakIt: (d) => void (d.schemaVersion = 27) },
  // templating
  {
    name: 'datasource not the first variable',
    rule: 'template-datasource',
    breakIt: (d) => void (d.templating as { list: Json[] }).list.reverse(),
  },
  {
    name: 'a Loki datasource variable',
    rule: 'template-datasource',
    breakIt: (d) => void (variable(d, 'datasource').query = 'loki'),
  },
  {
    name: 'single-select job',
    rule: 'template-job',
    breakIt: (d) => void (variable(d, 'job').multi = false),
  },
  {
    name: 'instance All without ".+" (fleet)',
    rule: 'template-instance',
    file: FLEET.file,
    breakIt: (d) => void delete variable(d, 'instance').allValue,
  },
  {
    name: 'single-select instance where multi is required (fleet)',
    rule: 'template-instance',
    file: FLEET.file,
    breakIt: (d) => void (variable(d, 'instance').multi = false),
  },
  {
    name: 'a variable on a hard-coded datasource',
    rule: 'template-variable-datasource',
    breakIt: (d) => void (variable(d, 'job').datasource = { type: 'prometheus', uid: 'P1809F7CD0C75ACF3' }),
  },
  {
    name: 'a variable not refreshed on time change',
    rule: 'template-refresh',
    breakIt: (d) => void (variable(d, 'instance').refresh = 1),
  },
  {
    name: 'a variable query on a metric outside the catalogue',
    rule: 'metric-catalogue',
    breakIt: (d) =>
      setQuery(variable(d, 'instance'), 'label_values(node_nf_conntrack_entries{job=~"$job"}, instance)'),
  },
  {
    name: 'a variable query that is not label_values',
    rule: 'template-query',
    breakIt: (d) => setQuery(variable(d, 'job'), 'query_result(up)'),
  },
  {
    name: 'a variable on a label its metric lacks',
    rule: 'template-query',
    breakIt: (d) => setQuery(variable(d, 'job'), 'label_values(conntrack_exporter_build_info, cpu)'),
  },
  {
    name: 'a variable depending on a later one',
    rule: 'target-variable',
    breakIt: (d) =>
      setQuery(variable(d, 'job'), 'label_values(conntrack_exporter_build_info{instance=~"$instance"}, job)'),
  },
  // panels
  {
    name: 'a panel without description',
    rule: 'panel-description',
    breakIt: (d) => void delete panel(d, DROPS).description,
  },
  { name: 'a panel without title', rule: 'panel-title', breakIt: (d) => void (panel(d, DROPS).title = '') },
  {
    name: 'a panel without unit',
    rule: 'panel-unit',
    breakIt: (d) => void delete ((panel(d, DROPS).fieldConfig as Json).defaults as Json).unit,
  },
  {
    name: 'a panel with an invalid unit',
    rule: 'panel-unit',
    breakIt: (d) => void (((panel(d, DROPS).fieldConfig as Json).defaults as Json).unit = 'percentage'),
  },
  {
    name: 'an override with an invalid unit',
    rule: 'panel-unit',
    breakIt: (d) =>
      void ((panel(d, DROPS).fieldConfig as Json).overrides = [
        { matcher: { id: 'byName', options: 'drop' }, properties: [{ id: 'unit', value: 'second' }] },
      ]),
  },
  {
    name: 'an Angular graph panel',
    rule: 'panel-type',
    breakIt: (d) => void (panel(d, DROPS).type = 'graph'),
  },
  {
    name: 'a panel on a hard-coded datasource',
    rule: 'panel-datasource',
    breakIt: (d) => void (panel(d, DROPS).datasource = { type: 'prometheus', uid: 'prom' }),
  },
  {
    name: 'a target on a hard-coded datasource',
    rule: 'target-datasource',
    breakIt: (d) => void (target(d, DROPS).datasource = { type: 'prometheus', uid: 'prom' }),
  },
  {
    name: 'a panel without targets',
    rule: 'panel-targets',
    breakIt: (d) => void (panel(d, DROPS).targets = []),
  },
  { name: 'duplicate refIds', rule: 'target-refid', breakIt: (d) => void (target(d, DROPS, 1).refId = 'A') },
  {
    name: 'duplicate panel ids',
    rule: 'panel-id',
    breakIt: (d) => void (panel(d, DROPS).id = panel(d, 'Lookup anomalies').id),
  },
  {
    name: 'a panel without gridPos',
    rule: 'panel-gridpos',
    breakIt: (d) => void delete panel(d, DROPS).gridPos,
  },
  {
    name: 'overlapping panels',
    rule: 'panel-gridpos',
    breakIt: (d) => void (panel(d, DROPS).gridPos = { ...(panel(d, 'Lookup anomalies').gridPos as Json) }),
  },
  {
    name: 'overlapping panels inside a collapsed row',
    rule: 'panel-gridpos',
    breakIt: (d) =>
      void (panel(d, 'invalid per CPU').gridPos = { ...(panel(d, 'drop per CPU').gridPos as Json) }),
  },
  {
    name: 'a panel beyond the 24 columns',
    rule: 'panel-gridpos',
    breakIt: (d) => void ((panel(d, DROPS).gridPos as Json).w = 30),
  },
  {
    name: 'an expanded row still holding panels',
    rule: 'panel-row',
    breakIt: (d) => void (panel(d, 'Kernel counters per CPU').collapsed = false),
  },
  // targets
  { name: 'a PromQL syntax error', rule: 'target-promql', breakIt: setExpr(`sum(conntrack_entries{${S}}`) },
  {
    name: 'an unknown function',
    rule: 'target-promql',
    breakIt: setExpr(`ratee(conntrack_stat_drop_total{${S}}[$__rate_interval])`),
  },
  { name: 'an empty expr', rule: 'target-promql', breakIt: setExpr(' ') },
  {
    name: 'a metric outside the catalogue',
    rule: 'metric-catalogue',
    breakIt: setExpr(`node_nf_conntrack_entries{${S}}`),
  },
  {
    name: 'a gauge histogram suffix on a gauge',
    rule: 'metric-catalogue',
    breakIt: setExpr(`conntrack_entries_gcount{${S}}`),
  },
  {
    name: 'a cumulative histogram series of the flow-age gauge histogram',
    rule: 'metric-catalogue',
    breakIt: setExpr(`conntrack_flow_age_seconds_count{${S}}`),
  },
  {
    name: 'a label the metric lacks',
    rule: 'target-label',
    breakIt: setExpr(`conntrack_flows{${S}, proto="tcp"}`),
  },
  {
    name: 'grouping by a label no series has',
    rule: 'target-label',
    breakIt: setExpr(`sum by (proto) (conntrack_flows{${S}})`),
  },
  {
    name: 'on() with a label no series has',
    rule: 'target-label',
    breakIt: setExpr(`conntrack_entries{${S}} / on (node) conntrack_entries_limit{${S}}`),
  },
  {
    name: 'no instance matcher',
    rule: 'target-instance-matcher',
    breakIt: setExpr('conntrack_entries{job=~"$job"}'),
  },
  {
    name: 'job matched with = instead of =~',
    rule: 'target-job-matcher',
    breakIt: setExpr('conntrack_entries{job="$job", instance=~"$instance"}'),
  },
  {
    name: 'a fixed rate() window',
    rule: 'target-rate-interval',
    breakIt: setExpr(`sum without (cpu) (rate(conntrack_stat_drop_total{${S}}[5m]))`),
  },
  {
    name: 'increase() over $__interval',
    rule: 'target-rate-interval',
    breakIt: setExpr(`sum without (cpu) (increase(conntrack_stat_drop_total{${S}}[$__interval]))`),
  },
  {
    name: 'a counter without rate()',
    rule: 'target-counter-agg',
    breakIt: setExpr(`sum(conntrack_stat_drop_total{${S}})`),
  },
  {
    name: 'a counter under deriv()',
    rule: 'target-counter-agg',
    breakIt: setExpr(`deriv(conntrack_stat_drop_total{${S}}[$__rate_interval])`),
  },
  {
    name: 'rate() over the gauge-like flow age buckets',
    rule: 'target-rate-counter',
    breakIt: setExpr(`sum by (le) (rate(conntrack_flow_age_seconds_bucket{${S}}[$__rate_interval]))`),
  },
  {
    name: 'rate() of an instant vector',
    rule: 'target-range-vector',
    breakIt: setExpr(`rate(conntrack_entries{${S}})`),
  },
  {
    name: 'a range selector outside a range function',
    rule: 'target-range-vector',
    breakIt: setExpr(`sum(conntrack_entries{${S}}[1h])`),
  },
  {
    name: 'an undefined variable',
    rule: 'target-variable',
    breakIt: setExpr('conntrack_entries{job=~"$job", instance=~"$node"}'),
  },
  {
    name: 'a selector by __name__',
    rule: 'target-metric-name',
    breakIt: setExpr(`{__name__="conntrack_entries", ${S}}`),
  },
  {
    name: 'a legend naming a label the series lack',
    rule: 'target-legend',
    breakIt: (d) => void (target(d, DROPS).legendFormat = '{{pod}}'),
  },
];

describe('the lint rejects broken dashboards', () => {
  it.each(BROKEN)('$name → $rule', ({ rule, file = NODE.file, breakIt }) => {
    const d = clone(file);
    expect(format(lintDashboard(d, optionsFor(file))), 'the unbroken dashboard').toEqual([]);
    breakIt(d);
    const rules = lintDashboard(d, optionsFor(file)).map((i) => i.rule);
    expect(rules).toContain(rule);
  });

  it('rejects a value that is not a dashboard', () => {
    expect(lintDashboard(null, optionsFor(NODE.file)).map((i) => i.rule)).toEqual(['dashboard-json']);
    expect(lintDashboard([], optionsFor(NODE.file)).map((i) => i.rule)).toEqual(['dashboard-json']);
  });

  it('accepts a `node` variable in place of `instance` (matched as instance=~"$node")', () => {
    const d = JSON.parse(
      JSON.stringify(load(FLEET.file))
        .replaceAll('$instance', '$node')
        .replaceAll('"name":"instance"', '"name":"node"'),
    ) as Json;
    variable(d, 'node').label = 'Node';
    expect(format(lintDashboard(d, optionsFor(FLEET.file)))).toEqual([]);
  });

  it('renderQuery refuses an expression with a variable it has no value for', () => {
    expect(() => renderQuery('conntrack_entries{instance=~"$node"}', { instance: 'x' })).toThrow(/\$node/);
  });
});
