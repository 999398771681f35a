// What a pass costs the API server, on the fake with server-side apply's field ownership: a new
// stack is created without a read before any create, its children are applied concurrently
// (Services, Deployments and routing at once, then the HPAs), one Event at most; a name taken by
// someone else is learned from the apply's answer and that object is left as it was.
import { describe, expect, test } from '@jest/globals';
import { ApiException, type KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { ServingStackSpec } from '../../src/api/servingstack.ts';
import { buildService } from '../../src/builders/service.ts';
import { EventRecorder } from '../../src/reconcile/events.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { FakeCluster, getPath, indexed, type Request } from '../support/fake-cluster.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { ctx, defaulted } from './fixtures.ts';

const log = pino({ level: 'silent' });
const spec = (): ServingStackSpec => ({
  model: { name: 'sentiment', uri: 'file:///opt/servingstack/models/mlp' },
  routing: { host: 'sentiment.example.com' },
  throughput: { autoscaling: { maxReplicas: 4 } },
  latency: { autoscaling: { maxReplicas: 4 } },
});

function harness(hide: (o: KubernetesObject) => boolean = () => false) {
  const fake = new FakeCluster();
  const clock = new ManualClock();
  const caches = fake.caches();
  // A cache that does not show some objects yet (a watch behind the API server).
  const children = new Map(
    [...caches.children].map(([k, c]) => [
      k,
      indexed<KubernetesObject>({
        get: (name, ns) => {
          const o = c.get(name, ns);
          return o && !hide(o) ? o : undefined;
        },
        list: (ns) => c.list(ns).filter((o) => !hide(o)),
      }),
    ]),
  );
  const events = new EventRecorder(fake.eventsApi as never, 'test', clock.date, log);
  const reconciler = new Reconciler(
    { stacks: caches.stacks, children },
    fake as never,
    events,
    ctx,
    clock.date,
    log,
  );
  fake.putStack(spec());
  return {
    fake,
    pass: () => reconciler.reconcile('ml', 'sentiment'),
    condition: (type: string) => fake.stack().status?.conditions?.find((c) => c.type === type),
  };
}

const verbs = (rs: Request[]) => rs.map((r) => `${r.verb} ${r.kind}`);

describe('a new stack', () => {
  test('is made without a read: 8 applies, the status and one Event', async () => {
    const h = harness();
    await h.pass();
    const sent = verbs(h.fake.requests);
    expect(sent.filter((v) => v.startsWith('get'))).toEqual([]);
    expect(sent.filter((v) => v.startsWith('apply ')).sort()).toEqual(
      [
        'apply Deployment',
        'apply Deployment',
        'apply HorizontalPodAutoscaler',
        'apply HorizontalPodAutoscaler',
        'apply Ingress',
        'apply Ingress',
        'apply Service',
        'apply Service',
      ].sort(),
    );
    expect(sent.filter((v) => v.startsWith('create-event'))).toHaveLength(1);
    // One Event for the pass (here a Warning: ingress-nginx cannot express one routing rule).
    expect(h.fake.events).toHaveLength(1);
    expect(h.fake.events[0]?.note).toContain('created Service sentiment-throughput');
    expect(h.fake.events[0]?.note).toContain('created HorizontalPodAutoscaler sentiment-latency');
    expect(h.condition('Ready')?.reason).not.toBe('ChildConflict');
  });

  test('Services, Deployments and routing are applied together, the HPAs only after them', async () => {
    const h = harness();
    const held: Request[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    h.fake.gate = async (r) => {
      if (r.verb !== 'apply') return;
      held.push(r);
      await gate;
    };
    const pass = h.pass();
    for (let i = 0; i < 20 && held.length < 6; i++) await Promise.resolve();
    // All six in flight at once, no HPA among them.
    expect(held.map((r) => r.kind).sort()).toEqual(
      ['Deployment', 'Deployment', 'Ingress', 'Ingress', 'Service', 'Service'].sort(),
    );
    release();
    await pass;
    expect(held.slice(6).map((r) => r.kind)).toEqual(['HorizontalPodAutoscaler', 'HorizontalPodAutoscaler']);
  });
});

describe('a name taken by someone else, learned from the apply', () => {
  test('different values: the apply without force conflicts, ChildConflict, the object is untouched', async () => {
    const h = harness();
    h.fake.createForeign({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'sentiment-latency', namespace: 'ml' },
      spec: { ports: [{ port: 80 }], selector: { app: 'other' } },
    } as KubernetesObject);
    await h.pass();
    expect(h.condition('Ready')).toMatchObject({ status: 'False', reason: 'ChildConflict' });
    expect(h.condition('Ready')?.message).toContain('Service sentiment-latency');
    const svc = h.fake.get('v1', 'Service', 'sentiment-latency');
    expect(getPath(svc, ['spec', 'selector'])).toEqual({ app: 'other' });
    expect(getPath(svc, ['metadata', 'ownerReferences'])).toBeUndefined();
    expect(getPath(svc, ['metadata', 'labels'])).toBeUndefined();
    // One Event for the pass, named by the conflict, saying what was applied too.
    expect(h.fake.events).toHaveLength(1);
    expect(h.fake.events[0]).toMatchObject({ type: 'Warning', reason: 'ChildConflict' });
    expect(h.fake.events[0]?.note).toContain('created Deployment sentiment-latency');
    // The other pool is not held back.
    expect(h.fake.get('v1', 'Service', 'sentiment-throughput')).toBeDefined();
  });

  test('the very values the operator would apply: the apply succeeds, what it took is given back, ChildConflict', async () => {
    const h = harness();
    const copy = buildService(defaulted(spec()), 'latency');
    // Someone else's Service equal to the operator's in content, without its labels and owner.
    h.fake.createForeign({ ...copy, metadata: { name: copy.metadata?.name, namespace: 'ml' } });
    await h.pass();
    expect(h.condition('Ready')).toMatchObject({ status: 'False', reason: 'ChildConflict' });
    const svc = h.fake.get('v1', 'Service', 'sentiment-latency');
    expect(getPath(svc, ['metadata', 'ownerReferences'])).toBeUndefined();
    expect(getPath(svc, ['metadata', 'labels'])).toBeUndefined();
    expect(getPath(svc, ['metadata', 'annotations'])).toBeUndefined();
    expect(getPath(svc, ['spec', 'selector'])).toEqual(copy.spec?.selector);
    expect(h.fake.owners('v1', 'Service', 'sentiment-latency', ['spec', 'ports'])).toEqual([
      'kubectl-create',
    ]);
  });

  test('a child of this stack the caches do not show yet is not a conflict: read once, then applied', async () => {
    let hidden = false;
    const h = harness((o) => hidden && o.metadata?.name === 'sentiment-throughput');
    await h.pass();
    // The HPA controller took the replicas; the operator's new intent sets them again (no autoscaling).
    h.fake.hpaScales('sentiment-throughput', 3);
    h.fake.putStack({ ...spec(), throughput: { replicas: 2 } });
    hidden = true;
    const mark = h.fake.mark;
    await h.pass();
    expect(h.condition('Ready')?.reason).not.toBe('ChildConflict');
    expect(verbs(h.fake.requests.slice(mark)).filter((v) => v.startsWith('get'))).toEqual(['get Deployment']);
    expect(getPath(h.fake.get('apps/v1', 'Deployment', 'sentiment-throughput'), ['spec', 'replicas'])).toBe(
      2,
    );
  });
  test('the give-back fails: the next pass gives it back again, never adopts it', async () => {
    const h = harness();
    const copy = buildService(defaulted(spec()), 'latency');
    h.fake.createForeign({ ...copy, metadata: { name: copy.metadata?.name, namespace: 'ml' } });
    let applies = 0;
    h.fake.gate = async (r) => {
      if (r.verb === 'apply' && r.kind === 'Service' && r.name === 'sentiment-latency' && ++applies === 2)
        throw new ApiException(503, 'Service Unavailable', '{"message":"try again"}', {});
    };
    await expect(h.pass()).rejects.toThrow(/release Service sentiment-latency/);
    h.fake.gate = async () => {};
    await h.pass();
    expect(h.condition('Ready')).toMatchObject({ status: 'False', reason: 'ChildConflict' });
    const svc = h.fake.get('v1', 'Service', 'sentiment-latency');
    expect(getPath(svc, ['metadata', 'ownerReferences'])).toBeUndefined();
    expect(getPath(svc, ['metadata', 'labels'])).toBeUndefined();
    expect(getPath(svc, ['metadata', 'annotations'])).toBeUndefined();
  });
  test("an apply refused as invalid on someone else's object (a selector is immutable): ChildConflict", async () => {
    const h = harness();
    h.fake.createForeign({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'sentiment-latency', namespace: 'ml' },
      spec: {
        selector: { matchLabels: { app: 'other' } },
        template: { metadata: { labels: { app: 'other' } } },
      },
    } as KubernetesObject);
    const immutable = new ApiException(
      422,
      'Unprocessable Entity',
      '{"message":"Deployment.apps \\"sentiment-latency\\" is invalid: spec.selector: Invalid value: field is immutable"}',
      {},
    );
    h.fake.fail({ verb: 'apply', kind: 'Deployment', error: immutable });
    h.fake.gate = async (r) => {
      // The other pool's Deployment goes first, so the refusal is the taken name's.
      if (r.verb === 'apply' && r.name === 'sentiment-latency' && r.kind === 'Deployment') return;
      if (r.verb === 'apply' && r.kind === 'Deployment') await new Promise((res) => setTimeout(res, 5));
    };
    await h.pass();
    expect(h.condition('Ready')).toMatchObject({ status: 'False', reason: 'ChildConflict' });
    expect(h.condition('Ready')?.message).toContain('Deployment sentiment-latency');
  });

  test('an apply refused as invalid where the name is free: ApplyRejected, not retried as an API error', async () => {
    const h = harness();
    h.fake.fail({
      verb: 'apply',
      kind: 'Ingress',
      error: new ApiException(
        422,
        'Unprocessable Entity',
        '{"message":"spec.rules[0].host: Invalid value"}',
        {},
      ),
    });
    await h.pass();
    expect(h.condition('Ready')).toMatchObject({ status: 'False', reason: 'ApplyRejected' });
  });
});

