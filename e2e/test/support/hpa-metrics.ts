import type { AutoscalingV2Api, V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { kubectl } from './kubectl.ts';

// What the autoscaling suites read: a stack's pool HPA, the values its controller last saw, and
// the per-pod custom metrics the aggregated API (prometheus-adapter) serves.

export type Pool = 'latency' | 'throughput';

/** The custom metrics the operator's HPAs read (the chart's adapter rules). */
export const RPS_METRIC = 'servingstack_requests_per_second';
export const P95_METRIC = 'servingstack_request_duration_p95_seconds';
/** The latency pool's own p95 (all its pods' buckets, one quantile): an Object metric on its Service. */
export const POOL_P95_METRIC = 'servingstack_pool_request_duration_p95_seconds';

/** The label selector of one pool's objects of one stack, as the operator labels them. */
export const poolLabelSelector = (stack: string, pool: Pool) =>
  `app.kubernetes.io/instance=${stack},app.kubernetes.io/managed-by=servingstack-operator,servingstack.dev/pool=${pool}`;

/** A Kubernetes quantity as a number ("250m" -> 0.25, "3" -> 3, "1500u" -> 0.0015). */
export function parseQuantity(text: string): number {
  const match = /^(-?[0-9.]+(?:e-?[0-9]+)?)(n|u|m|k|M|G)?$/.exec(text);
  if (!match) throw new Error(`not a quantity: ${JSON.stringify(text)}`);
  const scale = { n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * scale;
}

/** The one HPA of a stack's pool; throws when there is none or more than one. */
export async function onlyHpa(
  api: AutoscalingV2Api,
  namespace: string,
  stack: string,
  pool: Pool,
): Promise<V2HorizontalPodAutoscaler> {
  const list = await api.listNamespacedHorizontalPodAutoscaler({
    namespace,
    labelSelector: poolLabelSelector(stack, pool),
  });
  const [hpa, ...more] = list.items;
  if (!hpa || more.length > 0)
    throw new Error(`expected one HPA for the ${pool} pool, found ${list.items.length}`);
  return hpa;
}

/**
 * The HPA's current value of a metric (a Pods metric's average, an Object metric's value), or
 * undefined while the controller has none.
 */
export function current(hpa: V2HorizontalPodAutoscaler, metric: string): number | undefined {
  const status = hpa.status?.currentMetrics?.find(
    (m) => m.pods?.metric.name === metric || m.object?.metric.name === metric,
  );
  const value = status?.pods?.current.averageValue ?? status?.object?.current.value;
  return value === undefined ? undefined : parseQuantity(String(value));
}

/** Per-pod values of a custom metric, straight from the aggregated API the HPA reads. */
export async function perPodMetric(
  namespace: string,
  labelSelector: string,
  metric: string,
): Promise<Map<string, number>> {
  const path =
    `/apis/custom.metrics.k8s.io/v1beta1/namespaces/${namespace}/pods/*/${metric}` +
    `?labelSelector=${encodeURIComponent(labelSelector)}`;
  const list = JSON.parse(await kubectl(['get', '--raw', path])) as {
    items: { describedObject: { name: string }; value: string }[];
  };
  return new Map(list.items.map((i) => [i.describedObject.name, parseQuantity(i.value)]));
}
