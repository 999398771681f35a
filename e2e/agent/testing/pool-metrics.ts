import type { CoreV1Api } from '@kubernetes/client-node';

// Reads a pool's own Prometheus metrics from its pods (their addresses on the pod bridge), so a
// test can tell which pool served a request from the server's side as well as from the header.

/** Sum of one metric over every sample whose labels include `labels`. */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const set = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => set[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** servingstack_requests_total summed over the running pods of one pool of a stack. */
export function poolRequestsTotal(
  core: CoreV1Api,
  namespace: string,
  stack: string,
  pool: 'latency' | 'throughput',
): Promise<number> {
  return poolMetricTotal(core, namespace, stack, pool, 'servingstack_requests_total', { pool });
}

/** One metric summed over the running pods of one pool of a stack (samples matching `labels`). */
export async function poolMetricTotal(
  core: CoreV1Api,
  namespace: string,
  stack: string,
  pool: 'latency' | 'throughput',
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const pods = await core.listNamespacedPod({
    namespace,
    labelSelector: `app.kubernetes.io/instance=${stack},servingstack.dev/pool=${pool}`,
  });
  let total = 0;
  for (const p of pods.items) {
    if (p.status?.phase !== 'Running' || !p.status.podIP || p.metadata?.deletionTimestamp) continue;
    const text = await fetch(`http://${p.status.podIP}:9090/metrics`).then((r) => r.text());
    total += sumMetric(text, name, labels);
  }
  return total;
}
