import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { grantsOf, type PolicyRule } from '../../../charts/rbac-rules.ts';
import { loadConfig, type Config } from '../../../operator/src/config.ts';
import { PERMISSIONS } from '../../../operator/src/rbac/permissions.ts';
import { chartDir, findManifest, renderChart, runHelm, type Manifest } from '../support/helm.ts';
import { repoRoot } from '../support/paths.ts';

// The chart as helm renders it, with the helm that `make helm` builds (`make unit` builds it
// first). Without it these fail, naming the command to run: a skipped test would pass for nothing.

const NS = 'servingstack-system';
const FULLNAME = 'sst-servingstack-operator';

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name: string; containerPort: number }[];
  securityContext?: Record<string, unknown>;
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  readinessProbe?: { httpGet: { path: string; port: string | number } };
  image: string;
  imagePullPolicy: string;
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  topologySpreadConstraints?: { labelSelector?: unknown }[];
}

const spec = (m: Manifest): Record<string, unknown> => m.spec as Record<string, unknown>;
const podSpec = (m: Manifest): PodSpec => (spec(m).template as { spec: PodSpec }).spec;
const operatorContainer = (m: Manifest): Container => {
  const c = podSpec(m).containers.find((x) => x.name === 'operator');
  if (c === undefined) throw new Error('the Deployment has no container named operator');
  return c;
};
const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name);
/** What the operator's own loadConfig makes of the container, with the downward API filled in. */
function operatorConfigOf(m: Manifest): Config {
  const c = operatorContainer(m);
  const fields: Record<string, string> = { 'metadata.name': 'operator-pod-0', 'metadata.namespace': NS };
  const env = Object.fromEntries(
    (c.env ?? []).map((e) => [e.name, e.value ?? fields[e.valueFrom?.fieldRef?.fieldPath ?? ''] ?? '']),
  );
  return loadConfig(c.args ?? [], env);
}
const rulesOf = (m: Manifest): PolicyRule[] => m.rules as PolicyRule[];
const permissionGrants = (scope: 'cluster' | 'lease'): string[] =>
  PERMISSIONS.filter((p) => p.scope === scope)
    .flatMap((p) => p.verbs.map((v) => `${p.apiGroup || 'core'}/${p.resource} ${v}`))
    .sort();

