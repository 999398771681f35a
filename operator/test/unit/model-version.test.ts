// The model version on the operator's side: the version spec.model pins (computed as the server
// computes it), stamped on each pool's pod template, and the status built from the ReplicaSets
// each pool's Deployment controls: per pool what its ready replicas serve, and
// ModelVersionConsistent true only when both pools serve the desired version on every one.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject, V1ReplicaSet } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { ServingStackSpec } from '../../src/api/servingstack.ts';
import { buildDeployment } from '../../src/builders/deployment.ts';
import {
  desiredModelVersion,
  MODEL_VERSION_ANNOTATION,
  modelPins,
  versionOf,
} from '../../src/builders/model-version.ts';
import { leanChild } from '../../src/controller/lean.ts';
import { EventRecorder } from '../../src/reconcile/events.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { computeStatus } from '../../src/status/compute.ts';
import {
  modelVersionCondition,
  replicasByVersion,
  servedVersion,
  UNKNOWN_VERSION,
} from '../../src/status/model-version.ts';
import { FakeCluster, getPath } from '../support/fake-cluster.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { ctx, defaulted } from './fixtures.ts';

const MLP = new URL('../../../server-image/models/mlp/', import.meta.url);
const sha = (file: string) =>
  createHash('sha256')
    .update(readFileSync(new URL(file, MLP)))
    .digest('hex');
/** The bundled model's release: a digest per precision's file. */
const RELEASE = Object.fromEntries(
  ['model.onnx', 'model.fp16.onnx', 'model.int8.onnx'].map((f) => [f, sha(f)]),
);
const pinned = (digests: Record<string, string> = RELEASE): Partial<ServingStackSpec> => ({
  model: { name: 'sentiment', uri: 'file:///opt/servingstack/models/mlp', digests },
});
const a = 'a'.repeat(64);
const b = 'b'.repeat(64);

describe('the desired version', () => {
  test('is the formula the server uses (the same value its test checks)', () => {
    expect(versionOf([b, a, b])).toBe(
      'sha256:913f9338fb6c17253f3a14816fc08d52522454bfc19a8c99538a197cfb23fb41',
    );
  });

  test('comes from spec.model.digests and sha256 (under the name the URI gives the file); none without pins', () => {
    expect(desiredModelVersion(defaulted().spec.model)).toBeUndefined();
    expect(modelPins(defaulted().spec.model)).toBeUndefined();
    expect(desiredModelVersion(defaulted(pinned()).spec.model)).toBe(versionOf(Object.values(RELEASE)));
    const single = defaulted({
      model: { name: 'm', uri: 'https://models.test/v2/sentiment.onnx', sha256: a, digests: { 'w.bin': b } },
    }).spec.model;
    expect(modelPins(single)).toEqual({ 'sentiment.onnx': a, 'w.bin': b });
    expect(Object.keys(modelPins(single)!)).toEqual(['sentiment.onnx', 'w.bin']);
    expect(desiredModelVersion(single)).toBe(versionOf([a, b]));
  });

  test('is on each pool’s pod template, and the pins go to the server as MODEL_DIGESTS', () => {
    for (const pool of ['throughput', 'latency'] as const) {
      const d = buildDeployment(defaulted(pinned()), pool, ctx);
      expect(d.spec?.template.metadata?.annotations?.[MODEL_VERSION_ANNOTATION]).toBe(
        versionOf(Object.values(RELEASE)),
      );
      const env = d.spec?.template.spec?.containers[0]?.env ?? [];
      expect(JSON.parse(env.find((e) => e.name === 'MODEL_DIGESTS')!.value!)).toEqual(RELEASE);
    }
    const unpinned = buildDeployment(defaulted(), 'latency', ctx);
    expect(unpinned.spec?.template.metadata?.annotations?.[MODEL_VERSION_ANNOTATION]).toBeUndefined();
    expect(unpinned.spec?.template.spec?.containers[0]?.env?.some((e) => e.name === 'MODEL_DIGESTS')).toBe(
      false,
    );
  });

  test('a new release changes the pod template; a batching change keeps the version', () => {
    const version = (spec: Partial<ServingStackSpec>) =>
      buildDeployment(defaulted(spec), 'throughput', ctx).spec?.template.metadata?.annotations?.[
        MODEL_VERSION_ANNOTATION
      ];
    const v1 = version(pinned());
    expect(version(pinned({ ...RELEASE, 'model.fp16.onnx': a }))).not.toBe(v1);
    expect(version({ ...pinned(), throughput: { batching: { maxBatchSize: 8 } } })).toBe(v1);
  });
});

