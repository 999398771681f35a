// The operator keeps its promises under change and leader loss, against the real local control
// plane: a field removed from the spec leaves the children; a pass with nothing to do writes
// nothing (counted from the API server's audit log, Events included); switching the routing
// provider keeps the old routes until the new one is accepted, and a status field the operator
// stops setting goes away; the OwnerReferencesPermissionEnforcement admission plugin holds the
// operator to its RBAC; and a leader paused past its lease (SIGSTOP) writes nothing once resumed.
// Pods stay Pending here (64 FAKE GPUs each, more than the node has): objects are the point.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  CustomObjectsApi,
  EventsV1Api,
  KubernetesObjectApi,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
  type V1Deployment,
} from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { userAgent } from '../../operator/src/controller/api-clients.ts';
import { PERMISSIONS } from '../../operator/src/rbac/permissions.ts';
import { metricSum, OperatorProcess } from '../../operator/test/support/operator-process.ts';
import { ROUTER_GATEWAY, ensureRouter } from '../agent/testing/cluster-parts.ts';
import { auditWrites, describeWrite, receivedAt } from './support/audit.ts';
import { serviceAccountKubeConfig } from './support/token-kubeconfig.ts';
import { pinnedVersion } from './support/versions.ts';
import { kubectl, loadKubeConfig, repoRoot, waitFor, withTestNamespace } from './support/index.ts';

jest.setTimeout(300_000);

const G = 'servingstack.dev';
const V = 'v1alpha1';
const P = 'servingstacks';
const GW = 'gateway.networking.k8s.io';
const exec = promisify(execFile);
const kc = loadKubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const apps = kc.makeApiClient(AppsV1Api);
const net = kc.makeApiClient(NetworkingV1Api);
const hpas = kc.makeApiClient(AutoscalingV2Api);
const events = kc.makeApiClient(EventsV1Api);

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Stack extends KubernetesObject {
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Cond[];
    routing?: { provider?: string; unexpressedRules?: string[] };
    throughput?: { replicas?: number };
    latency?: { replicas?: number };
  };
}

const cond = (s: Stack, type: string) => s.status?.conditions?.find((c) => c.type === type);
const MODEL = { name: 'mlp', uri: 'file:///opt/servingstack/models/mlp' };
/** More FAKE GPUs than the node agent advertises: pods stay Pending wherever the suite runs. */
const PENDING = { resources: { gpus: 64 } };

async function createStack(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({
    group: G,
    version: V,
    namespace,
    plural: P,
    body: { apiVersion: `${G}/${V}`, kind: 'ServingStack', metadata: { name, namespace }, spec },
  });
}

const getStack = async (namespace: string, name: string) =>
  (await custom.getNamespacedCustomObject({ group: G, version: V, namespace, plural: P, name })) as Stack;

