// Checks deploy/prometheus: the rules file loads (promtool check rules), its unit tests pass
// (promtool test rules), every metric it reads is in the catalogue, the alerts follow the
// conventions of the Prometheus monitoring mixins (CamelCase names, a severity, a static summary,
// a runbook_url; docs/alerts.md), and the parameters.json tokens can be substituted by the Helm
// chart without breaking anything.
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CATALOG, metricOfSeries } from '../../src/metrics/catalog.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PROM_DIR = path.join(ROOT, 'deploy/prometheus');
const RULES_FILE = path.join(PROM_DIR, 'conntrack.rules.yaml');
const PARAMS_FILE = path.join(PROM_DIR, 'parameters.json');
const TESTS_DIR = path.join(PROM_DIR, 'tests');
const RUNBOOK_DIR = path.join(ROOT, 'docs/runbooks');
const ALERTS_DOC = path.join(ROOT, 'docs/alerts.md');
// Debian's prometheus package ships promtool 2.42 at /usr/bin/promtool.
const PROMTOOL = process.env['PROMTOOL'] ?? 'promtool';

const SEVERITIES = new Set(['critical', 'warning', 'info']);
const ALERT_NAME = /^Conntrack[A-Z][A-Za-z0-9]*$/;
// level:metric:operations (prometheus docs, "Recording rules").
const RECORD_NAME = /^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/;
const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

// ---- small helpers ------------------------------------------------------------------------

type Dict = Record<string, unknown>;

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : [];
}

function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isDict(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function countOf(haystack: string, needle: string): number {
  return needle === '' ? 0 : haystack.split(needle).length - 1;
}

/** Prometheus duration (`1h30m`, `5m`) in milliseconds; undefined when malformed or empty. */
function durationMs(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m || text === '') return undefined;
  const unit = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1];
  return unit.reduce((sum, ms, i) => sum + Number(m[i + 1] ?? 0) * ms, 0);
}

interface RunResult {
  readonly code: number;
  readonly output: string;
}

/** Runs a command to completion; never rejects, so a failure is reported with its output. */
function run(cmd: string, args: readonly string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      const detail = error !== null && typeof error.code !== 'number' ? `\n${error.message}` : '';
      resolve({ code, output: `${stdout}${stderr}${detail}` });
    });
  });
}

const tmpDirs: string[] = [];
function makeTmpDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'conntrack-rules-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

// ---- the rules file, as data --------------------------------------------------------------

interface RecordingRule {
  readonly kind: 'record';
  readonly name: string;
  readonly expr: string;
}

