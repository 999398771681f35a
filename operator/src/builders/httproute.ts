// Provider gateway-api: one HTTPRoute whose rules follow the routing contract in precedence order.
// Gateway API breaks ties between equally specific matches by rule order, so latency rules come
// first (as the brief's router checks them first) and the catch-all rule last.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { DefaultedStack, Pool } from '../api/servingstack.ts';
import { childNames, labels } from './names.ts';
import { greaterThanRegex, lessThanRegex } from './number-regex.ts';
import { ownerReference } from './owner.ts';
import { routingRules, type RoutingRule } from './routing-rules.ts';
import { SERVICE_PORT } from './service.ts';

export const HTTPROUTE_API_VERSION = 'gateway.networking.k8s.io/v1';

interface HeaderMatch {
  type: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

interface RouteRule {
  matches: { path: { type: 'PathPrefix'; value: string }; headers?: HeaderMatch[] }[];
  backendRefs: { name: string; port: number }[];
}

export interface HttpRoute extends KubernetesObject {
  spec: {
    parentRefs: { name: string; namespace?: string; sectionName?: string }[];
    hostnames: string[];
    rules: RouteRule[];
  };
}

export function headerMatch(rule: RoutingRule): HeaderMatch {
  switch (rule.kind) {
    case 'exact':
      return { type: 'Exact', name: rule.header, value: rule.value };
    case 'below':
      return { type: 'RegularExpression', name: rule.header, value: lessThanRegex(rule.ms) };
    case 'above':
      return { type: 'RegularExpression', name: rule.header, value: greaterThanRegex(rule.ms) };
  }
}

export function buildHttpRoute(stack: DefaultedStack): HttpRoute {
  const r = stack.spec.routing;
  const backend = (pool: Pool) => [{ name: childNames.pool(stack, pool), port: SERVICE_PORT }];
  const prefix = { type: 'PathPrefix' as const, value: '/' };
  const rules = routingRules(stack);
  const byPool = (pool: Pool): RouteRule => ({
    matches: rules.filter((x) => x.pool === pool).map((x) => ({ path: prefix, headers: [headerMatch(x)] })),
    backendRefs: backend(pool),
  });
  const gw = r.gateway;
  return {
    apiVersion: HTTPROUTE_API_VERSION,
    kind: 'HTTPRoute',
    metadata: {
      name: childNames.routing(stack),
      namespace: stack.namespace,
      labels: labels(stack, 'routing'),
      ownerReferences: [ownerReference(stack)],
    },
    spec: {
      // The CRD requires spec.routing.gateway for this provider; the fallback only keeps this total.
      parentRefs: [
        {
          name: gw?.name ?? 'default',
          ...(gw?.namespace ? { namespace: gw.namespace } : {}),
          ...(gw?.sectionName ? { sectionName: gw.sectionName } : {}),
        },
      ],
      hostnames: [r.host],
      rules: [
        byPool('latency'),
        byPool('throughput'),
        { matches: [{ path: prefix }], backendRefs: backend(r.default) },
      ],
    },
  };
}
