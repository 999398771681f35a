// Requests really routed: the operator (a local process) reconciles ServingStacks whose pods the
// node agent runs, and the local Traefik routes by the operator's own routing objects, through
// both providers: Gateway API (one HTTPRoute) and ingress-nginx annotations (main + canary
// Ingress, read by Traefik's ingress-nginx provider, which is not ingress-nginx itself).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import {
  NODE_NAME,
  ROUTER_GATEWAY,
  defaultServiceAccount,
  ensureNodeAgent,
  ensureRouter,
} from '../agent/testing/cluster-parts.ts';
import { poolMetricTotal, poolRequestsTotal } from '../agent/testing/pool-metrics.ts';
import { ROUTING_CASES, type RoutingCase } from '../agent/testing/routing-cases.ts';
import { stackManifest, type StackOptions } from '../agent/testing/stack.ts';
import { burst, callRouter, type RouterCall } from '../agent/testing/traffic.ts';
import { startLocalOperator, type LocalOperator } from './support/local-operator.ts';
import {
  kubeconfigPath,
  kubectl,
  loadKubeConfig,
  repoRoot,
  waitFor,
  withTestNamespace,
} from './support/index.ts';

const G = 'servingstack.dev';
const V = 'v1alpha1';
const kc = loadKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const ns = withTestNamespace('e2e-routing');

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface StackStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  throughput?: { readyReplicas?: number };
  latency?: { readyReplicas?: number };
  routing?: { unexpressedRules?: string[] };
}
interface Stack {
  metadata?: { generation?: number };
  status?: StackStatus;
}

const cond = (s: Stack, type: string) => s.status?.conditions?.find((c) => c.type === type);
const readStack = async (name: string) =>
  (await custom.getNamespacedCustomObject({
    group: G,
    version: V,
    namespace: ns.name,
    plural: 'servingstacks',
    name,
  })) as Stack;

let operator: LocalOperator | undefined;

beforeAll(async () => {
  await ensureNodeAgent();
  await ensureRouter();
  await defaultServiceAccount(ns.name, kubectl);
  await kubectl(['apply', '--server-side', '-f', `${repoRoot}crds/`]);
  operator = await startLocalOperator({
    kubeconfig: kubeconfigPath,
    watchNamespaces: [ns.name],
    identity: 'e2e-routing',
  });
}, 300_000);

afterAll(async () => {
  await operator?.stop();
});

/** Creates the stack and waits until its status says both pools and the routing are ready. */
async function readyStack(o: Omit<StackOptions, 'namespace'>): Promise<Stack> {
  await custom.createNamespacedCustomObject({
    group: G,
    version: V,
    namespace: ns.name,
    plural: 'servingstacks',
    body: stackManifest({ ...o, namespace: ns.name }),
  });
  return waitFor(
    `ServingStack ${o.name} to be Ready (both pools on ${NODE_NAME}, routing applied)`,
    () => readStack(o.name),
    {
      until: (s) =>
        cond(s, 'Ready')?.status === 'True' && s.status?.observedGeneration === s.metadata?.generation,
      timeoutMs: 300_000,
      intervalMs: 2_000,
    },
  );
}

async function deleteStack(name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({
    group: G,
    version: V,
    namespace: ns.name,
    plural: 'servingstacks',
    name,
  });
  // Its pods hold FAKE GPUs until they are gone; the next stack needs them.
  await waitFor(
    `the pods of ${name} to be gone`,
    async () => {
      const pods = await core.listNamespacedPod({
        namespace: ns.name,
        labelSelector: `app.kubernetes.io/instance=${name}`,
      });
      return pods.items.length === 0;
    },
    { timeoutMs: 120_000, intervalMs: 1_000 },
  );
}

/**
 * Waits until the router has picked up the routes for this call: Traefik applies new objects
 * within seconds, and until then a request may take the host's main route. Once one answer
 * comes from the expected pool, every later one must (the assertions that follow).
 */
async function routed(call: RouterCall, pool: string) {
  return waitFor(
    `the router to send ${call.host} ${JSON.stringify(call.headers ?? {})} to the ${pool} pool`,
    () => callRouter(call),
    { until: (o) => o.status === 200 && o.pool === pool, timeoutMs: 60_000, intervalMs: 1_000 },
  );
}

/** Once the route is live, every answer to this case's headers comes from its expected pool. */
async function expectServedBy(host: string, c: RoutingCase): Promise<void> {
  const call = { host, model: 'mlp', headers: c.headers };
  await routed(call, c.pool);
  const { outcomes } = await burst(call, { requests: 10, concurrency: 2 });
  expect(outcomes.map((o) => [o.status, o.pool])).toEqual(outcomes.map(() => [200, c.pool]));
}

