// A node NotReady episode on the real control plane: the node agent is cut off from the API
// server (no Lease, node or pod status) while its pods keep running, until kube-controller-
// manager's node lifecycle controller marks the node NotReady and its pods unready. When the
// agent reconnects, the pods are Ready again within seconds and their Deployment available: the
// agent re-syncs a pod status it did not write, as a kubelet does (after an API server restart,
// the same episode left `make demo`'s stack unready for good).
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import {
  NODE_NAME,
  defaultServiceAccount,
  disconnectNodeAgent,
  ensureNodeAgent,
  reconnectNodeAgent,
} from '../agent/testing/cluster-parts.ts';
import { clusterDir, kubectl, loadKubeConfig, waitFor, withTestNamespace } from './support/index.ts';

const BASE_IMAGE = process.env.SERVINGSTACK_BASE_IMAGE ?? 'localhost/servingstack/node-base:24';
const SERVER = "require('node:http').createServer((q, s) => s.end('ok')).listen(8080)";

const kc = loadKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const ns = withTestNamespace('e2e-node-episode');
const agentLog = join(clusterDir, 'logs', 'agent.log');

const ready = (p: V1Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status;
const nodeReady = async () =>
  (await core.readNode({ name: NODE_NAME })).status?.conditions?.find((c) => c.type === 'Ready')?.status;
const podsOf = async () =>
  (await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=steady' })).items;
const available = async () =>
  (await apps.readNamespacedDeployment({ name: 'steady', namespace: ns.name })).status?.availableReplicas ??
  0;

beforeAll(async () => {
  await ensureNodeAgent();
  await defaultServiceAccount(ns.name, kubectl);
}, 180_000);

// Whatever happens, the agent reports again: later suites (and a running demo) need the node.
afterAll(async () => {
  await reconnectNodeAgent();
  await waitFor('the node to be Ready', nodeReady, { until: (s) => s === 'True', timeoutMs: 60_000 });
}, 90_000);

describe('a node NotReady episode', () => {
  test('pods the controller marked unready are Ready within seconds of the node’s return, their Deployment available', async () => {
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: 'steady' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'steady' } },
          template: {
            metadata: { labels: { app: 'steady' } },
            spec: {
              securityContext: { runAsNonRoot: true, runAsUser: 1000 },
              containers: [
                {
                  name: 'app',
                  image: BASE_IMAGE,
                  command: ['node', '-e', SERVER],
                  ports: [{ name: 'http', containerPort: 8080 }],
                  readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
    });
    await waitFor('Deployment steady to be available', available, {
      until: (n) => n === 1,
      timeoutMs: 120_000,
    });
    const [before] = await podsOf();
    const containerID = before?.status?.containerStatuses?.[0]?.containerID;
    expect(containerID).toBeDefined();

    await disconnectNodeAgent();
    // The controller notices the silent Lease after its grace period (50 s by default).
    await waitFor('the node to be marked NotReady', nodeReady, {
      until: (s) => s !== 'True',
      timeoutMs: 150_000,
    });
    await waitFor('the pod to be marked unready by the node lifecycle controller', podsOf, {
      until: (pods) => pods.length === 1 && ready(pods[0]!) === 'False',
      timeoutMs: 60_000,
    });
    await waitFor('Deployment steady to count no available replica', available, { until: (n) => n === 0 });

    const logMark = (await stat(agentLog)).size;
    await reconnectNodeAgent();
    await waitFor('the node to be Ready again', nodeReady, { until: (s) => s === 'True', timeoutMs: 30_000 });
    const [after] = await waitFor('the pod to be Ready again within seconds of the node’s return', podsOf, {
      until: (pods) => pods.length === 1 && ready(pods[0]!) === 'True',
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    await waitFor('Deployment steady to be available again', available, {
      until: (n) => n === 1,
      timeoutMs: 15_000,
    });

    // The same container ran throughout: only the status was put right.
    expect(after?.status?.containerStatuses?.[0]?.containerID).toBe(containerID);
    expect(after?.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    // Once, and no more: with the API server's copy equal to the agent's view, nothing is written.
    await new Promise((r) => setTimeout(r, 7_000));
    const resyncs = (await readFile(agentLog))
      .subarray(logMark)
      .toString('utf8')
      .split('\n')
      .filter((l) => l.includes('pod status re-synced') && l.includes(`${ns.name}/${after?.metadata?.name}`));
    expect(resyncs).toHaveLength(1);
  }, 300_000);
});
