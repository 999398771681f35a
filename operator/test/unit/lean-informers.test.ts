// Lean caches and which updates start a pass: the real supervised informer (client-node's ListWatch)
// over a fake list and a fake watch that the test feeds events through, with the transforms and
// signatures the controller gives each kind.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import { supervisedInformer, type WatchOpener } from '../../src/controller/informers.ts';
import { childSignature, leanChild, leanStack, stackSignature } from '../../src/controller/lean.ts';
import { REPLICAS_ANNOTATION } from '../../src/builders/deployment.ts';
import { INTENT_ANNOTATION } from '../../src/reconcile/intent.ts';
import { ManualClock } from '../support/manual-clock.ts';

type Obj = KubernetesObject & Record<string, unknown>;
type Cb = (phase: string, obj: unknown, raw: unknown) => void;

class FeedWatch implements WatchOpener {
  cb: Cb = () => {};
  params: Record<string, unknown> = {};
  async watch(_p: string, params: Record<string, unknown>, cb: Cb): Promise<AbortController> {
    this.cb = cb;
    this.params = params;
    return new AbortController();
  }
  send(phase: string, obj: Obj): void {
    this.cb(phase, structuredClone(obj), {});
  }
}

const managedFields = [
  { manager: 'kube-controller-manager', operation: 'Update', fieldsV1: { 'f:status': {} } },
];

const deployment = (
  rv: string,
  status: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Obj => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'demo-latency',
    namespace: 'ml',
    uid: 'd-1',
    resourceVersion: rv,
    generation: 2,
    creationTimestamp: new Date('2026-12-01T00:00:00Z'),
    labels: { 'app.kubernetes.io/managed-by': 'servingstack-operator' },
    annotations: {
      [INTENT_ANNOTATION]: 'abc',
      'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(5000),
    },
    ownerReferences: [
      {
        apiVersion: 'servingstack.dev/v1alpha1',
        kind: 'ServingStack',
        name: 'demo',
        uid: 's-1',
        controller: true,
      },
    ],
    managedFields,
    ...extra,
  },
  spec: { replicas: 1, template: { spec: { containers: [{ name: 'server', image: 'x' }] } } },
  status,
});

const available = (at: string) => ({
  observedGeneration: 2,
  replicas: 1,
  readyReplicas: 1,
  updatedReplicas: 1,
  conditions: [
    {
      type: 'Available',
      status: 'True',
      reason: 'MinimumReplicasAvailable',
      lastUpdateTime: at,
      lastTransitionTime: at,
    },
    {
      type: 'Progressing',
      status: 'True',
      reason: 'NewReplicaSetAvailable',
      message: `ReplicaSet at ${at}`,
      lastUpdateTime: at,
    },
  ],
});

async function informer(kind: 'Deployment' | 'ServingStack', items: Obj[]) {
  const watch = new FeedWatch();
  const isStack = kind === 'ServingStack';
  const inf = supervisedInformer<KubernetesObject>({
    path: '/x',
    list: async () =>
      ({
        apiVersion: 'v1',
        kind: 'List',
        metadata: { resourceVersion: '1' },
        items,
      }) as KubernetesListObject<KubernetesObject>,
    optional: false,
    watch,
    log: pino({ level: 'silent' }),
    onRestart: () => {},
    timers: new ManualClock(),
    transform: isStack ? leanStack : leanChild(kind),
    signature: isStack ? stackSignature : childSignature,
  });
  const updates: KubernetesObject[] = [];
  inf.on('update', (o) => updates.push(o));
  await inf.start();
  return { inf, watch, updates };
}