const rs = (version: string | undefined, replicas: number, readyReplicas: number): V1ReplicaSet => ({
  metadata: { name: `rs-${version}` },
  spec: {
    selector: {},
    template: { metadata: version ? { annotations: { [MODEL_VERSION_ANNOTATION]: version } } : {} },
  },
  status: { replicas, readyReplicas },
});

describe('replicas per version', () => {
  const v1 = versionOf([a]);
  const v2 = versionOf([b]);

  test('are summed per version, most ready first; a ReplicaSet kept for rollbacks (0 replicas) counts for nothing', () => {
    const versions = replicasByVersion([rs(v1, 1, 1), rs(v2, 3, 2), rs(v1, 0, 0), rs(undefined, 1, 0)]);
    expect(versions).toEqual([
      { version: v2, replicas: 3, readyReplicas: 2 },
      { version: v1, replicas: 1, readyReplicas: 1 },
      { version: UNKNOWN_VERSION, replicas: 1, readyReplicas: 0 },
    ]);
    expect(servedVersion(versions)).toBeUndefined();
    // Replicas not ready yet serve nothing: the version of every ready replica is still one.
    expect(servedVersion(replicasByVersion([rs(v1, 2, 2), rs(v2, 1, 0)]))).toBe(v1);
    expect(servedVersion(replicasByVersion([rs(undefined, 2, 2)]))).toBeUndefined();
  });

  test('ModelVersionConsistent: true only with both pools on the desired version on every ready replica', () => {
    const on = (...sets: V1ReplicaSet[]) => replicasByVersion(sets);
    const c = (throughput: V1ReplicaSet[], latency: V1ReplicaSet[]) =>
      modelVersionCondition(v2, { throughput: on(...throughput), latency: on(...latency) });
    expect(c([rs(v2, 2, 2)], [rs(v2, 1, 1), rs(v1, 0, 0)])).toMatchObject({
      type: 'ModelVersionConsistent',
      status: 'True',
      reason: 'Consistent',
    });
    // One pool switched, the other not yet: what Rolling shows while it lasts.
    const half = c([rs(v2, 2, 2)], [rs(v1, 1, 1)]);
    expect(half).toMatchObject({ status: 'False', reason: 'Switching' });
    expect(half.message).toContain(`latency: 1 ready on ${v1.slice(0, 19)}…`);
    expect(half.message).toContain(`throughput: 2 ready on ${v2.slice(0, 19)}… (desired)`);
    expect(c([rs(v2, 2, 1), rs(v1, 1, 1)], [rs(v2, 1, 1)])).toMatchObject({ reason: 'Switching' });
    expect(c([rs(v2, 2, 2)], [rs(undefined, 1, 1)])).toMatchObject({ reason: 'Switching' });
    // New replicas not ready and no old ones left: nothing serves another version, but a pool serves nothing.
    expect(c([rs(v2, 2, 2)], [rs(v2, 1, 0)])).toMatchObject({ status: 'False', reason: 'NotReady' });
    expect(
      modelVersionCondition(undefined, { throughput: on(rs(v2, 2, 2)), latency: on(rs(v2, 2, 2)) }),
    ).toMatchObject({ status: 'Unknown', reason: 'NotPinned' });
  });

  test('computeStatus: the desired version, each pool’s version and breakdown, and the condition beside Ready', () => {
    const stack = defaulted(pinned());
    const desired = versionOf(Object.values(RELEASE));
    const s = computeStatus(
      stack,
      undefined,
      {
        deployments: {},
        replicaSets: { throughput: [rs(desired, 1, 1), rs(v1, 1, 1)], latency: [rs(desired, 2, 2)] },
        routingApplied: true,
        unexpressedRules: [],
        provider: 'ingress-nginx',
      },
      () => new Date('2026-01-01T00:00:00Z'),
    );
    expect(s.desiredModelVersion).toBe(desired);
    expect(s.latency?.modelVersion).toBe(desired);
    expect(s.latency?.modelVersions).toEqual([{ version: desired, replicas: 2, readyReplicas: 2 }]);
    expect(s.throughput?.modelVersion).toBeUndefined();
    expect(s.throughput?.modelVersions).toHaveLength(2);
    expect(s.conditions?.find((c) => c.type === 'ModelVersionConsistent')?.reason).toBe('Switching');
    expect(
      computeStatus(
        defaulted(),
        undefined,
        { deployments: {}, routingApplied: true, unexpressedRules: [], provider: 'x' },
        () => new Date(),
      ).desiredModelVersion,
    ).toBeUndefined();
  });
});

