// Grafana dashboard lint, run in our own tests so no Grafana (and no Go dashboard-linter binary) is
// needed. It follows grafana/dashboard-linter's rules (template-datasource/job/instance, panel
// datasource/title/description/units, target promql/rate-interval/job/instance/counter-agg) and adds
// what only this repository can check: every metric and label against the metric catalogue, rate()
// only over catalogue counters, and a sane grid. It returns issues instead of throwing so a test can
// feed it broken dashboards and assert each rule fires: a lint that cannot fail proves nothing.

import { parser } from '@prometheus-io/lezer-promql';
import { metricOfSeries, type MetricDef, type SeriesSuffix } from '../../src/metrics/catalog.js';

/** Lezer's syntax node type, taken from the parser so we need no direct @lezer/common dependency. */
type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export interface LintIssue {
  /** Stable rule id; tests assert on it. */
  readonly rule: string;
  /** Where: dashboard, `templating.<name>`, or `panel <id> "<title>"` plus target refId. */
  readonly where: string;
  readonly message: string;
}

export interface LintOptions {
  readonly catalog: readonly MetricDef[];
  /**
   * Query variables allowed to be single-select. dashboard-linter wants job and instance to be
   * multi-select with allValue `.+`; a one-node dashboard deliberately breaks that for instance,
   * like a `.lint` exclusion there.
   */
  readonly singleSelect?: readonly string[];
  /** Labels the scrape adds to every series (service discovery, relabelling). */
  readonly targetLabels?: readonly string[];
  /**
   * Metrics of other exporters a query may join (kube-state-metrics' kube_pod_info): checked for
   * their labels, but not held to the exporter's job/instance matchers, which they never carry.
   */
  readonly external?: readonly MetricDef[];
}

/** One Prometheus query of a dashboard, for tests that run them against a real Prometheus. */
export interface DashboardQuery {
  readonly panelId: number;
  readonly panelTitle: string;
  readonly refId: string;
  readonly expr: string;
  readonly instant: boolean;
  readonly format: string;
}

// Panel types of Grafana 10/11 that we allow. `graph` and `singlestat` are Angular panels that
// Grafana 11 no longer renders, so they are rejected rather than tolerated.
const PANEL_TYPES = new Set(['row', 'text', 'timeseries', 'stat', 'gauge', 'bargauge', 'table', 'heatmap']);
const NO_QUERY_PANELS = new Set(['row', 'text']);

// A subset of Grafana's unit ids (packages/grafana-data/src/valueFormats/categories.ts): the ones that
// make sense for conntrack data. A typo such as `percentage` or `second` would silently render raw numbers.
const UNITS = new Set([
  'none',
  'short',
  'percent',
  'percentunit',
  'bytes',
  'decbytes',
  'Bps',
  'binBps',
  'pps',
  'cps',
  'ops',
  'reqps',
  'ns',
  'µs',
  'ms',
  's',
  'm',
  'h',
  'd',
  'dtdurations',
  'dtdurationms',
  'bool',
  'bool_yes_no',
  'bool_on_off',
  'string',
]);

// Grafana global variables, replaced by sample values before parsing. `$__rate_interval` gets a
// sentinel duration no author would type, so a matrix range equal to it proves the variable was used.
const RATE_INTERVAL_SENTINEL = '8869990787ms';
const GLOBAL_SAMPLES: Readonly<Record<string, string>> = {
  __rate_interval: RATE_INTERVAL_SENTINEL,
  __interval: '4867856611ms',
  __range: '6069770749ms',
  __interval_ms: '7781188786',
  __range_ms: '6737667980',
  __range_s: '9397795485',
  __auto: '12345ms',
};

/** Functions whose (first) vector argument is a range vector. */
const RANGE_FUNCTIONS = new Set([
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'deriv',
  'predict_linear',
  'changes',
  'resets',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'sum_over_time',
  'count_over_time',
  'quantile_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'last_over_time',
  'present_over_time',
  'absent_over_time',
  'mad_over_time',
  'double_exponential_smoothing',
  'holt_winters',
]);
/** The functions that turn a counter into a rate; dashboard-linter's counter-agg and rate-interval rules. */
const COUNTER_FUNCTIONS = new Set(['rate', 'irate', 'increase']);
/** Functions that invent labels: grouping-label checks cannot follow them, so they skip such subtrees. */
const LABEL_MAKING_FUNCTIONS = new Set(['label_replace', 'label_join']);

