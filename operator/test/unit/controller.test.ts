// The Controller with fake informers, a fake reconciler and manual timers: what enqueues what, how
// failures and blockers come back, readiness, and a lifecycle that runs once.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Controller, type InformerSpec } from '../../src/controller/controller.ts';
import type { Supervised } from '../../src/controller/informers.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { ReconcileResult } from '../../src/reconcile/reconciler.ts';
import { indexed } from '../support/fake-cluster.ts';
import { ManualClock, settle } from '../support/manual-clock.ts';

class FakeInformer implements Supervised<KubernetesObject> {
  readonly spec: InformerSpec<KubernetesObject>;
  readonly objects: KubernetesObject[] = [];
  listed = true;
  running = false;
  private readonly handlers: Record<string, ((o: KubernetesObject) => void)[]> = {};

  constructor(spec: InformerSpec<KubernetesObject>) {
    this.spec = spec;
  }

  cache = indexed<KubernetesObject>({
    get: (name, ns) => this.objects.find((o) => o.metadata?.name === name && o.metadata?.namespace === ns),
    list: () => this.objects,
  });

  on(verb: string, cb: (o: KubernetesObject) => void): void {
    (this.handlers[verb] ??= []).push(cb);
  }

  emit(verb: 'add' | 'update' | 'delete', o: KubernetesObject): void {
    if (verb === 'add') this.objects.push(o);
    for (const cb of this.handlers[verb] ?? []) cb(o);
  }

  synced = () => this.listed;
  start = async () => {
    this.running = true;
  };
  stop = async () => {
    this.running = false;
  };
}

const stack = (name: string): KubernetesObject => ({ metadata: { name, namespace: 'ml', uid: `u-${name}` } });
const child = (owner: string): KubernetesObject => ({
  metadata: {
    name: `${owner}-latency`,
    namespace: 'ml',
    ownerReferences: [
      {
        apiVersion: 'servingstack.dev/v1alpha1',
        kind: 'ServingStack',
        name: owner,
        uid: `u-${owner}`,
        controller: true,
      },
    ],
  },
});

function setup(results: (key: string) => Promise<ReconcileResult> = async () => ({})) {
  const clock = new ManualClock();
  const informers: FakeInformer[] = [];
  const passes: string[] = [];
  const controller = new Controller({
    config: { watchNamespaces: ['ml'], workers: 2, resyncPeriodSeconds: 300 },
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    informer: <T extends KubernetesObject>(spec: InformerSpec<T>) => {
      const f = new FakeInformer(spec as unknown as InformerSpec<KubernetesObject>);
      informers.push(f);
      return f as unknown as Supervised<T>;
    },
    listers: { stacks: () => async () => ({ items: [] }), children: () => async () => ({ items: [] }) },
    reconciler: () => ({
      reconcile: (ns: string, name: string) => {
        passes.push(`${ns}/${name}`);
        return results(`${ns}/${name}`);
      },
    }),
    timers: clock,
  });
  const of = (resource: string) => {
    const f = informers.find((i) => i.spec.resource === resource);
    if (!f) throw new Error(`no informer for ${resource}`);
    return f;
  };
  return { controller, clock, informers, passes, of };
}

