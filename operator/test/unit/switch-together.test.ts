// switchStrategy Together against the fake API server: a new version starts as a second set of
// Deployments beside the live one; the Services (and the HPAs) move to it in one pass once both
// of its pools are ready, and only then does the old set go; setting the old version back mid-switch
// drops the new set without the Services ever moving; a new set that never gets ready leaves the
// live one serving and the status says how far it is. Rolling keeps its one Deployment per pool.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { ServingStackSpec } from '../../src/api/servingstack.ts';
import { buildDesired } from '../../src/builders/desired.ts';
import {
  desiredModelVersion,
  desiredSet,
  MODEL_VERSION_ANNOTATION,
} from '../../src/builders/model-version.ts';
import { LABEL_MODEL_SET } from '../../src/builders/names.ts';
import { deploymentReady, planSwitch } from '../../src/builders/switch.ts';
import { leanChild } from '../../src/controller/lean.ts';
import { EventRecorder } from '../../src/reconcile/events.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { FakeCluster, getPath, indexed } from '../support/fake-cluster.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { ctx, defaulted } from './fixtures.ts';

const APPS = 'apps/v1';
const log = pino({ level: 'silent' });
const v1 = {
  'model.onnx': 'a'.repeat(64),
  'model.fp16.onnx': 'b'.repeat(64),
  'model.int8.onnx': 'c'.repeat(64),
};
const v2 = { ...v1, 'model.onnx': 'd'.repeat(64) };
const model = (digests: Record<string, string>, switchStrategy: 'Rolling' | 'Together' = 'Together') => ({
  name: 'sentiment',
  uri: 'file:///opt/servingstack/models/mlp',
  digests,
  switchStrategy,
});
const spec = (digests: Record<string, string>, extra: Partial<ServingStackSpec> = {}): ServingStackSpec => ({
  model: model(digests),
  routing: { host: 'sentiment.example.com', provider: 'gateway-api' },
  ...extra,
});
const SET1 = desiredSet(defaulted({ model: model(v1) }).spec.model);
const SET2 = desiredSet(defaulted({ model: model(v2) }).spec.model);

