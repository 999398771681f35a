// The chart's RBAC is sufficient and minimal, shown with the chart's own ServiceAccount:
// - sufficient: the operator process (`node operator/src/main.ts`), run with a token of that
//   ServiceAccount and nothing else, elects itself leader and reconciles a ServingStack end to end
//   (children, status, events) without a single authorization error;
// - minimal: the API server's own view of that identity (SelfSubjectRulesReview) holds exactly the
//   operator's permission list, and access reviews deny what it never needs (Secrets, Pods,
//   pods/exec, nodes, writing ServingStack specs, RBAC, Leases outside the release namespace).
// Both RBAC shapes are covered: a ClusterRole (watching all namespaces) and Roles per watched namespace.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AuthorizationV1Api, type V1ResourceRule } from '@kubernetes/client-node';
import { PERMISSIONS, type Permission } from '../../operator/src/rbac/permissions.ts';
import { CHART_PODS_NEVER_RUN, chartDir, helm, runHelm } from './support/helm.ts';
import { kubectl, repoRoot, waitFor, withTestNamespace } from './support/index.ts';
import { startLocalOperator, type LocalOperator } from './support/local-operator.ts';
import { serviceAccountKubeConfig, type ServiceAccountCredentials } from './support/token-kubeconfig.ts';

// Releases, token reviews and reconciles take seconds each on the shared 2-core machine.
jest.setTimeout(300_000);

const STACK = 'rbac';

const stackManifest = (namespace: string) => ({
  apiVersion: 'servingstack.dev/v1alpha1',
  kind: 'ServingStack',
  metadata: { name: STACK, namespace },
  spec: {
    model: { name: 'mlp', uri: 'file:///opt/servingstack/models/mlp' },
    routing: { host: `${STACK}.e2e.servingstack.local` },
    // Pods are not the point here (objects are): keep them unschedulable so nothing churns.
    throughput: {
      resources: { gpus: 0 },
      nodeSelector: { 'servingstack.dev/e2e-unschedulable': 'true' },
      autoscaling: { minReplicas: 1, maxReplicas: 2, targetRPSPerReplica: 10, targetP95Ms: 500 },
    },
    latency: {
      resources: { gpus: 0 },
      nodeSelector: { 'servingstack.dev/e2e-unschedulable': 'true' },
      autoscaling: { minReplicas: 1, maxReplicas: 2, targetRPSPerReplica: 10, targetP95Ms: 50 },
    },
  },
});

const grant = (g: string, resource: string, verb: string) => `${g || 'core'}/${resource} ${verb}`;
const grantsOfPermissions = (perms: readonly Permission[]) =>
  perms.flatMap((p) => p.verbs.map((v) => grant(p.apiGroup, p.resource, v))).sort();

// Every authenticated identity may ask the API server about itself; these are not the chart's.
const SELF_REVIEWS = new Set([
  'authorization.k8s.io/selfsubjectaccessreviews create',
  'authorization.k8s.io/selfsubjectrulesreviews create',
  'authentication.k8s.io/selfsubjectreviews create',
]);

function grantsOfRules(rules: readonly V1ResourceRule[]): string[] {
  const out = rules.flatMap((r) =>
    (r.apiGroups ?? []).flatMap((g) =>
      (r.resources ?? []).flatMap((res) => r.verbs.map((v) => grant(g, res, v))),
    ),
  );
  return [...new Set(out)].filter((g) => !SELF_REVIEWS.has(g)).sort();
}

interface Access {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  namespace?: string;
}

