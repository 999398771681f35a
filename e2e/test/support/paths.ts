import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Every e2e helper finds the local cluster the way e2e/cluster/common.sh does: .cluster/ at the
// repository root unless CLUSTER_DIR points elsewhere.
export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const clusterDir = process.env.CLUSTER_DIR ?? join(repoRoot, '.cluster');
export const kubeconfigPath = join(clusterDir, 'kubeconfig');
export const kubectlPath = join(clusterDir, 'bin', 'kubectl');