// ---- small JSON helpers --------------------------------------------------------------------------

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function records(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

// ---- Grafana variables ---------------------------------------------------------------------------

// $var, ${var}, ${var:format}, [[var]] — the syntaxes Grafana interpolates.
const VARIABLE_RE = /\$([A-Za-z0-9_]+)|\$\{([^}:]+)(?::[^}]*)?\}|\[\[([^\]:]+)(?::[^\]]*)?\]\]/g;

/** Names of the Grafana variables an expression references. */
export function referencedVariables(expr: string): string[] {
  const names: string[] = [];
  for (const match of expr.matchAll(VARIABLE_RE)) {
    const name = match[1] ?? match[2] ?? match[3];
    if (name !== undefined) names.push(name);
  }
  return names;
}

/**
 * Replace Grafana variables outside double-quoted strings with sample values so the expression
 * parses; inside strings they are left alone (`job=~"$job"` is valid PromQL as it stands). Same
 * approach as dashboard-linter's expandVariables.
 */
export function expandForLint(expr: string): string {
  return expr
    .split('"')
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part.replace(VARIABLE_RE, (whole, a?: string, b?: string, c?: string) => {
            const name = a ?? b ?? c ?? '';
            // Template variables outside strings become their own name, like dashboard-linter does.
            return GLOBAL_SAMPLES[name] ?? (name.startsWith('__') ? whole : name);
          }),
    )
    .join('"');
}

/**
 * Replace every Grafana variable (inside strings too) with a concrete value, as Grafana does before
 * sending the query: for tests that run dashboard queries against a real Prometheus.
 * Unknown variables are an error, not a silent empty string.
 */
export function renderQuery(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(VARIABLE_RE, (_whole, a?: string, b?: string, c?: string) => {
    const name = a ?? b ?? c ?? '';
    const value = values[name];
    if (value === undefined) throw new Error(`no value for Grafana variable $${name} in ${expr}`);
    return value;
  });
}

// ---- PromQL analysis -----------------------------------------------------------------------------

function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c !== null; c = c.nextSibling) out.push(c);
  return out;
}

function* descendants(node: SyntaxNode): Generator<SyntaxNode> {
  for (const c of children(node)) {
    yield c;
    yield* descendants(c);
  }
}

function child(node: SyntaxNode, name: string): SyntaxNode | undefined {
  return children(node).find((c) => c.name === name);
}

/** Name of the function a FunctionCall node calls. */
function functionName(call: SyntaxNode, text: string): string {
  const id = child(call, 'FunctionIdentifier');
  return id === undefined ? '' : text.slice(id.from, id.to);
}

/** The FunctionCall whose argument list directly contains `node`, if any. */
function enclosingCall(node: SyntaxNode): SyntaxNode | undefined {
  const body = node.parent;
  if (body?.name !== 'FunctionCallBody') return undefined;
  const call = body.parent;
  return call?.name === 'FunctionCall' ? call : undefined;
}

function unquote(literal: string): string {
  // PromQL strings may use " ' or `; our dashboards only need the delimiters removed.
  return literal.length >= 2 ? literal.slice(1, -1) : literal;
}

interface Selector {
  readonly node: SyntaxNode;
  /** Name as written (with `_bucket` etc.). */
  readonly name: string | undefined;
  readonly metric: MetricDef | undefined;
  /** The (gauge) histogram series suffix, when the name is `<histogram>_bucket|_count|_sum` or `<gaugehistogram>_bucket|_gcount|_gsum`. */
  readonly suffix: SeriesSuffix;
  readonly matchers: readonly { label: string; op: string; value: string }[];
}

function labelsOf(sel: Selector, targetLabels: readonly string[]): Set<string> {
  const labels = new Set<string>(targetLabels);
  for (const l of sel.metric?.labels ?? []) labels.add(l);
  if (sel.suffix === '_bucket') labels.add('le');
  return labels;
}

