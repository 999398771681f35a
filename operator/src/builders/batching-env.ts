// The server's batching and scheduling settings for one pool, as env (server-image/src/config.ts):
// the batch contract and warm-up shapes of the model, the pool's adaptive batch size target, and
// the routing headers, which the server reads too (deadlines, priorities inside the pool).
import type { V1EnvVar } from '@kubernetes/client-node';
import type { DefaultedStack, Pool } from '../api/servingstack.ts';

/**
 * The p95 the pool's batch size adapts to: its batching target, else its autoscaling target;
 * undefined (static batching) without either or with adaptive off.
 */
export function adaptiveTarget(stack: DefaultedStack, pool: Pool): number | undefined {
  const p = stack.spec[pool];
  if (!p.batching.adaptive) return undefined;
  return p.batching.targetP95Ms ?? p.autoscaling?.targetP95Ms;
}

export function batchingEnv(stack: DefaultedStack, pool: Pool): V1EnvVar[] {
  const { model, routing } = stack.spec;
  const target = adaptiveTarget(stack, pool);
  return [
    { name: 'BATCH_DIMENSION', value: model.batchDimension },
    ...(model.warmupShapes?.length
      ? [{ name: 'WARMUP_SHAPES', value: JSON.stringify(model.warmupShapes) }]
      : []),
    ...(target !== undefined ? [{ name: 'TARGET_P95_MS', value: String(target) }] : []),
    { name: 'TIMEOUT_HEADER', value: routing.timeoutHeader },
    { name: 'PRIORITY_HEADER', value: routing.priorityHeader },
    { name: 'REAL_TIME_PRIORITY', value: routing.latencyPriority },
    { name: 'BATCH_PRIORITY', value: routing.throughputPriority },
  ];
}
