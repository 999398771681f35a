// A rolling update under load loses no request: while bounded load runs through Traefik to the
// throughput pool, its precision changes (fp32 -> int8, both FP32 on the wire) and the Deployment
// rolls a new pod in and the old one out on the node agent.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AppsV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
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
  }, 300_000);
});
