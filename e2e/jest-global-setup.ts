import { VersionApi } from '@kubernetes/client-node';
import { loadKubeConfig } from './test/support/kubeconfig.ts';

/** Where the reporter finds the version the suites ran against (same process as globalSetup). */
export const KUBE_VERSION_ENV = 'SERVINGSTACK_E2E_KUBE_VERSION';

/**
 * Runs once before the e2e project. An unreachable cluster fails the whole run loudly: an e2e
 * suite that skipped itself to green would prove nothing.
 */
export default async function globalSetup(): Promise<void> {
  const kc = loadKubeConfig();
  const server = kc.getCurrentCluster()?.server ?? '(no server in the kubeconfig)';
  try {
    const version = await kc.makeApiClient(VersionApi).getCode();
    process.env[KUBE_VERSION_ENV] = version.gitVersion;
  } catch (err) {
    const reason = describeError(err);
    throw new Error(
      `e2e: the local cluster at ${server} is not reachable (${reason}). ` +
        'Start it with `make cluster-up` (`make e2e` does); e2e tests never skip.',
      { cause: err },
    );
  }
}

// fetch reports "fetch failed" and keeps the useful part (ECONNREFUSED, a TLS error) in its cause.
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}
