import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Starts the parts that make the local cluster run pods and route requests, through the same
// idempotent scripts `make demo` uses; a part that is already up returns at once.

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

function script(path: string, args: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('bash', [path, ...args], { cwd: repoRoot, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err)
        reject(new Error(`${path} ${args.join(' ')} failed: ${(stderr || stdout || String(err)).trim()}`));
      else resolve();
    });
  });
}

/** The test node agent (e2e/cluster/agent.sh): Node servingstack-node-1 Ready, FAKE GPUs. */
export const ensureNodeAgent = (): Promise<void> => script('e2e/cluster/agent.sh', ['start'], 120_000);

/**
 * Cuts the node agent off from the API server (no Lease, node or pod status) while its pods keep
 * running, or restores it: a node NotReady episode on demand (e2e/cluster/agent.sh).
 */
export const disconnectNodeAgent = (): Promise<void> =>
  script('e2e/cluster/agent.sh', ['disconnect'], 30_000);
export const reconnectNodeAgent = (): Promise<void> => script('e2e/cluster/agent.sh', ['reconnect'], 30_000);

/** The local Traefik (e2e/cluster/traefik/traefik.sh), answering on http://127.0.0.1:8088. */
export const ensureRouter = (): Promise<void> => script('e2e/cluster/traefik/traefik.sh', ['start'], 180_000);

/**
 * Prometheus and prometheus-adapter (e2e/cluster/metrics/metrics.sh, built by `make tools`), with
 * custom.metrics.k8s.io registered: what the HPAs read.
 */
export const ensureMetrics = (): Promise<void> =>
  script('e2e/cluster/metrics/metrics.sh', ['start'], 180_000);

/** The node the agent registers unless AGENT_NODE_NAME says otherwise. */
export const NODE_NAME = process.env.AGENT_NODE_NAME ?? 'servingstack-node-1';

/** The Gateway traefik.sh creates, for stacks with provider gateway-api. */
export const ROUTER_GATEWAY = { name: 'servingstack', namespace: 'servingstack-router' };

/**
 * Pods are refused in a namespace until the controller-manager has made its `default`
 * ServiceAccount; a suite that creates pods right after its namespace waits for it.
 */
export async function defaultServiceAccount(
  namespace: string,
  kubectlRun: (args: string[]) => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await kubectlRun(['get', 'serviceaccount', 'default', '-n', namespace, '-o', 'name']);
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`no ServiceAccount default in ${namespace} after 60s`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}
