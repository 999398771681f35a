import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeconfigPath } from './paths.ts';

// The local cluster's admin kubeconfig, never the user's own ~/.kube/config: an e2e run must not
// touch whatever cluster the developer happens to have selected.
export function loadKubeConfig(path: string = kubeconfigPath): KubeConfig {
  if (!existsSync(path)) {
    throw new Error(`no kubeconfig at ${path}: start the local cluster with \`make cluster-up\``);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}
