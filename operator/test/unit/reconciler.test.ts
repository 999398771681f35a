// The Reconciler against a fake API server with server-side apply's field ownership: the children
// equal what the operator would apply for the current spec, whatever the spec was before; nothing
// a user does through the spec leaves the host without a route or a pool below its running size;
// a pass with nothing to do writes nothing.
import { describe, expect, test } from '@jest/globals';
import { ApiException, type KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { ServingStackSpec } from '../../src/api/servingstack.ts';
import { EventRecorder } from '../../src/reconcile/events.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { FakeCluster, getPath, HTTPROUTE_KEY, indexed } from '../support/fake-cluster.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { ctx } from './fixtures.ts';

const APPS = 'apps/v1';
const GW = 'gateway.networking.k8s.io/v1';
const GATEWAY_KEY = `${GW}/Gateway`;
const log = pino({ level: 'silent' });

type Spec = ServingStackSpec;
const base = (): Spec => ({
  model: { name: 'sentiment', uri: 'file:///opt/servingstack/models/mlp' },
  routing: { host: 'sentiment.example.com' },
});

function harness(spec: Spec = base()) {
  const fake = new FakeCluster();
  fake.served.add(GATEWAY_KEY);
  const clock = new ManualClock();
  const events = new EventRecorder(fake.eventsApi as never, 'test', clock.date, log);
  const reconciler = new Reconciler(fake.caches(), fake as never, events, ctx, clock.date, log);
  fake.putStack(spec);
  return {
    fake,
    clock,
    events,
    put: (s: Spec) => fake.putStack(s),
    pass: () => reconciler.reconcile('ml', 'sentiment'),
    deployment: (pool: string) => fake.get(APPS, 'Deployment', `sentiment-${pool}`),
    condition: (type: string) => fake.stack().status?.conditions?.find((c) => c.type === type),
  };
}

/** A Gateway a controller has accepted: routes attached to it will be judged too. */
async function acceptedGateway(fake: FakeCluster, name = 'gw'): Promise<void> {
  await fake.apply(
    { apiVersion: GW, kind: 'Gateway', metadata: { name, namespace: 'ml' }, spec: {} },
    { manager: 'admin' },
  );
  fake.setServerStatus(GW, 'Gateway', name, {
    conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted' }],
  });
}

function routeVerdict(fake: FakeCluster, status: 'True' | 'False', reason: string, message = ''): void {
  const route = fake.get(GW, 'HTTPRoute', 'sentiment');
  fake.setServerStatus(GW, 'HTTPRoute', 'sentiment', {
    parents: [
      {
        parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' },
        controllerName: 'traefik.io/gateway-controller',
        conditions: [
          {
            type: 'Accepted',
            status,
            reason,
            message,
            observedGeneration: getPath(route, ['metadata', 'generation']),
          },
        ],
      },
    ],
  });
}

const container = (d: unknown, i = 0) => getPath(d, ['spec', 'template', 'spec', 'containers', String(i)]);
const env = (d: unknown) =>
  Object.fromEntries(
    ((getPath(container(d), ['env']) ?? []) as { name: string; value: string }[]).map((e) => [
      e.name,
      e.value,
    ]),
  );

describe('a pass with nothing to do', () => {
  test('writes nothing: no apply, no status, no Event (quantities as the server stores them)', async () => {
    const h = harness({
      ...base(),
      throughput: { resources: { cpu: '0.5', memory: '1024Mi' }, autoscaling: { maxReplicas: 4 } },
      latency: { resources: { cpu: 2, memory: '1.5Gi' } },
    });
    await h.pass();
    await h.pass();
    const mark = h.fake.mark;
    await h.pass();
    expect(h.fake.writes(mark)).toEqual([]);
    // Past the recorder's old 10-minute window too: a standing warning is not news.
    await h.clock.advance(11 * 60_000);
    await h.pass();
    expect(h.fake.writes(mark)).toEqual([]);
  });

  test('a field another manager adds (an annotation) is left alone and costs no write', async () => {
    const h = harness();
    await h.pass();
    await h.pass();
    h.fake.update(APPS, 'Deployment', 'sentiment-latency', (o) => {
      (o.metadata as { annotations?: Record<string, string> }).annotations = {
        ...(o.metadata as { annotations?: Record<string, string> }).annotations,
        'team.example.com/owner': 'search',
      };
    });
    const mark = h.fake.mark;
    await h.pass();
    expect(h.fake.writes(mark)).toEqual([]);
    expect(getPath(h.deployment('latency'), ['metadata', 'annotations', 'team.example.com/owner'])).toBe(
      'search',
    );
  });
});

describe('a new operator process (a restart, or a new leader) over a converged stack', () => {
  /** Someone else's Service, named as the stack's latency Service. */
  const foreignService = () =>
    ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'sentiment-latency', namespace: 'ml' },
      spec: { ports: [{ port: 80 }], selector: { app: 'other' } },
    }) as KubernetesObject;

  /** A second Reconciler and EventRecorder over the same cluster: nothing remembered in memory. */
  function successor(h: ReturnType<typeof harness>) {
    const events = new EventRecorder(h.fake.eventsApi as never, 'successor', h.clock.date, log);
    const reconciler = new Reconciler(h.fake.caches(), h.fake as never, events, ctx, h.clock.date, log);
    return { pass: () => reconciler.reconcile('ml', 'sentiment') };
  }

  test('writes nothing: no apply, no status, no Event for the warning that stands (rules ingress-nginx cannot express)', async () => {
    const h = harness();
    await h.pass();
    await h.pass();
    expect(h.fake.events.filter((e) => e.reason === 'RoutingRulesNotExpressible')).toHaveLength(1);
    const mark = h.fake.mark;
    const next = successor(h);
    await next.pass();
    await next.pass();
    expect(h.fake.writes(mark)).toEqual([]);
  });

  test('posts no Event and writes no status for a conflict that stands (a name taken by someone else)', async () => {
    const h = harness();
    h.fake.createForeign(foreignService());
    await h.pass();
    await h.pass();
    expect(h.condition('Ready')?.reason).toBe('ChildConflict');
    const mark = h.fake.mark;
    await successor(h).pass();
    // The caches hold no object of someone else: the refused apply without force is how every pass
    // learns the name is still taken.
    expect(h.fake.writes(mark).map((w) => `${w.verb} ${w.kind}`)).toEqual(['apply Service']);
  });

  test('still posts what changed while no operator ran: a child put back, a new conflict', async () => {
    const h = harness();
    await h.pass();
    h.fake.update(APPS, 'Deployment', 'sentiment-throughput', (o) => {
      const c = container(o) as { env: { name: string; value: string }[] };
      const e = c.env.find((x) => x.name === 'MAX_DELAY_MS');
      if (e) e.value = '999';
    });
    const before = h.fake.events.length;
    const next = successor(h);
    await next.pass();
    expect(h.fake.events.slice(before)).toEqual([
      expect.objectContaining({
        type: 'Normal',
        reason: 'Applied',
        note: 'updated Deployment sentiment-throughput',
      }),
    ]);
    const svc = h.fake.get('v1', 'Service', 'sentiment-latency');
    await h.fake.delete(foreignService(), String(getPath(svc, ['metadata', 'uid'])));
    h.fake.createForeign(foreignService());
    await successor(h).pass();
    expect(h.fake.events.slice(before + 1).map((e) => e.reason)).toEqual(['ChildConflict']);
  });

  test('posts a second conflict that arose while no operator ran, though Ready still shows the first', async () => {
    const h = harness();
    h.fake.createForeign({
      ...foreignService(),
      metadata: { name: 'sentiment-throughput', namespace: 'ml' },
    });
    await h.pass();
    await h.pass();
    const ready = h.condition('Ready');
    expect(ready?.message).toContain('sentiment-throughput');
    // While no operator runs, someone deletes the latency Service and creates one of their own.
    const svc = h.fake.get('v1', 'Service', 'sentiment-latency');
    await h.fake.delete(foreignService(), String(getPath(svc, ['metadata', 'uid'])));
    h.fake.createForeign(foreignService());
    const before = h.fake.events.length;
    await successor(h).pass();
    // Ready names only the first blocker: the conditions did not change, the warnings did.
    expect(h.condition('Ready')).toEqual(ready);
    expect(h.fake.events.slice(before).map((e) => e.note)).toEqual([
      expect.stringContaining('Service sentiment-latency already exists'),
    ]);
  });

  test('does not post again a standing warning the conditions show when another condition changed (pods became ready)', async () => {
    const h = harness();
    await h.pass();
    await h.pass();
    expect(h.fake.events.filter((e) => e.reason === 'RoutingRulesNotExpressible')).toHaveLength(1);
    const routing = h.fake.stack().status?.conditions?.find((c) => c.type === 'RoutingReady');
    // While no operator runs, the throughput pool's pods become ready.
    h.fake.setServerStatus(APPS, 'Deployment', 'sentiment-throughput', {
      replicas: 1,
      readyReplicas: 1,
      conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }],
    });
    const before = h.fake.events.length;
    await successor(h).pass();
    expect(h.condition('ThroughputAvailable')?.status).toBe('True');
    expect(h.fake.stack().status?.conditions?.find((c) => c.type === 'RoutingReady')).toEqual(routing);
    expect(h.fake.events.slice(before).map((e) => e.reason)).toEqual([]);
  });
});

