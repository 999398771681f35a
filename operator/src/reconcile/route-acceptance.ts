// Gateway API reports whether a Gateway accepts a route in the route's status.parents, one entry
// per parent and controller. Before the Ingresses an HTTPRoute replaces are pruned, the route must
// be Accepted by its Gateway, where the Gateway's controller reports that; a Gateway that does not
// exist routes nothing, so the old routes stay then too.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface ParentRef {
  name: string;
  namespace?: string;
  sectionName?: string;
}

interface RouteParentStatus {
  parentRef?: ParentRef & { group?: string; kind?: string };
  conditions?: {
    type: string;
    status: string;
    reason?: string;
    message?: string;
    observedGeneration?: number;
  }[];
}

export type Verdict =
  | { state: 'accepted' }
  | { state: 'refused'; reason: string; message: string }
  /** No controller has judged this generation of the route for this parent. */
  | { state: 'unjudged' };

export function routeVerdict(route: KubernetesObject, parent: ParentRef): Verdict {
  const ns = route.metadata?.namespace;
  const generation = route.metadata?.generation;
  const parents = ((route as { status?: { parents?: RouteParentStatus[] } }).status?.parents ?? []).filter(
    (p) =>
      p.parentRef?.name === parent.name &&
      (p.parentRef.namespace ?? ns) === (parent.namespace ?? ns) &&
      p.parentRef.sectionName === parent.sectionName &&
      (p.parentRef.kind ?? 'Gateway') === 'Gateway',
  );
  const accepted = parents
    .map((p) => p.conditions?.find((c) => c.type === 'Accepted'))
    .filter(
      (c) => c !== undefined && (c.observedGeneration === undefined || c.observedGeneration === generation),
    );
  if (accepted.some((c) => c?.status === 'True')) return { state: 'accepted' };
  const refusal = accepted.find((c) => c?.status === 'False');
  if (refusal)
    return { state: 'refused', reason: refusal.reason ?? 'NotAccepted', message: refusal.message ?? '' };
  return { state: 'unjudged' };
}

/**
 * Whether a controller has judged the Gateway itself. A Gateway's CRD defaults its Accepted
 * condition to Unknown (reason Pending); a controller sets True or False. Only then will the route
 * be judged too, so only then is it worth waiting for.
 */
export function gatewayJudged(gateway: KubernetesObject): boolean {
  const conditions = (gateway as { status?: { conditions?: { type: string; status: string }[] } }).status
    ?.conditions;
  return (conditions ?? []).some((c) => c.type === 'Accepted' && c.status !== 'Unknown');
}