function harness(first: ServingStackSpec) {
  const fake = new FakeCluster();
  const clock = new ManualClock();
  const events = new EventRecorder(fake.eventsApi as never, 'test', clock.date, log);
  const reconciler = new Reconciler(fake.caches(), fake as never, events, ctx, clock.date, log);
  fake.putStack(first);
  const name = (pool: string, set: string) => (set === '' ? `sentiment-${pool}` : `sentiment-${pool}-${set}`);
  const deployment = (pool: string, set: string) => fake.get(APPS, 'Deployment', name(pool, set));
  return {
    fake,
    put: (s: ServingStackSpec) => fake.putStack(s),
    pass: () => reconciler.reconcile('ml', 'sentiment'),
    deployment,
    selector: (pool: string) =>
      getPath(fake.get('v1', 'Service', `sentiment-${pool}`), ['spec', 'selector', LABEL_MODEL_SET]),
    /** What the Deployment controller reports once every replica of the pool's set is ready. */
    ready: async (pool: string, set: string) => {
      const d = deployment(pool, set);
      const replicas = (getPath(d, ['spec', 'replicas']) as number | undefined) ?? 1;
      // Its ReplicaSet of the current template, every replica ready.
      const version = getPath(d, ['spec', 'template', 'metadata', 'annotations', MODEL_VERSION_ANNOTATION]);
      const rsName = `${name(pool, set)}-${String(version).slice(7, 15)}`;
      await fake.apply(
        {
          apiVersion: APPS,
          kind: 'ReplicaSet',
          metadata: {
            name: rsName,
            namespace: 'ml',
            labels: getPath(d, ['spec', 'template', 'metadata', 'labels']) as Record<string, string>,
            ownerReferences: [
              {
                apiVersion: APPS,
                kind: 'Deployment',
                name: name(pool, set),
                uid: getPath(d, ['metadata', 'uid']) as string,
                controller: true,
              },
            ],
          },
          spec: {
            selector: {},
            template: { metadata: { annotations: { [MODEL_VERSION_ANNOTATION]: String(version) } } },
          },
        } as KubernetesObject,
        { manager: 'kube-controller-manager' },
      );
      fake.setServerStatus(APPS, 'ReplicaSet', rsName, { replicas, readyReplicas: replicas });
      fake.setServerStatus(APPS, 'Deployment', name(pool, set), {
        observedGeneration: getPath(d, ['metadata', 'generation']) ?? 1,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        conditions: [
          { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
          { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
        ],
      });
    },
    condition: (type: string) => fake.stack().status?.conditions?.find((c) => c.type === type),
  };
}

describe('switchStrategy Together', () => {
  test('a new version starts beside the live set; both Services move when both pools of it are ready; then the old set goes', async () => {
    const h = harness(spec(v1));
    await h.pass();
    expect(h.selector('throughput')).toBe(SET1);
    expect(h.selector('latency')).toBe(SET1);
    for (const pool of ['throughput', 'latency']) {
      expect(getPath(h.deployment(pool, SET1), ['spec', 'selector', 'matchLabels', LABEL_MODEL_SET])).toBe(
        SET1,
      );
      expect(
        getPath(h.deployment(pool, SET1), ['spec', 'template', 'metadata', 'labels', LABEL_MODEL_SET]),
      ).toBe(SET1);
      await h.ready(pool, SET1);
    }
    // Rolling's one Deployment per pool is not made.
    expect(h.fake.get(APPS, 'Deployment', 'sentiment-throughput')).toBeUndefined();

    h.put(spec(v2));
    await h.pass();
    for (const pool of ['throughput', 'latency']) {
      expect(h.deployment(pool, SET2)).toBeDefined();
      expect(h.deployment(pool, SET1)).toBeDefined();
      expect(h.selector(pool)).toBe(SET1);
    }
    expect(h.condition('ModelVersionConsistent')).toMatchObject({ status: 'False', reason: 'SwitchPending' });
    expect(h.condition('ModelVersionConsistent')?.message).toContain('throughput: 0/1 ready');
    expect(h.condition('ThroughputAvailable')?.status).toBe('True');

    // One pool's new set ready is not enough: the pools switch together.
    await h.ready('throughput', SET2);
    await h.pass();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET1, SET1]);
    expect(h.condition('ModelVersionConsistent')?.message).toContain('latency: 0/1 ready');

    await h.ready('latency', SET2);
    await h.pass();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET2, SET2]);
    expect(h.deployment('throughput', SET1)).toBeUndefined();
    expect(h.deployment('latency', SET1)).toBeUndefined();
    expect(h.fake.stack().status?.desiredModelVersion).toBe(
      desiredModelVersion(defaulted({ model: model(v2) }).spec.model),
    );
  });

  test('setting the live version back mid-switch drops the new set; the Services never move', async () => {
    const h = harness(spec(v1));
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET1);
    await h.pass();
    h.put(spec(v2));
    await h.pass();
    await h.ready('throughput', SET2);
    await h.pass();
    const mark = h.fake.mark;
    h.put(spec(v1));
    await h.pass();
    expect(h.deployment('throughput', SET2)).toBeUndefined();
    expect(h.deployment('latency', SET2)).toBeUndefined();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET1, SET1]);
    // Nothing touched the Services or the live set on the way back.
    expect(
      h.fake
        .writes(mark)
        .filter((w) => w.kind === 'Service' || (w.kind === 'Deployment' && w.name?.endsWith(SET1))),
    ).toEqual([]);
  });

  test('a new set that never gets ready (no GPU left) leaves the live one serving, and the status says why', async () => {
    const h = harness(spec(v1));
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET1);
    await h.pass();
    h.put(spec(v2));
    await h.pass();
    h.fake.setServerStatus(APPS, 'Deployment', `sentiment-latency-${SET2}`, {
      replicas: 1,
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: `ReplicaSet "sentiment-latency-${SET2}-7f" has timed out progressing.`,
        },
      ],
    });
    await h.pass();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET1, SET1]);
    expect(h.deployment('latency', SET1)).toBeDefined();
    expect(h.condition('ModelVersionConsistent')).toMatchObject({ status: 'False', reason: 'SwitchPending' });
    expect(h.condition('ModelVersionConsistent')?.message).toContain('has timed out progressing');
    expect(h.condition('Ready')?.status).toBe('True');
  });

  test('the new set starts at the live set’s replica counts and the HPAs scale the live set until the switch', () => {
    const stack = defaulted({
      model: model(v2),
      throughput: { autoscaling: { minReplicas: 1, maxReplicas: 8 } },
    });
    const live: Record<string, V1Deployment> = {
      throughput: {
        metadata: { name: `sentiment-throughput-${SET1}` },
        spec: { replicas: 5, selector: {}, template: {} },
      },
      latency: {
        metadata: { name: `sentiment-latency-${SET1}` },
        spec: { replicas: 2, selector: {}, template: {} },
      },
    };
    const plan = planSwitch(stack, {
      liveSet: SET1,
      deployment: (pool, set) => (set === SET1 ? live[pool] : undefined),
    });
    expect(plan).toMatchObject({
      serve: SET1,
      build: SET2,
      keep: SET1,
      startReplicas: { throughput: 5, latency: 2 },
    });
    const children = buildDesired(stack, ctx, plan).children;
    const dep = children.find((c) => c.metadata?.name === `sentiment-throughput-${SET2}`) as V1Deployment;
    expect(dep.spec?.replicas).toBe(5);
    const hpa = children.find((c) => c.kind === 'HorizontalPodAutoscaler');
    expect(getPath(hpa, ['spec', 'scaleTargetRef', 'name'])).toBe(`sentiment-throughput-${SET1}`);
    // Once it is live, the HPA scales it and the count is the HPA's.
    const after = buildDesired(
      stack,
      ctx,
      planSwitch(stack, { liveSet: SET2, deployment: () => undefined }),
    ).children;
    expect(
      getPath(
        after.find((c) => c.kind === 'HorizontalPodAutoscaler'),
        ['spec', 'scaleTargetRef', 'name'],
      ),
    ).toBe(`sentiment-throughput-${SET2}`);
    expect(
      (after.find((c) => c.metadata?.name === `sentiment-throughput-${SET2}`) as V1Deployment).spec?.replicas,
    ).toBeUndefined();
  });

  test('a set is ready once rolled out with every replica ready, judged on what the cache keeps of it', () => {
    const dep = (readyReplicas: number, progressing: string): V1Deployment =>
      leanChild<V1Deployment>('Deployment')({
        apiVersion: APPS,
        kind: 'Deployment',
        metadata: { name: 'd', generation: 2 },
        spec: { replicas: 2, selector: {}, template: {} },
        status: {
          observedGeneration: 2,
          replicas: 2,
          updatedReplicas: 2,
          readyReplicas,
          conditions: [
            { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
            { type: 'Progressing', status: 'True', reason: progressing },
          ],
        },
      } as V1Deployment);
    expect(deploymentReady(dep(2, 'NewReplicaSetAvailable'))).toBe(true);
    expect(deploymentReady(dep(1, 'NewReplicaSetAvailable'))).toBe(false);
    expect(deploymentReady(dep(2, 'ReplicaSetUpdated'))).toBe(false);
    expect(deploymentReady(undefined)).toBe(false);
  });

  test('Rolling is unchanged: one Deployment per pool, Services without a set', async () => {
    const h = harness({ ...spec(v1), model: model(v1, 'Rolling') });
    await h.pass();
    expect(h.fake.get(APPS, 'Deployment', 'sentiment-throughput')).toBeDefined();
    expect(h.selector('throughput')).toBeUndefined();
  });
});