describe('drift by others on fields the operator owns', () => {
  test('a changed value is put back', async () => {
    const h = harness();
    await h.pass();
    h.fake.update(APPS, 'Deployment', 'sentiment-throughput', (o) => {
      const c = container(o) as { env: { name: string; value: string }[] };
      const e = c.env.find((x) => x.name === 'MAX_DELAY_MS');
      if (e) e.value = '999';
    });
    expect(env(h.deployment('throughput')).MAX_DELAY_MS).toBe('999');
    await h.pass();
    expect(env(h.deployment('throughput')).MAX_DELAY_MS).toBe('50');
  });

  test('an item added to a list the operator owns whole (an HTTPRoute’s parentRefs) is taken out again', async () => {
    const h = harness({
      ...base(),
      routing: { host: 'sentiment.example.com', provider: 'gateway-api', gateway: { name: 'gw' } },
    });
    await h.pass();
    // Someone attaches the route to a second Gateway: parentRefs is an atomic list in the Gateway
    // API CRDs, so the whole list is the operator's field, and this is drift on it.
    h.fake.update(GW, 'HTTPRoute', 'sentiment', (o) => {
      (getPath(o, ['spec', 'parentRefs']) as unknown[]).push({ name: 'other-gw' });
    });
    await h.pass();
    expect(getPath(h.fake.get(GW, 'HTTPRoute', 'sentiment'), ['spec', 'parentRefs'])).toEqual([
      { name: 'gw' },
    ]);
  });

  test('a removed field is put back', async () => {
    const h = harness({ ...base(), throughput: { nodeSelector: { pool: 'gpu' } } });
    await h.pass();
    h.fake.update(APPS, 'Deployment', 'sentiment-throughput', (o) => {
      delete (getPath(o, ['spec', 'template', 'spec']) as Record<string, unknown>).nodeSelector;
    });
    await h.pass();
    expect(getPath(h.deployment('throughput'), ['spec', 'template', 'spec', 'nodeSelector'])).toEqual({
      pool: 'gpu',
    });
  });
});