describe('the index by controller', () => {
  const owned = (name: string, uid: string, owner: string, rv: string, namespace = 'ml'): Obj => {
    const d = deployment(rv, {});
    return {
      ...d,
      metadata: {
        ...d.metadata,
        name,
        namespace,
        uid,
        ownerReferences: [{ ...d.metadata?.ownerReferences?.[0], uid: owner, name: owner } as never],
      },
    };
  };
  const names = (h: Awaited<ReturnType<typeof informer>>, owner: string, namespace = 'ml') =>
    h.inf.cache
      .controlledBy(owner, namespace)
      .map((o) => o.metadata?.name)
      .sort();

  test('finds what a controller controls, listed or watched, as the cache holds it; follows updates and deletions', async () => {
    const h = await informer('Deployment', [owned('a-1', 'u1', 's-a', '5'), owned('b-1', 'u2', 's-b', '5')]);
    expect(names(h, 's-a')).toEqual(['a-1']);
    h.watch.send('ADDED', owned('a-2', 'u3', 's-a', '6'));
    h.watch.send('ADDED', owned('a-3', 'u4', 's-a', '6', 'other'));
    expect(names(h, 's-a')).toEqual(['a-1', 'a-2']);
    expect(names(h, 's-a', 'other')).toEqual(['a-3']);
    expect(h.inf.cache.controlledBy('s-a', 'ml')[0]).toBe(h.inf.cache.get('a-1', 'ml'));
    // Taken over by another controller, then deleted.
    h.watch.send('MODIFIED', owned('a-2', 'u3', 's-b', '7'));
    expect(names(h, 's-a')).toEqual(['a-1']);
    expect(names(h, 's-b')).toEqual(['a-2', 'b-1']);
    h.watch.send('DELETED', owned('a-1', 'u1', 's-a', '8'));
    expect(names(h, 's-a')).toEqual([]);
    expect(names(h, 'nobody')).toEqual([]);
    await h.inf.stop();
  });

  test('follows adoption, orphaning and a controller that is not the first owner; a re-created name under another controller', async () => {
    const h = await informer('Deployment', []);
    const orphan = (name: string, uid: string, rv: string): Obj => {
      const o = owned(name, uid, 'x', rv);
      return { ...o, metadata: { ...o.metadata, ownerReferences: [] } };
    };
    h.watch.send('ADDED', orphan('a-1', 'u1', '6'));
    expect(names(h, 's-a')).toEqual([]);
    // Adopted: a non-controller reference first, the controller second.
    const adopted = owned('a-1', 'u1', 's-a', '7');
    const ref = adopted.metadata?.ownerReferences?.[0];
    h.watch.send('MODIFIED', {
      ...adopted,
      metadata: {
        ...adopted.metadata,
        ownerReferences: [{ ...ref, uid: 's-b', controller: false } as never, ref as never],
      },
    });
    expect(names(h, 's-a')).toEqual(['a-1']);
    expect(names(h, 's-b')).toEqual([]);
    // Orphaned (the reference removed), then deleted and re-created under another controller.
    h.watch.send('MODIFIED', orphan('a-1', 'u1', '8'));
    expect(names(h, 's-a')).toEqual([]);
    h.watch.send('MODIFIED', owned('a-1', 'u1', 's-a', '9'));
    h.watch.send('DELETED', owned('a-1', 'u1', 's-a', '10'));
    h.watch.send('ADDED', owned('a-1', 'u2', 's-b', '11'));
    expect(names(h, 's-a')).toEqual([]);
    expect(names(h, 's-b')).toEqual(['a-1']);
    expect(h.inf.cache.controlledBy('s-b', 'ml')[0]?.metadata?.uid).toBe('u2');
    await h.inf.stop();
  });

  test('a relist after 410 Gone replaces what the index holds: gone, re-owned, new and unchanged objects', async () => {
    const items = [
      owned('a-1', 'u1', 's-a', '5'),
      owned('a-2', 'u2', 's-a', '5'),
      owned('a-3', 'u3', 's-a', '5'),
    ];
    const watch = new (class extends FeedWatch {
      done: (err: unknown) => void = () => {};
      override async watch(
        p: string,
        params: Record<string, unknown>,
        cb: Cb,
        done?: (err: unknown) => void,
      ): Promise<AbortController> {
        this.done = done ?? (() => {});
        return super.watch(p, params, cb);
      }
    })();
    const inf = supervisedInformer<KubernetesObject>({
      path: '/x',
      list: async () =>
        ({
          apiVersion: 'v1',
          kind: 'List',
          metadata: { resourceVersion: '20' },
          items: structuredClone(items),
        }) as KubernetesListObject<KubernetesObject>,
      optional: false,
      watch,
      log: pino({ level: 'silent' }),
      onRestart: () => {},
      timers: new ManualClock(),
      transform: leanChild('Deployment'),
      signature: childSignature,
    });
    await inf.start();
    const of = (owner: string) =>
      inf.cache
        .controlledBy(owner, 'ml')
        .map((o) => o.metadata?.name)
        .sort();
    expect(of('s-a')).toEqual(['a-1', 'a-2', 'a-3']);
    // While the watch was away: a-1 deleted, a-2 taken by s-b, a-4 made; a-3 as it was.
    items.splice(0, 3, owned('a-2', 'u2', 's-b', '12'), items[2]!, owned('a-4', 'u4', 's-a', '13'));
    watch.done({ statusCode: 410 });
    await new Promise((r) => setImmediate(r));
    expect(of('s-a')).toEqual(['a-3', 'a-4']);
    expect(of('s-b')).toEqual(['a-2']);
    await inf.stop();
  });
});

