// Test support: the deployment policy of the conntrack-exporter DaemonSet, as checks that return
// violations (so tests can prove each check fails on a bad object). Why each rule exists:
// docs/deploy.md.

import type { KubeObject } from './k8s-schema.js';

export type SecurityMode = 'netlink' | 'unprivileged' | 'privileged';

/* The shapes read here; kubernetes-models' own validate() checks the full schema. */
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath?: string }; secretKeyRef?: { name?: string; key?: string } };
}
interface Probe {
  httpGet?: { path?: string; port?: string | number; scheme?: string };
  exec?: unknown;
  tcpSocket?: { port?: string | number };
}
interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type?: string };
}
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
}
export interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  dnsPolicy?: string;
  enableServiceLinks?: boolean;
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  tolerations?: { key?: string; operator?: string; effect?: string }[];
  securityContext?: SecurityContext;
  containers: Container[];
}
export interface DaemonSetShape {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: PodSpec;
    };
  };
}

export function asDaemonSet(obj: KubeObject): DaemonSetShape {
  if (obj.kind !== 'DaemonSet') throw new Error(`not a DaemonSet: ${obj.kind}`);
  return obj as unknown as DaemonSetShape;
}

export function exporterContainer(ds: DaemonSetShape): Container {
  const c = ds.spec.template.spec.containers.find((x) => x.name === 'exporter');
  if (!c) throw new Error('no exporter container');
  return c;
}

/** Effective container security context: container fields win over the pod's. */
export function effectiveSecurityContext(ds: DaemonSetShape): SecurityContext {
  const pod = ds.spec.template.spec.securityContext ?? {};
  const c = exporterContainer(ds).securityContext ?? {};
  const { runAsUser, runAsGroup, runAsNonRoot, seccompProfile } = pod;
  return { runAsUser, runAsGroup, runAsNonRoot, seccompProfile, ...c };
}