describe('a child of this stack edited by someone else', () => {
  test('missing from a lagging cache: not a conflict, and nothing of it is given back', async () => {
    let hidden = false;
    const h = harness((o) => hidden && o.metadata?.name === 'sentiment-throughput');
    await h.pass();
    // kubectl rollout restart: another manager writes a field the operator does not set.
    h.fake.update(
      'apps/v1',
      'Deployment',
      'sentiment-throughput',
      (o) => {
        const t = getPath(o, ['spec', 'template', 'metadata']) as Record<string, unknown>;
        t.annotations = { ...(t.annotations as object), 'kubectl.kubernetes.io/restartedAt': 'now' };
      },
      'kubectl-rollout',
    );
    const before = h.fake.get('apps/v1', 'Deployment', 'sentiment-throughput');
    hidden = true;
    await h.pass();
    expect(h.condition('Ready')?.reason).not.toBe('ChildConflict');
    const after = h.fake.get('apps/v1', 'Deployment', 'sentiment-throughput');
    expect(getPath(after, ['metadata', 'ownerReferences'])).toEqual(
      getPath(before, ['metadata', 'ownerReferences']),
    );
    expect(getPath(after, ['metadata', 'labels'])).toEqual(getPath(before, ['metadata', 'labels']));
    expect(getPath(after, ['spec', 'template'])).toEqual(getPath(before, ['spec', 'template']));
  });

  test('deleted, then its name taken by someone else with the same content: still a conflict', async () => {
    const h = harness();
    await h.pass();
    const svc = h.fake.get('v1', 'Service', 'sentiment-latency') as unknown as KubernetesObject;
    await h.fake.delete(svc, svc.metadata?.uid ?? '');
    const copy = buildService(defaulted(spec()), 'latency');
    h.fake.createForeign({ ...copy, metadata: { name: copy.metadata?.name, namespace: 'ml' } });
    await h.pass();
    expect(h.condition('Ready')).toMatchObject({ status: 'False', reason: 'ChildConflict' });
    const taken = h.fake.get('v1', 'Service', 'sentiment-latency');
    expect(getPath(taken, ['metadata', 'ownerReferences'])).toBeUndefined();
    expect(getPath(taken, ['metadata', 'labels'])).toBeUndefined();
  });
});