// [what, spec with it, where it shows on the child]
const OPTIONAL: [string, Spec, (h: ReturnType<typeof harness>) => unknown][] = [
  [
    'nodeSelector',
    { ...base(), throughput: { nodeSelector: { pool: 'gpu' } } },
    (h) => getPath(h.deployment('throughput'), ['spec', 'template', 'spec', 'nodeSelector']),
  ],
  [
    'resources.cpu',
    { ...base(), throughput: { resources: { cpu: '2' } } },
    (h) => getPath(container(h.deployment('throughput')), ['resources', 'requests', 'cpu']),
  ],
  [
    'resources.memory',
    { ...base(), throughput: { resources: { memory: '4Gi' } } },
    (h) => getPath(container(h.deployment('throughput')), ['resources', 'limits', 'memory']),
  ],
  [
    'threads.intraOp',
    { ...base(), latency: { threads: { intraOp: 2 } } },
    (h) => env(h.deployment('latency')).INTRA_OP_THREADS,
  ],
  [
    'affinity',
    {
      ...base(),
      latency: {
        affinity: {
          nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: {} }] },
        },
      },
    },
    (h) => getPath(h.deployment('latency'), ['spec', 'template', 'spec', 'affinity']),
  ],
  [
    'a user toleration',
    { ...base(), latency: { tolerations: [{ key: 'spot', operator: 'Exists' }] } },
    (h) =>
      (
        getPath(h.deployment('latency'), ['spec', 'template', 'spec', 'tolerations']) as
          { key: string }[] | undefined
      )?.find((t) => t.key === 'spot'),
  ],
  [
    'the GPU toleration when gpus goes to 0',
    base(),
    (h) => getPath(h.deployment('throughput'), ['spec', 'template', 'spec', 'tolerations']),
  ],
  [
    'preStop when the grace period goes to 0',
    base(),
    (h) => getPath(container(h.deployment('throughput')), ['lifecycle', 'preStop']),
  ],
  [
    'model.credentialsSecretName',
    {
      ...base(),
      model: {
        name: 'sentiment',
        uri: 'https://models.example.com/sentiment',
        credentialsSecretName: 'model-creds',
      },
    },
    (h) =>
      getPath(h.deployment('throughput'), ['spec', 'template', 'spec', 'initContainers', '0', 'envFrom']),
  ],
  [
    'routing.gateway.namespace and sectionName',
    {
      ...base(),
      routing: {
        host: 'sentiment.example.com',
        provider: 'gateway-api',
        gateway: { name: 'gw', namespace: 'infra', sectionName: 'web' },
      },
    },
    (h) => {
      const ref = getPath(h.fake.get(GW, 'HTTPRoute', 'sentiment'), ['spec', 'parentRefs', '0']) as Record<
        string,
        unknown
      >;
      return ref.namespace ?? ref.sectionName;
    },
  ],
];