describe('switchStrategy Together, edges', () => {
  test('a pool scaled to 0 replicas does not hold the switch back: its new set is ready with 0 of 0', async () => {
    const h = harness(spec(v1, { latency: { replicas: 0 } }));
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET1);
    await h.pass();
    h.put(spec(v2, { latency: { replicas: 0 } }));
    await h.pass();
    expect(getPath(h.deployment('latency', SET2), ['spec', 'replicas'])).toBe(0);
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET2);
    await h.pass();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET2, SET2]);
    expect(h.deployment('throughput', SET1)).toBeUndefined();
  });

  test('moving from Rolling to Together with a new version never starts a set the Rolling Services select', async () => {
    const h = harness({ ...spec(v1), model: model(v1, 'Rolling') });
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, '');
    h.put(spec(v2));
    await h.pass();
    // The Rolling Services select every pod of the pool: a set of the new version beside the
    // Rolling Deployments would answer through them as soon as a pod of it is ready, from one
    // pool before the other, while the status says the live set serves every request.
    for (const pool of ['throughput', 'latency']) {
      const selector = getPath(h.fake.get('v1', 'Service', `sentiment-${pool}`), [
        'spec',
        'selector',
      ]) as Record<string, string>;
      const labels = (getPath(h.deployment(pool, SET2), ['spec', 'template', 'metadata', 'labels']) ??
        {}) as Record<string, string>;
      expect(Object.entries(selector).every(([k, v]) => labels[k] === v)).toBe(false);
    }
    expect(h.condition('ModelVersionConsistent')?.reason).not.toBe('SwitchPending');
    // Once the Rolling Deployments serve the new version, its set starts beside them and takes over.
    expect(h.deployment('throughput', '')).toBeDefined();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, '');
    await h.pass();
    expect(h.deployment('throughput', SET2)).toBeDefined();
    expect(h.condition('ModelVersionConsistent')?.reason).toBe('SwitchPending');
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET2);
    await h.pass();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET2, SET2]);
    expect(h.deployment('throughput', '')).toBeUndefined();
  });
});

