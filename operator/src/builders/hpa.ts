// The HorizontalPodAutoscaler of one pool, on the per-pod metrics prometheus-adapter serves
// (DESIGN.md, Metrics). null when the pool has no autoscaling: then the Deployment's replicas rule.
import type { V2HorizontalPodAutoscaler, V2MetricSpec } from '@kubernetes/client-node';
import type { DefaultedStack, Pool } from '../api/servingstack.ts';
import { childNames, labels } from './names.ts';
import { ownerReference } from './owner.ts';
import { canonicalMilli } from './quantity.ts';

export const RPS_METRIC = 'servingstack_requests_per_second';
export const P95_METRIC = 'servingstack_request_duration_p95_seconds';
export const GPU_UTIL_METRIC = 'DCGM_FI_DEV_GPU_UTIL';

function podsMetric(name: string, averageValue: string): V2MetricSpec {
  return { type: 'Pods', pods: { metric: { name }, target: { type: 'AverageValue', averageValue } } };
}

export function buildHpa(stack: DefaultedStack, pool: Pool): V2HorizontalPodAutoscaler | null {
  const a = stack.spec[pool].autoscaling;
  if (!a) return null;
  const metrics = [
    podsMetric(RPS_METRIC, canonicalMilli(a.targetRPSPerReplica * 1000)),
    // Milliseconds are milli-units of seconds: 500 ms is "500m", exact with no float rounding.
    podsMetric(P95_METRIC, canonicalMilli(a.targetP95Ms)),
  ];
  if (a.targetGPUUtilizationPercent !== undefined) {
    metrics.push(podsMetric(GPU_UTIL_METRIC, canonicalMilli(a.targetGPUUtilizationPercent * 1000)));
  }
  const name = childNames.pool(stack, pool);
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
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
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
