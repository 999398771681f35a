// Every API call the operator makes, as RBAC rules. A unit test (rbac.test.ts) derives the checks
// the API server makes from the requests the operator's own clients send, and fails when this list
// misses one or grants one nothing uses; the Helm chart's roles are tested against this list.

export interface Permission {
  apiGroup: string;
  resource: string;
  verbs: readonly string[];
  /** 'cluster': ClusterRole (stacks live in any watched namespace); 'lease': Role in the lease namespace. */
  scope: 'cluster' | 'lease';
}

// Server-side apply of a missing object is authorised as both `patch` and `create`; `get` reads a
// child the (label-filtered) cache does not hold, before it is created. `delete` prunes kinds a
// stack may stop wanting (an HPA, the routing of the other provider), and on every kind it is what
// OwnerReferencesPermissionEnforcement checks for an update that changes an owner reference: the
// apply that puts back the stack's reference after someone edited it (blockOwnerDeletion unset)
// was refused with 403 on Deployments and Services without it.
const APPLIED = ['get', 'list', 'watch', 'create', 'patch', 'delete'] as const;

export const PERMISSIONS: readonly Permission[] = [
  { apiGroup: 'servingstack.dev', resource: 'servingstacks', verbs: ['list', 'watch'], scope: 'cluster' },
  { apiGroup: 'servingstack.dev', resource: 'servingstacks/status', verbs: ['patch'], scope: 'cluster' },
  // Children's owner references block the stack's deletion until they are gone; clusters with the
  // OwnerReferencesPermissionEnforcement admission plugin (OpenShift among them) check this for that.
  { apiGroup: 'servingstack.dev', resource: 'servingstacks/finalizers', verbs: ['update'], scope: 'cluster' },
  { apiGroup: 'apps', resource: 'deployments', verbs: APPLIED, scope: 'cluster' },
  // Read only: which model version each pool's ready replicas serve (a ReplicaSet per pod template).
  { apiGroup: 'apps', resource: 'replicasets', verbs: ['list', 'watch'], scope: 'cluster' },
  { apiGroup: '', resource: 'services', verbs: APPLIED, scope: 'cluster' },
  { apiGroup: 'networking.k8s.io', resource: 'ingresses', verbs: APPLIED, scope: 'cluster' },
  { apiGroup: 'autoscaling', resource: 'horizontalpodautoscalers', verbs: APPLIED, scope: 'cluster' },
  { apiGroup: 'gateway.networking.k8s.io', resource: 'httproutes', verbs: APPLIED, scope: 'cluster' },
  // The parent Gateway: whether a controller judges it, while old routes wait for its verdict.
  { apiGroup: 'gateway.networking.k8s.io', resource: 'gateways', verbs: ['get'], scope: 'cluster' },
  { apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create'], scope: 'cluster' },
  { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update'], scope: 'lease' },
];