/** The same spec without the optional part (or with gpus / grace period at 0). */
function without(what: string, s: Spec): Spec {
  const c = structuredClone(s);
  switch (what) {
    case 'the GPU toleration when gpus goes to 0':
      return { ...c, throughput: { resources: { gpus: 0 } } };
    case 'preStop when the grace period goes to 0':
      return { ...c, throughput: { terminationGracePeriodSeconds: 0 } };
    case 'model.credentialsSecretName':
      return { ...c, model: { name: 'sentiment', uri: 'https://models.example.com/sentiment' } };
    case 'routing.gateway.namespace and sectionName':
      return { ...c, routing: { ...c.routing, gateway: { name: 'gw' } } };
    default:
      return { ...c, throughput: {}, latency: {} };
  }
}

describe('removing an optional field removes it from the child', () => {
  test.each(OPTIONAL)('%s', async (what, spec, read) => {
    const h = harness(spec);
    await h.pass();
    expect({ what, present: read(h) !== undefined }).toEqual({ what, present: true });
    h.put(without(what, spec));
    await h.pass();
    expect({ what, value: read(h) }).toEqual({ what, value: undefined });
  });
});

describe('an optional field removed and put back', () => {
  test.each(OPTIONAL)('%s: back on the child, and then nothing more is written', async (what, spec, read) => {
    const h = harness(spec);
    await h.pass();
    const first = read(h);
    h.put(without(what, spec));
    await h.pass();
    h.put(spec);
    await h.pass();
    await h.pass();
    expect({ what, value: read(h) }).toEqual({ what, value: first });
    const mark = h.fake.mark;
    await h.pass();
    expect(h.fake.writes(mark)).toEqual([]);
  });
});