function rbacSuite(shape: 'ClusterRole' | 'Role per watched namespace') {
  const home = withTestNamespace('e2e-rbac-home'); // the release (and Lease) namespace
  const apps = withTestNamespace('e2e-rbac-apps'); // where the ServingStack lives
  const rel = `e2e-${randomBytes(3).toString('hex')}`;
  const fullname = `${rel}-servingstack-operator`;
  let creds: ServiceAccountCredentials;
  let operator: LocalOperator | undefined;
  let installed = false;

  const allowed = async (a: Access): Promise<boolean> => {
    const review = await creds.kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { ...a } } },
    });
    return review.status?.allowed === true;
  };

  beforeAll(async () => {
    await kubectl(['apply', '--server-side', '-f', `${repoRoot}/crds`]);
    const watch = shape === 'ClusterRole' ? [] : ['--set', `operator.watchNamespaces={${apps.name}}`];
    // The chart's own pods never run: the local process is the operator.
    await helm(['install', rel, chartDir, '-n', home.name, ...CHART_PODS_NEVER_RUN, ...watch]);
    installed = true;
    creds = await serviceAccountKubeConfig(home.name, fullname);
  });

  afterAll(async () => {
    await operator?.stop();
    creds?.dispose();
    if (installed) await runHelm(['uninstall', rel, '-n', home.name]);
  });

  it('the ServiceAccount holds exactly the operator permissions where stacks live', async () => {
    const review = await creds.kc.makeApiClient(AuthorizationV1Api).createSelfSubjectRulesReview({
      body: { spec: { namespace: apps.name } },
    });
    expect(grantsOfRules(review.status?.resourceRules ?? [])).toEqual(
      grantsOfPermissions(PERMISSIONS.filter((p) => p.scope === 'cluster')),
    );
  });

  it('and in the release namespace, the Lease verbs on top', async () => {
    const review = await creds.kc.makeApiClient(AuthorizationV1Api).createSelfSubjectRulesReview({
      body: { spec: { namespace: home.name } },
    });
    const expected = shape === 'ClusterRole' ? PERMISSIONS : PERMISSIONS.filter((p) => p.scope === 'lease');
    expect(grantsOfRules(review.status?.resourceRules ?? [])).toEqual(grantsOfPermissions(expected));
  });

  it.each<[string, (apps: string, home: string) => Access]>([
    ['read Secrets where stacks live', (ns) => ({ verb: 'get', resource: 'secrets', namespace: ns })],
    ['list Secrets in its own namespace', (_a, ns) => ({ verb: 'list', resource: 'secrets', namespace: ns })],
    ['create Pods', (ns) => ({ verb: 'create', resource: 'pods', namespace: ns })],
    ['exec into Pods', (ns) => ({ verb: 'create', resource: 'pods', subresource: 'exec', namespace: ns })],
    ['delete nodes', () => ({ verb: 'delete', resource: 'nodes' })],
    [
      'change a ServingStack spec',
      (ns) => ({ verb: 'patch', group: 'servingstack.dev', resource: 'servingstacks', namespace: ns }),
    ],
    [
      'delete a ServingStack',
      (ns) => ({ verb: 'delete', group: 'servingstack.dev', resource: 'servingstacks', namespace: ns }),
    ],
    [
      'take a Lease outside its namespace',
      (ns) => ({ verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: ns }),
    ],
    [
      'create ClusterRoleBindings',
      () => ({ verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' }),
    ],
    [
      'mint ServiceAccount tokens',
      (_a, ns) => ({ verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: ns }),
    ],
    ['read ConfigMaps', (ns) => ({ verb: 'get', resource: 'configmaps', namespace: ns })],
  ])('is denied: %s', async (_what, access) => {
    expect(await allowed(access(apps.name, home.name))).toBe(false);
  });

  it('running with only that token, the operator leads and reconciles a stack end to end', async () => {
    operator = await startLocalOperator({
      kubeconfig: creds.path,
      watchNamespaces: [apps.name],
      leaseNamespace: home.name,
      identity: `${rel}-local`,
    });
    await kubectl(['apply', '--server-side', '--field-manager=e2e-rbac', '-f', '-'], {
      input: JSON.stringify(stackManifest(apps.name)),
    });
    const lease = await waitFor(
      `the operator to hold Lease ${home.name}/servingstack-operator`,
      async () =>
        JSON.parse(
          await kubectl(['get', 'lease', 'servingstack-operator', '-n', home.name, '-o', 'json']),
        ) as { spec: { holderIdentity?: string } },
      { until: (l) => l.spec.holderIdentity === `${rel}-local`, timeoutMs: 60_000 },
    );
    expect(lease.spec.holderIdentity).toBe(`${rel}-local`);

    const children = [
      `deployment.apps/${STACK}-throughput`,
      `deployment.apps/${STACK}-latency`,
      `service/${STACK}-throughput`,
      `service/${STACK}-latency`,
      `horizontalpodautoscaler.autoscaling/${STACK}-throughput`,
      `horizontalpodautoscaler.autoscaling/${STACK}-latency`,
    ];
    await waitFor(
      `the children of ${apps.name}/${STACK}`,
      async () => {
        const out = await kubectl([
          'get',
          'deploy,svc,hpa,ingress',
          '-n',
          apps.name,
          '-l',
          `app.kubernetes.io/instance=${STACK}`,
          '-o',
          'name',
        ]);
        return out.trim().split('\n');
      },
      {
        until: (names) =>
          children.every((c) => names.includes(c)) && names.some((n) => n.startsWith('ingress')),
        timeoutMs: 90_000,
      },
    );
    const stack = await waitFor(
      'the stack status to observe its generation',
      async () =>
        JSON.parse(await kubectl(['get', 'servingstack', STACK, '-n', apps.name, '-o', 'json'])) as {
          metadata: { generation: number };
          status?: { observedGeneration?: number; conditions?: { type: string }[] };
        },
      { until: (s) => s.status?.observedGeneration === s.metadata.generation, timeoutMs: 90_000 },
    );
    expect(stack.status?.conditions?.map((c) => c.type)).toContain('Ready');
    // Events need their own grant (events.k8s.io create): at least one was recorded on the stack.
    const events = JSON.parse(await kubectl(['get', 'events', '-n', apps.name, '-o', 'json'])) as {
      items: { involvedObject: { kind?: string; name?: string } }[];
    };
    expect(
      events.items.filter((e) => e.involvedObject.kind === 'ServingStack' && e.involvedObject.name === STACK),
    ).not.toEqual([]);
    // Not one request of the operator was refused.
    expect(operator.output()).not.toMatch(/forbidden|Forbidden|403/);
  });
}

describe('chart RBAC as a ClusterRole (all namespaces)', () => rbacSuite('ClusterRole'));
describe('chart RBAC as Roles per watched namespace', () => rbacSuite('Role per watched namespace'));
