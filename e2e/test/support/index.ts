export { loadKubeConfig } from './kubeconfig.ts';
export { kubectl, type KubectlOptions } from './kubectl.ts';
export {
  TEST_NAMESPACE_LABEL,
  testNamespaceName,
  withTestNamespace,
  type TestNamespace,
} from './namespace.ts';
export { clusterDir, kubeconfigPath, kubectlPath, repoRoot } from './paths.ts';
export { waitFor, type WaitForOptions } from './wait-for.ts';
