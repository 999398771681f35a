// The RBAC list against what the operator really sends: its own clients (reconciler, event
// recorder, leader elector, informer lists) run through client-node above a transport that records
// every request; each request becomes the RBAC check the API server makes for it, plus the one the
// OwnerReferencesPermissionEnforcement admission plugin makes for an owner reference that blocks
// the owner's deletion. The list must be exactly that: nothing missing, nothing unused.
import { describe, expect, test } from '@jest/globals';
import {
  CoordinationV1Api,
  EventsV1Api,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import type { ServingStack, ServingStackSpec } from '../../src/api/servingstack.ts';
import { withDefaults } from '../../src/api/servingstack.ts';
import { REPLICAS_ANNOTATION } from '../../src/builders/deployment.ts';
import { childNames, labels } from '../../src/builders/names.ts';
import { ownerReference } from '../../src/builders/owner.ts';
import { apiConfiguration, OPEN_GATE } from '../../src/controller/api-clients.ts';
import { LeaderElector } from '../../src/controller/leader.ts';
import { listers } from '../../src/controller/wiring.ts';
import { PERMISSIONS } from '../../src/rbac/permissions.ts';
import { EventRecorder } from '../../src/reconcile/events.ts';
import { CHILD_KINDS, kindKey, OBSERVED_KINDS } from '../../src/reconcile/kinds.ts';
import { KubeClient } from '../../src/reconcile/kube-client.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { FakeTransport, fakeKubeConfig, type Sent } from '../support/fake-transport.ts';
import { ManualClock, settle } from '../support/manual-clock.ts';
import { ctx } from './fixtures.ts';

/** The attributes the API server authorises a request on: `group/resource verb`, as RBAC rules are written. */
function checksOf(s: Sent): string[] {
  const m =
    /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/[^/]+)?\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(
      s.url.pathname,
    );
  if (!m) return []; // discovery: non-resource URLs every identity may read
  const [, group = '', plural = '', name, sub] = m;
  const resource = sub ? `${plural}/${sub}` : plural;
  const g = group || 'core';
  const verbs: string[] = [];
  if (s.method === 'GET') verbs.push(...(name ? ['get'] : ['list', 'watch'])); // informers watch what they list
  if (s.method === 'POST') verbs.push('create');
  if (s.method === 'PUT') verbs.push('update');
  if (s.method === 'DELETE') verbs.push('delete');
  if (s.method === 'PATCH') {
    verbs.push('patch');
    // Server-side apply of an object that does not exist yet creates it.
    if (s.headers['Content-Type'] === 'application/apply-patch+yaml' && !sub) verbs.push('create');
  }
  const checks = verbs.map((v) => `${g}/${resource} ${v}`);
  // OwnerReferencesPermissionEnforcement: blocking an owner's deletion needs update on its finalizers.
  const refs = (s.body as KubernetesObject | undefined)?.metadata?.ownerReferences ?? [];
  for (const r of refs.filter((x) => x.blockOwnerDeletion)) {
    const ownerGroup = r.apiVersion.includes('/') ? r.apiVersion.split('/')[0] : 'core';
    checks.push(`${ownerGroup}/${r.kind.toLowerCase()}s/finalizers update`);
  }
  // ... and an update that changes owner references (an apply putting back the stack's reference
  // after someone edited it) needs delete on the object itself.
  if (s.method === 'PATCH' && !sub && refs.length > 0) checks.push(`${g}/${resource} delete`);
  return checks;
}

const granted = () =>
  [
    ...new Set(PERMISSIONS.flatMap((p) => p.verbs.map((v) => `${p.apiGroup || 'core'}/${p.resource} ${v}`))),
  ].sort();

class MapCache<T extends KubernetesObject> implements ObjectCache<T> {
  readonly items: T[] = [];
  get = (name: string, ns?: string) =>
    this.items.find((o) => o.metadata?.name === name && o.metadata?.namespace === ns);
  list = () => this.items;
  controlledBy = (uid: string) =>
    this.items.filter((o) =>
      o.metadata?.ownerReferences?.some((r) => r.controller === true && r.uid === uid),
    );
}

const STACK: ServingStack = {
  metadata: { name: 'sentiment', namespace: 'ml', uid: 'uid-1', generation: 1 },
  spec: { model: { name: 'm', uri: 'file:///m' }, routing: { host: 'h.example.com' } },
};

/** A child the stack controls, as the cache would hold it. */
function owned(
  kind: string,
  name: string,
  component: 'throughput' | 'latency' | 'routing',
  annotations?: Record<string, string>,
): KubernetesObject {
  const stack = withDefaults(STACK);
  return {
    metadata: {
      name,
      namespace: 'ml',
      uid: `uid-${name}`,
      labels: labels(stack, component),
      annotations,
      ownerReferences: [ownerReference(stack)],
    },
    ...(kind === 'Deployment' ? { spec: { replicas: 2 } } : {}),
  } as KubernetesObject;
}

