// The Helm chart (deploy/helm/conntrack-exporter), rendered by tools/chart-render the way
// `helm template` renders it: with its defaults and every ci/*-values.yaml, every object validated
// against kubernetes-models / @kubernetes-models/prometheus-operator with unknown fields
// rejected, and the deployment policy asserted. Also the renderer itself, on a fixture chart.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { VARIABLES, loadConfig } from '../../src/config/config.js';
import {
  asDaemonSet,
  daemonSetViolations,
  effectiveSecurityContext,
  envOf,
  exporterContainer,
  type SecurityMode,
} from '../support/chart-policy.js';
import {
  CHART_DIR,
  MONITORING_API,
  REPO_ROOT,
  kinds,
  one,
  renderChart,
  renderRaw,
  type RenderOptions,
  type RenderedObject,
} from '../support/helm-render.js';
import { UnknownFieldChecker, modelValidationError, type KubeObject } from '../support/k8s-schema.js';

const CI_DIR = join(CHART_DIR, 'ci');
const RULES_FILE = join(REPO_ROOT, 'deploy', 'prometheus', 'conntrack.rules.yaml');
const PARAMETERS_FILE = join(REPO_ROOT, 'deploy', 'prometheus', 'parameters.json');
const GRAFANA_DIR = join(REPO_ROOT, 'deploy', 'grafana');
const FIXTURE_CHART = join(REPO_ROOT, 'test', 'fixtures', 'deploy', 'render-fixture');
const YAML_11 = { version: '1.1', uniqueKeys: true } as const;

interface RuleParameter {
  name: string;
  token: string;
  default: string;
  description: string;
}

type Values = Record<string, unknown>;

function readYaml(path: string): unknown {
  return parse(readFileSync(path, 'utf8'), YAML_11);
}