describe('lean caches', () => {
  test('a cached child has no managedFields, last-applied annotation or timestamps; keeps labels, intent, owners, uid, spec and the status a pass reads', async () => {
    const h = await informer('Deployment', [deployment('5', available('2026-12-01T00:00:00Z'))]);
    const listed = h.inf.cache.get('demo-latency', 'ml') as Obj;
    h.watch.send('MODIFIED', deployment('6', { ...available('2026-12-01T00:00:00Z'), readyReplicas: 0 }));
    const watched = h.inf.cache.get('demo-latency', 'ml') as Obj;
    for (const o of [listed, watched]) {
      expect(o.metadata?.managedFields).toBeUndefined();
      expect(o.metadata?.creationTimestamp).toBeUndefined();
      expect(o.metadata?.annotations).toEqual({ [INTENT_ANNOTATION]: 'abc' });
      expect(o.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'servingstack-operator' });
      expect(o.metadata?.ownerReferences?.[0]?.uid).toBe('s-1');
      expect(o.metadata?.uid).toBe('d-1');
      expect(o.spec).toEqual({
        replicas: 1,
        template: { spec: { containers: [{ name: 'server', image: 'x' }] } },
      });
      const status = o.status as { conditions: Record<string, unknown>[]; updatedReplicas?: number };
      expect(status.updatedReplicas).toBeUndefined();
      expect(status.conditions.map((c) => c.type)).toEqual(['Available', 'Progressing']);
      expect(status.conditions[0]?.lastTransitionTime).toBeUndefined();
    }
    expect(JSON.stringify(watched).length).toBeLessThan(
      JSON.stringify(deployment('6', available('x'))).length / 5,
    );
    // Watches ask for bookmarks.
    expect(h.watch.params.allowWatchBookmarks).toBe(true);
  });
});

describe('which updates start a pass', () => {
  test('a child: times, managedFields and counters the operator does not read start none; readiness does', async () => {
    const h = await informer('Deployment', [deployment('5', available('2026-12-01T00:00:00Z'))]);
    h.watch.send('MODIFIED', deployment('6', available('2026-12-01T00:05:00Z')));
    h.watch.send(
      'MODIFIED',
      deployment('7', { ...available('2026-12-01T00:06:00Z'), observedGeneration: 3, updatedReplicas: 2 }),
    );
    expect(h.updates).toEqual([]);
    // The cache still follows every version (the next pass reads the newest).
    expect(h.inf.cache.get('demo-latency', 'ml')?.metadata?.resourceVersion).toBe('7');
    h.watch.send('MODIFIED', deployment('8', { ...available('2026-12-01T00:07:00Z'), readyReplicas: 0 }));
    expect(h.updates).toHaveLength(1);
    // Someone edits a field the operator applies: a pass puts it back.
    const edited = deployment('9', { ...available('2026-12-01T00:07:00Z'), readyReplicas: 0 });
    (edited.spec as { replicas: number }).replicas = 5;
    h.watch.send('MODIFIED', edited);
    expect(h.updates).toHaveLength(2);
    // Someone removes the operator's intent annotation: a pass too.
    h.watch.send('MODIFIED', {
      ...edited,
      metadata: { ...edited.metadata, resourceVersion: '10', annotations: {} },
    });
    expect(h.updates).toHaveLength(3);
  });

  test('a stack: status-only updates (the operator’s own writes) start none; a new generation or a deletion does', async () => {
    const s = (
      rv: string,
      generation: number,
      status: unknown,
      extra: Record<string, unknown> = {},
    ): Obj => ({
      apiVersion: 'servingstack.dev/v1alpha1',
      kind: 'ServingStack',
      metadata: {
        name: 'demo',
        namespace: 'ml',
        uid: 's-1',
        resourceVersion: rv,
        generation,
        managedFields,
        ...extra,
      },
      spec: { replicas: generation },
      status,
    });
    const h = await informer('ServingStack', [s('1', 1, {})]);
    h.watch.send('MODIFIED', s('2', 1, { conditions: [{ type: 'Ready', status: 'True' }] }));
    h.watch.send('MODIFIED', s('3', 1, { conditions: [{ type: 'Ready', status: 'False' }] }));
    expect(h.updates).toEqual([]);
    // The cache holds the newest status (a pass compares against it) without managedFields.
    const cached = h.inf.cache.get('demo', 'ml') as Obj;
    expect(cached.status).toEqual({ conditions: [{ type: 'Ready', status: 'False' }] });
    expect(cached.metadata?.managedFields).toBeUndefined();
    h.watch.send('MODIFIED', s('4', 2, {}));
    expect(h.updates).toHaveLength(1);
    h.watch.send('MODIFIED', s('5', 2, {}, { deletionTimestamp: '2026-12-01T00:00:00Z' }));
    expect(h.updates).toHaveLength(2);
  });
});

