// Autoscaling end to end on the local cluster, through the real chain: the server pods' /metrics
// -> Prometheus -> prometheus-adapter (custom.metrics.k8s.io, the chart's rules) -> the HPA
// controller in kube-controller-manager -> the pools' Deployments. Nothing here fakes a metric:
// load goes through the router on 127.0.0.1:8088 and the HPAs react to what Prometheus scraped.
//
// The stack shortens the HPA stabilization windows and sets small targets through its own spec
// (spec.<pool>.autoscaling), the way a user would. Each replica gets a fixed capacity, as one GPU
// per pod would give it: a LimitRange gives the namespace's containers a default CPU limit, which
// the node agent enforces with a CFS quota as the kubelet does. A paced request rate that one
// latency pod cannot keep up with (its queue fills and its p95 climbs to seconds) is well within
// the capacity of the pool at its maximum size, so the latency pool's p95 must come back under its
// target once the HPA has added replicas, with the same load still on.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppsV1Api, AutoscalingV2Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { ensureMetrics, ensureNodeAgent, ensureRouter } from '../agent/testing/cluster-parts.ts';
import { stackManifest } from '../agent/testing/stack.ts';
import { startLocalOperator, type LocalOperator } from './support/local-operator.ts';
import {
  current,
  onlyHpa,
  P95_METRIC,
  perPodMetric,
  POOL_P95_METRIC,
  poolLabelSelector,
  RPS_METRIC,
  type Pool,
} from './support/hpa-metrics.ts';
import { OpenLoopLoad } from './support/open-loop-load.ts';
import {
  kubeconfigPath,
  kubectl,
  loadKubeConfig,
  repoRoot,
  waitFor,
  withTestNamespace,
} from './support/index.ts';

const STACK = 'autoscale';

// Targets and windows, all through the ServingStack spec. The latency pool is driven by p95 only
// (its RPS target is out of reach), the throughput pool by RPS only (its p95 target likewise).
// The latency pool's scale-down window is longer: once its p95 is back under the target the HPA
// recommends fewer replicas, and the window keeps them while the test looks.
//
// The latency target sits above one CFS period (100 ms): a pod whose quota for the period is spent
// holds its request until the next period, so under a quota a pod's p95 is either about one period
// (quota spent now and then: scrapes, probes, a busy neighbour on the node) or seconds (more work
// than the quota: a queue). Only the second is the overload the HPA must act on; a target under one
// period would make the test's outcome depend on how busy the rest of the machine is.
const LATENCY_TARGET_P95_MS = 200;
const THROUGHPUT_TARGET_RPS = 5;
const LATENCY_MAX_REPLICAS = 5;
const THROUGHPUT_MAX_REPLICAS = 3;
const LATENCY_SCALE_DOWN_WINDOW_S = 60;
const THROUGHPUT_SCALE_DOWN_WINDOW_S = 15;

// Every container in the test namespace gets this CPU limit from the LimitRange (a CFS quota of
// 5 ms per 100 ms period), and the pools request as much (LimitRanger refuses a request above the
// limit). Measured on the 2-core development machine: a latency pod uses about 0.011 CPU idle
// (scrapes, probes) and 1.2-1.7 ms of CPU per request, up to 2.5 ms while the whole e2e cluster is
// busy, so one pod saturates between 15 and 30 requests/s under this quota.
const CPU_LIMIT = '50m';

// Open-loop load (support/open-loop-load.ts): requests start on a fixed schedule whatever the
// answers, at most this many in flight (the latency pool's queue size, so a pod queues rather than
// rejects), for at most this long.
// 40 requests/s overloads one latency pod even at 1 ms of CPU per request ((40 x 1 + 11) ms of CPU
// a second against a 50 ms quota), and spread over the pool's five replicas it uses at most about
// 60% of each one's quota even at 2.5 ms per request ((8 x 2.5 + 11) / 50), where a pod's p95 stays
// near one CFS period.
const LATENCY_RATE_PER_S = 40;
const THROUGHPUT_RATE_PER_S = 15;
const MAX_IN_FLIGHT = 64;
const LOAD_MAX_SECONDS = 600;