function isMap(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Chart defaults with values files merged over them (maps merge, everything else replaces). */
function effectiveValues(files: readonly string[]): Values {
  const merge = (base: Values, over: Values): Values => {
    const out: Values = { ...base };
    for (const [k, v] of Object.entries(over)) {
      const b = out[k];
      out[k] = isMap(b) && isMap(v) ? merge(b, v) : v;
    }
    return out;
  };
  let values = readYaml(join(CHART_DIR, 'values.yaml')) as Values;
  for (const f of files) values = merge(values, (readYaml(f) ?? {}) as Values);
  return values;
}

function at(values: Values, path: string): unknown {
  let node: unknown = values;
  for (const key of path.split('.')) node = isMap(node) ? node[key] : undefined;
  return node;
}

function parameters(): RuleParameter[] {
  return JSON.parse(readFileSync(PARAMETERS_FILE, 'utf8')) as RuleParameter[];
}

/** The rules text with every token replaced, computed independently of the chart. */
function expectedRulesText(overrides: Values): string {
  let text = readFileSync(RULES_FILE, 'utf8');
  for (const p of parameters()) {
    const override = overrides[p.name];
    const value = typeof override === 'number' || typeof override === 'string' ? `${override}` : p.default;
    text = text.split(p.token).join(value);
  }
  return text;
}

function labelsOf(obj: KubeObject): Record<string, string> {
  return obj.metadata?.labels ?? {};
}

function isSubset(sub: Record<string, string>, sup: Record<string, string>): boolean {
  return Object.entries(sub).every(([k, v]) => sup[k] === v);
}

/** The exporter container's environment as the kubelet builds it: downward API values, Secret
 * values (made up here) and $(VAR) references to variables defined earlier in the list. */
function containerEnv(ds: KubeObject): Record<string, string> {
  const fields: Record<string, string> = {
    'spec.nodeName': 'node-1',
    'metadata.name': 'conntrack-exporter-x7k2p',
    'metadata.namespace': 'monitoring',
    'status.hostIP': '10.0.0.7',
  };
  const env: Record<string, string> = {};
  for (const e of exporterContainer(asDaemonSet(ds)).env ?? []) {
    let value: string;
    if (e.value !== undefined) {
      value = e.value.replace(/\$\((\w+)\)/g, (ref, name: string) => env[name] ?? ref);
    } else if (e.valueFrom?.fieldRef?.fieldPath) {
      value = fields[e.valueFrom.fieldRef.fieldPath] ?? '';
    } else if (e.valueFrom?.secretKeyRef) {
      value = 'authorization=Bearer%20secret';
    } else {
      throw new Error(`${e.name}: unsupported env source`);
    }
    env[e.name] = value;
  }
  return env;
}

interface Variant {
  name: string;
  valuesFiles: string[];
}

const variants: Variant[] = [
  { name: 'defaults', valuesFiles: [] },
  ...readdirSync(CI_DIR)
    .filter((f) => f.endsWith('-values.yaml'))
    .sort()
    .map((f) => ({ name: `ci/${f}`, valuesFiles: [join(CI_DIR, f)] })),
];

// A cluster running the prometheus-operator serves monitoring.coreos.com/v1.
const withOperator = (opts: RenderOptions = {}): RenderOptions => ({
  apiVersions: [MONITORING_API],
  ...opts,
});

const renderedKinds = [
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet' },
  { apiVersion: MONITORING_API, kind: 'ServiceMonitor' },
  { apiVersion: MONITORING_API, kind: 'PodMonitor' },
  { apiVersion: MONITORING_API, kind: 'PrometheusRule' },
];

let fieldChecker: UnknownFieldChecker;

beforeAll(() => {
  fieldChecker = new UnknownFieldChecker(renderedKinds);
});

async function schemaProblems(objects: readonly RenderedObject[]): Promise<string[]> {
  const problems: string[] = [];
  for (const { source, object } of objects) {
    const invalid = await modelValidationError(object);
    if (invalid) problems.push(`${source} ${object.kind}: ${invalid}`);
    for (const u of fieldChecker.unknownFields(object)) problems.push(`${source}: ${u}`);
  }
  return problems;
}

describe('chart files', () => {
  it('files/ is in sync with deploy/prometheus and deploy/grafana (npm run chart:sync)', () => {
    const r = spawnSync(
      process.execPath,
      [join(REPO_ROOT, 'tools', 'chart-render', 'sync-files.mjs'), '--check'],
      {
        encoding: 'utf8',
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the drift check fails on a changed copy, a missing copy and a stale copy', () => {
    const root = mkdtempSync(join(tmpdir(), 'chart-sync-'));
    try {
      cpSync(join(REPO_ROOT, 'deploy'), join(root, 'deploy'), { recursive: true });
      const files = join(root, 'deploy', 'helm', 'conntrack-exporter', 'files');
      writeFileSync(join(files, 'prometheus', 'conntrack.rules.yaml'), 'groups: []\n');
      rmSync(join(files, 'prometheus', 'parameters.json'));
      writeFileSync(join(files, 'grafana', 'removed-dashboard.json'), '{}');
      const r = spawnSync(
        process.execPath,
        [join(REPO_ROOT, 'tools', 'chart-render', 'sync-files.mjs'), '--check', '--root', root],
        { encoding: 'utf8' },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('conntrack.rules.yaml differs');
      expect(r.stderr).toContain('missing copy');
      expect(r.stderr).toContain('stale copy');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('Chart.yaml appVersion is the package version (the default image tag)', () => {
    const chart = readYaml(join(CHART_DIR, 'Chart.yaml')) as Values;
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
    expect(chart.apiVersion).toBe('v2');
  });

  it('values.yaml and docs/deploy.md name every rule parameter, so users find them', () => {
    const values = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');
    const docs = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
    for (const p of parameters()) {
      expect(values).toContain(p.name);
      expect(docs).toContain(`| \`${p.name}\` |`);
    }
  });
});

describe.each(variants)('chart rendered with $name', ({ valuesFiles }) => {
  let objects: RenderedObject[];
  let values: Values;

  beforeAll(() => {
    objects = renderChart(withOperator({ valuesFiles }));
    values = effectiveValues(valuesFiles);
  });

  it('every object is valid for kubernetes-models, with no unknown field', async () => {
    expect(objects.length).toBeGreaterThan(0);
    expect(await schemaProblems(objects)).toEqual([]);
  });

  it('every object is namespaced and carries the chart labels', () => {
    for (const { object } of objects) {
      expect(object.metadata?.namespace, `${object.kind} namespace`).toBeTruthy();
      expect(labelsOf(object)['app.kubernetes.io/managed-by']).toBe('Helm');
      expect(labelsOf(object)['app.kubernetes.io/instance']).toBe('conntrack-exporter');
    }
  });

  it('the DaemonSet follows the deployment policy of its securityMode', () => {
    const mode = values.securityMode as SecurityMode;
    expect(daemonSetViolations(one(objects, 'DaemonSet'), mode)).toEqual([]);
  });

  it('sets only variables the exporter knows, each once', () => {
    const env = exporterContainer(asDaemonSet(one(objects, 'DaemonSet'))).env ?? [];
    const known = new Set(Object.keys(VARIABLES));
    const extra = new Set(((values.extraEnv ?? []) as { name: string }[]).map((e) => e.name));
    for (const { name } of env) {
      if (extra.has(name) || name === 'K8S_HOST_IP') continue;
      expect(known.has(name), `${name} is not an exporter variable`).toBe(true);
    }
  });

  it("the exporter's own configuration loader accepts the environment the chart gives it", () => {
    const config = loadConfig(containerEnv(one(objects, 'DaemonSet')));
    expect(config.metricsPath).toBe(at(values, 'config.metricsPath'));
    expect(config.listen.port).toBe(at(values, 'config.port'));
    expect(config.exporters.otlp).toBe(at(values, 'otlp.enabled'));
    expect(config.flow.enableAccounting).toBe(at(values, 'config.flows.enableAccounting'));
  });

  it('selectors tie the DaemonSet, Service and ServiceMonitor/PodMonitor together', () => {
    const ds = asDaemonSet(one(objects, 'DaemonSet'));
    const podLabels = ds.spec.template.metadata.labels;
    const selector = ds.spec.selector.matchLabels;
    expect(Object.keys(selector).sort()).toEqual(['app.kubernetes.io/instance', 'app.kubernetes.io/name']);
    expect(isSubset(selector, podLabels)).toBe(true);

    const services = objects.filter((o) => o.object.kind === 'Service').map((o) => o.object);
    const service = services[0] as
      | (KubeObject & {
          spec: { selector: Record<string, string>; ports: { name: string; targetPort: string }[] };
        })
      | undefined;
    if (service) {
      expect(service.spec.selector).toEqual(selector);
      expect(service.spec.ports.map((p) => [p.name, p.targetPort])).toEqual([['metrics', 'metrics']]);
    }
    for (const kind of ['ServiceMonitor', 'PodMonitor']) {
      const monitor = objects.find((o) => o.object.kind === kind)?.object as
        | (KubeObject & {
            spec: {
              selector: { matchLabels: Record<string, string> };
              namespaceSelector: { matchNames: string[] };
            };
          })
        | undefined;
      if (!monitor) continue;
      const target = kind === 'ServiceMonitor' ? service : one(objects, 'DaemonSet');
      expect(target, `${kind} needs its target`).toBeDefined();
      const targetLabels = kind === 'ServiceMonitor' ? labelsOf(target!) : podLabels;
      expect(isSubset(monitor.spec.selector.matchLabels, targetLabels)).toBe(true);
      expect(monitor.spec.namespaceSelector.matchNames).toEqual([target!.metadata?.namespace]);
    }
  });

  it('scrapes set the node label from the pod node name and the job from app.kubernetes.io/name', () => {
    for (const kind of ['ServiceMonitor', 'PodMonitor']) {
      const monitor = objects.find((o) => o.object.kind === kind)?.object as
        (KubeObject & { spec: Record<string, unknown> }) | undefined;
      if (!monitor) continue;
      const endpoints = (monitor.spec.endpoints ?? monitor.spec.podMetricsEndpoints) as {
        port: string;
        path: string;
        relabelings: Record<string, unknown>[];
      }[];
      expect(endpoints).toHaveLength(1);
      expect(endpoints[0]!.port).toBe('metrics');
      expect(endpoints[0]!.path).toBe(at(values, 'config.metricsPath'));
      expect(endpoints[0]!.relabelings[0]).toEqual({
        sourceLabels: ['__meta_kubernetes_pod_node_name'],
        targetLabel: 'node',
        action: 'replace',
      });
      expect(monitor.spec.jobLabel).toBe('app.kubernetes.io/name');
    }
  });

  it('the PrometheusRule spec is the rules file with the parameters substituted', () => {
    const rule = objects.find((o) => o.object.kind === 'PrometheusRule')?.object;
    if (at(values, 'prometheusRule.enabled') !== true) {
      expect(rule).toBeUndefined();
      return;
    }
    const overrides = (at(values, 'prometheusRule.parameters') ?? {}) as Values;
    expect(rule?.spec).toEqual(parse(expectedRulesText(overrides), YAML_11));
  });

  it('the dashboard ConfigMaps hold the deploy/grafana JSON files verbatim', () => {
    const maps = objects.filter((o) => o.object.kind === 'ConfigMap').map((o) => o.object);
    if (at(values, 'grafanaDashboards.enabled') !== true) {
      expect(maps).toEqual([]);
      return;
    }
    const files = readdirSync(GRAFANA_DIR).filter((f) => f.endsWith('.json'));
    expect(maps).toHaveLength(files.length);
    for (const file of files) {
      const map = maps.find((m) => isMap(m.data) && Object.hasOwn(m.data, file));
      expect(map, file).toBeDefined();
      expect(Object.keys(map!.data as Values)).toEqual([file]);
      expect((map!.data as Values)[file]).toBe(readFileSync(join(GRAFANA_DIR, file), 'utf8'));
      expect(labelsOf(map!).grafana_dashboard).toBe('1');
    }
  });
});

describe('chart defaults', () => {
  it('renders the objects in Helm install order, ServiceMonitor and PrometheusRule included', () => {
    const objects = renderChart(withOperator());
    expect(kinds(objects)).toEqual([
      'ServiceAccount',
      'ConfigMap',
      'ConfigMap',
      'Service',
      'DaemonSet',
      'PrometheusRule',
      'ServiceMonitor',
    ]);
    expect(objects.every((o) => o.source.startsWith('conntrack-exporter/templates/'))).toBe(true);
  });

  it('omits the prometheus-operator objects where the cluster does not serve monitoring.coreos.com/v1', () => {
    const objects = renderChart();
    expect(kinds(objects)).toEqual(['ServiceAccount', 'ConfigMap', 'ConfigMap', 'Service', 'DaemonSet']);
    const notes = renderRaw({ notes: true });
    expect(notes.stdout).toContain('ServiceMonitor NOT created');
  });

  it('with defaults the PrometheusRule spec equals the rules file exactly', () => {
    const rule = one(renderChart(withOperator()), 'PrometheusRule');
    expect(rule.spec).toEqual(readYaml(RULES_FILE));
  });

  it('the job label the alerts select by default is the one the ServiceMonitor produces', () => {
    const objects = renderChart(withOperator({ releaseName: 'my-release' }));
    const service = one(objects, 'Service');
    const jobSelector = parameters().find((p) => p.name === 'jobSelector');
    expect(jobSelector).toBeDefined();
    expect(jobSelector!.default).toBe(`job="${labelsOf(service)['app.kubernetes.io/name']}"`);
  });

  it('runs netlink mode: UID 0 with only NET_ADMIN, read-only root, no escalation, seccomp', () => {
    const ds = asDaemonSet(one(renderChart(), 'DaemonSet'));
    expect(effectiveSecurityContext(ds)).toMatchObject({
      runAsUser: 0,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const env = envOf(one(renderChart(), 'DaemonSet'));
    expect(env.get('CONNTRACK_EXPORTER_SOURCE')?.value).toBe('auto');
    expect(env.get('CONNTRACK_EXPORTER_LISTEN_ADDRESS')?.value).toBe(':9469');
    expect(env.get('OTEL_METRICS_EXPORTER')?.value).toBe('prometheus');
    expect([...env.keys()].filter((k) => k.startsWith('OTEL_'))).toEqual(['OTEL_METRICS_EXPORTER']);
    expect(exporterContainer(ds).image).toBe('ghcr.io/conntrack-exporter/conntrack-exporter:0.1.0');
  });

  it('NOTES.txt says the namespace needs the privileged Pod Security level, and why', () => {
    const notes = renderRaw(withOperator({ notes: true, namespace: 'monitoring' }));
    expect(notes.status).toBe(0);
    expect(notes.stdout).toContain(
      'kubectl label --overwrite namespace monitoring pod-security.kubernetes.io/enforce=privileged',
    );
    expect(notes.stdout).toContain('hostNetwork: true');
    expect(notes.stdout).toContain('CAP_NET_ADMIN');
  });
});

describe('chart values', () => {
  const render = (set: string[], opts: RenderOptions = {}): RenderedObject[] =>
    renderChart(withOperator({ set, ...opts }));
  const failure = (set: string[]): string => {
    const r = renderRaw(withOperator({ set }));
    expect(r.status, `rendering with ${set.join(' ')} should fail`).not.toBe(0);
    return r.stderr;
  };

  it('serviceMonitor, podMonitor, prometheusRule, grafanaDashboards, service and serviceAccount toggle their objects', () => {
    expect(kinds(render(['serviceMonitor.enabled=false']))).not.toContain('ServiceMonitor');
    const pod = render(['serviceMonitor.enabled=false', 'podMonitor.enabled=true', 'service.enabled=false']);
    expect(kinds(pod)).toContain('PodMonitor');
    expect(kinds(pod)).not.toContain('Service');
    expect(kinds(pod)).not.toContain('ServiceMonitor');
    expect(kinds(render(['prometheusRule.enabled=false']))).not.toContain('PrometheusRule');
    expect(kinds(render(['grafanaDashboards.enabled=false']))).not.toContain('ConfigMap');
    const noSa = render(['serviceAccount.create=false']);
    expect(kinds(noSa)).not.toContain('ServiceAccount');
    expect(asDaemonSet(one(noSa, 'DaemonSet')).spec.template.spec.serviceAccountName).toBe('default');
  });

  it('extra labels and annotations merge without duplicate keys and cannot change the selector labels', () => {
    const objects = render([
      'commonLabels.team=platform',
      'commonLabels.app\\.kubernetes\\.io/name=other',
      'service.labels.team=network',
      'podAnnotations.kubectl\\.kubernetes\\.io/default-container=x',
    ]);
    const service = one(objects, 'Service');
    expect(labelsOf(service)).toMatchObject({
      team: 'platform',
      'app.kubernetes.io/name': 'conntrack-exporter',
    });
    const ds = asDaemonSet(one(objects, 'DaemonSet'));
    expect(ds.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('conntrack-exporter');
    expect(ds.spec.template.metadata.annotations?.['kubectl.kubernetes.io/default-container']).toBe(
      'exporter',
    );
  });

  it('refuses monitors that cannot work', () => {
    expect(failure(['podMonitor.enabled=true'])).toContain('not both');
    expect(failure(['service.enabled=false'])).toContain('serviceMonitor.enabled needs service.enabled');
  });

  it('unprivileged mode: non-root, no capability, procfs, no flow collector', () => {
    const ds = one(render(['securityMode=unprivileged']), 'DaemonSet');
    const sc = effectiveSecurityContext(asDaemonSet(ds));
    expect(sc).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, capabilities: { drop: ['ALL'] } });
    expect(sc.capabilities?.add).toBeUndefined();
    const env = envOf(ds);
    expect(env.get('CONNTRACK_EXPORTER_SOURCE')?.value).toBe('procfs');
    expect(env.get('CONNTRACK_EXPORTER_COLLECTORS')?.value).toBe('table,cpu_stats,expect_stats,sysctl');
    expect(failure(['securityMode=unprivileged', 'config.source=netlink'])).toContain('CAP_NET_ADMIN');
  });

  it('flow accounting needs the privileged mode, and gets it', () => {
    expect(failure(['config.flows.enableAccounting=true'])).toContain('securityMode=privileged');
    const ds = one(render(['config.flows.enableAccounting=true', 'securityMode=privileged']), 'DaemonSet');
    expect(effectiveSecurityContext(asDaemonSet(ds)).privileged).toBe(true);
    expect(envOf(ds).get('CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING')?.value).toBe('true');
  });

  it('every exporter variable is reachable from values (ci/full-values.yaml sets them all)', () => {
    const ds = one(render([], { valuesFiles: [join(CI_DIR, 'full-values.yaml')] }), 'DaemonSet');
    const env = envOf(ds);
    const unreachable = Object.keys(VARIABLES).filter((name) => !env.has(name));
    // Accounting is off there (it needs securityMode=privileged); its variable is always set.
    expect(unreachable).toEqual([]);
    expect(env.get('CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS')?.value).toBe('1000000');
    expect(env.get('CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS')?.value).toBe('2.5');
    expect(env.get('OTEL_EXPORTER_OTLP_HEADERS')?.value).toBe('x-scope-orgid=tenant%20a');
    expect(env.get('OTEL_EXPORTER_OTLP_METRICS_HEADERS')?.valueFrom?.secretKeyRef).toEqual({
      name: 'otlp-credentials',
      key: 'metrics-headers',
    });
    expect(env.get('CONNTRACK_EXPORTER_LISTEN_ADDRESS')?.value).toBe('$(K8S_HOST_IP):19469');
    // What the exporter makes of it: headers and attributes decoded back to the values written.
    const config = loadConfig(containerEnv(ds));
    expect(config.listen).toEqual({ host: '10.0.0.7', port: 19469 });
    expect(config.otlp.headers).toEqual({ 'x-scope-orgid': 'tenant a', authorization: 'Bearer secret' });
    expect(config.resource.attributes).toEqual({ 'k8s.cluster.name': 'prod-eu-1' });
    expect(config.resource.k8sNodeName).toBe('node-1');
    expect(config.flow).toMatchObject({
      maxFlowsPerPass: 1_000_000,
      skipAboveUsage: 0.9,
      intervalMs: 60_000,
    });
    expect(config.collectors).toEqual(['table', 'sysctl', 'flows']);
    // $(K8S_HOST_IP) is expanded by the kubelet only when defined earlier in the list.
    const names = [...env.keys()];
    expect(names.indexOf('K8S_HOST_IP')).toBeLessThan(names.indexOf('CONNTRACK_EXPORTER_LISTEN_ADDRESS'));
  });

  it('OTLP: endpoint required, headers from a Secret, not both kinds of headers', () => {
    expect(failure(['otlp.enabled=true'])).toContain('otlp.endpoint');
    const ds = one(render([], { valuesFiles: [join(CI_DIR, 'otlp-values.yaml')] }), 'DaemonSet');
    const env = envOf(ds);
    expect(env.get('OTEL_METRICS_EXPORTER')?.value).toBe('otlp,prometheus');
    expect(env.get('OTEL_EXPORTER_OTLP_HEADERS')?.valueFrom?.secretKeyRef).toEqual({
      name: 'otlp-credentials',
      key: 'headers',
    });
    expect(env.get('OTEL_RESOURCE_ATTRIBUTES')?.value).toBe(
      'deployment.environment=production,k8s.cluster.name=prod-eu-1',
    );
    expect(
      failure([
        'otlp.enabled=true',
        'otlp.endpoint=http://c:4318',
        'otlp.headers.a=b',
        'otlp.headersSecret.name=s',
      ]),
    ).toContain('not both');
    expect(
      failure(['otlp.enabled=true', 'otlp.endpoint=http://c:4318', 'otlp.keepPrometheusEndpoint=false']),
    ).toContain('disable serviceMonitor');
    const otlpOnly = render([
      'otlp.enabled=true',
      'otlp.endpoint=http://c:4318',
      'otlp.keepPrometheusEndpoint=false',
      'serviceMonitor.enabled=false',
    ]);
    expect(envOf(one(otlpOnly, 'DaemonSet')).get('OTEL_METRICS_EXPORTER')?.value).toBe('otlp');
  });

  it('refuses extraEnv that shadows a chart-managed variable, loopback listen hosts and a short grace period', () => {
    expect(
      renderRaw(
        withOperator({ setJson: ['extraEnv=[{"name":"CONNTRACK_EXPORTER_LOG_LEVEL","value":"debug"}]'] }),
      ).stderr,
    ).toContain('extraEnv sets CONNTRACK_EXPORTER_LOG_LEVEL');
    expect(failure(['config.listenHost=127.0.0.1'])).toContain('loopback');
    expect(failure(['terminationGracePeriodSeconds=10'])).toContain('terminationGracePeriodSeconds');
  });

  it('rule parameters are substituted as text, unknown ones refused', () => {
    const rule = one(
      renderChart(
        withOperator({
          setString: ['prometheusRule.parameters.tableNearlyFullRatio=0.7'],
          set: ['prometheusRule.parameters.jobSelector=job="node-agents"'],
        }),
      ),
      'PrometheusRule',
    );
    const expected = expectedRulesText({ tableNearlyFullRatio: '0.7', jobSelector: 'job="node-agents"' });
    expect(expected).not.toBe(readFileSync(RULES_FILE, 'utf8'));
    expect(rule.spec).toEqual(parse(expected, YAML_11));
    expect(failure(['prometheusRule.parameters.tableAlmostFull=0.5'])).toContain('not a rule parameter');
  });

  it('values.schema.json refuses unknown keys, bad enums and wrong types', () => {
    expect(failure(['replicaCount=2'])).toContain('Additional property replicaCount is not allowed');
    expect(failure(['config.logLevl=debug'])).toContain('Additional property logLevl is not allowed');
    expect(failure(['securityMode=root'])).toContain('securityMode must be one of the following');
    expect(failure(['config.port=http'])).toContain(
      'config.port: Invalid type. Expected: integer, given: string',
    );
    expect(failure(['config.flows.skipAboveUsage=2'])).toContain('Must be less than or equal to 1');
    expect(failure(['config.collectors={table,conntrack}'])).toContain('config.collectors.1');
  });

  it('perNamespace turns on the netns collector with the host PID namespace, and only then', () => {
    const on = one(render(['perNamespace.enabled=true']), 'DaemonSet');
    expect(asDaemonSet(on).spec.template.spec.hostPID).toBe(true);
    expect(envOf(on).get('CONNTRACK_EXPORTER_COLLECTORS')?.value).toBe(
      'table,cpu_stats,expect_stats,sysctl,flows,netns',
    );
    const off = one(render([]), 'DaemonSet');
    expect(asDaemonSet(off).spec.template.spec.hostPID).toBe(false);
    expect(envOf(off).get('CONNTRACK_EXPORTER_COLLECTORS')?.value).not.toContain('netns');
    expect(failure(['config.collectors={table,netns}'])).toContain('set perNamespace.enabled=true');
  });
});

describe('validation of rendered objects can fail', () => {
  let ds: KubeObject;
  beforeAll(() => {
    ds = one(renderChart(), 'DaemonSet');
  });
  const mutated = (edit: (d: ReturnType<typeof asDaemonSet>) => void): KubeObject => {
    const copy = structuredClone(ds);
    edit(asDaemonSet(copy));
    return copy;
  };

  it('an unknown field is rejected, at any depth, while free-form maps accept any key', () => {
    const typo = mutated((d) => {
      const sc = exporterContainer(d).securityContext as Record<string, unknown>;
      sc.readOnlyRootFileSystem = true;
    });
    expect(fieldChecker.unknownFields(typo)).toEqual([
      'DaemonSet.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field "readOnlyRootFileSystem"',
    ]);
    const top = { ...structuredClone(ds), replicas: 3 };
    expect(fieldChecker.unknownFields(top)).toEqual(['DaemonSet.replicas: unknown field "replicas"']);
    const labels = mutated((d) => {
      d.spec.template.metadata.labels['any.example.com/key'] = 'x';
    });
    expect(fieldChecker.unknownFields(labels)).toEqual([]);
    const monitor: KubeObject = {
      apiVersion: MONITORING_API,
      kind: 'ServiceMonitor',
      metadata: { name: 'x' },
      spec: { selector: {}, endpoints: [{ port: 'metrics', relabelings: [{ sourceLabel: ['a'] }] }] },
    };
    expect(fieldChecker.unknownFields(monitor)).toEqual([
      'ServiceMonitor.spec.endpoints[0].relabelings[0].sourceLabel: unknown field "sourceLabel"',
    ]);
  });

  it('a wrongly typed field is rejected by the model', async () => {
    const bad = mutated((d) => {
      (d.spec.template.spec as unknown as Record<string, unknown>).hostNetwork = 'yes';
    });
    expect(await modelValidationError(bad)).toMatch(/hostNetwork/);
    expect(await modelValidationError(ds)).toBeUndefined();
  });

  it('the policy rejects a DaemonSet without NET_ADMIN, without hostNetwork or with an exec probe', () => {
    const noNetAdmin = mutated((d) => {
      exporterContainer(d).securityContext!.capabilities = { drop: ['ALL'] };
    });
    expect(daemonSetViolations(noNetAdmin, 'netlink')).toEqual([
      'netlink mode must add exactly NET_ADMIN (got [])',
    ]);
    const extraCap = mutated((d) => {
      exporterContainer(d).securityContext!.capabilities = { drop: ['ALL'], add: ['NET_ADMIN', 'SYS_ADMIN'] };
    });
    expect(daemonSetViolations(extraCap, 'netlink')).toEqual([
      'netlink mode must add exactly NET_ADMIN (got [NET_ADMIN, SYS_ADMIN])',
    ]);
    const noHostNet = mutated((d) => {
      d.spec.template.spec.hostNetwork = false;
    });
    expect(daemonSetViolations(noHostNet, 'netlink')).toEqual(['hostNetwork must be true']);
    const execProbe = mutated((d) => {
      exporterContainer(d).livenessProbe = { exec: { command: ['true'] } };
    });
    expect(daemonSetViolations(execProbe, 'netlink')).toEqual(['livenessProbe must be an HTTP probe']);
    const links = mutated((d) => {
      delete d.spec.template.spec.enableServiceLinks;
    });
    expect(daemonSetViolations(links, 'netlink')).toEqual(['enableServiceLinks must be false']);
    // The netlink DaemonSet is not an unprivileged one.
    expect(daemonSetViolations(ds, 'unprivileged')).toContain('unprivileged mode must set runAsNonRoot');
  });
});

describe('chart-render renders like helm template', () => {
  const fixture = (opts: RenderOptions = {}): RenderedObject[] =>
    renderChart({ chart: FIXTURE_CHART, releaseName: 'rel', namespace: 'ns1', strict: false, ...opts });
  const data = (objects: RenderedObject[]): Record<string, string> =>
    one(objects, 'ConfigMap').data as Record<string, string>;

  it('prints "---\\n# Source: <chart>/templates/<file>" documents in kind order, without partials or NOTES', () => {
    const r = renderRaw({ chart: FIXTURE_CHART, releaseName: 'rel', strict: false });
    expect(
      r.stdout.startsWith('---\n# Source: fixture/templates/multi.yaml\napiVersion: v1\nkind: Namespace\n'),
    ).toBe(true);
    const objects = fixture();
    expect(objects.map((o) => `${o.source} ${o.object.kind}`)).toEqual([
      'fixture/templates/multi.yaml Namespace',
      'fixture/templates/configmap.yaml ConfigMap',
      'fixture/templates/multi.yaml Service',
    ]);
    expect(r.stdout).not.toContain('Thanks for installing');
    expect(renderRaw({ chart: FIXTURE_CHART, releaseName: 'rel', notes: true, strict: false }).stdout).toBe(
      'Thanks for installing fixture as rel.\n',
    );
  });

  it('implements include, tpl, fromYaml, toYaml, lookup, .Files, .Chart, .Release, .Template', () => {
    const d = data(fixture());
    expect(d).toMatchObject({
      include: 'fixture-rel',
      tpl: 'hello from tpl',
      fromYaml: '2',
      lookup: '0',
      chart: 'fixture/1.2.3/9.9',
      template: 'fixture/templates/configmap.yaml',
      fileA: 'alpha\n',
      globTop: 'files/a.txt;files/b.txt;',
      globDeep: 'files/a.txt;files/b.txt;files/sub/c.txt;',
      // toYaml sorts keys, like sigs.k8s.io/yaml.
      nestedYaml: 'a: 1\nb: two\nkeep: yes-default\n',
      asConfig: 'a.txt: |\n  alpha\nb.txt: |\n  beta\n',
      missing: '[]',
    });
  });

  it('numbers from YAML are float64 and from --set int64, as in Helm', () => {
    expect(data(fixture())).toMatchObject({ big: '1e+06', nestedAType: 'float64' });
    expect(data(fixture({ set: ['big=1000000,nested.a=5'] }))).toMatchObject({
      big: '1000000',
      nestedA: '5',
      nestedAType: 'int64',
    });
  });

  it('merges -f files and --set over defaults; null deletes a default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chart-values-'));
    try {
      const first = join(dir, 'a.yaml');
      const second = join(dir, 'b.yaml');
      writeFileSync(first, 'greeting: first\ntoDelete: null\nnested:\n  keep: null\n  a: 7\n');
      writeFileSync(second, 'greeting: second\n');
      const d = data(fixture({ valuesFiles: [first, second], set: ['list={p,q}'] }));
      expect(d).toMatchObject({ tpl: 'second from tpl', hasToDelete: 'false', list: 'p,q' });
      expect(d.nestedYaml).toBe('a: 7\nb: two\n');
      // --set-string keeps "5" a string; --set would make it an integer, which the schema refuses.
      expect(data(fixture({ valuesFiles: [first, second], setString: ['greeting=5'] })).tpl).toBe(
        '5 from tpl',
      );
      const typed = renderRaw({ chart: FIXTURE_CHART, set: ['greeting=5'], strict: false });
      expect(typed.stderr).toContain('greeting: Invalid type. Expected: string, given: integer');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('implements .Capabilities with --api-versions and --kube-version, and the chart kubeVersion constraint', () => {
    expect(data(fixture())).toMatchObject({ monitoringApi: 'false', kubeVersion: 'v1.30.0' });
    expect(data(fixture({ apiVersions: [MONITORING_API], kubeVersion: '1.28.3' }))).toMatchObject({
      monitoringApi: 'true',
      kubeVersion: 'v1.28.3',
    });
    const old = renderRaw({ chart: FIXTURE_CHART, kubeVersion: '1.19.0', strict: false });
    expect(old.status).toBe(1);
    expect(old.stderr).toContain(
      'chart requires kubeVersion: >=1.20.0-0 which is incompatible with Kubernetes v1.19.0',
    );
  });

  it('fails like Helm: required, fail, --strict, values.schema.json', () => {
    const required = renderRaw({ chart: FIXTURE_CHART, set: ['needRequired.other=1'], strict: false });
    expect(required.stderr).toMatch(
      /execution error at \(fixture\/templates\/required\.yaml:\d+:\d+\): needRequired\.value is required/,
    );
    const failed = renderRaw({ chart: FIXTURE_CHART, set: ['shouldFail=true'], strict: false });
    expect(failed.stderr).toContain('asked to fail');
    expect(renderRaw({ chart: FIXTURE_CHART, strict: true }).stderr).toContain(
      'map has no entry for key "notThere"',
    );
    const schema = renderRaw({ chart: FIXTURE_CHART, set: ['nested.a=500', 'greeting='], strict: false });
    expect(schema.stderr).toBe(
      "Error: values don't meet the specifications of the schema(s) in the following chart(s):\nfixture:\n" +
        '- greeting: String length must be greater than or equal to 1\n' +
        '- nested.a: Must be less than or equal to 100\n\n',
    );
  });
});