describe('autoscaling on and off never changes the running replica count in the switch', () => {
  test('on: the count stays until the HPA moves it, through later unrelated changes', async () => {
    const h = harness({ ...base(), throughput: { replicas: 3 } });
    await h.pass();
    h.put({ ...base(), throughput: { replicas: 3, autoscaling: { minReplicas: 2, maxReplicas: 6 } } });
    await h.pass();
    expect(h.fake.get('autoscaling/v2', 'HorizontalPodAutoscaler', 'sentiment-throughput')).toBeDefined();
    // An unrelated change later: the operator must not be the one that still holds replicas.
    h.put({
      ...base(),
      throughput: {
        replicas: 3,
        autoscaling: { minReplicas: 2, maxReplicas: 6 },
        batching: { maxDelayMs: 20 },
      },
    });
    await h.pass();
    expect(env(h.deployment('throughput')).MAX_DELAY_MS).toBe('20');
    expect(h.fake.replicasHistory.get('sentiment-throughput')).toEqual([3]);
    h.fake.hpaScales('sentiment-throughput', 5);
    const mark = h.fake.mark;
    await h.pass();
    // The status reports the new count; the Deployment is left to the HPA.
    expect(h.fake.writes(mark).map((w) => w.kind)).toEqual(['ServingStack']);
    expect(getPath(h.deployment('throughput'), ['spec', 'replicas'])).toBe(5);
  });

  test('off: the Deployment carries replicas before the HPA goes, and the HPA stays if it cannot', async () => {
    const on: Spec = {
      ...base(),
      throughput: { replicas: 4, autoscaling: { minReplicas: 2, maxReplicas: 6 } },
    };
    const h = harness(on);
    await h.pass();
    h.fake.hpaScales('sentiment-throughput', 4);
    h.put({ ...base(), throughput: { replicas: 4 } });
    h.fake.fail({
      verb: 'apply',
      kind: 'Deployment',
      error: new ApiException(422, 'Invalid', '{"message":"denied by policy"}', {}),
      times: 2,
    });
    await h.pass().catch(() => undefined);
    expect(h.fake.get('autoscaling/v2', 'HorizontalPodAutoscaler', 'sentiment-throughput')).toBeDefined();
    h.fake.clearFailures();
    await h.pass();
    expect(h.fake.get('autoscaling/v2', 'HorizontalPodAutoscaler', 'sentiment-throughput')).toBeUndefined();
    expect(h.fake.replicasHistory.get('sentiment-throughput')).toEqual([1, 4]);
    expect(h.fake.owners(APPS, 'Deployment', 'sentiment-throughput', ['spec', 'replicas'])).toContain(
      'servingstack-operator',
    );
  });
});

describe('switching the routing provider is make-before-break', () => {
  const gatewaySpec: Spec = {
    ...base(),
    routing: { host: 'sentiment.example.com', provider: 'gateway-api', gateway: { name: 'gw' } },
  };

  test('without the Gateway API the Ingresses stay and the status says why; with it, they go once the route is Accepted', async () => {
    const h = harness();
    await h.pass();
    expect(h.fake.names('Ingress')).toEqual(['sentiment', 'sentiment-canary']);

    h.fake.served.delete(HTTPROUTE_KEY);
    h.fake.served.delete(GATEWAY_KEY);
    h.put(gatewaySpec);
    await h.pass();
    expect(h.fake.names('Ingress')).toEqual(['sentiment', 'sentiment-canary']);
    expect(h.condition('RoutingReady')).toMatchObject({ status: 'False', reason: 'ProviderNotInstalled' });
    expect(h.condition('RoutingReady')?.message).toContain('Ingress');

    h.fake.served.add(HTTPROUTE_KEY);
    h.fake.served.add(GATEWAY_KEY);
    await acceptedGateway(h.fake);
    await h.pass();
    expect(h.fake.names('HTTPRoute')).toEqual(['sentiment']);
    expect(h.fake.names('Ingress')).toEqual(['sentiment', 'sentiment-canary']);
    expect(h.condition('RoutingReady')).toMatchObject({ status: 'False', reason: 'RouteNotAccepted' });

    routeVerdict(h.fake, 'True', 'Accepted');
    await h.pass();
    expect(h.fake.names('Ingress')).toEqual([]);
    expect(h.condition('RoutingReady')).toMatchObject({ status: 'True', reason: 'Applied' });
  });

  test('a route the Gateway refuses keeps the Ingresses, with the Gateway’s words in the status', async () => {
    const h = harness();
    await h.pass();
    await acceptedGateway(h.fake);
    h.put(gatewaySpec);
    await h.pass();
    routeVerdict(h.fake, 'False', 'NotAllowedByListeners', 'no listener allows routes from namespace ml');
    await h.pass();
    expect(h.fake.names('Ingress')).toEqual(['sentiment', 'sentiment-canary']);
    expect(h.condition('RoutingReady')).toMatchObject({ status: 'False', reason: 'RouteNotAccepted' });
    expect(h.condition('RoutingReady')?.message).toContain('no listener allows routes from namespace ml');
  });

  test('a Gateway that does not exist keeps the Ingresses', async () => {
    const h = harness();
    await h.pass();
    h.put(gatewaySpec);
    await h.pass();
    expect(h.fake.names('HTTPRoute')).toEqual(['sentiment']);
    expect(h.fake.names('Ingress')).toEqual(['sentiment', 'sentiment-canary']);
    expect(h.condition('RoutingReady')).toMatchObject({ status: 'False', reason: 'GatewayNotFound' });
  });

  test('back to ingress-nginx: the HTTPRoute goes once the Ingresses exist', async () => {
    const h = harness(gatewaySpec);
    await acceptedGateway(h.fake);
    await h.pass();
    routeVerdict(h.fake, 'True', 'Accepted');
    await h.pass();
    h.put(base());
    h.fake.fail({
      verb: 'apply',
      kind: 'Ingress',
      error: new ApiException(422, 'Invalid', '{"message":"denied"}', {}),
    });
    await h.pass().catch(() => undefined);
    expect(h.fake.names('HTTPRoute')).toEqual(['sentiment']);
    await h.pass();
    expect(h.fake.names('Ingress')).toEqual(['sentiment', 'sentiment-canary']);
    expect(h.fake.names('HTTPRoute')).toEqual([]);
  });
});