describe('one apply of a concurrent round fails', () => {
  test('the others land; the status and the one Event say what failed and what was applied', async () => {
    const h = harness();
    h.fake.gate = async (r) => {
      // The other Deployment's apply is still out when this one fails.
      if (r.verb === 'apply' && r.name === 'sentiment-throughput' && r.kind === 'Deployment')
        await new Promise((res) => setTimeout(res, 5));
    };
    h.fake.fail({
      verb: 'apply',
      kind: 'Deployment',
      error: new ApiException(500, 'boom', '{"message":"etcd timeout"}', {}),
    });
    await expect(h.pass()).rejects.toThrow(/apply Deployment sentiment-latency/);
    expect(h.fake.names('Service')).toEqual(['sentiment-latency', 'sentiment-throughput']);
    expect(h.fake.names('Deployment')).toEqual(['sentiment-throughput']);
    expect(h.fake.names('HorizontalPodAutoscaler')).toEqual([]);
    expect(h.condition('Ready')).toMatchObject({ status: 'False', reason: 'ApiError' });
    expect(h.condition('Ready')?.message).toContain('Deployment sentiment-latency');
    expect(h.fake.events).toHaveLength(1);
    expect(h.fake.events[0]).toMatchObject({ type: 'Warning', reason: 'ApiError' });
    expect(h.fake.events[0]?.note).toContain('created Deployment sentiment-throughput');
    expect(h.fake.events[0]?.note).toContain('created Service sentiment-latency');
    // The retry completes it, with one Event again.
    h.fake.gate = async () => {};
    await h.pass();
    expect(h.fake.names('Deployment')).toEqual(['sentiment-latency', 'sentiment-throughput']);
    expect(h.condition('Ready')?.reason).not.toBe('ApiError');
    expect(h.fake.events).toHaveLength(2);
  });
});

describe('a child of this stack deleted by someone', () => {
  test('is made again by the next pass, a creation and not a conflict', async () => {
    const h = harness();
    await h.pass();
    const dep = h.fake.get('apps/v1', 'Deployment', 'sentiment-latency') as unknown as KubernetesObject;
    await h.fake.delete(dep, dep.metadata?.uid ?? '');
    const mark = h.fake.events.length;
    await h.pass();
    const again = h.fake.get('apps/v1', 'Deployment', 'sentiment-latency');
    expect(getPath(again, ['metadata', 'uid'])).not.toBe(dep.metadata?.uid);
    expect(getPath(again, ['metadata', 'labels'])).toEqual(dep.metadata?.labels);
    expect(h.condition('Ready')?.reason).not.toBe('ChildConflict');
    expect(
      h.fake.events
        .slice(mark)
        .map((e) => e.note)
        .join(),
    ).toContain('created Deployment sentiment-latency');
  });
});