describe('lists in pages', () => {
  test('pages of 250 are asked for in turn, each kept lean, and the watch starts at the list’s resourceVersion', async () => {
    const watch = new FeedWatch();
    const asked: (Record<string, unknown> | undefined)[] = [];
    const all = Array.from({ length: 600 }, (_, i) =>
      deployment(String(i), available('x'), { name: `d${i}` }),
    );
    const inf = supervisedInformer<KubernetesObject>({
      path: '/x',
      list: async (page) => {
        asked.push(page as Record<string, unknown> | undefined);
        const from = Number(page?._continue ?? 0);
        const limit = page?.limit ?? all.length;
        const more = from + limit < all.length ? { _continue: String(from + limit) } : {};
        return {
          apiVersion: 'v1',
          kind: 'List',
          metadata: { resourceVersion: '900', ...more },
          items: all.slice(from, from + limit),
        } as KubernetesListObject<KubernetesObject>;
      },
      optional: false,
      watch,
      log: pino({ level: 'silent' }),
      onRestart: () => {},
      timers: new ManualClock(),
      transform: leanChild('Deployment'),
    });
    await inf.start();
    expect(asked).toEqual([
      { limit: 250 },
      { limit: 250, _continue: '250' },
      { limit: 250, _continue: '500' },
    ]);
    expect(inf.cache.list()).toHaveLength(600);
    expect(inf.cache.get('d599', 'ml')?.metadata?.managedFields).toBeUndefined();
    expect(watch.params.resourceVersion).toBe('900');
  });
});

describe('a watch that ends with 410 Gone', () => {
  test('relists through the lean transform: the cache stays lean, keeps the annotations a pass reads, and a changed readiness still starts a pass', async () => {
    class DoneWatch extends FeedWatch {
      done: (err: unknown) => void = () => {};
      override async watch(
        p: string,
        params: Record<string, unknown>,
        cb: Cb,
        done?: (err: unknown) => void,
      ): Promise<AbortController> {
        this.done = done ?? (() => {});
        return super.watch(p, params, cb);
      }
    }
    const watch = new DoneWatch();
    const replicasFrom = { [REPLICAS_ANNOTATION]: 'spec.latency.replicas' };
    const withAnnotations = (d: Obj): Obj => ({
      ...d,
      metadata: {
        ...d.metadata,
        annotations: { ...d.metadata?.annotations, ...replicasFrom },
      },
    });
    const other = { ...deployment('5', available('2026-12-01T00:00:00Z')) };
    other.metadata = { ...other.metadata, name: 'demo-throughput', uid: 'd-2' };
    let lists = 0;
    const inf = supervisedInformer<KubernetesObject>({
      path: '/x',
      list: async () => {
        lists += 1;
        const items =
          lists === 1
            ? [withAnnotations(deployment('5', available('2026-12-01T00:00:00Z'))), other]
            : // The relist: demo-latency lost its readiness, demo-throughput is gone.
              [withAnnotations(deployment('20', { ...available('2026-12-01T00:09:00Z'), readyReplicas: 0 }))];
        return {
          apiVersion: 'v1',
          kind: 'List',
          metadata: { resourceVersion: lists === 1 ? '5' : '20' },
          items,
        } as KubernetesListObject<KubernetesObject>;
      },
      optional: false,
      watch,
      log: pino({ level: 'silent' }),
      onRestart: () => {},
      timers: new ManualClock(),
      transform: leanChild('Deployment'),
      signature: childSignature,
    });
    const updates: string[] = [];
    const deletes: string[] = [];
    inf.on('update', (o) => updates.push(o.metadata?.name ?? ''));
    inf.on('delete', (o) => deletes.push(o.metadata?.name ?? ''));
    await inf.start();
    watch.cb('ERROR', { kind: 'Status', code: 410, reason: 'Expired' }, {});
    watch.done(null);
    for (let i = 0; i < 50 && watch.params.resourceVersion !== '20'; i++)
      await new Promise((r) => setTimeout(r, 1));
    expect(lists).toBe(2);
    expect(watch.params.resourceVersion).toBe('20');
    expect(watch.params.allowWatchBookmarks).toBe(true);
    expect(updates).toEqual(['demo-latency']);
    expect(deletes).toEqual(['demo-throughput']);
    const cached = inf.cache.get('demo-latency', 'ml');
    expect(cached?.metadata?.managedFields).toBeUndefined();
    expect(cached?.metadata?.creationTimestamp).toBeUndefined();
    expect(cached?.metadata?.annotations).toEqual({ [INTENT_ANNOTATION]: 'abc', ...replicasFrom });
    expect((cached as { status?: { readyReplicas?: number } }).status?.readyReplicas).toBe(0);
    await inf.stop();
  });
});