describe('Controller', () => {
  test('one informer per kind, the optional kinds marked as such', () => {
    const h = setup();
    expect(h.informers.map((i) => [i.spec.resource, i.spec.optional])).toEqual([
      ['servingstacks', false],
      ['services', false],
      ['deployments', false],
      ['horizontalpodautoscalers', false],
      ['ingresses', false],
      ['httproutes', true],
      ['replicasets', false],
    ]);
  });

  test('every informer keeps lean objects and filters updates: stacks by generation, children by what is kept', () => {
    const h = setup();
    for (const i of h.informers) {
      expect(i.spec.transform).toBeDefined();
      expect(i.spec.signature).toBeDefined();
    }
    const sig = h.of('servingstacks').spec.signature as (o: KubernetesObject) => string;
    const s = { metadata: { name: 'a', namespace: 'ml', uid: 'u', generation: 1, resourceVersion: '1' } };
    const statusOnly = { ...s, metadata: { ...s.metadata, resourceVersion: '2' }, status: { x: 1 } };
    expect(sig(statusOnly)).toBe(sig(s));
    expect(sig({ ...s, metadata: { ...s.metadata, generation: 2 } })).not.toBe(sig(s));
    const lean = h.of('deployments').spec.transform as (o: KubernetesObject) => KubernetesObject;
    expect(
      lean({ metadata: { name: 'd', managedFields: [{ manager: 'x' }] } }).metadata?.managedFields,
    ).toBeUndefined();
  });

  test('a stack event enqueues the stack, a child event its owner; duplicates collapse', async () => {
    const h = setup();
    // Events that arrive while the informers fill up wait for the workers.
    h.of('servingstacks').emit('add', stack('a'));
    h.of('servingstacks').emit('update', stack('a'));
    h.of('deployments').emit('update', child('b'));
    h.of('services').emit('add', { metadata: { name: 'stray', namespace: 'ml' } });
    await h.controller.start();
    await settle();
    expect(h.passes.sort()).toEqual(['ml/a', 'ml/b']);
    await h.controller.stop(1_000);
  });

  test('a ReplicaSet event enqueues the stack of the Deployment that controls it, and nothing without one', async () => {
    const h = setup();
    h.of('deployments').emit('add', child('c'));
    await h.controller.start();
    await settle();
    h.passes.length = 0;
    const rs = (deployment: string): KubernetesObject => ({
      metadata: {
        name: `${deployment}-5d8f`,
        namespace: 'ml',
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment, uid: 'd', controller: true },
        ],
      },
    });
    h.of('replicasets').emit('update', rs('c-latency'));
    h.of('replicasets').emit('update', rs('unknown-latency'));
    await settle();
    expect(h.passes).toEqual(['ml/c']);
    await h.controller.stop(1_000);
  });

  test('a failed pass comes back with backoff; a blocked one after its requeue delay', async () => {
    let n = 0;
    const h = setup(async (key) => {
      n += 1;
      if (key === 'ml/fail' && n < 3) throw new Error('API server answered 500');
      return key === 'ml/blocked' ? { requeueAfterMs: 60_000 } : {};
    });
    await h.controller.start();
    h.of('servingstacks').emit('add', stack('fail'));
    await settle();
    await h.clock.advance(500);
    await h.clock.advance(1_000);
    expect(h.passes.filter((k) => k === 'ml/fail')).toHaveLength(3);
    h.of('servingstacks').emit('add', stack('blocked'));
    await settle();
    await h.clock.advance(60_000);
    expect(h.passes.filter((k) => k === 'ml/blocked')).toHaveLength(2);
    await h.controller.stop(1_000);
  });

  test('every stack is looked at again each resync period', async () => {
    const h = setup();
    await h.controller.start();
    h.of('servingstacks').emit('add', stack('a'));
    await settle();
    await h.clock.advance(300_000);
    await h.clock.advance(300_000);
    expect(h.passes).toEqual(['ml/a', 'ml/a', 'ml/a']);
    await h.controller.stop(1_000);
  });

  test('not ready until started and every required informer has listed', async () => {
    const h = setup();
    expect(h.controller.synced()).toBe(false);
    h.of('servingstacks').listed = false; // e.g. the ServingStack CRD is not installed
    await h.controller.start();
    expect(h.controller.synced()).toBe(false);
    h.of('servingstacks').listed = true;
    expect(h.controller.synced()).toBe(true);
    await h.controller.stop(1_000);
  });

  test('runs once: a second start is refused, stop() ends the workers and every informer', async () => {
    let finish: () => void = () => {};
    const h = setup(() => new Promise<ReconcileResult>((r) => (finish = () => r({}))));
    await h.controller.start();
    await expect(h.controller.start()).rejects.toThrow('a controller runs once');
    h.of('servingstacks').emit('add', stack('a'));
    await settle();
    const stopping = h.controller.stop(20_000);
    h.of('servingstacks').emit('add', stack('b'));
    finish();
    await stopping;
    expect(h.passes).toEqual(['ml/a']);
    expect(h.informers.filter((i) => i.running)).toEqual([]);
    await expect(h.controller.start()).rejects.toThrow('a controller runs once');
  });
});
