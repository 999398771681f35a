import { afterAll, describe, expect, it } from '@jest/globals';
import { ApiException, AppsV1Api, CoreV1Api, VersionApi } from '@kubernetes/client-node';
import { kubectl, loadKubeConfig, testNamespaceName, waitFor, withTestNamespace } from './support/index.ts';
import { pinnedVersion } from './support/versions.ts';

// Proves the local cluster is a real one: every check below needs a working apiserver, etcd,
// controller-manager or scheduler, not a stub that would accept anything.
const kc = loadKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

describe('the local cluster', () => {
  const ns = withTestNamespace('cluster-e2e');

  it('reports the pinned Kubernetes version on /version', async () => {
    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe(pinnedVersion('KUBE_VERSION'));
  });

  it('turns a Deployment applied with kubectl into a ReplicaSet and Pods the scheduler has seen', async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns.name },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            // No node matches, so the pods stay Pending whether or not a node agent runs, and the
            // scheduler's verdict proves it looked at them.
            nodeSelector: { 'servingstack.dev/e2e-no-such-node': 'true' },
            containers: [{ name: 'web', image: 'localhost/servingstack/never-pulled:e2e' }],
          },
        },
      },
    };
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(deployment) });

    const replicaSets = await waitFor(
      'a ReplicaSet owned by Deployment web',
      async () =>
        (await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: 'app=web' })).items,
      { until: (items) => items.length === 1 },
    );
    expect(replicaSets[0]?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'web' });
    expect(replicaSets[0]?.spec?.replicas).toBe(2);

    const pods = await waitFor(
      'two Pods of Deployment web marked Unschedulable by kube-scheduler',
      async () => (await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=web' })).items,
      {
        until: (items) =>
          items.length === 2 &&
          items.every((p) =>
            p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'),
          ),
      },
    );
    for (const pod of pods) {
      expect(pod.status?.phase).toBe('Pending');
      expect(pod.metadata?.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
    }
  });

  describe('a CRD with a CEL validation rule', () => {
    const group = `${testNamespaceName('cel')}.e2e.servingstack.dev`;
    const crdName = `ranges.${group}`;
    afterAll(async () => {
      await kubectl(['delete', 'customresourcedefinition', crdName, '--ignore-not-found', '--wait=false']);
    });

    const range = (name: string, min: number, max: number) =>
      JSON.stringify({
        apiVersion: `${group}/v1`,
        kind: 'Range',
        metadata: { name, namespace: ns.name },
        spec: { min, max },
      });

    it('rejects an object breaking the rule with the rule’s message, and accepts one that keeps it', async () => {
      const crd = {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: crdName },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'ranges', singular: 'range', kind: 'Range', listKind: 'RangeList' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      required: ['min', 'max'],
                      properties: { min: { type: 'integer' }, max: { type: 'integer' } },
                      'x-kubernetes-validations': [
                        { rule: 'self.min <= self.max', message: 'spec.min must not exceed spec.max' },
                      ],
                    },
                  },
                },
              },
            },
          ],
        },
      };
      await kubectl(['apply', '-f', '-'], { input: JSON.stringify(crd) });
      await kubectl([
        'wait',
        '--for=condition=Established',
        '--timeout=60s',
        `customresourcedefinition/${crdName}`,
      ]);

      await expect(kubectl(['create', '-f', '-'], { input: range('inverted', 5, 1) })).rejects.toThrow(
        /spec\.min must not exceed spec\.max/,
      );
      await expect(kubectl(['create', '-f', '-'], { input: range('ordered', 1, 5) })).resolves.toMatch(
        /ordered created/,
      );
    });
  });

  it('turns on RBAC: a ServiceAccount without bindings may not list pods', async () => {
    const answer = kubectl([
      'auth',
      'can-i',
      'list',
      'pods',
      '-n',
      ns.name,
      '--as',
      `system:serviceaccount:${ns.name}:default`,
    ]);
    // `can-i` exits 1 when the answer is no.
    await expect(answer).rejects.toThrow(/\bno\b/);
  });

  it('publishes the aggregation layer’s front-proxy CA for extension apiservers', async () => {
    const cm = await core.readNamespacedConfigMap({
      name: 'extension-apiserver-authentication',
      namespace: 'kube-system',
    });
    expect(cm.data?.['requestheader-client-ca-file']).toContain('BEGIN CERTIFICATE');
    expect(JSON.parse(cm.data?.['requestheader-allowed-names'] ?? '[]')).toEqual(['front-proxy-client']);
  });

  it('finalizes a namespace deletion, contents and all', async () => {
    const name = testNamespaceName('cluster-e2e-doomed');
    await core.createNamespace({ body: { metadata: { name } } });
    await core.createNamespacedConfigMap({
      namespace: name,
      body: { metadata: { name: 'keep-me' }, data: { a: 'b' } },
    });
    await core.deleteNamespace({ name });

    await waitFor(
      `namespace ${name} to be gone`,
      async () => {
        try {
          const namespace = await core.readNamespace({ name });
          return { phase: namespace.status?.phase, conditions: namespace.status?.conditions };
        } catch (err) {
          if (err instanceof ApiException && err.code === 404) return 'gone';
          throw err;
        }
      },
      { until: (v) => v === 'gone', timeoutMs: 120_000 },
    );
  });
});