interface AlertingRule {
  readonly kind: 'alert';
  readonly name: string;
  readonly expr: string;
  readonly for: string | undefined;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

type Rule = RecordingRule | AlertingRule;

/** Flattens `groups[].rules[]`; shape errors go to `problems` rather than throwing. */
function readRules(doc: unknown, problems: string[]): Rule[] {
  const rules: Rule[] = [];
  if (!isDict(doc) || !Array.isArray(doc['groups'])) {
    problems.push('file: no `groups` list');
    return rules;
  }
  for (const group of asList(doc['groups'])) {
    const groupName = isDict(group) ? asString(group['name']) : undefined;
    if (!isDict(group) || groupName === undefined || !Array.isArray(group['rules'])) {
      problems.push('file: a group without a name or a `rules` list');
      continue;
    }
    for (const raw of asList(group['rules'])) {
      const rule = readRule(raw, groupName, problems);
      if (rule) rules.push(rule);
    }
  }
  return rules;
}

function readRule(raw: unknown, groupName: string, problems: string[]): Rule | undefined {
  if (!isDict(raw)) {
    problems.push(`${groupName}: a rule that is not a mapping`);
    return undefined;
  }
  const expr = asString(raw['expr']);
  const record = asString(raw['record']);
  const alert = asString(raw['alert']);
  if (expr === undefined || (record === undefined) === (alert === undefined)) {
    problems.push(`${groupName}: a rule needs an expr and exactly one of record/alert`);
    return undefined;
  }
  if (record !== undefined) return { kind: 'record', name: record, expr };
  return {
    kind: 'alert',
    name: alert ?? '',
    expr,
    for: asString(raw['for']),
    labels: stringMap(raw['labels']),
    annotations: stringMap(raw['annotations']),
  };
}

// ---- PromQL -------------------------------------------------------------------------------

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

interface Selector {
  /** Metric name, or undefined when the selector has none we can read statically. */
  readonly name: string | undefined;
  readonly text: string;
}

interface ParsedExpr {
  readonly selectors: readonly Selector[];
  readonly syntaxErrors: readonly string[];
}

/** Metric name of a VectorSelector: `name{...}`, or `{__name__="name"}`. */
function selectorName(node: SyntaxNode, expr: string): string | undefined {
  const ident = node.getChild('Identifier');
  if (ident) return expr.slice(ident.from, ident.to);
  const matchers = node.getChild('LabelMatchers');
  if (!matchers) return undefined;
  for (const matcher of matchers.getChildren('UnquotedLabelMatcher')) {
    const label = matcher.getChild('LabelName');
    const op = matcher.getChild('MatchOp');
    const value = matcher.getChild('StringLiteral');
    if (!label || !op || !value || expr.slice(label.from, label.to) !== '__name__') continue;
    // Only an equality names one metric; a regex could match anything, so it stays unnamed.
    if (op.getChild('EqlSingle')) return expr.slice(value.from + 1, value.to - 1);
  }
  return undefined;
}

/** Walks the Lezer tree: selectors (with their metric names) and syntax errors. */
function parsePromQL(expr: string): ParsedExpr {
  const selectors: Selector[] = [];
  const syntaxErrors: string[] = [];
  parser.parse(expr).iterate({
    enter: (ref) => {
      if (ref.type.isError) {
        syntaxErrors.push(`syntax error at offset ${ref.from}: "${expr.slice(ref.from, ref.from + 20)}"`);
      } else if (ref.name === 'VectorSelector') {
        selectors.push({ name: selectorName(ref.node, expr), text: expr.slice(ref.from, ref.to) });
      }
    },
  });
  return { selectors, syntaxErrors };
}

const CATALOG_BY_NAME = new Map(CATALOG.map((m) => [m.name, m]));

/** A raw metric name is in the catalogue, directly or as a (gauge) histogram's series. */
function inCatalog(name: string): boolean {
  return metricOfSeries(name, CATALOG_BY_NAME) !== undefined;
}

// ---- the checker --------------------------------------------------------------------------

interface CheckContext {
  readonly jobMatcher: string;
  readonly runbookBase: string;
  readonly runbookExists: (alert: string) => boolean;
}

/** Every convention problem in a parsed rules document; an empty list means it is fine. */
function checkRules(doc: unknown, ctx: CheckContext): string[] {
  const problems: string[] = [];
  const rules = readRules(doc, problems);
  const recorded = new Set(rules.filter((r) => r.kind === 'record').map((r) => r.name));
  const seen = new Set<string>();
  for (const rule of rules) {
    if (rule.kind === 'alert' && seen.has(rule.name)) problems.push(`${rule.name}: defined twice`);
    seen.add(rule.name);
    problems.push(...checkExpr(rule, recorded, ctx));
    problems.push(...(rule.kind === 'alert' ? checkAlert(rule, ctx) : checkRecord(rule)));
  }
  return problems;
}

function checkExpr(rule: Rule, recorded: ReadonlySet<string>, ctx: CheckContext): string[] {
  const problems: string[] = [];
  const { selectors, syntaxErrors } = parsePromQL(rule.expr);
  problems.push(...syntaxErrors.map((e) => `${rule.name}: ${e}`));
  for (const sel of selectors) {
    if (sel.name === undefined) problems.push(`${rule.name}: selector without a metric name: ${sel.text}`);
    else if (sel.name.includes(':')) {
      if (!recorded.has(sel.name)) problems.push(`${rule.name}: recording rule ${sel.name} is not defined`);
    } else if (!inCatalog(sel.name)) {
      problems.push(`${rule.name}: metric ${sel.name} is not in the catalogue`);
    }
    // The chart narrows every selector through the job parameter; one without it would
    // silently read other jobs' series.
    if (!sel.text.includes(ctx.jobMatcher)) {
      problems.push(`${rule.name}: selector without the job matcher: ${sel.text}`);
    }
  }
  return problems;
}

function checkRecord(rule: RecordingRule): string[] {
  return RECORD_NAME.test(rule.name) ? [] : [`${rule.name}: not a level:metric:operations name`];
}

function checkAlert(rule: AlertingRule, ctx: CheckContext): string[] {
  const problems: string[] = [];
  const say = (msg: string): void => void problems.push(`${rule.name}: ${msg}`);
  if (!ALERT_NAME.test(rule.name)) say('name is not CamelCase with the Conntrack prefix');
  const forMs = rule.for === undefined ? undefined : durationMs(rule.for);
  if (forMs === undefined || forMs <= 0) say('needs a positive `for:`');
  if (!SEVERITIES.has(rule.labels['severity'] ?? '')) say('severity must be critical, warning or info');
  const { summary, description, runbook_url: runbook } = rule.annotations;
  if (!summary) say('needs a summary');
  else if (summary.includes('{{')) say('summary must be static (no templates)');
  if (!description) say('needs a description');
  else {
    if (!description.includes('$labels.instance')) say('description must name {{ $labels.instance }}');
    if (!description.includes('$value')) say('description must show {{ $value }}');
  }
  if (runbook !== `${ctx.runbookBase}/${rule.name}.md`)
    say(`runbook_url must be ${ctx.runbookBase}/${rule.name}.md`);
  else if (!ctx.runbookExists(rule.name)) say(`no runbook docs/runbooks/${rule.name}.md`);
  return problems;
}

// ---- parameters.json ----------------------------------------------------------------------

interface Parameter {
  readonly name: string;
  readonly token: string;
  readonly default: string;
  readonly description: string;
}

function readParameters(): Parameter[] {
  const raw: unknown = JSON.parse(readFileSync(PARAMS_FILE, 'utf8'));
  return asList(raw).map((p, i) => {
    const name = isDict(p) ? asString(p['name']) : undefined;
    const token = isDict(p) ? asString(p['token']) : undefined;
    const dflt = isDict(p) ? asString(p['default']) : undefined;
    const description = isDict(p) ? asString(p['description']) : undefined;
    if (name === undefined || token === undefined || dflt === undefined || description === undefined) {
      throw new Error(`parameters.json[${i}] needs string name, token, default and description`);
    }
    return { name, token, default: dflt, description };
  });
}

/**
 * The substitution the chart is expected to do, in two passes (tokens to placeholders, then
 * placeholders to values) so a value that happens to contain another token is left alone.
 */
function substitute(
  text: string,
  params: readonly Parameter[],
  values: Readonly<Record<string, string>>,
): string {
  const placeholder = (i: number): string => `\u0000${i}\u0000`;
  let out = params.reduce((acc, p, i) => acc.replaceAll(p.token, placeholder(i)), text);
  params.forEach((p, i) => (out = out.replaceAll(placeholder(i), values[p.name] ?? p.default)));
  return out;
}

function paramByName(params: readonly Parameter[], name: string): Parameter {
  const p = params.find((q) => q.name === name);
  if (!p) throw new Error(`parameters.json lacks ${name}`);
  return p;
}

// ---- fixtures -----------------------------------------------------------------------------

const rulesText = readFileSync(RULES_FILE, 'utf8');
const rulesDoc: unknown = parseYaml(rulesText);
const params = readParameters();
const JOB = paramByName(params, 'jobSelector').token;
const RUNBOOK_BASE = paramByName(params, 'runbookUrlBase').token;
const realContext: CheckContext = {
  jobMatcher: JOB,
  runbookBase: RUNBOOK_BASE,
  runbookExists: (alert) => existsSync(path.join(RUNBOOK_DIR, `${alert}.md`)),
};
const rules = readRules(rulesDoc, []);
const alerts = rules.filter((r): r is AlertingRule => r.kind === 'alert');
const records = rules.filter((r): r is RecordingRule => r.kind === 'record');
const testFiles = readdirSync(TESTS_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

// ---- promtool ------------------------------------------------------------------------------

describe('promtool', () => {
  it('check rules accepts the rules file', async () => {
    const { code, output } = await run(PROMTOOL, ['check', 'rules', RULES_FILE], ROOT);
    expect(code, output).toBe(0);
  });

  it('finds unit-test files', () => {
    expect(testFiles.length).toBeGreaterThan(0);
  });

  it.each(testFiles)('test rules %s passes', async (file) => {
    const { code, output } = await run(PROMTOOL, ['test', 'rules', file], TESTS_DIR);
    expect(code, output).toBe(0);
  });

  it('test rules reports a wrong expectation (the harness can fail)', async () => {
    const dir = makeTmpDir();
    const wrong = {
      rule_files: [RULES_FILE],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: `conntrack_entries{${JOB},instance="i"}`, values: '10x30' },
            { series: `conntrack_entries_limit{${JOB},instance="i"}`, values: '100x30' },
          ],
          // 10 % full: claiming NearlyFull fires must fail.
          alert_rule_test: [
            {
              alertname: 'ConntrackTableNearlyFull',
              eval_time: '30m',
              exp_alerts: [{ exp_labels: { severity: 'warning', instance: 'i' } }],
            },
          ],
        },
      ],
    };
    writeFileSync(path.join(dir, 'wrong.yaml'), JSON.stringify(wrong));
    const { code, output } = await run(PROMTOOL, ['test', 'rules', 'wrong.yaml'], dir);
    expect(code, output).not.toBe(0);
    expect(output).toContain('FAILED');
  });
});

