// The HorizontalPodAutoscaler of one pool, on the metrics prometheus-adapter serves (DESIGN.md,
// Metrics): requests per second per pod, and p95 latency: the latency pool's over the whole pool
// (an Object metric on its Service: every pod's buckets summed, one quantile), since an average of
// per-pod p95s hides one slow pod; the throughput pool's per pod. null when the pool has no
// autoscaling: then the Deployment's replicas rule.
import type { V2HorizontalPodAutoscaler, V2MetricSpec } from '@kubernetes/client-node';
import type { DefaultedStack, Pool } from '../api/servingstack.ts';
import { childNames, labels } from './names.ts';
import { ownerReference } from './owner.ts';
import { canonicalMilli } from './quantity.ts';

export const RPS_METRIC = 'servingstack_requests_per_second';
export const P95_METRIC = 'servingstack_request_duration_p95_seconds';
export const POOL_P95_METRIC = 'servingstack_pool_request_duration_p95_seconds';
export const GPU_UTIL_METRIC = 'DCGM_FI_DEV_GPU_UTIL';

function podsMetric(name: string, averageValue: string): V2MetricSpec {
  return { type: 'Pods', pods: { metric: { name }, target: { type: 'AverageValue', averageValue } } };
}

/** A metric of the pool's Service, compared as one value (not divided by the pod count). */
function serviceMetric(service: string, name: string, value: string): V2MetricSpec {
  return {
    type: 'Object',
    object: {
      describedObject: { apiVersion: 'v1', kind: 'Service', name: service },
      metric: { name },
      target: { type: 'Value', value },
    },
  };
}

/** `target`: the Deployment it scales, the live set's (switch.ts); the pool's own by default. */
export function buildHpa(
  stack: DefaultedStack,
  pool: Pool,
  target = childNames.pool(stack, pool),
): V2HorizontalPodAutoscaler | null {
  const a = stack.spec[pool].autoscaling;
  if (!a) return null;
  const name = childNames.pool(stack, pool);
  // Milliseconds are milli-units of seconds: 500 ms is "500m", exact with no float rounding.
  const p95 = canonicalMilli(a.targetP95Ms);
  const metrics = [
    podsMetric(RPS_METRIC, canonicalMilli(a.targetRPSPerReplica * 1000)),
    pool === 'latency' ? serviceMetric(name, POOL_P95_METRIC, p95) : podsMetric(P95_METRIC, p95),
  ];
  if (a.targetGPUUtilizationPercent !== undefined) {
    metrics.push(podsMetric(GPU_UTIL_METRIC, canonicalMilli(a.targetGPUUtilizationPercent * 1000)));
  }
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: {
      name,
      namespace: stack.namespace,
      labels: labels(stack, pool),
      ownerReferences: [ownerReference(stack)],
    },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics,
      // Scale up at once when an SLA is at risk; scale down slowly so a lull does not drop capacity.
      behavior: {
        scaleUp: {
          stabilizationWindowSeconds: a.scaleUpStabilizationWindowSeconds,
          selectPolicy: 'Max',
          policies: [
            { type: 'Percent', value: 100, periodSeconds: 15 },
            { type: 'Pods', value: 4, periodSeconds: 15 },
          ],
        },
        scaleDown: {
          stabilizationWindowSeconds: a.scaleDownStabilizationWindowSeconds,
          selectPolicy: 'Max',
          policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }],
        },
      },
    },
  };
}
