// The operator as users run it: the chart's Deployment, installed with helm, its pod run by the
// node agent from the locally built image, reaching the API server in-cluster (ServiceAccount
// token, kubernetes.default.svc), and reconciling a ServingStack whose pools then run too.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { NODE_NAME, defaultServiceAccount, ensureNodeAgent } from '../agent/testing/cluster-parts.ts';
import { stackManifest } from '../agent/testing/stack.ts';
import { chartDir, helm } from './support/helm.ts';
import { kubectl, loadKubeConfig, repoRoot, waitFor, withTestNamespace } from './support/index.ts';

/** What `make images` builds; SERVINGSTACK_OPERATOR_TAG picks another local tag. */
const OPERATOR_IMAGE = {
  repository: 'localhost/servingstack/operator',
  tag: process.env.SERVINGSTACK_OPERATOR_TAG ?? 'dev',
};
const kc = loadKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const ns = withTestNamespace('e2e-operator-pod');
const release = 'op';

beforeAll(async () => {
  await ensureNodeAgent();
  await defaultServiceAccount(ns.name, kubectl);
  await kubectl(['apply', '--server-side', '-f', `${repoRoot}crds/`]);
  await helm([
    'install',
    release,
    chartDir,
    '--namespace',
    ns.name,
    '--skip-crds',
    '--set',
    `image.repository=${OPERATOR_IMAGE.repository}`,
    '--set',
    `image.tag=${OPERATOR_IMAGE.tag}`,
    '--set',
    'image.pullPolicy=Never',
    '--set',
    'replicaCount=1',
    '--set',
    `operator.watchNamespaces={${ns.name}}`,
  ]);
}, 240_000);

afterAll(async () => {
  await helm(['uninstall', release, '--namespace', ns.name, '--wait', '--timeout', '120s']).catch(
    () => undefined,
  );
}, 150_000);

describe('the chart on the node agent', () => {
  test("the operator's pod runs on the agent node and becomes Ready", async () => {
    const pod = await waitFor(
      `the operator pod of release ${release} to be Ready`,
      async () => {
        const pods = await core.listNamespacedPod({
          namespace: ns.name,
          labelSelector: `app.kubernetes.io/instance=${release}`,
        });
        return pods.items.find((p) =>
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
      },
      { timeoutMs: 180_000, intervalMs: 2_000 },
    );
    expect(pod?.spec?.nodeName).toBe(NODE_NAME);
    expect(pod?.spec?.containers[0]?.image).toBe(`${OPERATOR_IMAGE.repository}:${OPERATOR_IMAGE.tag}`);
  }, 200_000);

  test('it reconciles a ServingStack until both pools serve', async () => {
    const name = 'from-pod';
    await custom.createNamespacedCustomObject({
      group: 'servingstack.dev',
      version: 'v1alpha1',
      namespace: ns.name,
      plural: 'servingstacks',
      body: stackManifest({
        name,
        namespace: ns.name,
        host: 'pod.operator.e2e.test',
        provider: 'ingress-nginx',
      }),
    });
    await waitFor(
      `the chart's operator to make both Deployments of ${name} available`,
      async () => {
        const list = await apps.listNamespacedDeployment({
          namespace: ns.name,
          labelSelector: `app.kubernetes.io/instance=${name}`,
        });
        return list.items.filter((d) => (d.status?.availableReplicas ?? 0) >= 1).length;
      },
      { until: (n) => n === 2, timeoutMs: 300_000, intervalMs: 2_000 },
    );
    const stack = (await custom.getNamespacedCustomObject({
      group: 'servingstack.dev',
      version: 'v1alpha1',
      namespace: ns.name,
      plural: 'servingstacks',
      name,
    })) as { metadata?: { generation?: number }; status?: { observedGeneration?: number } };
    expect(stack.status?.observedGeneration).toBe(stack.metadata?.generation);
  }, 330_000);
});
