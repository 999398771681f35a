// Every API call the operator makes, as RBAC rules. The Helm chart's ClusterRole/Role are tested
// against this list, so a new call here without a chart change (or the reverse) fails a test.

export interface Permission {
  apiGroup: string;
  resource: string;
  verbs: readonly string[];
  /** 'cluster': ClusterRole (stacks live in any watched namespace); 'lease': Role in the lease namespace. */
  scope: 'cluster' | 'lease';
}

// Server-side apply of a missing object is authorised as both `patch` and `create`.
const CHILD_VERBS = ['get', 'list', 'watch', 'create', 'patch', 'delete'] as const;

export const PERMISSIONS: readonly Permission[] = [
  {
    apiGroup: 'servingstack.dev',
    resource: 'servingstacks',
    verbs: ['get', 'list', 'watch'],
    scope: 'cluster',
  },
  {
    apiGroup: 'servingstack.dev',
    resource: 'servingstacks/status',
    verbs: ['get', 'patch'],
    scope: 'cluster',
  },
  { apiGroup: 'apps', resource: 'deployments', verbs: CHILD_VERBS, scope: 'cluster' },
  { apiGroup: '', resource: 'services', verbs: CHILD_VERBS, scope: 'cluster' },
  { apiGroup: 'networking.k8s.io', resource: 'ingresses', verbs: CHILD_VERBS, scope: 'cluster' },
  { apiGroup: 'autoscaling', resource: 'horizontalpodautoscalers', verbs: CHILD_VERBS, scope: 'cluster' },
  { apiGroup: 'gateway.networking.k8s.io', resource: 'httproutes', verbs: CHILD_VERBS, scope: 'cluster' },
  { apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create'], scope: 'cluster' },
  { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update'], scope: 'lease' },
];