describe('chart rendered with defaults', () => {
  let objects: Manifest[];
  const deployment = () => findManifest(objects, 'Deployment', FULLNAME);

  it('renders', async () => {
    objects = await renderChart();
    expect(objects.length).toBeGreaterThan(5);
  });

  it('runs 2 replicas with leader election on, in the release namespace', () => {
    expect(spec(deployment()).replicas).toBe(2);
    const c = operatorContainer(deployment());
    expect(envOf(c, 'LEADER_ELECT')?.value).toBe('true');
    expect(envOf(c, 'LEASE_NAMESPACE')?.value).toBe(NS);
    expect(envOf(c, 'LEASE_NAME')?.value).toBe('servingstack-operator');
  });

  it('passes the pod identity through the downward API', () => {
    const c = operatorContainer(deployment());
    expect(envOf(c, 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(envOf(c, 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
  });

  it('has the restricted security context (non-root, read-only root, no capabilities, RuntimeDefault seccomp)', () => {
    const pod = podSpec(deployment());
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(operatorContainer(deployment()).securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('probes /healthz and /readyz on 8081 and exposes metrics on 8080', () => {
    const c = operatorContainer(deployment());
    const ports = Object.fromEntries((c.ports ?? []).map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ metrics: 8080, health: 8081 });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(envOf(c, 'METRICS_BIND_ADDRESS')?.value).toBe(':8080');
    expect(envOf(c, 'HEALTH_PROBE_BIND_ADDRESS')?.value).toBe(':8081');
  });

  it("configures the operator through its own config parser's contract", () => {
    const config = operatorConfigOf(deployment());
    expect(config).toMatchObject({
      watchNamespaces: [],
      logLevel: 'info',
      leaderElect: true,
      leaseNamespace: NS,
      leaseName: 'servingstack-operator',
      metricsBindAddress: { host: '', port: 8080 },
      healthProbeBindAddress: { host: '', port: 8081 },
      identity: 'operator-pod-0',
    });
  });

  it('uses the appVersion tag when image.tag is empty', () => {
    const c = operatorContainer(deployment());
    expect(c.image).toBe('localhost/servingstack/operator:0.1.0');
    expect(c.imagePullPolicy).toBe('IfNotPresent');
  });

  it('binds a ClusterRole that grants exactly what the operator calls', () => {
    const role = findManifest(objects, 'ClusterRole', FULLNAME);
    expect(grantsOf(rulesOf(role))).toEqual(permissionGrants('cluster'));
    const binding = findManifest(objects, 'ClusterRoleBinding', FULLNAME);
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NS }]);
    expect(podSpec(deployment()).serviceAccountName).toBe(FULLNAME);
  });

  it('grants the Lease verbs only in the release namespace', () => {
    const role = findManifest(objects, 'Role', `${FULLNAME}-leader-election`);
    expect(role.metadata.namespace).toBe(NS);
    expect(grantsOf(rulesOf(role))).toEqual(permissionGrants('lease'));
    expect(objects.filter((m) => m.kind === 'Role')).toHaveLength(1);
  });

  it('keeps one replica through voluntary disruptions', () => {
    expect(spec(findManifest(objects, 'PodDisruptionBudget', FULLNAME)).minAvailable).toBe(1);
  });

  it('serves metrics through a Service on the metrics port', () => {
    const svc = findManifest(objects, 'Service', `${FULLNAME}-metrics`);
    expect(spec(svc).ports).toEqual([
      { name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' },
    ]);
  });

  it('ships the CRD from crds/ and leaves the optional objects out', () => {
    const crd = findManifest(objects, 'CustomResourceDefinition');
    const top = parse(
      readFileSync(join(repoRoot, 'crds', 'servingstack.dev_servingstacks.yaml'), 'utf8'),
    ) as Manifest;
    expect(crd).toEqual(top);
    const kinds = objects.map((m) => m.kind);
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'ConfigMap']) expect(kinds).not.toContain(kind);
  });
});

describe('chart rendered with watchNamespaces', () => {
  it('grants the operator rules by Role in each watched namespace and no ClusterRole', async () => {
    const objects = await renderChart({ set: ['operator.watchNamespaces={ml,batch}'] });
    expect(objects.filter((m) => m.kind === 'ClusterRole' || m.kind === 'ClusterRoleBinding')).toEqual([]);
    for (const ns of ['ml', 'batch']) {
      const role = objects.find((m) => m.kind === 'Role' && m.metadata.namespace === ns);
      expect(role && grantsOf(rulesOf(role))).toEqual(permissionGrants('cluster'));
      const binding = objects.find((m) => m.kind === 'RoleBinding' && m.metadata.namespace === ns);
      expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NS }]);
    }
    expect(operatorConfigOf(findManifest(objects, 'Deployment')).watchNamespaces).toEqual(['ml', 'batch']);
  });
});