describe('switchStrategy Together with an HPA', () => {
  test('the new set keeps the live count through the switch: the HPA takes it over without a drop to 1', async () => {
    const autoscaled = { throughput: { autoscaling: { minReplicas: 1, maxReplicas: 8 } } };
    const h = harness(spec(v1, autoscaled));
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET1);
    await h.pass();
    h.fake.hpaScales(`sentiment-throughput-${SET1}`, 4);
    await h.pass();
    h.put(spec(v2, autoscaled));
    await h.pass();
    expect(getPath(h.deployment('throughput', SET2), ['spec', 'replicas'])).toBe(4);
    // The HPA scales the live set while the new one gets ready: the new set follows.
    h.fake.hpaScales(`sentiment-throughput-${SET1}`, 5);
    await h.pass();
    expect(getPath(h.deployment('throughput', SET2), ['spec', 'replicas'])).toBe(5);
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET2);
    await h.pass();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET2, SET2]);
    const hpa = h.fake.get('autoscaling/v2', 'HorizontalPodAutoscaler', 'sentiment-throughput');
    expect(getPath(hpa, ['spec', 'scaleTargetRef', 'name'])).toBe(`sentiment-throughput-${SET2}`);
    expect(h.fake.replicasHistory.get(`sentiment-throughput-${SET2}`)).toEqual([4, 5]);
    await h.pass();
    h.fake.hpaScales(`sentiment-throughput-${SET2}`, 6);
    await h.pass();
    expect(h.fake.replicasHistory.get(`sentiment-throughput-${SET2}`)).toEqual([4, 5, 6]);
  });

  test('deleting the stack mid-switch takes both sets with it: each is owned by the stack', async () => {
    const h = harness(spec(v1));
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET1);
    await h.pass();
    h.put(spec(v2));
    await h.pass();
    const uid = h.fake.stack().metadata?.uid;
    for (const set of [SET1, SET2])
      for (const pool of ['throughput', 'latency'])
        expect(getPath(h.deployment(pool, set), ['metadata', 'ownerReferences'])).toEqual([
          expect.objectContaining({ kind: 'ServingStack', uid, controller: true }),
        ]);
  });
});

describe('switchStrategy Together, a new leader', () => {
  test('mid-switch, and after a switch pass cut short between the two Services, a fresh operator carries on from the cluster', async () => {
    const h = harness(spec(v1));
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET1);
    await h.pass();
    h.put(spec(v2));
    await h.pass();
    // A fresh process: nothing in memory but what the cluster says.
    const fresh = () =>
      new Reconciler(
        h.fake.caches(),
        h.fake as never,
        new EventRecorder(h.fake.eventsApi as never, 'test', new ManualClock().date, log),
        ctx,
        new ManualClock().date,
        log,
      ).reconcile('ml', 'sentiment');
    await fresh();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET1, SET1]);
    for (const set of [SET1, SET2]) expect(h.deployment('latency', set)).toBeDefined();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET2);
    // The switch pass: the latency Service's apply fails, the throughput one moves.
    let failed = false;
    h.fake.gate = async (r) => {
      if (!failed && r.verb === 'apply' && r.kind === 'Service' && r.name === 'sentiment-latency') {
        failed = true;
        throw new Error('connection reset');
      }
    };
    await expect(fresh()).rejects.toThrow();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET2, SET1]);
    // The old set is not pruned while a Service may still select it.
    expect(h.deployment('latency', SET1)).toBeDefined();
    await fresh();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([SET2, SET2]);
    expect(h.deployment('latency', SET1)).toBeUndefined();
  });
});

describe('switchStrategy Together, the status mid-switch', () => {
  test('each pool’s modelVersion is the version its Service sends traffic to until the switch, then the new one', async () => {
    const V1 = desiredModelVersion(defaulted({ model: model(v1) }).spec.model);
    const V2 = desiredModelVersion(defaulted({ model: model(v2) }).spec.model);
    const h = harness(spec(v1));
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET1);
    await h.pass();
    expect(h.fake.stack().status?.throughput?.modelVersion).toBe(V1);
    h.put(spec(v2));
    await h.pass();
    // The throughput pool's new set is all ready, but in no Service: every answer is still v1's.
    await h.ready('throughput', SET2);
    await h.pass();
    expect(h.condition('ModelVersionConsistent')?.reason).toBe('SwitchPending');
    const status = h.fake.stack().status!;
    expect(status.throughput?.modelVersion).toBe(V1);
    expect(status.latency?.modelVersion).toBe(V1);
    // The new set's replicas are shown beside, as it starts.
    expect(status.throughput?.modelVersions).toEqual(
      expect.arrayContaining([expect.objectContaining({ version: V2, readyReplicas: 1 })]),
    );
    await h.ready('latency', SET2);
    await h.pass();
    expect(h.fake.stack().status?.throughput?.modelVersion).toBe(V2);
    expect(h.condition('ModelVersionConsistent')?.reason).toBe('Consistent');
  });
});

