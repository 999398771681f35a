// The server's spill-over settings for one pool, as env (server-image/src/spillover/config.ts):
// the sibling pool's Service to forward to, whether this pool's refusals may go there, the cap on
// what the sibling's spilled requests may hold of this pool, and the routing thresholds the server
// reads to see a request the router left on the wrong pool. spec.routing.spillover.enabled: false
// sets none of them, and the server forwards nothing.
import type { V1EnvVar } from '@kubernetes/client-node';
import type { DefaultedStack, Pool } from '../api/servingstack.ts';
import { childNames } from './names.ts';
import { otherPool } from './routing-rules.ts';
import { SERVICE_PORT } from './service.ts';

/** The sibling pool's Service, by its in-cluster name (the pod's DNS search path ends the name). */
export function siblingUrl(stack: DefaultedStack, pool: Pool): string {
  return `http://${childNames.pool(stack, otherPool(pool))}.${stack.namespace}.svc:${SERVICE_PORT}`;
}

export function spilloverEnv(stack: DefaultedStack, pool: Pool): V1EnvVar[] {
  const { routing } = stack.spec;
  const s = routing.spillover;
  if (!s.enabled) return [];
  const direction = (to: Pool) => (to === 'latency' ? s.toLatency : s.toThroughput);
  const out = direction(otherPool(pool));
  const into = direction(pool);
  const onOff = (b: boolean) => (b ? 'on' : 'off');
  return [
    { name: 'SPILLOVER_SIBLING_URL', value: siblingUrl(stack, pool) },
    { name: 'SPILLOVER_TO_SIBLING', value: onOff(out.enabled) },
    { name: 'SPILLOVER_ROUTE', value: 'on' },
    { name: 'SPILLOVER_MAX_SHARE_PERCENT', value: String(into.enabled ? into.maxSharePercent : 0) },
    { name: 'LATENCY_BELOW_MS', value: String(routing.latencyBelowMs) },
    { name: 'THROUGHPUT_ABOVE_MS', value: String(routing.throughputAboveMs) },
  ];
}