// ---- unit-test coverage ---------------------------------------------------------------------

interface AlertCheck {
  readonly alertname: string;
  readonly evalMs: number;
  readonly fires: boolean;
}

/** The alert_rule_test entries of one promtool test group. */
function alertChecks(group: unknown): AlertCheck[] {
  if (!isDict(group)) return [];
  return asList(group['alert_rule_test']).flatMap((t) => {
    if (!isDict(t)) return [];
    const alertname = asString(t['alertname']) ?? '';
    const evalMs = durationMs(asString(t['eval_time']) ?? '') ?? -1;
    return [{ alertname, evalMs, fires: asList(t['exp_alerts']).length > 0 }];
  });
}

/** True when one group expects `alert` silent at t0 and firing at t1, with t0 < t1 < t0 + for. */
function pinsForBoundary(group: unknown, alert: AlertingRule): boolean {
  const forMs = durationMs(alert.for ?? '') ?? 0;
  const checks = alertChecks(group).filter((c) => c.alertname === alert.name);
  return checks.some(
    (quiet) =>
      !quiet.fires &&
      checks.some((loud) => loud.fires && loud.evalMs > quiet.evalMs && loud.evalMs - quiet.evalMs < forMs),
  );
}

describe('unit tests cover the rules', () => {
  const testDocs = testFiles.map((f) => ({
    file: f,
    doc: parseYaml(readFileSync(path.join(TESTS_DIR, f), 'utf8')) as unknown,
  }));
  const groups = testDocs.flatMap(({ doc }) => (isDict(doc) ? asList(doc['tests']) : []));

  it.each(testFiles)('%s loads the rules file and fixes the group order', (file) => {
    const doc = testDocs.find((d) => d.file === file)?.doc;
    expect(isDict(doc) && asList(doc['rule_files'])).toEqual(['../conntrack.rules.yaml']);
    // promtool 2.42 evaluates groups in map order unless told: alerts would read the
    // recording rules one evaluation late at random, and the tests would flake.
    expect(isDict(doc) && asList(doc['group_eval_order'])).toEqual(['conntrack.rules', 'conntrack.alerts']);
  });

  it.each(alerts.map((a) => [a.name, a] as const))(
    '%s: silent before `for:` elapses, firing after',
    (_, alert) => {
      expect(groups.some((g) => pinsForBoundary(g, alert))).toBe(true);
    },
  );

  it.each(records.map((r) => r.name))('%s has a promql_expr_test', (name) => {
    const exprs = groups.flatMap((g) => (isDict(g) ? asList(g['promql_expr_test']) : []));
    expect(exprs.some((e) => isDict(e) && (asString(e['expr']) ?? '').includes(name))).toBe(true);
  });
});

