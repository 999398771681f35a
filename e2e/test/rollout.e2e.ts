// A rolling update under load loses no request: while bounded load runs through Traefik to the
// throughput pool, its precision changes (fp32 -> int8, both FP32 on the wire) and the Deployment
// rolls a new pod in and the old one out on the node agent. The load keeps its connections
// alive, as a router's pool does; the old pod must still leave promptly: within its preStop
// sleep, the longest batch and 2 s (not after the whole grace period, held by idle connections).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { Agent } from 'node:http';
import {
  ROUTER_GATEWAY,
  defaultServiceAccount,
  ensureNodeAgent,
  ensureRouter,
} from '../agent/testing/cluster-parts.ts';
import { stackManifest } from '../agent/testing/stack.ts';
import { callRouter, type Outcome } from '../agent/testing/traffic.ts';
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
const custom = kc.makeApiClient(CustomObjectsApi);
const apps = kc.makeApiClient(AppsV1Api);
const core = kc.makeApiClient(CoreV1Api);
/** The pod's preStop sleep (the operator's ENDPOINT_PROPAGATION_SECONDS at a 30 s grace period). */
const PRE_STOP_MS = 5_000;
/** The longest batch the MLP can form here (64 rows, 50 ms delay) runs far below this. */
const LONGEST_BATCH_MS = 1_000;
const EXIT_MARGIN_MS = 2_000;
const ns = withTestNamespace('e2e-rollout');
const name = 'roll';
const host = 'roll.rollout.e2e.test';
/** Bounds on the load: it stops at whichever comes first. */
const MAX_REQUESTS = 20_000;
const MAX_LOAD_MS = 240_000;
const CONCURRENCY = 3;

let operator: LocalOperator | undefined;

beforeAll(async () => {
  await ensureNodeAgent();
  await ensureRouter();
  await defaultServiceAccount(ns.name, kubectl);
  await kubectl(['apply', '--server-side', '-f', `${repoRoot}crds/`]);
  operator = await startLocalOperator({
    kubeconfig: kubeconfigPath,
    watchNamespaces: [ns.name],
    identity: 'e2e-rollout',
  });
  await custom.createNamespacedCustomObject({
    group: G,
    version: V,
    namespace: ns.name,
    plural: 'servingstacks',
    body: stackManifest({
      name,
      namespace: ns.name,
      host,
      provider: 'gateway-api',
      gateway: ROUTER_GATEWAY,
      throughputPrecision: 'fp32',
    }),
  });
  await waitFor(
    'the stack to be Ready',
    async () =>
      (await custom.getNamespacedCustomObject({
        group: G,
        version: V,
        namespace: ns.name,
        plural: 'servingstacks',
        name,
      })) as {
        status?: { conditions?: { type: string; status: string }[] };
      },
    {
      until: (s) => s.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true,
      timeoutMs: 300_000,
      intervalMs: 2_000,
    },
  );
  await waitFor('the router to reach the throughput pool', () => callRouter({ host, model: 'mlp' }), {
    until: (o) => o.status === 200 && o.pool === 'throughput',
    timeoutMs: 60_000,
    intervalMs: 1_000,
  });
}, 420_000);

afterAll(async () => {
  await operator?.stop();
});

describe('rolling update of the throughput pool', () => {
  test('changing its precision under load loses no request', async () => {
    const deployment = `${name}-throughput`;
    const before = await apps.readNamespacedDeployment({ name: deployment, namespace: ns.name });
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const outcomes: Outcome[] = [];
    let stop = false;
    const started = Date.now();
    const worker = async () => {
      while (!stop && outcomes.length < MAX_REQUESTS && Date.now() - started < MAX_LOAD_MS) {
        outcomes.push(await callRouter({ host, model: 'mlp' }, agent, outcomes.length));
      }
    };
    const load = Promise.all(Array.from({ length: CONCURRENCY }, worker));

    // When each old pod starts terminating (its deletionTimestamp) and when it is gone.
    const selector = `app.kubernetes.io/instance=${name},servingstack.dev/pool=throughput`;
    const oldPods = new Set(
      (await core.listNamespacedPod({ namespace: ns.name, labelSelector: selector })).items.map(
        (p) => p.metadata!.name!,
      ),
    );
    const deleting = new Map<string, number>();
    const gone = new Map<string, number>();
    let watching = true;
    const watch = (async () => {
      while (watching && gone.size < oldPods.size) {
        const pods = (await core.listNamespacedPod({ namespace: ns.name, labelSelector: selector })).items;
        const now = Date.now();
        for (const p of pods) {
          const podName = p.metadata!.name!;
          const since = p.metadata?.deletionTimestamp;
          if (oldPods.has(podName) && since && !deleting.has(podName))
            deleting.set(podName, new Date(since).getTime());
        }
        for (const old of oldPods) {
          if (deleting.has(old) && !gone.has(old) && !pods.some((p) => p.metadata?.name === old))
            gone.set(old, now);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();

    await custom.patchNamespacedCustomObject(
      {
        group: G,
        version: V,
        namespace: ns.name,
        plural: 'servingstacks',
        name,
        body: { spec: { throughput: { precision: 'int8' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const rolled = await waitFor(
      `Deployment ${deployment} to finish rolling out PRECISION=int8`,
      () => apps.readNamespacedDeployment({ name: deployment, namespace: ns.name }),
      {
        until: (d) => {
          const env = d.spec?.template.spec?.containers[0]?.env ?? [];
          const s = d.status;
          return (
            env.some((e) => e.name === 'PRECISION' && e.value === 'int8') &&
            s?.observedGeneration === d.metadata?.generation &&
            s?.updatedReplicas === 1 &&
            s?.replicas === 1 &&
            s?.availableReplicas === 1
          );
        },
        timeoutMs: MAX_LOAD_MS - 30_000,
        intervalMs: 1_000,
      },
    );
    // Keep the load on a little after the old pod is gone, then stop it.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    stop = true;
    await load;
    agent.destroy();
    await waitFor('every old pod to be gone', () => Promise.resolve(gone.size), {
      until: (n) => n === oldPods.size,
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    watching = false;
    await watch;

    expect(rolled.metadata?.generation).toBeGreaterThan(before.metadata?.generation ?? 0);
    const failed = outcomes.filter((o) => o.status !== 200);
    const histogram: Record<string, number> = {};
    for (const o of failed)
      histogram[o.error ?? String(o.status)] = (histogram[o.error ?? String(o.status)] ?? 0) + 1;
    expect(outcomes.length).toBeGreaterThan(50);
    // Failures by status (or transport error), next to the total, so a failure reads as a rate.
    expect({ requests: outcomes.length, failed: histogram }).toEqual({
      requests: outcomes.length,
      failed: {},
    });
    expect(outcomes.every((o) => o.pool === 'throughput')).toBe(true);
    // Each old pod left within preStop + the longest batch + 2 s of its deletion (the
    // deletionTimestamp has whole seconds: up to 1 s of that is rounding).
    const bound = PRE_STOP_MS + LONGEST_BATCH_MS + EXIT_MARGIN_MS;
    const lifetimes = [...oldPods].map((p) => ({ pod: p, terminatingMs: gone.get(p)! - deleting.get(p)! }));
    expect(lifetimes.filter((l) => l.terminatingMs > bound)).toEqual([]);
  }, 300_000);
});
