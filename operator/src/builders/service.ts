// The Service in front of one pool; the router sends traffic to it.
import type { V1Service } from '@kubernetes/client-node';
import type { DefaultedStack, Pool } from '../api/servingstack.ts';
import { childNames, LABEL_MODEL_SET, labels, selectorLabels } from './names.ts';
import { ownerReference } from './owner.ts';

export const SERVICE_PORT = 80;

/** `set`: the set of Deployments it selects (switch.ts); '' selects the pool's pods of any set. */
export function buildService(stack: DefaultedStack, pool: Pool, set = ''): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: childNames.pool(stack, pool),
      namespace: stack.namespace,
      labels: labels(stack, pool),
      ownerReferences: [ownerReference(stack)],
    },
    spec: {
      type: 'ClusterIP',
      selector: { ...selectorLabels(stack, pool), ...(set === '' ? {} : { [LABEL_MODEL_SET]: set }) },
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