// ---- conventions and the catalogue ------------------------------------------------------------

describe('rules file conventions', () => {
  it('has the required alerts and recording rules', () => {
    expect(alerts.map((a) => a.name).sort()).toEqual(
      [
        'ConntrackCollectorFailing',
        'ConntrackConnectionRateSpike',
        'ConntrackDroppingPackets',
        'ConntrackEventsOverrunning',
        'ConntrackInsertFailedSpike',
        'ConntrackPodHoldsTableShare',
        'ConntrackTableFillPredicted',
        'ConntrackTableFull',
        'ConntrackTableNearlyFull',
        'ConntrackUnrepliedDnatBackend',
      ].sort(),
    );
    expect(records.map((r) => r.name)).toContain('instance:conntrack_utilization:ratio');
  });

  it('reads only catalogue metrics and defined recording rules, and follows the conventions', () => {
    expect(checkRules(rulesDoc, realContext)).toEqual([]);
  });

  it('extracts metric names from the real expressions (the checker is not vacuous)', () => {
    const names = new Set(rules.flatMap((r) => parsePromQL(r.expr).selectors.map((s) => s.name)));
    for (const n of [
      'conntrack_entries',
      'conntrack_stat_drop_total',
      'instance:conntrack_utilization:ratio',
    ]) {
      expect(names).toContain(n);
    }
  });

  it('has one runbook per alert and no orphan runbooks', () => {
    const files = readdirSync(RUNBOOK_DIR).filter((f) => f.endsWith('.md'));
    expect(files.sort()).toEqual(alerts.map((a) => `${a.name}.md`).sort());
    for (const a of alerts) {
      expect(readFileSync(path.join(RUNBOOK_DIR, `${a.name}.md`), 'utf8').startsWith(`# ${a.name}\n`)).toBe(
        true,
      );
    }
  });

  it('docs/alerts.md names every alert and parameter', () => {
    const doc = readFileSync(ALERTS_DOC, 'utf8');
    for (const name of [...alerts.map((a) => a.name), ...params.map((p) => p.name)])
      expect(doc).toContain(name);
  });
});