describe('status', () => {
  test('a field the operator no longer sets goes away (unexpressedRules after a provider switch)', async () => {
    const h = harness();
    await h.pass();
    expect(h.fake.stack().status?.routing?.unexpressedRules?.length).toBe(1);
    await acceptedGateway(h.fake);
    h.put({
      ...base(),
      routing: { host: 'sentiment.example.com', provider: 'gateway-api', gateway: { name: 'gw' } },
    });
    await h.pass();
    routeVerdict(h.fake, 'True', 'Accepted');
    await h.pass();
    expect(h.fake.stack().status?.routing).toEqual({ provider: 'gateway-api' });
  });

  test('a field an earlier operator wrote by merge patch is removed too, then nothing more is written', async () => {
    const h = harness();
    await h.fake.patchStatus('ml', 'sentiment', {
      routing: { provider: 'gateway-api', unexpressedRules: ['old'] },
      url: 'x',
    });
    await acceptedGateway(h.fake);
    h.put({
      ...base(),
      routing: { host: 'sentiment.example.com', provider: 'gateway-api', gateway: { name: 'gw' } },
    });
    await h.pass();
    routeVerdict(h.fake, 'True', 'Accepted');
    await h.pass();
    expect(h.fake.stack().status?.routing).toEqual({ provider: 'gateway-api' });
    const mark = h.fake.mark;
    await h.pass();
    expect(h.fake.writes(mark)).toEqual([]);
  });

  test.each([
    [
      'a webhook answering 500 on an apply',
      'apply',
      'Deployment',
      500,
      'admission webhook "policy.example.com" failed: internal error',
    ],
    ['a 429 on an apply', 'apply', 'Service', 429, 'the server has received too many requests'],
  ] as const)(
    '%s shows as Ready=False with reason and message, and the pass still fails for backoff',
    async (_what, verb, kind, code, message) => {
      const h = harness();
      h.fake.fail({
        verb,
        kind,
        error: new ApiException(code, 'x', JSON.stringify({ message }), {}),
        times: Infinity,
      });
      await expect(h.pass()).rejects.toBeDefined();
      const ready = h.condition('Ready');
      expect(ready).toMatchObject({ status: 'False', reason: 'ApiError' });
      expect(ready?.message).toContain(message);
      h.fake.clearFailures();
      await h.pass();
      expect(h.condition('Ready')?.reason).not.toBe('ApiError');
    },
  );
});