interface ExprContext {
  readonly catalog: ReadonlyMap<string, MetricDef>;
  readonly targetLabels: readonly string[];
  /** Variables the expression may reference. */
  readonly variables: ReadonlySet<string>;
  /** Label → variable each selector must match with `=~"$variable"` (dashboard-linter's target-job/instance rules). */
  readonly requiredMatchers: ReadonlyMap<string, string>;
  /** Names of LintOptions.external metrics (in `catalog` too), exempt from requiredMatchers. */
  readonly external?: ReadonlySet<string>;
}

export interface ExprResult {
  readonly issues: readonly { rule: string; message: string }[];
  /** Catalogue metrics the expression reads. */
  readonly metrics: readonly string[];
  /** Every label a result series may carry (for legend checks). */
  readonly labels: ReadonlySet<string>;
}

function resolveMetric(
  name: string,
  catalog: ReadonlyMap<string, MetricDef>,
): Pick<Selector, 'metric' | 'suffix'> {
  return metricOfSeries(name, catalog) ?? { metric: undefined, suffix: '' };
}

function readSelector(node: SyntaxNode, text: string, catalog: ReadonlyMap<string, MetricDef>): Selector {
  const id = child(node, 'Identifier');
  const name = id === undefined ? undefined : text.slice(id.from, id.to);
  const matchers: { label: string; op: string; value: string }[] = [];
  const list = child(node, 'LabelMatchers');
  for (const m of list === undefined ? [] : children(list)) {
    if (m.name !== 'UnquotedLabelMatcher' && m.name !== 'QuotedLabelMatcher') continue;
    const label = child(m, 'LabelName') ?? child(m, 'QuotedLabelName');
    const op = child(m, 'MatchOp');
    const value = child(m, 'StringLiteral');
    if (label === undefined || op === undefined || value === undefined) continue;
    const labelText = text.slice(label.from, label.to);
    matchers.push({
      label: label.name === 'QuotedLabelName' ? unquote(labelText) : labelText,
      op: text.slice(op.from, op.to),
      value: unquote(text.slice(value.from, value.to)),
    });
  }
  const resolved =
    name === undefined ? { metric: undefined, suffix: '' as const } : resolveMetric(name, catalog);
  return { node, name, ...resolved, matchers };
}