// A good alert to break one field at a time: the checker must reject each breakage.
function alertDoc(overrides: Dict): unknown {
  const good: Dict = {
    alert: 'ConntrackTableNearlyFull',
    expr: `instance:conntrack_utilization:ratio{${JOB}} > 0.8`,
    for: '15m',
    labels: { severity: 'warning' },
    annotations: {
      summary: 'The conntrack table is nearly full.',
      description: 'On {{ $labels.instance }}: {{ $value | humanizePercentage }}.',
      runbook_url: `${RUNBOOK_BASE}/ConntrackTableNearlyFull.md`,
    },
  };
  const recording = { record: 'instance:conntrack_utilization:ratio', expr: `conntrack_entries{${JOB}}` };
  return { groups: [{ name: 'self-check', rules: [recording, { ...good, ...overrides }] }] };
}

describe('the checker rejects broken rules (negative self-checks)', () => {
  const check = (doc: unknown): string[] => checkRules(doc, realContext);

  it('accepts the good template', () => {
    expect(check(alertDoc({}))).toEqual([]);
  });

  it.each<[string, Dict, string]>([
    [
      'an unknown metric',
      { expr: `conntrack_entries_totl{${JOB}} > 1` },
      'metric conntrack_entries_totl is not in the catalogue',
    ],
    [
      'an undefined recording rule',
      { expr: `instance:conntrack_nope:ratio{${JOB}} > 1` },
      'recording rule instance:conntrack_nope:ratio is not defined',
    ],
    ['a syntax error', { expr: `sum(rate(conntrack_stat_drop_total{${JOB}}[5m]) > 0` }, 'syntax error'],
    [
      'a selector without the job matcher',
      { expr: 'conntrack_entries > 1' },
      'selector without the job matcher',
    ],
    [
      '_bucket of a non-histogram',
      { expr: `conntrack_entries_bucket{${JOB}} > 1` },
      'metric conntrack_entries_bucket is not in the catalogue',
    ],
    [
      'a cumulative histogram series of the gauge histogram',
      { expr: `conntrack_flow_age_seconds_sum{${JOB}} > 1` },
      'metric conntrack_flow_age_seconds_sum is not in the catalogue',
    ],
    [
      'a regex metric name',
      { expr: `{__name__=~"conntrack_.*",${JOB}} > 1` },
      'selector without a metric name',
    ],
    ['no for:', { for: undefined }, 'needs a positive `for:`'],
    ['a zero for:', { for: '0s' }, 'needs a positive `for:`'],
    ['a bad severity', { labels: { severity: 'page' } }, 'severity must be critical, warning or info'],
    ['a lower-case name', { alert: 'conntrackFull' }, 'name is not CamelCase'],
  ])('rejects %s', (_, overrides, expected) => {
    expect(check(alertDoc(overrides)).join('\n')).toContain(expected);
  });

  it.each<[string, Dict, string]>([
    ['a templated summary', { summary: 'Full on {{ $labels.instance }}' }, 'summary must be static'],
    [
      'a description without the value',
      { description: 'On {{ $labels.instance }}.' },
      'must show {{ $value }}',
    ],
    [
      'a description without the instance',
      { description: 'At {{ $value }}.' },
      'must name {{ $labels.instance }}',
    ],
    [
      'a runbook elsewhere',
      { runbook_url: 'https://example.com/ConntrackTableNearlyFull.md' },
      'runbook_url must be',
    ],
  ])('rejects %s', (_, annotations, expected) => {
    const base = alertDoc({}) as { groups: [{ rules: [Dict, Dict] }] };
    const alert = base.groups[0].rules[1];
    const doc = alertDoc({ annotations: { ...(alert['annotations'] as Dict), ...annotations } });
    expect(check(doc).join('\n')).toContain(expected);
  });

  it('rejects an alert whose runbook file does not exist', () => {
    const doc = alertDoc({
      alert: 'ConntrackNoSuchAlert',
      annotations: {
        summary: 'Static.',
        description: '{{ $labels.instance }} {{ $value }}',
        runbook_url: `${RUNBOOK_BASE}/ConntrackNoSuchAlert.md`,
      },
    });
    expect(check(doc).join('\n')).toContain('no runbook docs/runbooks/ConntrackNoSuchAlert.md');
  });

  it('accepts the series of a catalogue gauge histogram, parsed from a YAML string', () => {
    const yamlText = [
      'groups:',
      '  - name: self-check',
      '    rules:',
      '      - record: job:conntrack_flow_age_seconds:p90',
      `        expr: histogram_quantile(0.9, sum without (instance) (conntrack_flow_age_seconds_bucket{${JOB}}))`,
      '      - record: job:conntrack_flow_age_seconds:mean',
      `        expr: conntrack_flow_age_seconds_gsum{${JOB}} / conntrack_flow_age_seconds_gcount{${JOB}}`,
    ].join('\n');
    expect(check(parseYaml(yamlText))).toEqual([]);
  });
});