async function everyCallTheOperatorMakes(): Promise<Sent[]> {
  const transport = new FakeTransport();
  const kc = fakeKubeConfig();
  const api = apiConfiguration(kc, OPEN_GATE, 'op', transport);
  const clock = new ManualClock();

  // The leader elector: create the Lease, then renew it.
  const elector = new LeaderElector({
    api: new CoordinationV1Api(api),
    namespace: 'ops',
    name: 'lease',
    identity: 'op',
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    log: pino({ level: 'silent' }),
    clock,
  });
  void elector.run(
    () => {},
    () => {},
  );
  await settle();
  transport.objects.set('/apis/coordination.k8s.io/v1/namespaces/ops/leases/lease', {
    metadata: { name: 'lease', namespace: 'ops', resourceVersion: '2' },
    spec: { holderIdentity: 'op' },
  });
  await clock.advance(2_000);
  await elector.release();

  // The informers' lists, all namespaces and one.
  const l = listers(api);
  for (const ns of [undefined, 'ml']) {
    await l.stacks(ns)();
    for (const k of [...CHILD_KINDS, ...OBSERVED_KINDS]) await l.children(k, ns, 'x=y')();
  }

  // Reconcile passes that create, update, hand replicas over, prune and write status and Events.
  const stacks = new MapCache<ServingStack>();
  const children = new Map(
    CHILD_KINDS.map((k) => [kindKey(k.apiVersion, k.kind), new MapCache<KubernetesObject>()]),
  );
  const cache = (kind: string) =>
    [...children].find(([k]) => k.endsWith(`/${kind}`))?.[1] as MapCache<KubernetesObject>;
  const reconciler = new Reconciler(
    { stacks, children },
    new KubeClient(api, { inc: () => {} }),
    new EventRecorder(new EventsV1Api(api), 'op', clock.date, pino({ level: 'silent' })),
    ctx,
    clock.date,
    pino({ level: 'silent' }),
  );
  const pass = async (spec: Partial<ServingStackSpec>) => {
    stacks.items.splice(0, 1, { ...STACK, spec: { ...STACK.spec, ...spec } });
    await reconciler.reconcile('ml', 'sentiment');
  };
  const stack = withDefaults(STACK);
  // Autoscaling turned on for a pool whose replicas the operator set: the hand-over.
  cache('Deployment').items.push(
    owned('Deployment', childNames.pool(stack, 'latency'), 'latency', {
      [REPLICAS_ANNOTATION]: 'spec.latency.replicas',
    }),
  );
  // An HPA of a pool that no longer autoscales, and Ingresses replaced by an HTTPRoute.
  cache('HorizontalPodAutoscaler').items.push(
    owned('HorizontalPodAutoscaler', childNames.pool(stack, 'throughput'), 'throughput'),
  );
  cache('Ingress').items.push(owned('Ingress', childNames.routing(stack), 'routing'));
  transport.objects.set('/apis/gateway.networking.k8s.io/v1/namespaces/ml/gateways/gw', {
    metadata: { name: 'gw' },
  });
  await pass({
    latency: { autoscaling: {} },
    routing: { host: 'h.example.com', provider: 'gateway-api', gateway: { name: 'gw' } },
  });
  // Back to Ingresses: the HTTPRoute goes.
  cache('HTTPRoute').items.push(owned('HTTPRoute', childNames.routing(stack), 'routing'));
  cache('Ingress').items.length = 0;
  await pass({});
  // A new stack whose every child name someone else has taken: each apply without force conflicts
  // (409) and only then is the name read, with Ingresses and with an HTTPRoute.
  transport.taken = (p) =>
    /\/namespaces\/ml\/(services|deployments|horizontalpodautoscalers|ingresses|httproutes)\//.test(p);
  for (const c of children.values()) c.items.length = 0;
  await pass({ latency: { autoscaling: {} } });
  await pass({
    latency: { autoscaling: {} },
    routing: { host: 'h.example.com', provider: 'gateway-api', gateway: { name: 'gw' } },
  });
  return transport.sent;
}

describe('RBAC', () => {
  test('the permission list is exactly what the operator sends, plus what admission checks', async () => {
    const sent = await everyCallTheOperatorMakes();
    const needed = [...new Set(sent.flatMap(checksOf))].sort();
    expect(needed).toEqual(granted());
  });

  test('an apply of a child checks update on servingstacks/finalizers (OwnerReferencesPermissionEnforcement)', async () => {
    const sent = await everyCallTheOperatorMakes();
    const apply = sent.find(
      (s) => s.method === 'PATCH' && s.url.pathname.endsWith('/deployments/sentiment-throughput'),
    );
    expect(apply && checksOf(apply)).toContain('servingstack.dev/servingstacks/finalizers update');
    expect(granted()).toContain('servingstack.dev/servingstacks/finalizers update');
  });
});
