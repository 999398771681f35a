import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { NODE_NAME } from '../../agent/testing/cluster-parts.ts';
import { waitFor } from './wait-for.ts';

const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const key = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;

/** The pods on the node agent's node that are Ready now, as namespace/name: a running demo's among them. */
export async function readyPodsOnNode(core: CoreV1Api): Promise<string[]> {
  const pods = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${NODE_NAME}` });
  return pods.items.filter(isReady).map(key);
}

/**
 * After a suite disrupted the control plane: waits until the node is Ready again and every pod of
 * `before` that still exists is Ready again, so the suite leaves the node (and a running demo's
 * stack) as it found it.
 */
export async function waitUntilReadyAgain(core: CoreV1Api, before: readonly string[]): Promise<void> {
  if (before.length === 0) return;
  await waitFor(
    `node ${NODE_NAME} and its pods that were Ready before (${before.join(', ')}) to be Ready again`,
    async () => {
      const node = await core.readNode({ name: NODE_NAME });
      const pods = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${NODE_NAME}` });
      const nodeReady =
        node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      const unready = pods.items.filter((p) => before.includes(key(p)) && !isReady(p)).map(key);
      return { nodeReady, unready };
    },
    { until: (s) => s.nodeReady && s.unready.length === 0, timeoutMs: 180_000 },
  );
}