/** Lint one PromQL expression as written in a dashboard (with Grafana variables). */
export function lintExpr(raw: string, ctx: ExprContext): ExprResult {
  const issues: { rule: string; message: string }[] = [];
  const add = (rule: string, message: string): void => {
    issues.push({ rule, message });
  };

  for (const name of referencedVariables(raw)) {
    if (!ctx.variables.has(name) && GLOBAL_SAMPLES[name] === undefined) {
      add('target-variable', `references undefined variable $${name}`);
    }
  }

  const text = expandForLint(raw);
  const tree = parser.parse(text);
  let syntaxError: number | undefined;
  tree.iterate({
    enter: (n) => {
      if (n.type.isError && syntaxError === undefined) syntaxError = n.from;
      return syntaxError === undefined;
    },
  });
  if (text.trim() === '' || syntaxError !== undefined) {
    add('target-promql', `does not parse (at offset ${syntaxError ?? 0}): ${text}`);
    return { issues, metrics: [], labels: new Set() };
  }

  const top = tree.topNode;
  const all = [...descendants(top)];
  const selectors = all
    .filter((n) => n.name === 'VectorSelector')
    .map((n) => readSelector(n, text, ctx.catalog));
  const selectorsIn = (node: SyntaxNode): Selector[] =>
    selectors.filter((s) => s.node.from >= node.from && s.node.to <= node.to);

  const labels = new Set<string>(ctx.targetLabels);
  for (const sel of selectors) {
    if (sel.name === undefined) {
      add('target-metric-name', `selector ${text.slice(sel.node.from, sel.node.to)} has no metric name`);
      continue;
    }
    if (sel.metric === undefined) {
      add('metric-catalogue', `metric ${sel.name} is not in the metric catalogue`);
      continue;
    }
    const known = labelsOf(sel, ctx.targetLabels);
    for (const l of known) labels.add(l);
    for (const m of sel.matchers) {
      if (m.label === '__name__') add('target-metric-name', `${sel.name}: do not select by __name__`);
      else if (!known.has(m.label)) add('target-label', `${sel.name} has no label "${m.label}"`);
    }
    for (const [label, variable] of ctx.external?.has(sel.name) ? [] : ctx.requiredMatchers) {
      const ok = sel.matchers.some(
        (m) =>
          m.label === label && m.op === '=~' && (m.value === `$${variable}` || m.value === `\${${variable}}`),
      );
      if (!ok) add(`target-${label}-matcher`, `${sel.name} lacks the matcher ${label}=~"$${variable}"`);
    }
    // dashboard-linter target-counter-agg-rule, extended from the `_total` suffix to catalogue counters.
    if (sel.name.endsWith('_total') || sel.metric.type === 'counter') {
      const matrix = sel.node.parent;
      const call = matrix?.name === 'MatrixSelector' ? enclosingCall(matrix) : undefined;
      if (call === undefined || !COUNTER_FUNCTIONS.has(functionName(call, text))) {
        add('target-counter-agg', `counter ${sel.name} is used outside rate/irate/increase`);
      }
    }
  }

  for (const node of all) {
    if (node.name === 'MatrixSelector') {
      const call = enclosingCall(node);
      const fn = call === undefined ? '' : functionName(call, text);
      if (!RANGE_FUNCTIONS.has(fn)) {
        add(
          'target-range-vector',
          `range selector ${text.slice(node.from, node.to)} outside a range function`,
        );
        continue;
      }
      if (COUNTER_FUNCTIONS.has(fn)) {
        const vector = child(node, 'VectorSelector');
        const range = vector === undefined ? '' : text.slice(vector.to, node.to).replace(/[[\]\s]/g, '');
        if (range !== RATE_INTERVAL_SENTINEL) {
          add('target-rate-interval', `${fn}() over [${range}] must use [$__rate_interval]`);
        }
        // Lezer may hand out fresh node objects per access: compare positions, not identity.
        const sel = selectors.find(
          (s) => vector !== undefined && s.node.from === vector.from && s.node.to === vector.to,
        );
        if (sel?.metric !== undefined && sel.metric.type !== 'counter' && sel.metric.type !== 'histogram') {
          add(
            'target-rate-counter',
            `${fn}() over ${sel.name}, a ${sel.metric.type} in the catalogue: use its value directly`,
          );
        }
      }
    } else if (node.name === 'FunctionCall') {
      const fn = functionName(node, text);
      const body = child(node, 'FunctionCallBody');
      if (RANGE_FUNCTIONS.has(fn)) {
        const hasRange =
          body !== undefined &&
          children(body).some((c) => c.name === 'MatrixSelector' || c.name === 'SubqueryExpr');
        if (!hasRange) add('target-range-vector', `${fn}() needs a range vector argument`);
      }
    } else if (node.name === 'GroupingLabels') {
      // by/without of an aggregation, or on/ignoring of a binary operation: the labels must exist
      // on the series the clause applies to.
      const owner = node.parent?.name === 'AggregateModifier' ? node.parent.parent : node.parent?.parent;
      if (owner === undefined || owner === null) continue;
      const scope = [...descendants(owner)];
      if (scope.some((n) => n.name === 'FunctionCall' && LABEL_MAKING_FUNCTIONS.has(functionName(n, text)))) {
        continue;
      }
      const available = new Set<string>(ctx.targetLabels);
      for (const sel of selectorsIn(owner)) for (const l of labelsOf(sel, ctx.targetLabels)) available.add(l);
      for (const l of children(node).filter((c) => c.name === 'LabelName')) {
        const label = text.slice(l.from, l.to);
        if (!available.has(label))
          add('target-label', `grouping by "${label}", which no series here carries`);
      }
    }
  }

  const metrics = [...new Set(selectors.flatMap((s) => (s.metric === undefined ? [] : [s.metric.name])))];
  return { issues, metrics, labels };
}

