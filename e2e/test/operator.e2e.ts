// The operator against the real local control plane: children, drift correction, pruning,
// garbage collection, API-server validation, leader election and recovery from an API-server
// restart. Pods stay Pending here (the stacks pin an impossible nodeSelector), which the status
// must say.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { metricSum, OperatorProcess } from '../../operator/test/support/operator-process.ts';
import { ensureRouter, ROUTER_GATEWAY } from '../agent/testing/cluster-parts.ts';
import { kubectl, loadKubeConfig, repoRoot, waitFor, withTestNamespace } from './support/index.ts';
import { readyPodsOnNode, waitUntilReadyAgain } from './support/ready-pods.ts';

const G = 'servingstack.dev';
const V = 'v1alpha1';
const P = 'servingstacks';
const LEASE_S = 6;
const exec = promisify(execFile);
// testTimeout in a jest project config is ignored (it is a global option): set it here.
jest.setTimeout(300_000);

const kc = loadKubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const apps = kc.makeApiClient(AppsV1Api);
const core = kc.makeApiClient(CoreV1Api);
const net = kc.makeApiClient(NetworkingV1Api);
const hpas = kc.makeApiClient(AutoscalingV2Api);
const events = kc.makeApiClient(EventsV1Api);
const leases = kc.makeApiClient(CoordinationV1Api);

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
    url?: string;
    throughput?: { readyReplicas?: number; desiredReplicas?: number; summary?: string };
    latency?: { readyReplicas?: number; desiredReplicas?: number; summary?: string };
  };
}

function spec(extra: Record<string, unknown> = {}): Record<string, unknown> {
  // A nodeSelector no node has: pods stay Pending whatever nodes the cluster has.
  const pending = { nodeSelector: { 'servingstack.dev/e2e-no-such-node': 'true' } };
  return {
    model: { name: 'mlp', uri: 'file:///opt/servingstack/models/mlp' },
    routing: { host: 'demo.e2e.test' },
    throughput: { ...pending, autoscaling: {} },
    latency: { ...pending, autoscaling: { scaleDownStabilizationWindowSeconds: 30 } },
    ...extra,
  };
}

function manifest(namespace: string, name: string, s: Record<string, unknown>): Stack {
  return { apiVersion: `${G}/${V}`, kind: 'ServingStack', metadata: { name, namespace }, spec: s };
}

async function createStack(namespace: string, name: string, s: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({
    group: G,
    version: V,
    namespace,
    plural: P,
    body: manifest(namespace, name, s),
  });
}

async function getStack(namespace: string, name: string): Promise<Stack> {
  return (await custom.getNamespacedCustomObject({
    group: G,
    version: V,
    namespace,
    plural: P,
    name,
  })) as Stack;
}

async function patchStack(namespace: string, name: string, body: unknown): Promise<Stack> {
  return (await custom.patchNamespacedCustomObject(
    { group: G, version: V, namespace, plural: P, name, body },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  )) as Stack;
}

const cond = (s: Stack, type: string) => s.status?.conditions?.find((c) => c.type === type);

async function gone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (e) {
    if (e instanceof ApiException && e.code === 404) return true;
    throw e;
  }
}