describe('switchStrategy changed mid-switch', () => {
  test('Together to Rolling while a new set starts: the set is dropped, the Rolling Deployments start beside the live set out of its Services, and take over once ready', async () => {
    const h = harness(spec(v1));
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.ready(pool, SET1);
    await h.pass();
    h.put(spec(v2));
    await h.pass();
    h.put({ ...spec(v2), model: model(v2, 'Rolling') });
    await h.pass();
    for (const pool of ['throughput', 'latency']) {
      expect(h.deployment(pool, SET2)).toBeUndefined();
      expect(h.selector(pool)).toBe(SET1);
      // The live Service selects the live set only: the Rolling pods (no set label) are not in it.
      const labels = getPath(h.deployment(pool, ''), ['spec', 'template', 'metadata', 'labels']) as Record<
        string,
        string
      >;
      expect(labels[LABEL_MODEL_SET]).toBeUndefined();
    }
    for (const pool of ['throughput', 'latency']) await h.ready(pool, '');
    await h.pass();
    expect([h.selector('throughput'), h.selector('latency')]).toEqual([undefined, undefined]);
    expect(h.deployment('throughput', SET1)).toBeUndefined();
    expect(h.deployment('latency', SET1)).toBeUndefined();
  });
});

describe('switchStrategy Together and a cache that lags', () => {
  test('a new set pruned by a rollback, then asked for again before the cache saw it go, is not switched to', async () => {
    const fake = new FakeCluster();
    const clock = new ManualClock();
    const live = fake.caches();
    // The informer's view of Deployments: one this process deleted stays in it, as it was, until
    // its watch event comes (held here until `deliver`).
    const gone = new Map<string, KubernetesObject>();
    const deployments = live.children.get(`${APPS}/Deployment`)!;
    live.children.set(
      `${APPS}/Deployment`,
      indexed({
        get: (name, namespace) => gone.get(name) ?? deployments.get(name, namespace),
        list: (namespace) => [...deployments.list(namespace), ...gone.values()],
      }),
    );
    fake.gate = async (r) => {
      if (r.verb === 'delete' && r.kind === 'Deployment') {
        const d = deployments.get(r.name, 'ml');
        if (d) gone.set(r.name, d);
      }
    };
    const reconciler = new Reconciler(
      live,
      fake as never,
      new EventRecorder(fake.eventsApi as never, 'test', clock.date, log),
      ctx,
      clock.date,
      log,
    );
    const pass = () => reconciler.reconcile('ml', 'sentiment');
    const selectors = () =>
      ['throughput', 'latency'].map((pool) =>
        getPath(fake.get('v1', 'Service', `sentiment-${pool}`), ['spec', 'selector', LABEL_MODEL_SET]),
      );
    const ready = (name: string) =>
      fake.setServerStatus(APPS, 'Deployment', name, {
        replicas: 1,
        readyReplicas: 1,
        conditions: [
          { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
          { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
        ],
      });
    fake.putStack(spec(v1));
    await pass();
    for (const pool of ['throughput', 'latency']) ready(`sentiment-${pool}-${SET1}`);
    fake.putStack(spec(v2));
    await pass();
    for (const pool of ['throughput', 'latency']) ready(`sentiment-${pool}-${SET2}`);
    // Rolled back before the pass that would have switched: the new set is pruned.
    fake.putStack(spec(v1));
    await pass();
    expect(fake.get(APPS, 'Deployment', `sentiment-throughput-${SET2}`)).toBeUndefined();
    expect(gone.size).toBe(2);
    // And asked for again at once: the cache still shows the pruned set, ready.
    fake.putStack(spec(v2));
    await pass().catch(() => undefined);
    expect(selectors()).toEqual([SET1, SET1]);
    expect(fake.get(APPS, 'Deployment', `sentiment-latency-${SET1}`)).toBeDefined();
    // Its deletion seen, the set is made again and switched to once it is ready.
    gone.clear();
    await pass();
    for (const pool of ['throughput', 'latency']) ready(`sentiment-${pool}-${SET2}`);
    await pass();
    expect(selectors()).toEqual([SET2, SET2]);
  });
});