describe('chart rendered with options', () => {
  it('crds.managed renders the CRD as a kept template, spec identical to crds/', async () => {
    const objects = await renderChart({ set: ['crds.managed=true'], includeCrds: false });
    const crds = objects.filter((m) => m.kind === 'CustomResourceDefinition');
    expect(crds).toHaveLength(1);
    const top = parse(
      readFileSync(join(repoRoot, 'crds', 'servingstack.dev_servingstacks.yaml'), 'utf8'),
    ) as Manifest;
    expect(crds[0]?.spec).toEqual(top.spec);
    expect((crds[0]?.metadata.annotations as Record<string, string>)['helm.sh/resource-policy']).toBe('keep');
  });

  it('monitoring options render a ServiceMonitor, a PodMonitor, the dashboard and the adapter rules', async () => {
    const objects = await renderChart({
      set: [
        'metrics.serviceMonitor.enabled=true',
        'metrics.servingPodMonitor.enabled=true',
        'grafanaDashboard.enabled=true',
        'adapterRules.enabled=true',
        'adapterRules.namespace=monitoring',
      ],
    });
    expect(findManifest(objects, 'ServiceMonitor').apiVersion).toBe('monitoring.coreos.com/v1');
    const podMonitor = findManifest(objects, 'PodMonitor');
    expect(podMonitor.apiVersion).toBe('monitoring.coreos.com/v1');
    // The dashboard's Stack variable reads the servingstack label this relabeling writes.
    expect(
      (podMonitor.spec as { podMetricsEndpoints: { relabelings: unknown[] }[] }).podMetricsEndpoints[0]
        ?.relabelings,
    ).toContainEqual({
      sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_instance'],
      targetLabel: 'servingstack',
    });
    // The servers' own metrics port, which no Service routes to (the operator's pod spec names it).
    expect((podMonitor.spec as { podMetricsEndpoints: unknown[] }).podMetricsEndpoints).toEqual([
      expect.objectContaining({ port: 'metrics', path: '/metrics' }),
    ]);
    // The pool's Service as the `service` label: the latency pool's p95 is an Object metric on it.
    expect(
      (podMonitor.spec as { podMetricsEndpoints: { relabelings: unknown[] }[] }).podMetricsEndpoints[0]
        ?.relabelings,
    ).toContainEqual({
      sourceLabels: ['__meta_kubernetes_pod_label_servingstack_dev_service'],
      targetLabel: 'service',
    });
    const dashboard = findManifest(objects, 'ConfigMap', `${FULLNAME}-dashboard`);
    expect(dashboard.metadata.labels?.grafana_dashboard).toBe('1');
    const json = (dashboard.data as Record<string, string>)['servingstack.json'] ?? '';
    expect(JSON.parse(json)).toEqual(
      JSON.parse(readFileSync(join(chartDir, 'files', 'grafana-dashboard.json'), 'utf8')),
    );
    const rules = findManifest(objects, 'ConfigMap', `${FULLNAME}-adapter-rules`);
    expect(rules.metadata.namespace).toBe('monitoring');
    const config = (rules.data as Record<string, string>)['config.yaml'] ?? '';
    expect(parse(config)).toEqual(parse(readFileSync(join(chartDir, 'files', 'adapter-rules.yaml'), 'utf8')));
  });

  it('passes operator settings and extra flags through to the operator', async () => {
    const objects = await renderChart({
      set: [
        'operator.logLevel=debug',
        'operator.defaultImage=registry.example/servingstack/server:1.0',
        'operator.defaultGpuImage=registry.example/servingstack/server:1.0-cuda13',
        'operator.leaderElect=false',
        'replicaCount=1',
        'metrics.port=9090',
        'operator.extraArgs={--workers=2}',
      ],
    });
    expect(operatorConfigOf(findManifest(objects, 'Deployment'))).toMatchObject({
      logLevel: 'debug',
      defaultImage: 'registry.example/servingstack/server:1.0',
      defaultGpuImage: 'registry.example/servingstack/server:1.0-cuda13',
      leaderElect: false,
      metricsBindAddress: { host: '', port: 9090 },
      workers: 2,
    });
    expect(objects.filter((m) => m.metadata.name.endsWith('-leader-election'))).toEqual([]);
  });

  it('fills in the labelSelector of a topology spread constraint', async () => {
    const objects = await renderChart({
      set: [
        'topologySpreadConstraints[0].maxSkew=1',
        'topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname',
        'topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway',
      ],
    });
    expect(
      podSpec(findManifest(objects, 'Deployment')).topologySpreadConstraints?.[0]?.labelSelector,
    ).toEqual({
      matchLabels: { 'app.kubernetes.io/name': 'servingstack-operator', 'app.kubernetes.io/instance': 'sst' },
    });
  });
});

describe('chart values schema, through helm', () => {
  it.each([
    ['replicaCount=-1', 'replicaCount'],
    ['image.pullPolicy=Sometimes', 'pullPolicy'],
    ['operator.logLevel=verbose', 'logLevel'],
    ['replicaCunt=2', 'replicaCunt'],
  ])('helm template --set %s fails naming %s', async (pair, field) => {
    const result = await runHelm(['template', 'sst', chartDir, '--set', pair]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('values don');
    expect(result.stderr).toContain(field);
  });
});