function envOf(
  d: Awaited<ReturnType<typeof apps.readNamespacedDeployment>>,
): Record<string, string | undefined> {
  return Object.fromEntries((d.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
}

describe('the ServingStack CRD', () => {
  const ns = withTestNamespace('operator-crd');

  beforeAll(async () => {
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds')]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${P}.${G}`]);
  }, 90_000);

  const base = spec();
  const invalid: [string, string, Record<string, unknown>][] = [
    [
      'min > max replicas',
      'spec.throughput.autoscaling.minReplicas',
      { throughput: { autoscaling: { minReplicas: 5, maxReplicas: 2 } } },
    ],
    [
      'batch size 0',
      'spec.throughput.batching.maxBatchSize',
      { throughput: { batching: { maxBatchSize: 0 } } },
    ],
    ['negative delay', 'spec.latency.batching.maxDelayMs', { latency: { batching: { maxDelayMs: -1 } } }],
    ['unknown precision', 'spec.throughput.precision', { throughput: { precision: 'bf16' } }],
    [
      'latency batch above throughput batch',
      'spec.latency.batching.maxBatchSize',
      { latency: { batching: { maxBatchSize: 128 } } },
    ],
    [
      'latencyBelowMs >= throughputAboveMs',
      'spec.routing.latencyBelowMs',
      { routing: { host: 'h.test', latencyBelowMs: 2000 } },
    ],
    [
      'bad header name',
      'spec.routing.priorityHeader',
      { routing: { host: 'h.test', priorityHeader: 'X Bad Header' } },
    ],
    ['host not a DNS name', 'spec.routing.host', { routing: { host: 'Not_A_Host' } }],
    ['default not a pool', 'spec.routing.default', { routing: { host: 'h.test', default: 'gpu' } }],
    ['negative gpus', 'spec.latency.resources.gpus', { latency: { resources: { gpus: -1 } } }],
    ['unknown uri scheme', 'spec.model.uri', { model: { name: 'm', uri: 'ftp://models/m' } }],
    ['bad model name', 'spec.model.name', { model: { name: 'Bad Name', uri: 'file:///m' } }],
    [
      'gateway-api without a gateway',
      'spec.routing.gateway',
      { routing: { host: 'h.test', provider: 'gateway-api' } },
    ],
    ['cpu not a quantity', 'resources.cpu', { throughput: { resources: { cpu: 'lots' } } }],
    [
      'unknown batch dimension',
      'spec.model.batchDimension',
      { model: { name: 'm', uri: 'file:///m', batchDimension: 'last' } },
    ],
    [
      'a zero warm-up dimension',
      'spec.model.warmupShapes',
      { model: { name: 'm', uri: 'file:///m', warmupShapes: [{ x: [3, 0] }] } },
    ],
    [
      'an empty warm-up shape',
      'spec.model.warmupShapes',
      { model: { name: 'm', uri: 'file:///m', warmupShapes: [{}] } },
    ],
    [
      'a zero latency target',
      'spec.throughput.batching.targetP95Ms',
      { throughput: { batching: { targetP95Ms: 0 } } },
    ],
    [
      'a spill-over share above 100',
      'spec.routing.spillover.toThroughput.maxSharePercent',
      { routing: { host: 'h.test', spillover: { toThroughput: { maxSharePercent: 101 } } } },
    ],
    [
      'a spill-over share that admits no request',
      'spec.routing.spillover.toLatency.maxSharePercent',
      {
        routing: { host: 'h.test', spillover: { toLatency: { maxSharePercent: 1 } } },
        latency: { batching: { maxBatchSize: 1, maxQueueSize: 10 } },
      },
    ],
    [
      'sha256 with a folder URI (it would cover model.onnx alone)',
      'spec.model.sha256 is the digest of the one file',
      { model: { name: 'm', uri: 'https://models.test/m/', sha256: 'a'.repeat(64) } },
    ],
    [
      "digests without the file the throughput pool's precision loads",
      'spec.model.digests must have a digest for the file each pool loads',
      { model: { name: 'm', uri: 's3://b/m/', digests: { 'model.int8.onnx': 'a'.repeat(64) } } },
    ],
    [
      'switching together without a pinned version to name the sets',
      'spec.model.switchStrategy Together needs a pinned model',
      { model: { name: 'm', uri: 'file:///m', switchStrategy: 'Together' } },
    ],
    [
      'a switch strategy that does not exist',
      'spec.model.switchStrategy',
      { model: { name: 'm', uri: 'file:///m', switchStrategy: 'BlueGreen' } },
    ],
    [
      // digests pin any model (the servers check them at load); sha256 names one fetched file.
      'sha256 on a model that is not fetched',
      'spec.model.sha256 applies to one fetched file',
      { model: { name: 'm', uri: 'pvc://models/m.onnx', sha256: 'a'.repeat(64) } },
    ],
    [
      'a digests key outside the folder',
      "spec.model.digests keys must be relative paths inside the model's folder",
      {
        model: {
          name: 'm',
          uri: 'https://models.test/m.onnx',
          sha256: 'a'.repeat(64),
          digests: { '../etc/w.bin': 'a'.repeat(64) },
        },
      },
    ],
    [
      'a digest that is not a sha256',
      'spec.model.digests',
      {
        model: {
          name: 'm',
          uri: 'https://models.test/m.onnx',
          sha256: 'a'.repeat(64),
          digests: { 'w.bin': 'xyz' },
        },
      },
    ],
    [
      'maxSize not a quantity',
      'spec.model.maxSize must be a quantity',
      { model: { name: 'm', uri: 's3://b/m/', maxSize: 'lots' } },
    ],
    [
      'cuda on a pool without GPUs',
      // The API server's JSON escapes '>' (\u003e): match the message around it.
      'spec.latency.executionProvider cuda needs resources.gpus',
      { latency: { executionProvider: 'cuda', resources: { gpus: 0 } } },
    ],
    [
      'cpu on a pool that holds GPUs',
      'and cpu needs resources.gpus 0 (auto lets a GPU pool fall back to CPU)',
      { throughput: { executionProvider: 'cpu' } },
    ],
    [
      'an unknown execution provider',
      'spec.throughput.executionProvider',
      { throughput: { executionProvider: 'tensorrt' } },
    ],
  ];

  test.each(invalid)('rejects %s, naming %s', async (_what, field, override) => {
    let message = '';
    try {
      await createStack(ns.name, 'bad', { ...base, ...override });
    } catch (e) {
      expect(e).toBeInstanceOf(ApiException);
      message = String((e as ApiException<unknown>).body);
    }
    expect(message).toContain(field);
  });

  test('accepts a folder manifest that covers both pools, a single file with its external data, and the auto opt-out', async () => {
    const digests = {
      'model.fp16.onnx': 'a'.repeat(64),
      'model.int8.onnx': 'b'.repeat(64),
      'w 1.bin': 'c'.repeat(64),
    };
    await createStack(ns.name, 'manifest', {
      ...base,
      model: { name: 'm', uri: 's3://b/m/', digests, maxSize: '2Gi' },
      throughput: { executionProvider: 'auto', threads: { spinning: true } },
    });
    await createStack(ns.name, 'single', {
      ...base,
      model: {
        name: 'm',
        uri: 'https://models.test/m.onnx',
        sha256: 'd'.repeat(64),
        digests: { 'w.bin': 'e'.repeat(64) },
      },
      latency: { executionProvider: 'cpu', resources: { gpus: 0 } },
    });
    expect((await getStack(ns.name, 'manifest')).spec).toMatchObject({ model: { maxSize: '2Gi', digests } });
    expect((await getStack(ns.name, 'single')).spec).toMatchObject({ model: { maxSize: '16Gi' } });
  });

  test('accepts the sample and fills the defaults', async () => {
    await createStack(ns.name, 'good', {
      model: { name: 'mlp', uri: 'file:///m' },
      routing: { host: 'h.test' },
    });
    const s = await getStack(ns.name, 'good');
    expect(s.spec).toMatchObject({
      routing: {
        provider: 'ingress-nginx',
        latencyBelowMs: 100,
        throughputAboveMs: 1000,
        default: 'throughput',
      },
      throughput: { precision: 'fp16', batching: { maxBatchSize: 64, maxDelayMs: 50, maxQueueSize: 1024 } },
      latency: { precision: 'int8', batching: { maxBatchSize: 1, maxDelayMs: 0 } },
    });
  });
});

describe('the operator', () => {
  const ns = withTestNamespace('operator');
  const lease = `op-e2e-${process.pid}`;
  const ops: OperatorProcess[] = [];
  let leader: OperatorProcess;
  const start = (identity: string) => {
    const op = OperatorProcess.start({
      identity,
      namespaces: [ns.name],
      leaseName: lease,
      args: [
        '--lease-duration',
        String(LEASE_S),
        '--renew-deadline',
        '4',
        '--retry-period',
        '1',
        '--resync-period',
        '20',
      ],
    });
    ops.push(op);
    return op;
  };

  beforeAll(async () => {
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds')]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${P}.${G}`]);
    // Traefik: the Gateway API CRDs and a Gateway whose controller accepts routes.
    await ensureRouter();
    leader = start('op-a');
    await leader.waitForLog('controller started', 60_000);
  }, 120_000);

  afterAll(async () => {
    for (const op of ops) if (op.running) await op.stop('SIGKILL');
  }, 60_000);

  test('create: every child exists with the key fields; status says the pods are pending', async () => {
    await createStack(ns.name, 'demo', spec());
    const thr = await waitFor('Deployment demo-throughput', () =>
      apps.readNamespacedDeployment({ name: 'demo-throughput', namespace: ns.name }),
    );
    const c = thr.spec?.template.spec?.containers[0];
    // A pool with GPUs (1 by default) gets the operator's default CUDA image.
    expect(c?.image).toBe('localhost/servingstack/server:dev-cuda13');
    expect(c?.resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(envOf(thr)).toMatchObject({
      POOL: 'throughput',
      PRECISION: 'fp16',
      MAX_BATCH_SIZE: '64',
      ORT_DISABLE_TELEMETRY: '1',
    });
    expect(c?.readinessProbe?.httpGet?.path).toBe('/v2/health/ready');
    expect(c?.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
    });
    expect(thr.spec?.template.spec?.tolerations).toContainEqual({
      key: 'nvidia.com/gpu',
      operator: 'Exists',
      effect: 'NoSchedule',
    });
    expect(thr.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'ServingStack',
      name: 'demo',
      controller: true,
    });
    expect(
      thr.metadata?.managedFields?.some(
        (m) => m.manager === 'servingstack-operator' && m.operation === 'Apply',
      ),
    ).toBe(true);
    const lat = await waitFor('Deployment demo-latency', () =>
      apps.readNamespacedDeployment({ name: 'demo-latency', namespace: ns.name }),
    );
    expect(envOf(lat)).toMatchObject({
      POOL: 'latency',
      PRECISION: 'int8',
      MAX_BATCH_SIZE: '1',
      MAX_DELAY_MS: '0',
    });
    for (const pool of ['throughput', 'latency']) {
      const svc = await waitFor(`Service demo-${pool}`, () =>
        core.readNamespacedService({ name: `demo-${pool}`, namespace: ns.name }),
      );
      expect(svc.spec?.selector).toMatchObject({ 'servingstack.dev/pool': pool });
      const h = await waitFor(`HPA demo-${pool}`, () =>
        hpas.readNamespacedHorizontalPodAutoscaler({ name: `demo-${pool}`, namespace: ns.name }),
      );
      // Requests per second per pod; the latency pool scales on its whole pool's p95 (an Object
      // metric on its Service), the throughput pool on the average of its pods' p95s.
      expect(h.spec?.metrics?.map((m) => [m.type, (m.pods ?? m.object)?.metric.name])).toEqual([
        ['Pods', 'servingstack_requests_per_second'],
        pool === 'latency'
          ? ['Object', 'servingstack_pool_request_duration_p95_seconds']
          : ['Pods', 'servingstack_request_duration_p95_seconds'],
      ]);
      if (pool === 'latency') {
        expect(h.spec?.metrics?.[1]?.object?.describedObject).toEqual({
          apiVersion: 'v1',
          kind: 'Service',
          name: 'demo-latency',
        });
      }
    }
    const canary = await waitFor('Ingress demo-canary', () =>
      net.readNamespacedIngress({ name: 'demo-canary', namespace: ns.name }),
    );
    expect(canary.metadata?.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-by-header': 'X-Serving-Priority',
      'nginx.ingress.kubernetes.io/canary-by-header-value': 'real-time',
    });
    const main = await net.readNamespacedIngress({ name: 'demo', namespace: ns.name });
    expect(main.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name).toBe('demo-throughput');

    const s = await waitFor('status of demo (generation 1, pools pending)', () => getStack(ns.name, 'demo'), {
      until: (x) =>
        x.status?.observedGeneration === 1 && cond(x, 'LatencyAvailable')?.reason === 'ReplicasNotReady',
    });
    expect(s.status?.url).toBe('http://demo.e2e.test');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'ReplicasNotReady' });
    expect(cond(s, 'ThroughputAvailable')?.message).toContain('0/1 replicas ready');
    expect(cond(s, 'RoutingReady')).toMatchObject({ status: 'True', reason: 'PartiallyExpressed' });
    expect(s.status?.latency?.readyReplicas).toBe(0);
    expect(s.status?.latency?.summary).toMatch(/^0\/[12]$/);
  });

  test('edit spec: children follow and observedGeneration moves', async () => {
    const edited = await patchStack(ns.name, 'demo', {
      spec: { throughput: { batching: { maxBatchSize: 32 } } },
    });
    const gen = edited.metadata?.generation ?? 0;
    await waitFor(
      'MAX_BATCH_SIZE=32 on demo-throughput',
      async () =>
        envOf(await apps.readNamespacedDeployment({ name: 'demo-throughput', namespace: ns.name }))
          .MAX_BATCH_SIZE,
      { until: (v) => v === '32' },
    );
    await waitFor(`observedGeneration ${gen}`, () => getStack(ns.name, 'demo'), {
      until: (s) => s.status?.observedGeneration === gen && cond(s, 'Ready')?.status === 'False',
    });
    expect(gen).toBeGreaterThan(1);
  });

  test('a pool that gives up its GPUs moves to the CPU image, and back to the CUDA one', async () => {
    const latencyServer = async () =>
      (await apps.readNamespacedDeployment({ name: 'demo-latency', namespace: ns.name })).spec?.template.spec
        ?.containers[0];
    await patchStack(ns.name, 'demo', { spec: { latency: { resources: { gpus: 0 } } } });
    const cpu = await waitFor('demo-latency on the CPU image', latencyServer, {
      until: (c) => c?.image === 'localhost/servingstack/server:dev',
    });
    expect(cpu?.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
    await patchStack(ns.name, 'demo', { spec: { latency: { resources: { gpus: 1 } } } });
    await waitFor('demo-latency back on the CUDA image', latencyServer, {
      until: (c) => c?.image === 'localhost/servingstack/server:dev-cuda13',
    });
  });

  test('an image set on the stack, then on a pool, then removed: each pool is back on its default', async () => {
    const images = async () => {
      const image = async (pool: string) =>
        (await apps.readNamespacedDeployment({ name: `demo-${pool}`, namespace: ns.name })).spec?.template
          .spec?.containers[0]?.image;
      return { throughput: await image('throughput'), latency: await image('latency') };
    };
    const expectImages = (what: string, want: { throughput: string; latency: string }) =>
      waitFor(what, images, {
        until: (got) => got.throughput === want.throughput && got.latency === want.latency,
      });
    const [CUDA, CPU] = ['localhost/servingstack/server:dev-cuda13', 'localhost/servingstack/server:dev'];
    await patchStack(ns.name, 'demo', {
      spec: { image: 'registry.example/server:1', latency: { resources: { gpus: 0 } } },
    });
    await expectImages('both pools on the stack image', {
      throughput: 'registry.example/server:1',
      latency: 'registry.example/server:1',
    });
    await patchStack(ns.name, 'demo', {
      spec: { image: null, latency: { image: 'registry.example/server:2' } },
    });
    await expectImages('throughput back on the CUDA default, latency on its pool image', {
      throughput: CUDA,
      latency: 'registry.example/server:2',
    });
    await patchStack(ns.name, 'demo', { spec: { latency: { image: null } } });
    await expectImages('latency (gpus: 0) on the CPU default', { throughput: CUDA, latency: CPU });
    await patchStack(ns.name, 'demo', { spec: { latency: { resources: { gpus: 1 } } } });
    await expectImages('both pools on the CUDA default', { throughput: CUDA, latency: CUDA });
  });

  test('delete a child: it comes back', async () => {
    const before = await core.readNamespacedService({ name: 'demo-latency', namespace: ns.name });
    await core.deleteNamespacedService({ name: 'demo-latency', namespace: ns.name });
    const after = await waitFor(
      'Service demo-latency re-created',
      () => core.readNamespacedService({ name: 'demo-latency', namespace: ns.name }),
      {
        until: (s) => s.metadata?.uid !== before.metadata?.uid,
      },
    );
    expect(after.spec?.ports?.[0]?.port).toBe(80);
  });

  test('a field the operator owns, changed by hand under another field manager, is put back', async () => {
    const d = await apps.readNamespacedDeployment({ name: 'demo-throughput', namespace: ns.name });
    const idx = d.spec?.template.spec?.containers[0]?.env?.findIndex((e) => e.name === 'MAX_DELAY_MS') ?? -1;
    expect(idx).toBeGreaterThanOrEqual(0);
    await kubectl([
      'patch',
      'deployment',
      'demo-throughput',
      '-n',
      ns.name,
      '--type=json',
      '--field-manager=e2e-hand-edit',
      `-p=[{"op":"replace","path":"/spec/template/spec/containers/0/env/${idx}/value","value":"999"}]`,
    ]);
    await waitFor(
      'MAX_DELAY_MS back to 50 on demo-throughput',
      async () =>
        envOf(await apps.readNamespacedDeployment({ name: 'demo-throughput', namespace: ns.name }))
          .MAX_DELAY_MS,
      { until: (v) => v === '50' },
    );
  });

  test('remove autoscaling: the HPA is pruned and the Deployment gets replicas', async () => {
    await patchStack(ns.name, 'demo', { spec: { latency: { autoscaling: null, replicas: 3 } } });
    await waitFor('HPA demo-latency pruned', () =>
      gone(() => hpas.readNamespacedHorizontalPodAutoscaler({ name: 'demo-latency', namespace: ns.name })),
    );
    await waitFor(
      'demo-latency replicas 3',
      async () =>
        (await apps.readNamespacedDeployment({ name: 'demo-latency', namespace: ns.name })).spec?.replicas,
      {
        until: (r) => r === 3,
      },
    );
    expect(
      await gone(() =>
        hpas.readNamespacedHorizontalPodAutoscaler({ name: 'demo-throughput', namespace: ns.name }),
      ),
    ).toBe(false);
  });

  test('switch provider: the HTTPRoute replaces both Ingresses once the Gateway accepts it', async () => {
    await patchStack(ns.name, 'demo', {
      spec: { routing: { provider: 'gateway-api', gateway: ROUTER_GATEWAY } },
    });
    const route = (await waitFor('HTTPRoute demo', () =>
      custom.getNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: ns.name,
        plural: 'httproutes',
        name: 'demo',
      }),
    )) as {
      spec: { hostnames: string[]; rules: { matches: { headers?: { type: string; value: string }[] }[] }[] };
    };
    expect(route.spec.hostnames).toEqual(['demo.e2e.test']);
    expect(route.spec.rules[0]?.matches[1]?.headers?.[0]).toMatchObject({
      type: 'RegularExpression',
      value: '^0*(0|[1-9]|[1-9][0-9])$',
    });
    await waitFor(
      'Ingresses demo and demo-canary pruned',
      async () =>
        (await gone(() => net.readNamespacedIngress({ name: 'demo', namespace: ns.name }))) &&
        (await gone(() => net.readNamespacedIngress({ name: 'demo-canary', namespace: ns.name }))),
    );
    await waitFor('RoutingReady Applied', () => getStack(ns.name, 'demo'), {
      until: (s) => cond(s, 'RoutingReady')?.reason === 'Applied',
    });
  });

  test('a child name taken by someone else: Ready=False ChildConflict and an Event, no crash', async () => {
    await core.createNamespacedService({
      namespace: ns.name,
      body: {
        metadata: { name: 'clash-latency' },
        spec: { ports: [{ port: 80 }], selector: { app: 'other' } },
      },
    });
    await createStack(ns.name, 'clash', spec());
    const s = await waitFor('clash Ready=False ChildConflict', () => getStack(ns.name, 'clash'), {
      until: (x) => cond(x, 'Ready')?.reason === 'ChildConflict',
    });
    expect(cond(s, 'Ready')?.message).toContain('Service clash-latency');
    const svc = await core.readNamespacedService({ name: 'clash-latency', namespace: ns.name });
    expect(svc.spec?.selector).toEqual({ app: 'other' });
    expect(svc.metadata?.ownerReferences).toBeUndefined();
    await waitFor('ChildConflict event', async () =>
      (await events.listNamespacedEvent({ namespace: ns.name })).items.some(
        (e) => e.reason === 'ChildConflict' && e.regarding?.name === 'clash',
      ),
    );
    expect(leader.running).toBe(true);
  });

  test('delete the stack: the garbage collector removes its children', async () => {
    await custom.deleteNamespacedCustomObject({
      group: G,
      version: V,
      namespace: ns.name,
      plural: P,
      name: 'demo',
    });
    await waitFor(
      'children of demo garbage-collected',
      async () =>
        (await gone(() => apps.readNamespacedDeployment({ name: 'demo-throughput', namespace: ns.name }))) &&
        (await gone(() => apps.readNamespacedDeployment({ name: 'demo-latency', namespace: ns.name }))) &&
        (await gone(() => core.readNamespacedService({ name: 'demo-throughput', namespace: ns.name }))) &&
        (await gone(() =>
          hpas.readNamespacedHorizontalPodAutoscaler({ name: 'demo-throughput', namespace: ns.name }),
        )),
      { timeoutMs: 120_000 },
    );
  });

  test('two operators: only the leader writes; killing it hands over within the lease duration', async () => {
    const standby = start('op-b');
    await standby.waitForLog('servingstack-operator starting', 30_000);
    await createStack(ns.name, 'ha', spec());
    await waitFor('Deployment ha-latency', () =>
      apps.readNamespacedDeployment({ name: 'ha-latency', namespace: ns.name }),
    );
    const m = await standby.metrics();
    expect(metricSum(m, 'servingstack_operator_api_requests_total')).toBe(0);
    expect(metricSum(m, 'servingstack_operator_leader')).toBe(0);
    expect(metricSum(await leader.metrics(), 'servingstack_operator_leader')).toBe(1);
    expect(standby.has('became leader')).toBe(false);
    for (const op of [standby, leader]) {
      const { health } = await op.ports();
      for (const path of ['/healthz', '/readyz']) {
        expect([op.identity, path, (await fetch(`http://127.0.0.1:${health}${path}`)).status]).toEqual([
          op.identity,
          path,
          200,
        ]);
      }
    }

    await leader.stop('SIGKILL');
    // The standby may take over only after a full lease duration without renewal; allow two retry periods more.
    await standby.waitForLog('became leader', (LEASE_S + 4) * 1000);
    await standby.waitForLog('controller started', 30_000);
    leader = standby;
    const before = await core.readNamespacedService({ name: 'ha-throughput', namespace: ns.name });
    await core.deleteNamespacedService({ name: 'ha-throughput', namespace: ns.name });
    await waitFor(
      'Service ha-throughput re-created by the new leader',
      () => core.readNamespacedService({ name: 'ha-throughput', namespace: ns.name }),
      {
        until: (s) => s.metadata?.uid !== before.metadata?.uid,
      },
    );
  });

  test('the API server is away longer than the renew deadline: the leader exits, and a restarted process leads again', async () => {
    const script = join(repoRoot, 'e2e/cluster/component.sh');
    const readyBefore = await readyPodsOnNode(core);
    await exec(script, ['stop', 'kube-apiserver']);
    try {
      // Longer than the renew deadline (4 s): the leader must stop work.
      await new Promise((r) => setTimeout(r, 8_000));
    } finally {
      await exec(script, ['start', 'kube-apiserver'], { timeout: 120_000 });
    }
    await waitFor('API server answering', () => kubectl(['get', '--raw', '/readyz']), { timeoutMs: 120_000 });
    // As controller-runtime does: it exits (the kubelet restarts the pod) rather than start a
    // second controller in the same process.
    await waitFor('the old leader to exit', () => !leader.running, { timeoutMs: 30_000 });
    expect(await leader.stop('SIGTERM')).toBe(1);
    expect(leader.has('lost the leader lease; exiting')).toBe(true);
    leader = start('op-c');
    await leader.waitForLog('controller started', (LEASE_S + 30) * 1000);
    const before = await core.readNamespacedService({ name: 'ha-latency', namespace: ns.name });
    await core.deleteNamespacedService({ name: 'ha-latency', namespace: ns.name });
    await waitFor(
      'Service ha-latency re-created after the restart',
      () => core.readNamespacedService({ name: 'ha-latency', namespace: ns.name }),
      {
        until: (s) => s.metadata?.uid !== before.metadata?.uid,
        timeoutMs: 90_000,
      },
    );
    // The outage may have left the node NotReady long enough for its pods (a running demo's too)
    // to be marked unready: the node agent puts them right once it reports again.
    await waitUntilReadyAgain(core, readyBefore);
  });

  test('SIGTERM drains, releases the lease and exits 0', async () => {
    expect(await leader.stop('SIGTERM')).toBe(0);
    const l = await leases.readNamespacedLease({ name: lease, namespace: ns.name });
    expect(l.spec?.holderIdentity ?? '').toBe('');
  });
});