// ---- dashboard -----------------------------------------------------------------------------------

interface PanelRef {
  readonly panel: Json;
  /** The collapsed row holding it, if any. */
  readonly row: Json | undefined;
}

/** Every panel, rows first-level and the panels inside collapsed rows. */
function allPanels(dashboard: Json): PanelRef[] {
  const out: PanelRef[] = [];
  for (const p of records(dashboard.panels)) {
    out.push({ panel: p, row: undefined });
    if (p.type === 'row') for (const inner of records(p.panels)) out.push({ panel: inner, row: p });
  }
  return out;
}

function panelWhere(p: Json): string {
  return `panel ${String(p.id)} "${str(p.title) ?? ''}"`;
}

/** Every Prometheus query of the dashboard (for running them against Prometheus). */
export function collectQueries(dashboard: unknown): DashboardQuery[] {
  if (!isRecord(dashboard)) return [];
  const out: DashboardQuery[] = [];
  for (const { panel } of allPanels(dashboard)) {
    for (const t of records(panel.targets)) {
      const expr = str(t.expr);
      if (expr === undefined) continue;
      out.push({
        panelId: typeof panel.id === 'number' ? panel.id : -1,
        panelTitle: str(panel.title) ?? '',
        refId: str(t.refId) ?? '',
        expr,
        instant: t.instant === true,
        format: str(t.format) ?? 'time_series',
      });
    }
  }
  return out;
}

function variableQuery(v: Json): string | undefined {
  // Grafana 10+ stores `{ query, qryType, refId }`; older exports a plain string.
  return isRecord(v.query) ? str(v.query.query) : str(v.query);
}

function usesTemplatedDatasource(ds: unknown): boolean {
  if (!isRecord(ds)) return false;
  const uid = str(ds.uid);
  return (
    (uid === '${datasource}' || uid === '$datasource') && (ds.type === undefined || ds.type === 'prometheus')
  );
}

interface Rect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

function gridPos(p: Json): Rect | undefined {
  const g = p.gridPos;
  if (!isRecord(g)) return undefined;
  const { x, y, w, h } = g;
  if (![x, y, w, h].every((n) => typeof n === 'number' && Number.isInteger(n))) return undefined;
  return { x: x as number, y: y as number, w: w as number, h: h as number };
}