// ---- parameters -----------------------------------------------------------------------------

/** Values differing from every default, to prove the tokens substitute cleanly. */
const ALTERNATES: Readonly<Record<string, string>> = {
  tableNearlyFullRatio: '0.7',
  tableFullRatio: '0.9',
  insertFailedSpikeFactor: '3',
  insertFailedSpikeMinRate: '0.5',
  connectionRateSpikeFactor: '3',
  connectionRateSpikeMinRate: '200',
  fillPredictionHorizonSeconds: '7200',
  fillPredictionMinRatio: '0.4',
  podTableShareRatio: '0.5',
  unrepliedDnatMinFlows: '15',
  jobSelector: 'job=~"conntrack-exporter|ct", cluster="prod"',
  runbookUrlBase: 'https://runbooks.example.com/conntrack',
};

/** Values the unit tests must notice: each one breaks at least one expectation. */
const MUTATIONS: Readonly<Record<string, string>> = {
  tableNearlyFullRatio: '0.86',
  tableFullRatio: '0.98',
  insertFailedSpikeFactor: '1.5',
  insertFailedSpikeMinRate: '0.01',
  connectionRateSpikeFactor: '1.5',
  connectionRateSpikeMinRate: '10',
  fillPredictionHorizonSeconds: '3600',
  fillPredictionMinRatio: '0.01',
  podTableShareRatio: '0.40',
  unrepliedDnatMinFlows: '40',
  jobSelector: 'job="another-exporter"',
  runbookUrlBase: 'https://example.invalid/runbooks',
};