export function daemonSetViolations(obj: KubeObject, mode: SecurityMode): string[] {
  const v: string[] = [];
  const ds = asDaemonSet(obj);
  const pod = ds.spec.template.spec;

  // The node's conntrack table is only visible from the host network namespace.
  if (pod.hostNetwork !== true) v.push('hostNetwork must be true');
  if (pod.dnsPolicy !== 'ClusterFirstWithHostNet') v.push('dnsPolicy must be ClusterFirstWithHostNet');
  // Only the opt-in netns collector needs the host PID namespace (to read other pods' /proc).
  const collectors =
    (exporterContainer(ds).env ?? []).find((e) => e.name === 'CONNTRACK_EXPORTER_COLLECTORS')?.value ?? '';
  const wantsNetns = collectors.split(',').includes('netns');
  if (pod.hostPID === true && !wantsNetns) v.push('hostPID must be off unless the netns collector runs');
  if (wantsNetns && pod.hostPID !== true) v.push('the netns collector needs hostPID');
  if (pod.hostIPC === true) v.push('hostIPC must be off');
  // Service links inject CONNTRACK_EXPORTER_* variables, which the exporter rejects.
  if (pod.enableServiceLinks !== false) v.push('enableServiceLinks must be false');
  if (pod.automountServiceAccountToken !== false) v.push('automountServiceAccountToken must be false');
  if (!pod.tolerations?.some((t) => t.operator === 'Exists' && !t.key && !t.effect)) {
    v.push('tolerations must tolerate every taint (operator: Exists) so every node runs the exporter');
  }
  const selector = ds.spec.selector.matchLabels;
  for (const [k, val] of Object.entries(selector)) {
    if (ds.spec.template.metadata.labels[k] !== val) v.push(`pod template lacks selector label ${k}=${val}`);
  }

  if (pod.containers.length !== 1) v.push(`expected one container, found ${pod.containers.length}`);
  const c = pod.containers.find((x) => x.name === 'exporter');
  if (!c) return [...v, 'no container named exporter'];
  // No command/args: the image's exec-form CMD runs node as PID 1, so SIGTERM reaches it.
  if (c.command || c.args) v.push('container must not override the image command');
  const metricsPort = c.ports?.find((p) => p.name === 'metrics');
  if (!metricsPort) v.push('no container port named metrics');
  // With a web configuration that requires client certificates the kubelet (which has none)
  // cannot finish the TLS handshake: then, and only then, a TCP probe of the port.
  const webConfig = (c.env ?? []).some((e) => e.name === 'CONNTRACK_EXPORTER_WEB_CONFIG_FILE');
  const isMetricsPort = (port: string | number | undefined): boolean =>
    port === 'metrics' || port === metricsPort?.containerPort;
  for (const [name, probe] of [
    ['livenessProbe', c.livenessProbe],
    ['readinessProbe', c.readinessProbe],
  ] as const) {
    if (probe?.tcpSocket && webConfig) {
      if (!isMetricsPort(probe.tcpSocket.port)) v.push(`${name} must use the metrics port`);
    } else if (!probe?.httpGet) v.push(`${name} must be an HTTP probe`);
    else {
      if (probe.httpGet.path !== '/healthz') v.push(`${name} must GET /healthz`);
      if (!isMetricsPort(probe.httpGet.port)) v.push(`${name} must use the metrics port`);
    }
  }
  if (!c.resources?.requests?.cpu || !c.resources.requests.memory)
    v.push('resources.requests cpu and memory must be set');
  if (!c.resources?.limits?.memory) v.push('resources.limits.memory must be set');

  const sc = effectiveSecurityContext(ds);
  if (sc.readOnlyRootFilesystem !== true) v.push('readOnlyRootFilesystem must be true');
  if (sc.seccompProfile?.type !== 'RuntimeDefault') v.push('seccompProfile must be RuntimeDefault');
  const add = sc.capabilities?.add ?? [];
  const drop = sc.capabilities?.drop ?? [];
  if (mode === 'privileged') {
    if (sc.privileged !== true) v.push('privileged mode must set privileged: true');
  } else {
    if (sc.privileged === true) v.push('privileged must be off');
    if (sc.allowPrivilegeEscalation !== false) v.push('allowPrivilegeEscalation must be false');
    if (!drop.includes('ALL')) v.push('capabilities.drop must include ALL');
  }
  if (mode === 'netlink') {
    // ctnetlink needs CAP_NET_ADMIN, effective only for UID 0.
    if (sc.runAsUser !== 0) v.push('netlink mode must run as UID 0');
    if (add.length !== 1 || add[0] !== 'NET_ADMIN')
      v.push(`netlink mode must add exactly NET_ADMIN (got [${add.join(', ')}])`);
  }
  if (mode === 'unprivileged') {
    if (sc.runAsNonRoot !== true) v.push('unprivileged mode must set runAsNonRoot');
    if (sc.runAsUser === undefined || sc.runAsUser === 0)
      v.push('unprivileged mode must run as a non-zero UID');
    if (add.length > 0) v.push(`unprivileged mode must add no capability (got [${add.join(', ')}])`);
  }

  const env = c.env ?? [];
  const names = env.map((e) => e.name);
  const dupes = names.filter((n, i) => names.indexOf(n) !== i);
  if (dupes.length > 0) v.push(`duplicate env: ${dupes.join(', ')}`);
  for (const [name, fieldPath] of [
    ['K8S_NODE_NAME', 'spec.nodeName'],
    ['K8S_POD_NAME', 'metadata.name'],
    ['K8S_NAMESPACE_NAME', 'metadata.namespace'],
  ] as const) {
    if (env.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath !== fieldPath) {
      v.push(`${name} must come from the downward API (${fieldPath})`);
    }
  }
  return v;
}

export function envOf(obj: KubeObject): Map<string, EnvVar> {
  return new Map((exporterContainer(asDaemonSet(obj)).env ?? []).map((e) => [e.name, e]));
}