function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** Lint a parsed dashboard JSON. An empty list means it passed. */
export function lintDashboard(dashboard: unknown, options: LintOptions): LintIssue[] {
  const issues: LintIssue[] = [];
  const add = (rule: string, where: string, message: string): void => {
    issues.push({ rule, where, message });
  };
  if (!isRecord(dashboard)) {
    add('dashboard-json', 'dashboard', 'not a JSON object');
    return issues;
  }
  const catalog = new Map([...options.catalog, ...(options.external ?? [])].map((m) => [m.name, m]));
  const external = new Set((options.external ?? []).map((m) => m.name));
  const targetLabels = options.targetLabels ?? ['job', 'instance'];
  const singleSelect = new Set(options.singleSelect ?? []);

  // ---- dashboard level (dashboard-linter template-uneditable-rule; provisioning needs) ----
  const uid = str(dashboard.uid);
  // Grafana uids are at most 40 characters; a fixed one keeps links and provisioning stable.
  if (uid === undefined || !/^[A-Za-z0-9_-]{1,40}$/.test(uid))
    add('dashboard-uid', 'dashboard', 'needs a fixed uid');
  if ((str(dashboard.title) ?? '').trim() === '') add('dashboard-title', 'dashboard', 'needs a title');
  const tags = dashboard.tags;
  if (!Array.isArray(tags) || tags.length === 0 || !tags.every((t) => typeof t === 'string' && t !== '')) {
    add('dashboard-tags', 'dashboard', 'needs non-empty tags');
  }
  if (dashboard.editable !== false) add('dashboard-uneditable', 'dashboard', 'editable must be false');
  if ('__inputs' in dashboard || '__requires' in dashboard) {
    add(
      'dashboard-no-inputs',
      'dashboard',
      'exported for sharing (__inputs/__requires): provisioning cannot fill them',
    );
  }
  if (JSON.stringify(dashboard).includes('${DS_')) {
    add('dashboard-no-inputs', 'dashboard', 'references an import-time ${DS_…} datasource input');
  }
  if ('id' in dashboard && dashboard.id !== null)
    add('dashboard-no-id', 'dashboard', 'id must be absent or null');
  if (typeof dashboard.schemaVersion !== 'number' || dashboard.schemaVersion < 36) {
    add('dashboard-schema', 'dashboard', 'schemaVersion must be ≥ 36 (datasource references by uid)');
  }

  // ---- templating (template-datasource/job/instance/label-promql/on-time-change-reload rules) ----
  const templating = isRecord(dashboard.templating) ? records(dashboard.templating.list) : [];
  const names = templating.map((v) => str(v.name) ?? '');
  const first = templating[0];
  if (first?.name !== 'datasource' || first.type !== 'datasource' || first.query !== 'prometheus') {
    add(
      'template-datasource',
      'templating',
      'the first variable must be `datasource` (type datasource, query prometheus)',
    );
  } else if (first.label !== 'Data source') {
    add('template-datasource', 'templating.datasource', 'label it "Data source"');
  }
  if (templating.filter((v) => v.type === 'datasource').length !== 1) {
    add('template-datasource', 'templating', 'exactly one datasource variable');
  }
  const instanceVar = names.includes('instance') ? 'instance' : names.includes('node') ? 'node' : undefined;
  if (names[1] !== 'job') add('template-job', 'templating', 'the second variable must be `job`');
  if (instanceVar === undefined || names[2] !== instanceVar) {
    add('template-instance', 'templating', 'the third variable must be `instance` (or `node`)');
  }

  templating.forEach((v, index) => {
    const name = str(v.name) ?? '';
    const where = `templating.${name}`;
    if (v.type !== 'query') return;
    if (!usesTemplatedDatasource(v.datasource)) {
      add('template-variable-datasource', where, 'must use datasource ${datasource}');
    }
    if (v.refresh !== 2) add('template-refresh', where, 'refresh must be 2 (on time range change)');
    if (name === 'job' || name === instanceVar) {
      const label = name.charAt(0).toUpperCase() + name.slice(1);
      if (v.label !== label)
        add(`template-${name === 'job' ? 'job' : 'instance'}`, where, `label it "${label}"`);
      if (!singleSelect.has(name)) {
        if (v.multi !== true || v.includeAll !== true || v.allValue !== '.+') {
          add(
            `template-${name === 'job' ? 'job' : 'instance'}`,
            where,
            'must be multi-select with All = ".+"',
          );
        }
      } else if (v.multi === true) {
        add('template-instance', where, 'declared single-select but is multi-select');
      }
    }
    const query = variableQuery(v) ?? '';
    const match = /^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/.exec(query);
    if (match?.[1] === undefined || match[2] === undefined) {
      add('template-query', where, `query must be label_values(<selector>, <label>), is "${query}"`);
      return;
    }
    // A variable may only depend on variables defined before it (Grafana resolves them in order).
    const earlier = new Set(names.slice(0, index));
    const res = lintExpr(match[1], {
      catalog,
      targetLabels,
      variables: earlier,
      requiredMatchers: new Map(),
    });
    for (const i of res.issues) add(i.rule, where, i.message);
    if (res.issues.length === 0 && !res.labels.has(match[2])) {
      add('template-query', where, `label ${match[2]} is not on ${match[1]}`);
    }
  });

  // ---- panels ----
  const variables = new Set(names);
  const requiredMatchers = new Map<string, string>([['job', 'job']]);
  if (instanceVar !== undefined) requiredMatchers.set('instance', instanceVar);
  const ids = new Map<number, string>();
  const refs = allPanels(dashboard);
  const layers = new Map<Json | undefined, { rect: Rect; where: string }[]>();

  for (const { panel: p, row } of refs) {
    const where = panelWhere(p);
    const type = str(p.type) ?? '';
    if (typeof p.id !== 'number' || !Number.isInteger(p.id)) add('panel-id', where, 'needs an integer id');
    else if (ids.has(p.id)) add('panel-id', where, `id ${p.id} already used by ${ids.get(p.id)}`);
    else ids.set(p.id, where);

    if (!PANEL_TYPES.has(type))
      add('panel-type', where, `type "${type}" is not an allowed Grafana 10/11 panel`);
    if ((str(p.title) ?? '').trim() === '') add('panel-title', where, 'needs a title');

    const rect = gridPos(p);
    if (rect === undefined) {
      add('panel-gridpos', where, 'needs an integer gridPos {x, y, w, h}');
    } else {
      if (rect.w < 1 || rect.h < 1 || rect.x < 0 || rect.y < 0 || rect.x + rect.w > 24) {
        add('panel-gridpos', where, `gridPos ${JSON.stringify(rect)} is outside the 24-column grid`);
      }
      // Panels of a collapsed row are laid out only when it is expanded: they form their own layer.
      const layer = layers.get(row) ?? [];
      for (const other of layer) {
        if (overlaps(rect, other.rect)) add('panel-gridpos', where, `overlaps ${other.where}`);
      }
      layer.push({ rect, where });
      layers.set(row, layer);
      const rowRect = row === undefined ? undefined : gridPos(row);
      if (rowRect !== undefined && rect.y <= rowRect.y) {
        add('panel-gridpos', where, 'sits above the collapsed row that holds it');
      }
    }

    if (type === 'row') {
      if (row !== undefined) add('panel-row', where, 'rows cannot nest');
      const inner = Array.isArray(p.panels) ? p.panels : [];
      if (p.collapsed !== true && inner.length > 0) {
        add(
          'panel-row',
          where,
          'an expanded row must not hold panels (Grafana would drop or duplicate them)',
        );
      }
      continue;
    }
    if (NO_QUERY_PANELS.has(type)) continue;

    // dashboard-linter panel-title-description-rule, panel-units-rule, panel-datasource-rule.
    if ((str(p.description) ?? '').trim() === '') add('panel-description', where, 'needs a description');
    const fieldConfig = isRecord(p.fieldConfig) ? p.fieldConfig : {};
    const defaults = isRecord(fieldConfig.defaults) ? fieldConfig.defaults : {};
    const unit = str(defaults.unit);
    if (unit === undefined || !UNITS.has(unit)) {
      add(
        'panel-unit',
        where,
        `fieldConfig.defaults.unit "${unit ?? ''}" is missing or not an allowed Grafana unit`,
      );
    }
    for (const o of records(fieldConfig.overrides)) {
      for (const prop of records(o.properties)) {
        if (prop.id === 'unit' && !UNITS.has(str(prop.value) ?? '')) {
          add('panel-unit', where, `override unit "${String(prop.value)}" is not an allowed Grafana unit`);
        }
      }
    }
    if (!usesTemplatedDatasource(p.datasource))
      add('panel-datasource', where, 'must use datasource ${datasource}');

    const targets = records(p.targets);
    if (targets.length === 0) add('panel-targets', where, 'has no targets');
    const refIds = new Set<string>();
    for (const t of targets) {
      const refId = str(t.refId) ?? '';
      const tWhere = `${where} target ${refId}`;
      if (refId === '' || refIds.has(refId)) add('target-refid', tWhere, 'needs a unique refId');
      refIds.add(refId);
      if (!usesTemplatedDatasource(t.datasource))
        add('target-datasource', tWhere, 'must use datasource ${datasource}');
      const expr = str(t.expr);
      if (expr === undefined || expr.trim() === '') {
        add('target-promql', tWhere, 'has no expr');
        continue;
      }
      const res = lintExpr(expr, { catalog, targetLabels, variables, requiredMatchers, external });
      for (const i of res.issues) add(i.rule, tWhere, i.message);
      // A legend naming a label the result cannot carry renders literally: catch the typo here.
      const legend = str(t.legendFormat) ?? '';
      for (const m of legend.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) {
        const label = m[1] ?? '';
        if (res.issues.length === 0 && !res.labels.has(label)) {
          add('target-legend', tWhere, `legend uses {{${label}}}, which the query's series do not carry`);
        }
      }
    }
  }
  return issues;
}