/** Text of the fields a token may live in: expressions and runbook URLs. */
function tokenFields(rs: readonly Rule[]): string[] {
  return rs.flatMap((r) => (r.kind === 'alert' ? [r.expr, r.annotations['runbook_url'] ?? ''] : [r.expr]));
}

describe('parameters.json', () => {
  it('lists the required parameters with camelCase names and default == token', () => {
    expect(params.map((p) => p.name)).toEqual(expect.arrayContaining(Object.keys(ALTERNATES)));
    for (const p of params) {
      expect(p.name).toMatch(/^[a-z][a-zA-Z0-9]*$/);
      expect(p.default).toBe(p.token);
      expect(p.description.length).toBeGreaterThan(10);
    }
  });

  it('has distinct tokens, none inside another', () => {
    for (const a of params) {
      for (const b of params)
        if (a !== b) expect(b.token.includes(a.token), `${a.token} in ${b.token}`).toBe(false);
    }
  });

  it.each(params.map((p) => [p.name, p] as const))('%s appears, and only in expr or runbook_url', (_, p) => {
    const inFile = countOf(rulesText, p.token);
    expect(inFile).toBeGreaterThan(0);
    const inFields = tokenFields(rules).reduce((n, text) => n + countOf(text, p.token), 0);
    expect(inFields, 'token also appears in comments, names or other annotations').toBe(inFile);
  });

  it.each(params.filter((p) => /^[0-9.]+$/.test(p.token)).map((p) => [p.name, p] as const))(
    '%s is a whole number literal wherever it appears',
    (_, p) => {
      // A token inside a longer literal (0.1 in 0.15) would be corrupted by string replacement.
      const escaped = p.token.replace(/\./g, '\\.');
      const all = countOf(rulesText, p.token);
      const whole = rulesText.match(new RegExp(`(?<![0-9.])${escaped}(?![0-9.])`, 'g'))?.length ?? 0;
      expect(whole).toBe(all);
    },
  );

  it('substituted with other values, the file still loads and uses them', async () => {
    const replaced = substitute(rulesText, params, ALTERNATES);
    for (const p of params) expect(replaced.includes(p.token), p.token).toBe(false);
    const dir = makeTmpDir();
    const file = path.join(dir, 'conntrack.rules.yaml');
    writeFileSync(file, replaced);
    const { code, output } = await run(PROMTOOL, ['check', 'rules', file], dir);
    expect(code, output).toBe(0);
    const ctx: CheckContext = {
      ...realContext,
      jobMatcher: ALTERNATES['jobSelector'] ?? '',
      runbookBase: ALTERNATES['runbookUrlBase'] ?? '',
    };
    expect(checkRules(parseYaml(replaced), ctx)).toEqual([]);
    const byName = new Map(readRules(parseYaml(replaced), []).map((r) => [r.name, r.expr]));
    expect(byName.get('ConntrackTableNearlyFull')).toContain('> 0.7');
    expect(byName.get('ConntrackTableFillPredicted')).toContain('< 7200');
  });

  it.each(params.map((p) => [p.name, p] as const))('the unit tests notice a changed %s', async (name, p) => {
    const mutated = MUTATIONS[name];
    expect(mutated, `add a mutation for ${name}`).toBeDefined();
    const dir = makeTmpDir();
    mkdirSync(path.join(dir, 'tests'));
    writeFileSync(
      path.join(dir, 'conntrack.rules.yaml'),
      substitute(rulesText, [p], { [name]: mutated ?? p.token }),
    );
    for (const f of testFiles) copyFileSync(path.join(TESTS_DIR, f), path.join(dir, 'tests', f));
    const { code, output } = await run(PROMTOOL, ['test', 'rules', ...testFiles], path.join(dir, 'tests'));
    expect(code, `${name}=${mutated ?? ''} went unnoticed:\n${output}`).not.toBe(0);
    expect(output).toContain('FAILED');
  });
});
