// Every child a stack wants, from the defaulted spec: the whole desired state, computed each pass.
import type { KubernetesObject } from '@kubernetes/client-node';
import { POOLS, type DefaultedStack } from '../api/servingstack.ts';
import type { BuildContext } from './context.ts';
import { buildDeployment } from './deployment.ts';
import { buildHpa } from './hpa.ts';
import { buildHttpRoute } from './httproute.ts';
import { buildIngresses } from './ingress.ts';
import { buildService } from './service.ts';

export interface Desired {
  /** In apply order: Services before Deployments (endpoints from the start), HPAs after their targets. */
  children: KubernetesObject[];
  provider: DefaultedStack['spec']['routing']['provider'];
  unexpressedRules: string[];
}

export function buildDesired(stack: DefaultedStack, ctx: BuildContext): Desired {
  const children: KubernetesObject[] = [];
  for (const pool of POOLS) children.push(buildService(stack, pool));
  for (const pool of POOLS) children.push(buildDeployment(stack, pool, ctx));
  for (const pool of POOLS) {
    const hpa = buildHpa(stack, pool);
    if (hpa) children.push(hpa);
  }
  const provider = stack.spec.routing.provider;
  let unexpressedRules: string[] = [];
  if (provider === 'gateway-api') {
    children.push(buildHttpRoute(stack));
  } else {
    const ing = buildIngresses(stack);
    children.push(...ing.objects);
    unexpressedRules = ing.unexpressed;
  }
  return { children, provider, unexpressedRules };
}