describe('the ReplicaSet cache', () => {
  test('keeps only the version its template was made for and its replica counts', () => {
    const full = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'x', namespace: 'ml', uid: 'u', labels: { a: 'b' }, managedFields: [{}] },
      spec: {
        replicas: 2,
        template: {
          metadata: { annotations: { [MODEL_VERSION_ANNOTATION]: 'sha256:x', 'prometheus.io/port': '9090' } },
          spec: { containers: [{ name: 'server', image: 'big', env: [{ name: 'A', value: 'B' }] }] },
        },
      },
      status: { replicas: 2, readyReplicas: 1, availableReplicas: 1, observedGeneration: 4 },
    };
    expect(leanChild('ReplicaSet')(full as KubernetesObject)).toEqual({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'x', namespace: 'ml', uid: 'u', labels: { a: 'b' } },
      spec: { template: { metadata: { annotations: { [MODEL_VERSION_ANNOTATION]: 'sha256:x' } } } },
      status: { replicas: 2, readyReplicas: 1 },
    });
  });
});

describe('a reconcile pass', () => {
  test('reads the ReplicaSets each pool’s Deployment controls, and no others', async () => {
    const fake = new FakeCluster();
    const clock = new ManualClock();
    const log = pino({ level: 'silent' });
    const reconciler = new Reconciler(
      fake.caches(),
      fake as never,
      new EventRecorder(fake.eventsApi as never, 'test', clock.date, log),
      ctx,
      clock.date,
      log,
    );
    const spec = { ...pinned(), routing: { host: 'sentiment.example.com' } } as ServingStackSpec;
    fake.putStack(spec);
    await reconciler.reconcile('ml', 'sentiment');
    const desired = versionOf(Object.values(RELEASE));
    const old = versionOf([a]);
    /** A ReplicaSet as the Deployment controller makes it, with `ready` of `replicas` ready. */
    const replicaSet = async (
      pool: string,
      version: string,
      replicas: number,
      ready: number,
      owner?: string,
    ) => {
      const dep = fake.get('apps/v1', 'Deployment', `sentiment-${pool}`);
      const name = `sentiment-${pool}-${version.slice(7, 15)}`;
      await fake.apply(
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name,
            namespace: 'ml',
            labels: getPath(dep, ['spec', 'template', 'metadata', 'labels']) as Record<string, string>,
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'Deployment',
                name: `sentiment-${pool}`,
                uid: owner ?? (getPath(dep, ['metadata', 'uid']) as string),
                controller: true,
              },
            ],
          },
          spec: {
            selector: {},
            template: { metadata: { annotations: { [MODEL_VERSION_ANNOTATION]: version } } },
          },
        } as KubernetesObject,
        { manager: 'kube-controller-manager' },
      );
      fake.setServerStatus('apps/v1', 'ReplicaSet', name, { replicas, readyReplicas: ready });
    };
    await replicaSet('throughput', old, 1, 1);
    await replicaSet('throughput', desired, 1, 1);
    await replicaSet('latency', desired, 1, 1);
    // Another Deployment's (same labels, another owner): not the latency pool's.
    await replicaSet('latency', old, 3, 3, 'someone-else');
    await reconciler.reconcile('ml', 'sentiment');
    const status = fake.stack().status!;
    expect(status.desiredModelVersion).toBe(desired);
    expect(status.latency?.modelVersion).toBe(desired);
    expect(status.throughput?.modelVersions?.map((v) => v.version).sort()).toEqual([desired, old].sort());
    expect(status.conditions?.find((c) => c.type === 'ModelVersionConsistent')).toMatchObject({
      status: 'False',
      reason: 'Switching',
    });
    await replicaSet('throughput', old, 0, 0);
    await reconciler.reconcile('ml', 'sentiment');
    expect(fake.stack().status?.throughput?.modelVersion).toBe(desired);
    expect(fake.stack().status?.conditions?.find((c) => c.type === 'ModelVersionConsistent')).toMatchObject({
      status: 'True',
      reason: 'Consistent',
    });
  });
});

