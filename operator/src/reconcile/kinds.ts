// The kinds a stack owns, one row each: how to watch them, whether the cluster may lack them, and
// what a new object of the kind waits for before what it replaces is pruned. Also the order prune
// looks at them.
export interface ChildKind {
  apiVersion: string;
  kind: string;
  /** URL path segment for watches: /api/v1 or /apis/<group>/<version>. */
  prefix: string;
  plural: string;
  /** Its CRD may be absent (a provider not installed): a configuration state, not a failure. */
  optional: boolean;
  /** In place only once its parent Gateway accepts it, where the Gateway reports that. */
  judgedByGateway?: true;
}

export const CHILD_KINDS: readonly ChildKind[] = [
  { apiVersion: 'v1', kind: 'Service', prefix: '/api/v1', plural: 'services', optional: false },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    prefix: '/apis/apps/v1',
    plural: 'deployments',
    optional: false,
  },
  {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    prefix: '/apis/autoscaling/v2',
    plural: 'horizontalpodautoscalers',
    optional: false,
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    prefix: '/apis/networking.k8s.io/v1',
    plural: 'ingresses',
    optional: false,
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    prefix: '/apis/gateway.networking.k8s.io/v1',
    plural: 'httproutes',
    optional: true,
    judgedByGateway: true,
  },
];

/**
 * Kinds the operator reads and never writes: a pool Deployment's ReplicaSets, one per pod
 * template, say how many replicas (ready or not) each model version has (status/model-version.ts).
 * They carry the pods' labels, so the children's label selector finds them; an event of one
 * enqueues the stack of the Deployment that controls it.
 */
export const OBSERVED_KINDS: readonly ChildKind[] = [
  {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    prefix: '/apis/apps/v1',
    plural: 'replicasets',
    optional: false,
  },
];

export function childKind(apiVersion: string | undefined, kind: string | undefined): ChildKind | undefined {
  return CHILD_KINDS.find((k) => k.apiVersion === apiVersion && k.kind === kind);
}

export function kindKey(apiVersion: string | undefined, kind: string | undefined): string {
  return `${apiVersion ?? ''}/${kind ?? ''}`;
}

export function watchPath(k: { prefix: string; plural: string }, namespace: string | undefined): string {
  return namespace ? `${k.prefix}/namespaces/${namespace}/${k.plural}` : `${k.prefix}/${k.plural}`;
}
