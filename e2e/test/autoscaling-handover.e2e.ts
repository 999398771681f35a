// Turning autoscaling on and off never changes a pool's running replica count in the switch: the
// operator hands spec.replicas to the HPA as the server-side apply documentation describes, and
// takes it back before the HPA goes. Under load through Traefik, the throughput pool goes from 2
// fixed replicas to an HPA (min = max = 2, so the HPA itself moves nothing), gets a rolling update
// while the HPA owns the count (the apply that once dropped the count to its default of 1), then
// back to 2 fixed replicas. The Deployment's spec.replicas and readyReplicas are sampled all along.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPLICAS_ANNOTATION } from '../../operator/src/builders/deployment.ts';
import { defaultServiceAccount, ensureNodeAgent, ensureRouter } from '../agent/testing/cluster-parts.ts';
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
const hpas = kc.makeApiClient(AutoscalingV2Api);
const ns = withTestNamespace('e2e-handover');
const name = 'hand';
const deployment = `${name}-throughput`;
const host = 'hand.handover.e2e.test';
const REPLICAS = 2;
const CONCURRENCY = 2;
const MAX_LOAD_MS = 360_000;

let operator: LocalOperator | undefined;

const patchStack = (spec: Record<string, unknown>) =>
  custom.patchNamespacedCustomObject(
    { group: G, version: V, namespace: ns.name, plural: 'servingstacks', name, body: { spec } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
const readDeployment = () => apps.readNamespacedDeployment({ name: deployment, namespace: ns.name });
const hpaExists = async () => {
  try {
    await hpas.readNamespacedHorizontalPodAutoscaler({ name: deployment, namespace: ns.name });
    return true;
  } catch (e) {
    if (e instanceof ApiException && e.code === 404) return false;
    throw e;
  }
};

beforeAll(async () => {
  await ensureNodeAgent();
  await ensureRouter();
  await defaultServiceAccount(ns.name, kubectl);
  await kubectl(['apply', '--server-side', '-f', `${repoRoot}crds/`]);
  operator = await startLocalOperator({
    kubeconfig: kubeconfigPath,
    watchNamespaces: [ns.name],
    identity: 'e2e-handover',
  });
  const stack = stackManifest({ name, namespace: ns.name, host, provider: 'ingress-nginx' });
  (stack.spec.throughput as Record<string, unknown>).replicas = REPLICAS;
  await custom.createNamespacedCustomObject({
    group: G,
    version: V,
    namespace: ns.name,
    plural: 'servingstacks',
    body: stack,
  });
  await waitFor(`${REPLICAS} ready replicas of ${deployment}`, readDeployment, {
    until: (d) => d.status?.readyReplicas === REPLICAS,
    timeoutMs: 300_000,
    intervalMs: 2_000,
  });
  await waitFor('the router to reach the throughput pool', () => callRouter({ host, model: 'mlp' }), {
    until: (o) => o.status === 200 && o.pool === 'throughput',
    timeoutMs: 60_000,
    intervalMs: 1_000,
  });
}, 420_000);

afterAll(async () => {
  await operator?.stop();
});

describe('autoscaling turned on and off under load', () => {
  test('the pool never has fewer than its replicas, desired or ready, and every request is answered', async () => {
    const samples: { replicas: number; ready: number }[] = [];
    const outcomes: Outcome[] = [];
    let stop = false;
    const started = Date.now();
    const sampler = (async () => {
      while (!stop) {
        const d = await readDeployment();
        samples.push({ replicas: d.spec?.replicas ?? 0, ready: d.status?.readyReplicas ?? 0 });
        await sleep(200);
      }
    })();
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const load = Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (!stop && Date.now() - started < MAX_LOAD_MS) {
          outcomes.push(await callRouter({ host, model: 'mlp' }, agent, outcomes.length));
        }
      }),
    );

    try {
      // On: the HPA (min = max = the current count) takes replicas over; the Deployment lets go.
      await patchStack({ throughput: { autoscaling: { minReplicas: REPLICAS, maxReplicas: REPLICAS } } });
      await waitFor(
        'the HPA, and the Deployment applied without replicas',
        async () =>
          (await hpaExists()) && !((await readDeployment()).metadata?.annotations ?? {})[REPLICAS_ANNOTATION],
      );
      // A rolling update while the HPA owns the count: the apply that once released replicas.
      await patchStack({ throughput: { batching: { maxDelayMs: 6 } } });
      await waitFor(`${deployment} rolled out with MAX_DELAY_MS=6`, readDeployment, {
        until: (d) =>
          (d.spec?.template.spec?.containers[0]?.env ?? []).some(
            (e) => e.name === 'MAX_DELAY_MS' && e.value === '6',
          ) &&
          d.status?.observedGeneration === d.metadata?.generation &&
          d.status?.updatedReplicas === REPLICAS &&
          d.status?.availableReplicas === REPLICAS &&
          d.status?.replicas === REPLICAS,
        timeoutMs: 240_000,
        intervalMs: 1_000,
      });
      // Off: the Deployment carries replicas again before the HPA goes.
      await patchStack({ throughput: { autoscaling: null, replicas: REPLICAS } });
      await waitFor(
        'the HPA gone and the Deployment holding replicas',
        async () =>
          !(await hpaExists()) &&
          ((await readDeployment()).metadata?.annotations ?? {})[REPLICAS_ANNOTATION] !== undefined,
      );
      // An HPA sync period (5 s here) and a little more, in case anything were to move late.
      await sleep(8_000);
    } finally {
      stop = true;
      await Promise.all([sampler, load]);
      agent.destroy();
    }

    expect(samples.length).toBeGreaterThan(50);
    expect({
      fewestDesired: Math.min(...samples.map((s) => s.replicas)),
      fewestReady: Math.min(...samples.map((s) => s.ready)),
    }).toEqual({ fewestDesired: REPLICAS, fewestReady: REPLICAS });
    const failed: Record<string, number> = {};
    for (const o of outcomes.filter((x) => x.status !== 200)) {
      const k = o.error ?? String(o.status);
      failed[k] = (failed[k] ?? 0) + 1;
    }
    expect(outcomes.length).toBeGreaterThan(50);
    expect({ requests: outcomes.length, failed }).toEqual({ requests: outcomes.length, failed: {} });
  }, 480_000);
});