describe('the status through a Rolling update, pass after pass', () => {
  const log = pino({ level: 'silent' });
  const desired = versionOf(Object.values(RELEASE));
  const old = versionOf([a]);
  function harness(first: Partial<ServingStackSpec>) {
    const fake = new FakeCluster();
    const clock = new ManualClock();
    const reconciler = new Reconciler(
      fake.caches(),
      fake as never,
      new EventRecorder(fake.eventsApi as never, 'test', clock.date, log),
      ctx,
      clock.date,
      log,
    );
    const spec = (s: Partial<ServingStackSpec>) =>
      ({ ...s, routing: { host: 'sentiment.example.com' } }) as ServingStackSpec;
    fake.putStack(spec(first));
    /** A ReplicaSet of the pool's Deployment, as the Deployment controller keeps it. */
    const replicaSet = async (pool: string, version: string | undefined, replicas: number, ready: number) => {
      const dep = fake.get('apps/v1', 'Deployment', `sentiment-${pool}`);
      const name = `sentiment-${pool}-${(version ?? 'unknown').slice(7, 15)}`;
      await fake.apply(
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name,
            namespace: 'ml',
            labels: getPath(dep, ['spec', 'template', 'metadata', 'labels']) as Record<string, string>,
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'Deployment',
                name: `sentiment-${pool}`,
                uid: getPath(dep, ['metadata', 'uid']) as string,
                controller: true,
              },
            ],
          },
          spec: {
            selector: {},
            template: { metadata: version ? { annotations: { [MODEL_VERSION_ANNOTATION]: version } } : {} },
          },
        } as KubernetesObject,
        { manager: 'kube-controller-manager' },
      );
      fake.setServerStatus('apps/v1', 'ReplicaSet', name, { replicas, readyReplicas: ready });
    };
    return {
      fake,
      replicaSet,
      put: (s: Partial<ServingStackSpec>) => fake.putStack(spec(s)),
      pass: () => reconciler.reconcile('ml', 'sentiment'),
      status: () => fake.stack().status!,
      condition: () => fake.stack().status?.conditions?.find((c) => c.type === 'ModelVersionConsistent'),
    };
  }

  test('unpinning the model leaves no pinned version behind in the status', async () => {
    const h = harness(pinned());
    await h.pass();
    for (const pool of ['throughput', 'latency']) await h.replicaSet(pool, desired, 1, 1);
    await h.pass();
    expect(h.status().desiredModelVersion).toBe(desired);
    expect(h.status().throughput?.modelVersion).toBe(desired);
    h.put({ model: { name: 'sentiment', uri: 'file:///opt/servingstack/models/mlp' } });
    await h.pass();
    // The unpinned template rolls out: its pods carry no version.
    for (const pool of ['throughput', 'latency']) {
      await h.replicaSet(pool, undefined, 1, 1);
      await h.replicaSet(pool, desired, 0, 0);
    }
    await h.pass();
    const s = h.status();
    expect(s.desiredModelVersion).toBeUndefined();
    expect(s.throughput?.modelVersion).toBeUndefined();
    expect(s.throughput?.modelVersions).toEqual([
      { version: UNKNOWN_VERSION, replicas: 1, readyReplicas: 1 },
    ]);
    expect(h.condition()).toMatchObject({ status: 'Unknown', reason: 'NotPinned' });
  });

  test('a pass with nothing new writes nothing: the status it wrote does not start another', async () => {
    const h = harness(pinned());
    await h.pass();
    await h.replicaSet('throughput', old, 2, 2);
    await h.replicaSet('throughput', desired, 1, 0);
    await h.replicaSet('latency', desired, 1, 1);
    await h.pass();
    const mark = h.fake.mark;
    await h.pass();
    await h.pass();
    expect(h.fake.writes(mark)).toEqual([]);
    expect(h.condition()).toMatchObject({ status: 'False', reason: 'Switching' });
  });

  test('an HPA-scaled pool mid-rollout: the counts per version follow the ReplicaSets, the condition does not flap', async () => {
    const h = harness({ ...pinned(), throughput: { autoscaling: { minReplicas: 1, maxReplicas: 8 } } });
    await h.pass();
    await h.replicaSet('throughput', old, 3, 3);
    await h.replicaSet('latency', desired, 1, 1);
    await h.pass();
    const since = h.condition()!.lastTransitionTime;
    h.fake.hpaScales('sentiment-throughput', 5);
    await h.replicaSet('throughput', desired, 2, 1);
    await h.pass();
    expect(h.status().throughput?.modelVersions).toEqual([
      { version: old, replicas: 3, readyReplicas: 3 },
      { version: desired, replicas: 2, readyReplicas: 1 },
    ]);
    expect(h.condition()).toMatchObject({ reason: 'Switching', lastTransitionTime: since });
    await h.replicaSet('throughput', desired, 5, 5);
    await h.replicaSet('throughput', old, 0, 0);
    await h.pass();
    expect(h.condition()).toMatchObject({ status: 'True', reason: 'Consistent' });
    expect(h.status().throughput?.modelVersion).toBe(desired);
  });
});