async function patchStack(namespace: string, name: string, spec: Record<string, unknown>): Promise<Stack> {
  return (await custom.patchNamespacedCustomObject(
    { group: G, version: V, namespace, plural: P, name, body: { spec } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  )) as Stack;
}

/** Waits until the operator has acted on the stack's current generation. */
async function observed(
  namespace: string,
  name: string,
  also: (s: Stack) => boolean = () => true,
): Promise<Stack> {
  return waitFor(`${name} observed at its current generation`, () => getStack(namespace, name), {
    until: (s) => s.status?.observedGeneration === s.metadata?.generation && also(s),
    timeoutMs: 90_000,
  });
}

const container = (d: V1Deployment) => d.spec?.template.spec?.containers[0];
const envNames = (d: V1Deployment) => (container(d)?.env ?? []).map((e) => e.name);

function startOperator(namespace: string, identity: string, args: string[] = []): OperatorProcess {
  return OperatorProcess.start({ identity, namespaces: [namespace], leaseName: `op-${identity}`, args });
}

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${P}.${G}`]);
  // Traefik: the Gateway API CRDs, and a Gateway whose controller judges routes.
  await ensureRouter();
}, 240_000);

describe('children follow the spec, whatever it was before', () => {
  const ns = withTestNamespace('e2e-changes');
  let op: OperatorProcess;

  beforeAll(async () => {
    op = startOperator(ns.name, 'changes', ['--leader-elect=false', '--resync-period', '4']);
    await op.waitForLog('controller started', 60_000);
  }, 90_000);
  afterAll(async () => {
    await op.stop('SIGTERM');
  });

  test('removing every optional field takes it off the children', async () => {
    await createStack(ns.name, 'opt', {
      model: {
        name: 'mlp',
        uri: 'https://models.example.com/mlp',
        digests: { 'model.fp16.onnx': 'a'.repeat(64), 'model.int8.onnx': 'b'.repeat(64) },
        credentialsSecretName: 'model-creds',
      },
      // The stack's image, which the pool's override below hides until it is removed.
      image: 'localhost/servingstack/server:dev',
      routing: {
        host: 'opt.e2e.test',
        provider: 'gateway-api',
        gateway: { name: 'gw', namespace: 'infra', sectionName: 'web' },
      },
      throughput: {
        image: 'localhost/servingstack/server:other',
        resources: { gpus: 64, cpu: '2', memory: '4Gi' },
        threads: { intraOp: 2, interOp: 1 },
        nodeSelector: { 'servingstack.dev/e2e': 'opt' },
        tolerations: [{ key: 'spot', operator: 'Exists', effect: 'NoSchedule' }],
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 1,
                preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
              },
            ],
          },
        },
        terminationGracePeriodSeconds: 20,
        autoscaling: { targetGPUUtilizationPercent: 70 },
      },
      latency: PENDING,
    });
    await observed(ns.name, 'opt');
    const read = () => apps.readNamespacedDeployment({ name: 'opt-throughput', namespace: ns.name });
    const route = () =>
      custom.getNamespacedCustomObject({
        group: GW,
        version: 'v1',
        namespace: ns.name,
        plural: 'httproutes',
        name: 'opt',
      }) as Promise<{
        spec: { parentRefs: Record<string, unknown>[] };
      }>;
    const hpaMetrics = async () =>
      (
        (await hpas.readNamespacedHorizontalPodAutoscaler({ name: 'opt-throughput', namespace: ns.name }))
          .spec?.metrics ?? []
      ).map((m) => m.pods?.metric.name);

    const before = await read();
    const spec = before.spec?.template.spec;
    // Every one of them is there first, or the test would prove nothing.
    expect({
      init: spec?.initContainers?.[0]?.envFrom,
      image: container(before)?.image,
      requests: container(before)?.resources?.requests,
      memoryLimit: container(before)?.resources?.limits?.memory,
      threads: envNames(before).filter((n) => n.endsWith('_OP_THREADS')),
      nodeSelector: spec?.nodeSelector,
      tolerations: spec?.tolerations?.map((t) => t.key),
      affinity: spec?.affinity !== undefined,
      preStop: container(before)?.lifecycle?.preStop !== undefined,
      parentRef: (await route()).spec.parentRefs[0],
      metrics: await hpaMetrics(),
    }).toMatchObject({
      init: [{ secretRef: { name: 'model-creds' } }],
      image: 'localhost/servingstack/server:other',
      requests: { cpu: '2', memory: '4Gi' },
      memoryLimit: '4Gi',
      threads: ['INTRA_OP_THREADS', 'INTER_OP_THREADS'],
      nodeSelector: { 'servingstack.dev/e2e': 'opt' },
      tolerations: ['nvidia.com/gpu', 'spot'],
      affinity: true,
      preStop: true,
      parentRef: { name: 'gw', namespace: 'infra', sectionName: 'web' },
      metrics: [
        'servingstack_requests_per_second',
        'servingstack_request_duration_p95_seconds',
        'DCGM_FI_DEV_GPU_UTIL',
      ],
    });

    await patchStack(ns.name, 'opt', {
      model: { uri: MODEL.uri, digests: null, credentialsSecretName: null },
      routing: { gateway: { namespace: null, sectionName: null } },
      throughput: {
        image: null,
        resources: { cpu: null, memory: null },
        threads: null,
        nodeSelector: null,
        tolerations: null,
        affinity: null,
        terminationGracePeriodSeconds: 0,
        autoscaling: { targetGPUUtilizationPercent: null },
      },
    });
    await observed(ns.name, 'opt');
    const after = await read();
    const afterSpec = after.spec?.template.spec;
    expect({
      init: afterSpec?.initContainers,
      image: container(after)?.image,
      requests: container(after)?.resources?.requests,
      limits: container(after)?.resources?.limits,
      threads: envNames(after).filter((n) => n.endsWith('_OP_THREADS')),
      nodeSelector: afterSpec?.nodeSelector,
      tolerations: afterSpec?.tolerations?.map((t) => t.key),
      affinity: afterSpec?.affinity,
      preStop: container(after)?.lifecycle,
      parentRef: (await route()).spec.parentRefs[0],
      metrics: await hpaMetrics(),
    }).toEqual({
      init: undefined,
      image: 'localhost/servingstack/server:dev',
      requests: undefined,
      limits: { 'nvidia.com/gpu': '64' },
      threads: [],
      nodeSelector: undefined,
      tolerations: ['nvidia.com/gpu'],
      affinity: undefined,
      preStop: undefined,
      parentRef: { group: GW, kind: 'Gateway', name: 'gw' },
      metrics: ['servingstack_requests_per_second', 'servingstack_request_duration_p95_seconds'],
    });
  });
});

describe('drift by others', () => {
  const ns = withTestNamespace('e2e-drift');
  let op: OperatorProcess;

  beforeAll(async () => {
    op = startOperator(ns.name, 'drift', ['--leader-elect=false', '--resync-period', '4']);
    await op.waitForLog('controller started', 60_000);
  }, 90_000);
  afterAll(async () => {
    await op.stop('SIGTERM');
  });

  test('an item added to an atomic list the operator owns is taken out; one added to a merged list is left alone, and neither costs a write after that', async () => {
    await createStack(ns.name, 'drift', {
      model: MODEL,
      routing: { host: 'drift.e2e.test', provider: 'gateway-api', gateway: ROUTER_GATEWAY },
      throughput: PENDING,
      latency: PENDING,
    });
    await observed(ns.name, 'drift');
    const parents = async () =>
      (
        (await custom.getNamespacedCustomObject({
          group: GW,
          version: 'v1',
          namespace: ns.name,
          plural: 'httproutes',
          name: 'drift',
        })) as { spec: { parentRefs: { name: string }[] } }
      ).spec.parentRefs.map((r) => r.name);
    expect(await parents()).toEqual([ROUTER_GATEWAY.name]);

    // parentRefs is atomic in the Gateway API CRDs: a second Gateway attached by hand is drift on a
    // field the operator owns whole. An env var set by hand is an item of a merged list: not ours.
    await kubectl([
      'patch',
      'httproute',
      'drift',
      '-n',
      ns.name,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'add', path: '/spec/parentRefs/-', value: { name: 'elsewhere' } }]),
    ]);
    await kubectl(['set', 'env', '-n', ns.name, 'deployment/drift-latency', 'TEAM_TRACE=1']);
    await waitFor('the second parentRef taken out', parents, {
      until: (p) => p.length === 1,
      timeoutMs: 60_000,
    });
    expect(await parents()).toEqual([ROUTER_GATEWAY.name]);

    await sleep(3_000);
    const since = new Date();
    await sleep(12_000);
    const writes = auditWrites({ userAgent: userAgent('drift'), namespace: ns.name, since })
      .filter((e) => e.objectRef?.subresource !== 'status')
      .map(describeWrite);
    expect(writes).toEqual([]);
    const latency = await apps.readNamespacedDeployment({ name: 'drift-latency', namespace: ns.name });
    expect(envNames(latency)).toContain('TEAM_TRACE');
  });
});

describe('a pass with nothing to do', () => {
  const ns = withTestNamespace('e2e-idle');
  let op: OperatorProcess;

  beforeAll(async () => {
    op = startOperator(ns.name, 'idle', ['--leader-elect=false', '--resync-period', '4']);
    await op.waitForLog('controller started', 60_000);
  }, 90_000);
  afterAll(async () => {
    await op.stop('SIGTERM');
  });

  test('writes nothing: no apply, status or Event in the audit log', async () => {
    // Quantities the API server rewrites (0.5 → 500m, 1024Mi → 1Gi), a standing warning (the rule
    // ingress-nginx cannot express), an HPA: each once made every pass write.
    await createStack(ns.name, 'idle', {
      model: MODEL,
      routing: { host: 'idle.e2e.test' },
      throughput: {
        resources: { gpus: 64, cpu: '0.5', memory: '1024Mi' },
        autoscaling: { targetRPSPerReplica: 1000 },
      },
      latency: { resources: { gpus: 64, cpu: 1, memory: '1.5Gi' } },
    });
    // Settled: the Deployment controller has caught up (the pods exist, Pending), and the stack's
    // status says so. Until then a status write is news, not waste.
    await waitFor(
      'the Deployments of the stack settled',
      async () => (await apps.listNamespacedDeployment({ namespace: ns.name })).items,
      {
        until: (ds) =>
          ds.length === 2 &&
          ds.every(
            (d) =>
              d.status?.observedGeneration === d.metadata?.generation &&
              d.status?.replicas === d.spec?.replicas,
          ),
        timeoutMs: 120_000,
      },
    );
    await observed(
      ns.name,
      'idle',
      (s) => s.status?.throughput?.replicas === 1 && s.status?.latency?.replicas === 1,
    );
    // The filter below sees the operator's writes (its User-Agent), or "none" would prove nothing.
    expect(auditWrites({ userAgent: userAgent('idle'), namespace: ns.name }).length).toBeGreaterThan(0);
    await sleep(3_000);
    const since = new Date();
    const passesBefore = metricSum(await op.metrics(), 'servingstack_operator_reconcile_total');
    await sleep(12_000);
    const passes = metricSum(await op.metrics(), 'servingstack_operator_reconcile_total') - passesBefore;
    const writes = auditWrites({ userAgent: userAgent('idle'), namespace: ns.name, since }).map(
      describeWrite,
    );
    // Three resync periods: the stack was looked at again each time, and nothing was written.
    expect({ passesAtLeast: passes >= 3, writes }).toEqual({ passesAtLeast: true, writes: [] });
    // The standing warning was posted once, not on every pass.
    const warnings = (await events.listNamespacedEvent({ namespace: ns.name })).items.filter(
      (e) => e.reason === 'RoutingRulesNotExpressible' && e.regarding?.name === 'idle',
    );
    expect(warnings).toHaveLength(1);
  });
});

describe('switching the routing provider is make-before-break', () => {
  const ns = withTestNamespace('e2e-switch');
  let op: OperatorProcess;
  const traefik = join(repoRoot, 'e2e/cluster/traefik/traefik.sh');
  const cache = process.env.SERVINGSTACK_CACHE ?? join(homedir(), '.cache/servingstack');
  const routeCrd = join(
    cache,
    'bin',
    `traefik-${pinnedVersion('TRAEFIK_VERSION')}`,
    'gateway-api-crds',
    `${GW}_httproutes.yaml`,
  );
  const ingresses = async () =>
    (await net.listNamespacedIngress({ namespace: ns.name })).items.map((i) => i.metadata?.name).sort();

  beforeAll(async () => {
    op = startOperator(ns.name, 'switch', ['--leader-elect=false', '--resync-period', '5']);
    await op.waitForLog('controller started', 60_000);
  }, 90_000);
  afterAll(async () => {
    await op.stop('SIGTERM');
    // Whatever happened above: the HTTPRoute CRD back, and a Traefik that watches it.
    await kubectl([
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=servingstack-local-traefik',
      '-f',
      routeCrd,
    ]);
    await exec('bash', [traefik, 'stop'], { timeout: 60_000 });
    await ensureRouter();
  }, 240_000);

  test('without the Gateway API the Ingresses stay and the status says why; with it they go once Traefik accepts the HTTPRoute', async () => {
    await createStack(ns.name, 'sw', {
      model: MODEL,
      routing: { host: 'sw.e2e.test' },
      throughput: PENDING,
      latency: PENDING,
    });
    const first = await observed(ns.name, 'sw', (s) => cond(s, 'RoutingReady')?.status === 'True');
    expect(first.status?.routing?.unexpressedRules?.length).toBe(1);
    expect(await ingresses()).toEqual(['sw', 'sw-canary']);

    await kubectl(['delete', 'crd', `httproutes.${GW}`, '--wait=true', '--timeout=60s']);
    await patchStack(ns.name, 'sw', { routing: { provider: 'gateway-api', gateway: ROUTER_GATEWAY } });
    const blocked = await observed(
      ns.name,
      'sw',
      (s) => cond(s, 'RoutingReady')?.reason === 'ProviderNotInstalled',
    );
    const why = cond(blocked, 'RoutingReady')?.message ?? '';
    expect(why).toContain('does not serve gateway.networking.k8s.io/v1 HTTPRoute');
    expect(why).toMatch(
      /Ingress sw\b.*keep routing the host|Ingress sw-canary.*Ingress sw\b.*keep routing the host/,
    );
    expect(cond(blocked, 'Ready')).toMatchObject({ status: 'False', reason: 'ProviderNotInstalled' });
    // Passes go by (resync every 5 s); the host keeps its routes.
    await sleep(11_000);
    expect(await ingresses()).toEqual(['sw', 'sw-canary']);

    // The Gateway API back (Traefik restarted, so it watches HTTPRoutes again).
    const restored = new Date();
    await exec('bash', [traefik, 'stop'], { timeout: 60_000 });
    await ensureRouter();
    const ready = await waitFor('sw routed by the HTTPRoute alone', () => getStack(ns.name, 'sw'), {
      until: (s) =>
        cond(s, 'RoutingReady')?.reason === 'Applied' &&
        s.status?.observedGeneration === s.metadata?.generation,
      timeoutMs: 150_000,
      intervalMs: 1_000,
    });
    expect(await ingresses()).toEqual([]);
    // The status field the operator no longer sets is gone.
    expect(ready.status?.routing).toEqual({ provider: 'gateway-api' });

    // In the audit log: the route made, then accepted by Traefik, then the Ingresses deleted.
    const log = auditWrites({ namespace: ns.name, since: restored });
    const at = (match: (e: (typeof log)[number]) => boolean, what: string) => {
      const e = log.find(match);
      if (!e)
        throw new Error(
          `no ${what} in the audit log since the CRD came back: ${log.map(describeWrite).join(', ')}`,
        );
      return receivedAt(e);
    };
    const made = at(
      (e) => e.objectRef?.resource === 'httproutes' && !e.objectRef.subresource && e.verb === 'patch',
      'HTTPRoute apply',
    );
    const accepted = at(
      (e) =>
        e.objectRef?.resource === 'httproutes' &&
        e.objectRef.subresource === 'status' &&
        e.responseStatus?.code === 200,
      'HTTPRoute status written by Traefik',
    );
    const deletes = log
      .filter((e) => e.objectRef?.resource === 'ingresses' && e.verb === 'delete')
      .map(receivedAt);
    expect(deletes).toHaveLength(2);
    expect(made).toBeLessThan(accepted);
    expect(Math.min(...deletes)).toBeGreaterThan(accepted);
  }, 420_000);
});

describe('OwnerReferencesPermissionEnforcement is on in the local cluster', () => {
  const ns = withTestNamespace('e2e-ownerrefs');

  test('blocking a ServingStack’s deletion needs update on servingstacks/finalizers', async () => {
    await createStack(ns.name, 'owner', { model: MODEL, routing: { host: 'owner.e2e.test' } });
    const owner = await getStack(ns.name, 'owner');
    await kubectl(['create', 'serviceaccount', 'applier', '-n', ns.name]);
    await kubectl([
      'create',
      'role',
      'apply-services',
      '-n',
      ns.name,
      '--verb=get,create,patch',
      '--resource=services',
    ]);
    await kubectl([
      'create',
      'rolebinding',
      'apply-services',
      '-n',
      ns.name,
      '--role=apply-services',
      `--serviceaccount=${ns.name}:applier`,
    ]);
    const creds = await serviceAccountKubeConfig(ns.name, 'applier');
    try {
      const objects = KubernetesObjectApi.makeApiClient(creds.kc);
      const child = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: 'child',
          namespace: ns.name,
          ownerReferences: [
            {
              apiVersion: `${G}/${V}`,
              kind: 'ServingStack',
              name: 'owner',
              uid: owner.metadata?.uid ?? '',
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { ports: [{ port: 80 }] },
      };
      const apply = () =>
        objects.patch(child, undefined, undefined, 'e2e', true, PatchStrategy.ServerSideApply);
      const refused = await apply().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(ApiException);
      expect((refused as ApiException<unknown>).code).toBe(403);
      expect(String((refused as ApiException<unknown>).body)).toContain('blockOwnerDeletion');
      // With the permission the operator's list grants, the same apply goes through.
      await kubectl([
        'create',
        'role',
        'finalizers',
        '-n',
        ns.name,
        '--verb=update',
        `--resource=${P}.${G}/finalizers`,
      ]);
      await kubectl([
        'create',
        'rolebinding',
        'finalizers',
        '-n',
        ns.name,
        '--role=finalizers',
        `--serviceaccount=${ns.name}:applier`,
      ]);
      await waitFor('the apply to be allowed', apply, { timeoutMs: 30_000 });

      // Someone unsets blockOwnerDeletion on the child; the apply that puts it back changes an owner
      // reference, which the plugin allows only to an identity that may delete the object.
      await kubectl([
        'patch',
        'service',
        'child',
        '-n',
        ns.name,
        '--type=json',
        '-p',
        JSON.stringify([
          { op: 'replace', path: '/metadata/ownerReferences/0/blockOwnerDeletion', value: false },
        ]),
      ]);
      const putBack = await apply().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((putBack as ApiException<unknown> | undefined)?.code).toBe(403);
      // The verbs the operator's list grants on services include it.
      const verbs = PERMISSIONS.find((p) => p.apiGroup === '' && p.resource === 'services')?.verbs ?? [];
      expect(verbs).toContain('delete');
      await kubectl([
        'create',
        'role',
        'operator-services',
        '-n',
        ns.name,
        `--verb=${verbs.join(',')}`,
        '--resource=services',
      ]);
      await kubectl([
        'create',
        'rolebinding',
        'operator-services',
        '-n',
        ns.name,
        '--role=operator-services',
        `--serviceaccount=${ns.name}:applier`,
      ]);
      const restored = await waitFor('the owner reference put back', apply, { timeoutMs: 30_000 });
      expect(restored.metadata?.ownerReferences?.[0]?.blockOwnerDeletion).toBe(true);
    } finally {
      creds.dispose();
    }
  });
});

describe('a leader paused past its lease writes nothing when it resumes', () => {
  const ns = withTestNamespace('e2e-fence');
  const LEASE_S = 6;
  const ops: OperatorProcess[] = [];
  const start = (identity: string) => {
    const op = OperatorProcess.start({
      identity,
      namespaces: [ns.name],
      leaseName: 'fence',
      args: [
        '--lease-duration',
        String(LEASE_S),
        '--renew-deadline',
        '4',
        '--retry-period',
        '1',
        '--resync-period',
        '5',
      ],
    });
    ops.push(op);
    return op;
  };

  afterAll(async () => {
    for (const op of ops) {
      if (op.pid !== undefined && op.running) process.kill(op.pid, 'SIGCONT');
      if (op.running) await op.stop('SIGKILL');
    }
  });

  test('SIGSTOP the leader under a stream of changes; the standby takes over; the old one resumes, writes nothing and exits', async () => {
    const a = start('fence-a');
    await a.waitForLog('controller started', 60_000);
    const b = start('fence-b');
    await b.waitForLog('servingstack-operator starting', 30_000);
    await createStack(ns.name, 'busy', {
      model: MODEL,
      routing: { host: 'busy.e2e.test' },
      throughput: PENDING,
      latency: PENDING,
    });
    await observed(ns.name, 'busy');

    // A change every 300 ms keeps the leader writing whenever it runs.
    let changing = true;
    let delay = 1;
    const changes = (async () => {
      while (changing) {
        delay = delay === 1 ? 2 : 1;
        await patchStack(ns.name, 'busy', { throughput: { ...PENDING, batching: { maxDelayMs: delay } } });
        await sleep(300);
      }
    })();
    try {
      await sleep(3_000);
      const pid = a.pid;
      if (pid === undefined) throw new Error('operator fence-a has no pid');
      process.kill(pid, 'SIGSTOP');
      await b.waitForLog('became leader', (LEASE_S + 6) * 1000);
      await b.waitForLog('controller started', 30_000);
      await sleep(3_000);
      process.kill(pid, 'SIGCONT');
      const code = await waitFor('fence-a to exit after resuming', () => (a.running ? undefined : 'exited'), {
        timeoutMs: 30_000,
      });
      expect(code).toBe('exited');
      expect(a.has('lost the leader lease; exiting')).toBe(true);
    } finally {
      changing = false;
      await changes;
    }

    const aWrites = auditWrites({ userAgent: userAgent('fence-a') });
    const renewals = aWrites.filter(
      (e) =>
        e.objectRef?.resource === 'leases' && e.objectRef.name === 'fence' && e.responseStatus?.code === 200,
    );
    const lastRenewal = renewals.at(-1);
    if (!lastRenewal) throw new Error('fence-a never renewed its lease, according to the audit log');
    const expired = receivedAt(lastRenewal) + LEASE_S * 1000;
    // The leader was busy before the pause, so "nothing after" is not nothing at all.
    expect(
      aWrites.filter((e) => e.objectRef?.resource === 'deployments' && receivedAt(e) < expired).length,
    ).toBeGreaterThan(0);
    expect(aWrites.filter((e) => receivedAt(e) > expired).map(describeWrite)).toEqual([]);
    // And the new leader wrote to the stack's objects only after that.
    const bFirst = auditWrites({ userAgent: userAgent('fence-b'), namespace: ns.name })[0];
    expect(bFirst && receivedAt(bFirst)).toBeGreaterThanOrEqual(expired);
  }, 180_000);
});
