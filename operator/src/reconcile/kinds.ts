// The kinds a stack owns, and how to watch them; also the order prune looks at them.
export interface ChildKind {
  apiVersion: string;
  kind: string;
  /** URL path segment for watches: /api/v1 or /apis/<group>/<version>. */
  prefix: string;
  plural: string;
}

export const CHILD_KINDS: readonly ChildKind[] = [
  { apiVersion: 'v1', kind: 'Service', prefix: '/api/v1', plural: 'services' },
  { apiVersion: 'apps/v1', kind: 'Deployment', prefix: '/apis/apps/v1', plural: 'deployments' },
  {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    prefix: '/apis/autoscaling/v2',
    plural: 'horizontalpodautoscalers',
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    prefix: '/apis/networking.k8s.io/v1',
    plural: 'ingresses',
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    prefix: '/apis/gateway.networking.k8s.io/v1',
    plural: 'httproutes',
  },
];

export function kindKey(apiVersion: string | undefined, kind: string | undefined): string {
  return `${apiVersion ?? ''}/${kind ?? ''}`;
}

export function watchPath(k: { prefix: string; plural: string }, namespace: string | undefined): string {
  return namespace ? `${k.prefix}/namespaces/${namespace}/${k.plural}` : `${k.prefix}/${k.plural}`;
}