// One host per run: the router is shared, and two runs with one host would share each other's load.
const hostOf = (namespace: string) => `${namespace}.autoscaling.e2e.test`;

/** The shared e2e stack, with autoscaling on both pools and no GPU (the pods run on CPU anyway). */
function autoscalingStack(namespace: string) {
  const stack = stackManifest({ name: STACK, namespace, host: hostOf(namespace), provider: 'ingress-nginx' });
  const pools = stack.spec as Record<'throughput' | 'latency', Record<string, unknown>>;
  pools.throughput = {
    ...pools.throughput,
    resources: { gpus: 0, cpu: CPU_LIMIT, memory: '512Mi' },
    autoscaling: {
      minReplicas: 1,
      maxReplicas: THROUGHPUT_MAX_REPLICAS,
      targetRPSPerReplica: THROUGHPUT_TARGET_RPS,
      targetP95Ms: 60_000,
      scaleUpStabilizationWindowSeconds: 0,
      scaleDownStabilizationWindowSeconds: THROUGHPUT_SCALE_DOWN_WINDOW_S,
    },
  };
  pools.latency = {
    ...pools.latency,
    resources: { gpus: 0, cpu: CPU_LIMIT, memory: '512Mi' },
    autoscaling: {
      minReplicas: 1,
      maxReplicas: LATENCY_MAX_REPLICAS,
      targetP95Ms: LATENCY_TARGET_P95_MS,
      targetRPSPerReplica: 1_000_000,
      scaleUpStabilizationWindowSeconds: 0,
      scaleDownStabilizationWindowSeconds: LATENCY_SCALE_DOWN_WINDOW_S,
    },
  };
  return stack;
}

/** Open-loop load on this run's host, as the suite sends it. */
const startLoad = (
  namespace: string,
  priority: 'real-time' | 'batch',
  ratePerS: number,
  maxSeconds = LOAD_MAX_SECONDS,
) =>
  new OpenLoopLoad({ host: hostOf(namespace), priority, ratePerS, maxInFlight: MAX_IN_FLIGHT, maxSeconds });