describe('provider gateway-api: one HTTPRoute through Traefik', () => {
  const name = 'gw';
  const host = 'gw.routing.e2e.test';
  let stack: Stack;

  beforeAll(async () => {
    stack = await readyStack({ name, host, provider: 'gateway-api', gateway: ROUTER_GATEWAY });
  }, 330_000);
  afterAll(() => deleteStack(name), 150_000);

  test('both pools become ready and the status says so', () => {
    expect(stack.status?.throughput?.readyReplicas).toBe(1);
    expect(stack.status?.latency?.readyReplicas).toBe(1);
    for (const type of ['ThroughputAvailable', 'LatencyAvailable', 'RoutingReady', 'Ready']) {
      expect(cond(stack, type)?.status).toBe('True');
    }
  });

  test.each(ROUTING_CASES.map((c) => [c.label, c] as const))(
    '%s is served by the expected pool',
    (_label, c) => expectServedBy(host, c),
    90_000,
  );

  test("each pool's own metrics count the requests routed to it", async () => {
    await routed({ host, model: 'mlp', headers: { 'X-Serving-Priority': 'real-time' } }, 'latency');
    const latencyBefore = await poolRequestsTotal(core, ns.name, name, 'latency');
    const throughputBefore = await poolRequestsTotal(core, ns.name, name, 'throughput');
    await burst(
      { host, model: 'mlp', headers: { 'X-Serving-Priority': 'real-time' } },
      { requests: 12, concurrency: 3 },
    );
    await burst(
      { host, model: 'mlp', headers: { 'X-Serving-Priority': 'batch' } },
      { requests: 7, concurrency: 3 },
    );
    expect((await poolRequestsTotal(core, ns.name, name, 'latency')) - latencyBefore).toBe(12);
    expect((await poolRequestsTotal(core, ns.name, name, 'throughput')) - throughputBefore).toBe(7);
  }, 90_000);
});

describe('provider ingress-nginx: main + canary Ingress through Traefik', () => {
  const name = 'ing';
  const host = 'ing.routing.e2e.test';
  let stack: Stack;

  beforeAll(async () => {
    stack = await readyStack({ name, host, provider: 'ingress-nginx' });
  }, 330_000);
  afterAll(() => deleteStack(name), 150_000);

  test('the status says which rules one canary header cannot express', () => {
    expect(cond(stack, 'RoutingReady')).toMatchObject({ status: 'True', reason: 'PartiallyExpressed' });
    expect(stack.status?.routing?.unexpressedRules?.join(' ')).toMatch(
      /X-Request-Timeout-Ms < 100 -> latency/,
    );
  });

  // With spill-over on (the default), every case lands on its contracted pool's compute, the one
  // the canary cannot express too: the throughput pool forwards it once to the latency pool.
  test.each(ROUTING_CASES.map((c) => [c.label, c] as const))(
    '%s is served by the expected pool',
    (_label, c) => expectServedBy(host, c),
    90_000,
  );

  test('a short timeout header reaches the default pool, which spills it to the latency pool: computed and counted there', async () => {
    const call = { host, model: 'mlp', headers: { 'X-Request-Timeout-Ms': '50' } };
    // The canary route must be live first, or the latency answers could come straight from it.
    await routed({ host, model: 'mlp', headers: { 'X-Serving-Priority': 'real-time' } }, 'latency');
    await routed(call, 'latency');
    const count = (pool: 'latency' | 'throughput') => poolRequestsTotal(core, ns.name, name, pool);
    const spilled = () =>
      poolMetricTotal(core, ns.name, name, 'throughput', 'servingstack_spillover_total', {
        from: 'throughput',
        to: 'latency',
        reason: 'route',
      });
    const [latencyBefore, throughputBefore, spilledBefore] = [
      await count('latency'),
      await count('throughput'),
      await spilled(),
    ];
    const { outcomes } = await burst(call, { requests: 10, concurrency: 2 });
    expect(outcomes.map((o) => [o.status, o.pool, o.spilledFrom])).toEqual(
      outcomes.map(() => [200, 'latency', 'throughput']),
    );
    // Computed by the latency pool only; the throughput pool counts the forward, not a request.
    expect((await count('latency')) - latencyBefore).toBe(10);
    expect((await count('throughput')) - throughputBefore).toBe(0);
    expect((await spilled()) - spilledBefore).toBe(10);
  }, 90_000);
});
