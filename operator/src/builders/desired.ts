// Every child a stack wants, from the defaulted spec: the whole desired state, computed each pass.
import type { KubernetesObject } from '@kubernetes/client-node';
import { POOLS, type DefaultedStack } from '../api/servingstack.ts';
import type { BuildContext } from './context.ts';
import { buildDeployment } from './deployment.ts';
import { buildHpa } from './hpa.ts';
import { buildHttpRoute } from './httproute.ts';
import { buildIngresses } from './ingress.ts';
import { buildService } from './service.ts';
import { childNames } from './names.ts';
import { desiredSet } from './model-version.ts';
import type { SwitchPlan } from './switch.ts';

export interface Desired {
  /** In apply order: Services before Deployments (endpoints from the start), HPAs after their targets. */
  children: KubernetesObject[];
  provider: DefaultedStack['spec']['routing']['provider'];
  unexpressedRules: string[];
}

/** `plan`: which set the Services select and which is built (switch.ts); the desired set alone by default. */
export function buildDesired(stack: DefaultedStack, ctx: BuildContext, plan?: SwitchPlan): Desired {
  const set = desiredSet(stack.spec.model);
  const { serve, build, startReplicas } = plan ?? { serve: set, build: set, startReplicas: {} };
  const children: KubernetesObject[] = [];
  for (const pool of POOLS) children.push(buildService(stack, pool, serve));
  for (const pool of POOLS)
    children.push(buildDeployment(stack, pool, ctx, { set: build, startReplicas: startReplicas[pool] }));
  for (const pool of POOLS) {
    const hpa = buildHpa(stack, pool, childNames.poolSet(stack, pool, serve));
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