describe('autoscaling through Prometheus, prometheus-adapter and the HPA controller', () => {
  const ns = withTestNamespace('e2e-autoscaling');
  const kc = loadKubeConfig();
  const autoscaling = kc.makeApiClient(AutoscalingV2Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  let operator: LocalOperator | undefined;

  const poolSelector = (pool: Pool) => poolLabelSelector(STACK, pool);
  const hpaOf = (pool: Pool) => onlyHpa(autoscaling, ns.name, STACK, pool);
  const perPod = (pool: Pool, metric: string) => perPodMetric(ns.name, poolSelector(pool), metric);

  async function deploymentOf(pool: Pool) {
    return apps.readNamespacedDeployment({ name: `${STACK}-${pool}`, namespace: ns.name });
  }

  const showHpas = async (when: string) => {
    console.log(`kubectl get hpa (${when}):\n${await kubectl(['get', 'hpa', '-n', ns.name, '-o', 'wide'])}`);
  };

  beforeAll(async () => {
    // Each part is idempotent: what already runs is kept. metrics.sh starts Prometheus and
    // prometheus-adapter (built by `make tools`) and registers custom.metrics.k8s.io.
    await ensureNodeAgent();
    await ensureRouter();
    await ensureMetrics();
    await kubectl(['apply', '--server-side', '-f', `${repoRoot}crds/`]);
    operator = await startLocalOperator({
      kubeconfig: kubeconfigPath,
      watchNamespaces: [ns.name],
      identity: 'e2e-autoscaling',
    });
    // What caps each replica's compute: a real LimitRange, applied to the pods by the
    // apiserver's LimitRanger admission and enforced by the node agent as a CFS quota.
    await core.createNamespacedLimitRange({
      namespace: ns.name,
      body: {
        metadata: { name: 'cpu-per-container' },
        spec: { limits: [{ type: 'Container', _default: { cpu: CPU_LIMIT } }] },
      },
    });
    await custom.createNamespacedCustomObject({
      group: 'servingstack.dev',
      version: 'v1alpha1',
      namespace: ns.name,
      plural: 'servingstacks',
      body: autoscalingStack(ns.name),
    });
    await waitFor(
      `ServingStack ${STACK} to be Ready`,
      async () =>
        JSON.parse(await kubectl(['get', 'servingstack', STACK, '-n', ns.name, '-o', 'json'])) as unknown,
      {
        timeoutMs: 300_000,
        intervalMs: 2_000,
        until: (s) =>
          (s as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions?.some(
            (c) => c.type === 'Ready' && c.status === 'True',
          ) ?? false,
      },
    );
  }, 720_000);

  afterAll(async () => {
    await operator?.stop();
  }, 60_000);

  it('serves both custom metrics through the aggregation layer for every pod of both pools', async () => {
    // A few answered requests per pool give each pod a series; then the adapter must know them.
    const warm = [startLoad(ns.name, 'real-time', 5, 10), startLoad(ns.name, 'batch', 5, 10)];
    const perPool = await waitFor(
      'custom.metrics.k8s.io to serve both metrics for both pools',
      async () => ({
        latencyRps: await perPod('latency', RPS_METRIC),
        throughputRps: await perPod('throughput', RPS_METRIC),
        latencyP95: await perPod('latency', P95_METRIC),
        throughputP95: await perPod('throughput', P95_METRIC),
      }),
      { timeoutMs: 90_000, intervalMs: 2_000, until: (m) => Object.values(m).every((v) => v.size > 0) },
    );
    await Promise.all(warm.map((l) => l.stop()));
    expect([...perPool.latencyRps.keys()].every((pod) => pod.startsWith(`${STACK}-latency-`))).toBe(true);
    expect([...perPool.throughputRps.keys()].every((pod) => pod.startsWith(`${STACK}-throughput-`))).toBe(
      true,
    );
    expect(warm[0]!.byPool.get('latency')).toBeGreaterThan(0);
    expect(warm[1]!.byPool.get('throughput')).toBeGreaterThan(0);
  }, 150_000);

  it('scales the latency pool up when its p95 passes the target, and the p95 comes back under it', async () => {
    // Every latency pod runs under the namespace's default CPU limit, as the kubelet would run it.
    const [pod] = (
      await core.listNamespacedPod({ namespace: ns.name, labelSelector: poolSelector('latency') })
    ).items;
    expect(pod?.spec?.containers.find((c) => c.name === 'server')?.resources?.limits?.cpu).toBe(CPU_LIMIT);

    const load = startLoad(ns.name, 'real-time', LATENCY_RATE_PER_S);
    try {
      const over = await waitFor(
        `the latency HPA to see p95 above ${LATENCY_TARGET_P95_MS} ms`,
        () => hpaOf('latency'),
        {
          timeoutMs: 120_000,
          intervalMs: 2_000,
          until: (h) => (current(h, POOL_P95_METRIC) ?? 0) * 1000 > LATENCY_TARGET_P95_MS,
        },
      );
      await showHpas('latency load, before scaling');
      expect(current(over, RPS_METRIC)).toBeGreaterThan(0);

      const scaled = await waitFor(
        'the latency Deployment to have more than one ready replica',
        () => deploymentOf('latency'),
        { timeoutMs: 180_000, intervalMs: 2_000, until: (d) => (d.status?.readyReplicas ?? 0) > 1 },
      );
      const ready = scaled.status?.readyReplicas ?? 0;

      // Every ready pod answers part of the load: its own request rate, as Prometheus saw it.
      const serving = await waitFor(
        `all ${ready} ready latency pods to serve requests`,
        () => perPod('latency', RPS_METRIC),
        {
          timeoutMs: 90_000,
          intervalMs: 2_000,
          until: (m) => [...m.values()].filter((rps) => rps > 0).length >= ready,
        },
      );
      expect(serving.size).toBeGreaterThanOrEqual(ready);

      // With the same load still on, the added capacity must bring the p95 back under the target:
      // the pool's p95 the HPA reads and every pod's own p95 (the first pod's 1m rate window must first
      // forget its queue), while the pool still has more than one replica.
      const recovered = await waitFor(
        `the latency pool's p95 to come back under ${LATENCY_TARGET_P95_MS} ms with more than one replica`,
        async () => {
          const hpa = await hpaOf('latency');
          return {
            replicas: hpa.status?.currentReplicas ?? 0,
            hpaP95: current(hpa, POOL_P95_METRIC),
            podP95: Object.fromEntries(await perPod('latency', P95_METRIC)),
          };
        },
        {
          timeoutMs: 240_000,
          intervalMs: 2_000,
          until: (v) =>
            load.running &&
            v.replicas > 1 &&
            v.hpaP95 !== undefined &&
            v.hpaP95 * 1000 < LATENCY_TARGET_P95_MS &&
            Object.keys(v.podP95).length > 1 &&
            Object.values(v.podP95).every((p95) => p95 * 1000 < LATENCY_TARGET_P95_MS),
        },
      );
      await showHpas('latency load, after scaling');
      console.log(`latency p95 per pod (s): ${JSON.stringify(recovered.podP95)}`);
      expect(recovered.replicas).toBeGreaterThan(1);
      expect((recovered.hpaP95 ?? Infinity) * 1000).toBeLessThan(LATENCY_TARGET_P95_MS);
      expect(load.running).toBe(true);
    } finally {
      await load.stop();
      console.log(`latency load: ${load.summary()}`);
    }
    expect(load.byPool.get('latency')).toBeGreaterThan(0);
    expect(load.byPool.has('throughput')).toBe(false);
  }, 720_000);

  it('scales the throughput pool up when its requests per second pass the target', async () => {
    const load = startLoad(ns.name, 'batch', THROUGHPUT_RATE_PER_S);
    try {
      const over = await waitFor(
        `the throughput HPA to see more than ${THROUGHPUT_TARGET_RPS} requests/s per pod`,
        () => hpaOf('throughput'),
        {
          timeoutMs: 120_000,
          intervalMs: 2_000,
          until: (h) => (current(h, RPS_METRIC) ?? 0) > THROUGHPUT_TARGET_RPS,
        },
      );
      expect(current(over, P95_METRIC)).toBeGreaterThan(0);
      await showHpas('throughput load');
      await waitFor(
        'the throughput Deployment to have more than one ready replica',
        () => deploymentOf('throughput'),
        {
          timeoutMs: 180_000,
          intervalMs: 2_000,
          until: (d) => (d.status?.readyReplicas ?? 0) > 1,
        },
      );
    } finally {
      await load.stop();
      console.log(`throughput load: ${load.summary()}`);
    }
    expect(load.byPool.get('throughput')).toBeGreaterThan(0);
    expect(load.byPool.has('latency')).toBe(false);
  }, 400_000);

  it('scales both pools back down once the load is gone and the stabilization window has passed', async () => {
    for (const pool of ['latency', 'throughput'] as const) {
      await waitFor(`the ${pool} HPA to scale its Deployment back to 1 replica`, () => deploymentOf(pool), {
        timeoutMs: 240_000,
        intervalMs: 3_000,
        until: (d) => d.spec?.replicas === 1 && d.status?.readyReplicas === 1,
      });
    }
    await showHpas('idle');
  }, 500_000);
});
