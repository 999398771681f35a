// Provider ingress-nginx: a main Ingress to the default pool and a canary Ingress to the other.
// ingress-nginx allows one canary per host and path, keyed on one header, so only the priority
// header's rule for the other pool fits; the timeout rule for it is reported, not dropped silently.
// Rules that send a request to the default pool need no object: the main Ingress already does.
import type { V1Ingress } from '@kubernetes/client-node';
import type { DefaultedStack, Pool } from '../api/servingstack.ts';
import { childNames, labels } from './names.ts';
import { ownerReference } from './owner.ts';
import { otherPool, routingRules } from './routing-rules.ts';
import { SERVICE_PORT } from './service.ts';

export const CANARY = 'nginx.ingress.kubernetes.io/canary';
export const CANARY_BY_HEADER = 'nginx.ingress.kubernetes.io/canary-by-header';
export const CANARY_BY_HEADER_VALUE = 'nginx.ingress.kubernetes.io/canary-by-header-value';

export interface IngressRouting {
  objects: V1Ingress[];
  /** Rules of the contract this provider cannot express, in words, for RoutingReady and an Event. */
  unexpressed: string[];
}

function ingress(
  stack: DefaultedStack,
  name: string,
  pool: Pool,
  annotations: Record<string, string> | undefined,
): V1Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name,
      namespace: stack.namespace,
      labels: labels(stack, 'routing'),
      ...(annotations ? { annotations } : {}),
      ownerReferences: [ownerReference(stack)],
    },
    spec: {
      ingressClassName: stack.spec.routing.ingressClassName,
      rules: [
        {
          host: stack.spec.routing.host,
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: childNames.pool(stack, pool), port: { number: SERVICE_PORT } } },
              },
            ],
          },
        },
      ],
    },
  };
}

export function buildIngresses(stack: DefaultedStack): IngressRouting {
  const main = stack.spec.routing.default;
  const canaryPool = otherPool(main);
  const toCanary = routingRules(stack).filter((r) => r.pool === canaryPool);
  const byHeader = toCanary.find((r) => r.kind === 'exact');
  const objects = [ingress(stack, childNames.routing(stack), main, undefined)];
  if (byHeader && byHeader.kind === 'exact') {
    objects.push(
      ingress(stack, childNames.canary(stack), canaryPool, {
        [CANARY]: 'true',
        [CANARY_BY_HEADER]: byHeader.header,
        [CANARY_BY_HEADER_VALUE]: byHeader.value,
      }),
    );
  }
  const unexpressed = toCanary
    .filter((r) => r !== byHeader)
    .map((r) => `${r.text} (ingress-nginx allows one canary header per host; use provider gateway-api)`);
  return { objects, unexpressed };
}
