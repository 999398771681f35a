// GitOps on the local cluster: what Argo CD or Flux would do, done with server-side apply under
// their field managers, next to a running operator.
// - The CRD on its own (`kubectl apply -f crds/`) validates and stores ServingStacks.
// - Applying the same manifests twice changes nothing (no new resourceVersion).
// - The GitOps tool and the operator never fight: the tool owns the spec, the operator the status
//   and the children; repeated syncs leave the children untouched (not one re-apply), a spec change
//   goes through without a conflict and the operator follows it.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { kubeconfigPath, kubectl, repoRoot, waitFor, withTestNamespace } from './support/index.ts';
import { startLocalOperator, type LocalOperator } from './support/local-operator.ts';

// Releases, token reviews and reconciles take seconds each on the shared 2-core machine.
jest.setTimeout(300_000);

const CRD = 'servingstacks.servingstack.dev';
const GITOPS = 'argocd-controller';
const OPERATOR = 'servingstack-operator';
const STACK = 'gitops';

interface ManagedFields {
  manager: string;
  operation: string;
  subresource?: string;
  time?: string;
  fieldsV1?: Record<string, unknown>;
}
interface Obj {
  kind: string;
  metadata: {
    name: string;
    resourceVersion: string;
    generation: number;
    annotations?: Record<string, string>;
    managedFields?: ManagedFields[];
  };
  spec?: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

const stackManifest = (namespace: string, maxBatchSize = 16, annotations: Record<string, string> = {}) => ({
  apiVersion: 'servingstack.dev/v1alpha1',
  kind: 'ServingStack',
  metadata: { name: STACK, namespace, annotations },
  spec: {
    model: { name: 'mlp', uri: 'file:///opt/servingstack/models/mlp' },
    routing: { host: `${STACK}.e2e.servingstack.local` },
    // Pods are kept unschedulable: the Deployments' status then settles at once and any later
    // write to a child can only come from a fight over its fields.
    throughput: {
      batching: { maxBatchSize, maxDelayMs: 5 },
      resources: { gpus: 0 },
      nodeSelector: { 'servingstack.dev/e2e-unschedulable': 'true' },
      autoscaling: { minReplicas: 1, maxReplicas: 2, targetRPSPerReplica: 10, targetP95Ms: 500 },
    },
    latency: {
      resources: { gpus: 0 },
      nodeSelector: { 'servingstack.dev/e2e-unschedulable': 'true' },
    },
  },
});

/** Server-side apply as a GitOps controller would (no --force-conflicts: a conflict fails). */
async function gitopsApply(manifest: object, namespace: string): Promise<Obj> {
  const out = await kubectl(
    ['apply', '--server-side', `--field-manager=${GITOPS}`, '-n', namespace, '-o', 'json', '-f', '-'],
    {
      input: JSON.stringify(manifest),
    },
  );
  return JSON.parse(out) as Obj;
}

async function get(resource: string, namespace?: string): Promise<Obj> {
  const ns = namespace === undefined ? [] : ['-n', namespace];
  return JSON.parse(await kubectl(['get', resource, ...ns, '-o', 'json', '--show-managed-fields'])) as Obj;
}

/** The top-level field sets a manager owns, e.g. ['f:spec'] or ['f:status']. */
function ownedBy(obj: Obj, manager: string): string[] {
  return (obj.metadata.managedFields ?? [])
    .filter((m) => m.manager === manager)
    .flatMap((m) => Object.keys(m.fieldsV1 ?? {}).map((k) => (m.subresource ? `${m.subresource}:${k}` : k)))
    .sort();
}

const CHILDREN = [
  `deployment.apps/${STACK}-throughput`,
  `deployment.apps/${STACK}-latency`,
  `service/${STACK}-throughput`,
  `service/${STACK}-latency`,
  `horizontalpodautoscaler.autoscaling/${STACK}-throughput`,
  `ingress.networking.k8s.io/${STACK}`,
];

describe('the CRD on its own (kubectl apply -f crds/)', () => {
  const ns = withTestNamespace('e2e-crd-only');

  it('is applied idempotently: a second server-side apply changes no resourceVersion', async () => {
    await kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds')]);
    await kubectl(['wait', `crd/${CRD}`, '--for=condition=Established', '--timeout=60s']);
    const first = await get(`crd/${CRD}`);
    await kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds')]);
    expect((await get(`crd/${CRD}`)).metadata.resourceVersion).toBe(first.metadata.resourceVersion);
  });

  it('stores a ServingStack with the schema defaults filled in by the API server', async () => {
    const stored = await gitopsApply(stackManifest(ns.name), ns.name);
    expect(stored.spec).toMatchObject({
      routing: { provider: 'ingress-nginx', default: 'throughput' },
      throughput: { precision: 'fp16', batching: { maxBatchSize: 16, maxDelayMs: 5, maxQueueSize: 1024 } },
    });
  });

  it.each<[string, (m: ReturnType<typeof stackManifest>) => void, string]>([
    ['an unknown scheme', (m) => (m.spec.model.uri = 'ftp://models/x'), 'spec.model.uri'],
    [
      'a latency batch above the throughput batch',
      (m) => Object.assign(m.spec.latency, { batching: { maxBatchSize: 32 } }),
      'spec.latency.batching.maxBatchSize',
    ],
    [
      'an unknown precision',
      (m) => Object.assign(m.spec.throughput, { precision: 'fp8' }),
      'spec.throughput.precision',
    ],
  ])('rejects %s, naming the field', async (_what, spoil, field) => {
    const manifest = stackManifest(ns.name);
    manifest.metadata.name = 'invalid';
    spoil(manifest);
    await expect(gitopsApply(manifest, ns.name)).rejects.toThrow(field);
  });
});

describe('a GitOps controller and the operator on the same ServingStack', () => {
  const ns = withTestNamespace('e2e-gitops');
  let operator: LocalOperator;
  let settled: Obj;

  /**
   * What only a spec change or the operator's own writes move on each child: its generation and
   * the operator's managedFields entries (fields and time of its last change). Not the
   * resourceVersion: other controllers write status (the HPA controller updates its HPA's status
   * whenever the metrics it reads change), and that is not the operator touching the child.
   */
  const childWrites = async () =>
    Object.fromEntries(
      await Promise.all(
        CHILDREN.map(async (c) => {
          const { metadata } = await get(c, ns.name);
          const operatorEntries = (metadata.managedFields ?? [])
            .filter((m) => m.manager === OPERATOR)
            .map(({ operation, subresource, time, fieldsV1 }) => ({
              operation,
              subresource,
              time,
              fieldsV1,
            }));
          return [c, { generation: metadata.generation, operatorEntries }];
        }),
      ),
    );

  /** Waits until the operator has done at least `passes` more reconcile passes and its queue is empty. */
  async function operatorCaughtUp(after: number): Promise<void> {
    await waitFor(
      `the operator to reconcile again (more than ${after} passes) and empty its queue`,
      async () => {
        const passes = await operator.metric('servingstack_operator_reconcile_total');
        const depth = await operator.metric('servingstack_operator_workqueue_depth');
        return passes > after && depth === 0;
      },
    );
  }

  beforeAll(async () => {
    await kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds')]);
    operator = await startLocalOperator({
      kubeconfig: kubeconfigPath,
      watchNamespaces: [ns.name],
      identity: 'e2e-gitops',
      // A sync that changes only metadata starts no pass of its own (the operator reconciles a
      // stack on a new generation); the resync then looks at the stack as the sync left it.
      resyncPeriodSeconds: 5,
    });
  });
  afterAll(async () => {
    await operator?.stop();
  });

  it('the operator reconciles the stack the GitOps controller applied', async () => {
    await gitopsApply(stackManifest(ns.name), ns.name);
    await waitFor(
      `the children of ${ns.name}/${STACK}`,
      async () =>
        (await kubectl(['get', 'deploy,svc,hpa,ingress', '-n', ns.name, '-o', 'name'])).trim().split('\n'),
      { until: (names) => CHILDREN.every((c) => names.includes(c)), timeoutMs: 90_000 },
    );
    settled = await waitFor(
      'the stack status to observe its generation',
      () => get(`servingstack/${STACK}`, ns.name),
      {
        until: (s) => s.status?.observedGeneration === s.metadata.generation,
        timeoutMs: 90_000,
      },
    );
  });

  it("owns the spec with the GitOps manager and leaves only the status to others; children are the operator's alone", async () => {
    const stack = await get(`servingstack/${STACK}`, ns.name);
    expect(ownedBy(stack, GITOPS)).toContain('f:spec');
    expect(ownedBy(stack, GITOPS)).not.toContain('f:status');
    // Whoever else wrote to the stack (the operator) did so through the status subresource only.
    const others = (stack.metadata.managedFields ?? []).filter((m) => m.manager !== GITOPS);
    expect(others.length).toBeGreaterThan(0);
    expect(others.filter((m) => m.subresource !== 'status')).toEqual([]);
    for (const child of CHILDREN) {
      const obj = await get(child, ns.name);
      expect(ownedBy(obj, GITOPS)).toEqual([]);
      expect(ownedBy(obj, OPERATOR)).toContain('f:spec');
    }
  });

  it('applying the same manifest again changes nothing: same resourceVersion, same generation', async () => {
    for (let i = 0; i < 3; i++) {
      const again = await gitopsApply(stackManifest(ns.name), ns.name);
      expect(again.metadata.resourceVersion).toBe(
        (await get(`servingstack/${STACK}`, ns.name)).metadata.resourceVersion,
      );
      expect(again.metadata.generation).toBe(settled.metadata.generation);
    }
  });

  it('repeated syncs that touch the stack leave every child untouched (the operator re-applies nothing)', async () => {
    const children = await childWrites();
    const applies = await operator.metric('servingstack_operator_api_requests_total', { verb: 'apply' });
    // A sync that changes only metadata (Argo CD's tracking annotation); the operator looks again at
    // its next resync (every 5 s here), and re-applies nothing.
    for (const revision of ['r1', 'r2', 'r3']) {
      const passes = await operator.metric('servingstack_operator_reconcile_total');
      await gitopsApply(
        stackManifest(ns.name, 16, { 'argocd.argoproj.io/tracking-id': `ml:${revision}` }),
        ns.name,
      );
      await operatorCaughtUp(passes);
    }
    expect(await childWrites()).toEqual(children);
    expect(await operator.metric('servingstack_operator_api_requests_total', { verb: 'apply' })).toBe(
      applies,
    );
    const stack = await get(`servingstack/${STACK}`, ns.name);
    expect(stack.metadata.generation).toBe(settled.metadata.generation);
    expect(stack.spec).toEqual(settled.spec);
  });

  it('a spec change from Git goes through without a conflict, and the operator follows it', async () => {
    const changed = await gitopsApply(
      stackManifest(ns.name, 8, { 'argocd.argoproj.io/tracking-id': 'ml:r3' }),
      ns.name,
    );
    expect(changed.metadata.generation).toBe(settled.metadata.generation + 1);
    await waitFor('the operator to observe the new generation', () => get(`servingstack/${STACK}`, ns.name), {
      until: (s) => s.status?.observedGeneration === changed.metadata.generation,
      timeoutMs: 90_000,
    });
    const deployment = (await get(`deployment.apps/${STACK}-throughput`, ns.name)) as Obj & {
      spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
    };
    const env = deployment.spec.template.spec.containers.flatMap((c) => c.env ?? []);
    expect(env.find((e) => e.name === 'MAX_BATCH_SIZE')?.value).toBe('8');
    expect(operator.output()).not.toMatch(/[Cc]onflict/);
  });
});