describe('Events', () => {
  test('a standing warning is posted once, not again every 10 minutes', async () => {
    const h = harness();
    for (let i = 0; i < 4; i++) {
      await h.pass();
      await h.clock.advance(11 * 60_000);
    }
    expect(h.fake.events.filter((e) => e.reason === 'RoutingRulesNotExpressible')).toHaveLength(1);
  });

  test('a warning that goes away and comes back is posted again', async () => {
    const h = harness();
    await acceptedGateway(h.fake);
    await h.pass();
    h.put({
      ...base(),
      routing: { host: 'sentiment.example.com', provider: 'gateway-api', gateway: { name: 'gw' } },
    });
    await h.pass();
    routeVerdict(h.fake, 'True', 'Accepted');
    await h.pass();
    h.put(base());
    await h.pass();
    await h.pass();
    expect(h.fake.events.filter((e) => e.reason === 'RoutingRulesNotExpressible')).toHaveLength(2);
  });

  test('what the recorder remembers about a stack goes with the stack', async () => {
    const h = harness();
    await h.pass();
    expect(h.events.remembered).toBeGreaterThan(0);
    h.fake.deleteStack();
    await h.pass();
    expect(h.events.remembered).toBe(0);
  });
});

describe('an informer cache that lags behind the operator’s own writes', () => {
  /** The harness, with a Deployment cache that can be frozen (its watch events not yet arrived). */
  function lagging(spec: Spec) {
    const fake = new FakeCluster();
    const clock = new ManualClock();
    const events = new EventRecorder(fake.eventsApi as never, 'test', clock.date, log);
    const caches = fake.caches();
    const key = `${APPS}/Deployment`;
    const real = caches.children.get(key);
    let frozen: Map<string, KubernetesObject> | undefined;
    caches.children.set(
      key,
      indexed({
        get: (name, namespace) => (frozen ? frozen.get(name) : real?.get(name, namespace)),
        list: (namespace) => (frozen ? [...frozen.values()] : (real?.list(namespace) ?? [])),
      }),
    );
    const reconciler = new Reconciler(caches, fake as never, events, ctx, clock.date, log);
    fake.putStack(spec);
    return {
      fake,
      put: (s: Spec) => fake.putStack(s),
      pass: () => reconciler.reconcile('ml', 'sentiment'),
      freeze: () => {
        frozen = new Map((real?.list('ml') ?? []).map((o) => [o.metadata?.name ?? '', structuredClone(o)]));
      },
      thaw: () => (frozen = undefined),
    };
  }

  test('turning autoscaling on right after a replicas change keeps the new count (no drop to 1)', async () => {
    const h = lagging({ ...base(), throughput: { replicas: 2 } });
    await h.pass();
    h.freeze();
    h.put({ ...base(), throughput: { replicas: 3 } });
    await h.pass();
    // The cache still shows 2 replicas when autoscaling goes on.
    h.put({ ...base(), throughput: { replicas: 3, autoscaling: { minReplicas: 1, maxReplicas: 6 } } });
    await h.pass();
    h.thaw();
    await h.pass();
    expect(h.fake.replicasHistory.get('sentiment-throughput')).toEqual([2, 3]);
  });

  test('autoscaling off and on again before the cache saw the off keeps the count (no drop to 1)', async () => {
    const on = (maxDelayMs: number): Spec => ({
      ...base(),
      throughput: { replicas: 4, autoscaling: { minReplicas: 1, maxReplicas: 6 }, batching: { maxDelayMs } },
    });
    const h = lagging(on(20));
    await h.pass();
    h.fake.hpaScales('sentiment-throughput', 5);
    h.freeze();
    h.put({ ...base(), throughput: { replicas: 4, batching: { maxDelayMs: 20 } } });
    await h.pass();
    // The cache still shows the Deployment as autoscaling left it.
    h.put(on(30));
    await h.pass();
    h.thaw();
    await h.pass();
    expect(h.fake.replicasHistory.get('sentiment-throughput')).toEqual([1, 5, 4]);
  });
});
