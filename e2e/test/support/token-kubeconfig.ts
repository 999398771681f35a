import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { kubectl } from './kubectl.ts';
import { loadKubeConfig } from './kubeconfig.ts';

export interface ServiceAccountCredentials {
  /** A kubeconfig file that authenticates as the ServiceAccount, and nothing else. */
  path: string;
  kc: KubeConfig;
  /** Deletes the file (the token in it expires within the hour anyway). */
  dispose(): void;
}

/**
 * A kubeconfig for a ServiceAccount: the local cluster's server and CA, and a short-lived token
 * from the TokenRequest API (`kubectl create token`). Code run with it has exactly the
 * ServiceAccount's permissions, as it would in a pod.
 */
export async function serviceAccountKubeConfig(
  namespace: string,
  name: string,
): Promise<ServiceAccountCredentials> {
  const admin = loadKubeConfig();
  const cluster = admin.getCurrentCluster();
  if (cluster === null) throw new Error('the local kubeconfig has no current cluster');
  const token = (await kubectl(['create', 'token', name, '-n', namespace, '--duration=1h'])).trim();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: 'local' }],
    users: [{ name: `${namespace}-${name}`, token }],
    contexts: [{ name: 'sa', cluster: 'local', user: `${namespace}-${name}`, namespace }],
    currentContext: 'sa',
  });
  const dir = mkdtempSync(join(tmpdir(), 'servingstack-sa-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return { path, kc, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
