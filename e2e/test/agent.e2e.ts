// The test node agent against the real control plane: kube-scheduler binds pods to its Node for
// real (FAKE nvidia.com/gpu capacity included), and the agent runs them with podman, drives
// Ready from probes, restarts on failed liveness and honours the termination grace period.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { CoordinationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { NODE_NAME, defaultServiceAccount, ensureNodeAgent } from '../agent/testing/cluster-parts.ts';
import { clusterDir, kubectl, loadKubeConfig, waitFor, withTestNamespace } from './support/index.ts';

/** The debootstrapped base image with Node 24 (scripts/base-image.sh). */
const BASE_IMAGE = process.env.SERVINGSTACK_BASE_IMAGE ?? 'localhost/servingstack/node-base:24';

// A tiny HTTP server whose readiness the test switches over HTTP, and which ignores SIGTERM so
// that only the grace period's SIGKILL ends it.
const SERVER = `
const http = require('node:http');
let ready = false;
process.on('SIGTERM', () => console.log('SIGTERM received; ignoring it'));
http.createServer((req, res) => {
  if (req.method === 'POST') { ready = req.url === '/ready/on'; res.end(); return; }
  res.statusCode = req.url === '/ready' && !ready ? 503 : 200;
  res.end();
}).listen(8080, () => console.log('listening'));
`;

const kc = loadKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const ns = withTestNamespace('e2e-agent');

function pod(name: string, extra: Partial<NonNullable<V1Pod['spec']>> = {}, gpus = 0): V1Pod {
  return {
    metadata: { name, namespace: ns.name },
    spec: {
      terminationGracePeriodSeconds: 3,
      securityContext: { runAsNonRoot: true, runAsUser: 1000 },
      containers: [
        {
          name: 'app',
          image: BASE_IMAGE,
          command: ['node', '-e', SERVER],
          ports: [{ name: 'http', containerPort: 8080 }],
          securityContext: {
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          },
          ...(gpus > 0 && { resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }),
        },
      ],
      ...extra,
    },
  };
}

const read = (name: string) => core.readNamespacedPod({ name, namespace: ns.name });
const condition = (p: V1Pod, type: string) => p.status?.conditions?.find((c) => c.type === type);

beforeAll(async () => {
  await ensureNodeAgent();
  await defaultServiceAccount(ns.name, kubectl);
}, 180_000);

describe('the node', () => {
  test('is Ready and advertises FAKE nvidia.com/gpu capacity', async () => {
    const node = await core.readNode({ name: NODE_NAME });
    expect(Number(node.status?.capacity?.['nvidia.com/gpu'])).toBeGreaterThan(0);
    expect(node.metadata?.labels?.['servingstack.dev/fake-gpu']).toBe('true');
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  }, 120_000);

  test('renews its Lease in kube-node-lease', async () => {
    const leases = kc.makeApiClient(CoordinationV1Api);
    const renewTime = async () =>
      String(
        (await leases.readNamespacedLease({ name: NODE_NAME, namespace: 'kube-node-lease' })).spec?.renewTime,
      );
    const first = await renewTime();
    await waitFor('the node Lease to be renewed', renewTime, {
      until: (t) => t !== first,
      timeoutMs: 30_000,
      intervalMs: 1_000,
    });
  }, 120_000);
});

describe('scheduling with fake GPUs', () => {
  test('a pod asking for more GPUs than the node has stays Pending, unschedulable', async () => {
    const node = await core.readNode({ name: NODE_NAME });
    const capacity = Number(node.status?.capacity?.['nvidia.com/gpu']);
    await core.createNamespacedPod({ namespace: ns.name, body: pod('too-many-gpus', {}, capacity + 1) });
    const p = await waitFor(
      'kube-scheduler to report too-many-gpus unschedulable',
      () => read('too-many-gpus'),
      {
        until: (x) => condition(x, 'PodScheduled')?.reason === 'Unschedulable',
      },
    );
    expect(p.spec?.nodeName).toBeUndefined();
    expect(p.status?.phase).toBe('Pending');
    expect(condition(p, 'PodScheduled')?.message).toMatch(/nvidia\.com\/gpu/);
  }, 120_000);

  test('a pod asking for GPUs the node has is bound to it and runs', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: pod('one-gpu', {}, 1) });
    const p = await waitFor('one-gpu to run on the agent node', () => read('one-gpu'), {
      until: (x) => x.status?.phase === 'Running',
      timeoutMs: 90_000,
    });
    expect(p.spec?.nodeName).toBe(NODE_NAME);
    expect(p.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(p.status?.podIP?.startsWith('127.')).toBe(false);
  }, 120_000);
});

describe('init containers and volumes', () => {
  test('init containers run to completion first and share emptyDir volumes with the containers', async () => {
    const name = 'init-first';
    const base = pod(name);
    const app = base.spec?.containers[0];
    if (!base.spec || !app) throw new Error('the pod template has no container');
    const writer = "require('node:fs').writeFileSync('/work/message', 'written by init')";
    const reader = `require('node:http').createServer((q, r) => r.end(require('node:fs').readFileSync('/work/message'))).listen(8080)`;
    base.spec.volumes = [{ name: 'work', emptyDir: {} }];
    base.spec.initContainers = [
      {
        ...app,
        name: 'init',
        command: ['node', '-e', writer],
        volumeMounts: [{ name: 'work', mountPath: '/work' }],
      },
    ];
    base.spec.containers = [
      { ...app, command: ['node', '-e', reader], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
    ];
    await core.createNamespacedPod({ namespace: ns.name, body: base });
    const p = await waitFor(`${name} to be Ready`, () => read(name), {
      until: (x) => condition(x, 'Ready')?.status === 'True',
      timeoutMs: 90_000,
    });
    expect(condition(p, 'Initialized')?.status).toBe('True');
    expect(p.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({
      exitCode: 0,
      reason: 'Completed',
    });
    const body = await waitFor('the container to answer', () =>
      fetch(`http://${p.status?.podIP}:8080/`).then((r) => r.text()),
    );
    expect(body).toBe('written by init');
  }, 120_000);
});

describe('probes', () => {
  const readiness = { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 1, failureThreshold: 1 };

  test('readiness drives the Ready condition both ways', async () => {
    const name = 'readiness';
    const spec = pod(name);
    const c = spec.spec?.containers[0];
    if (c) c.readinessProbe = readiness;
    await core.createNamespacedPod({ namespace: ns.name, body: spec });
    const running = await waitFor(`${name} to run (not ready)`, () => read(name), {
      until: (x) => x.status?.phase === 'Running' && x.status.containerStatuses?.[0]?.started === true,
      timeoutMs: 90_000,
    });
    expect(condition(running, 'Ready')?.status).toBe('False');
    const ip = running.status?.podIP ?? '';
    await fetch(`http://${ip}:8080/ready/on`, { method: 'POST' });
    await waitFor(`${name} to become Ready`, () => read(name), {
      until: (x) => condition(x, 'Ready')?.status === 'True',
    });
    await fetch(`http://${ip}:8080/ready/off`, { method: 'POST' });
    const off = await waitFor(`${name} to become unready`, () => read(name), {
      until: (x) => condition(x, 'Ready')?.status === 'False',
    });
    expect(condition(off, 'Ready')?.reason).toBe('ContainersNotReady');
    expect(off.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  }, 120_000);

  test('a failing liveness probe restarts the container', async () => {
    const name = 'liveness';
    const spec = pod(name, { terminationGracePeriodSeconds: 1 });
    const c = spec.spec?.containers[0];
    if (c) c.livenessProbe = { httpGet: { path: '/', port: 9 }, periodSeconds: 1, failureThreshold: 2 };
    await core.createNamespacedPod({ namespace: ns.name, body: spec });
    const p = await waitFor(`${name} to be restarted by its liveness probe`, () => read(name), {
      until: (x) => (x.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1,
      timeoutMs: 90_000,
    });
    expect(p.status?.containerStatuses?.[0]?.lastState?.terminated).toBeDefined();
  }, 120_000);
});

describe('deletion', () => {
  test('sends SIGTERM, waits out the grace period, then removes the pod', async () => {
    const name = 'graceful';
    await core.createNamespacedPod({ namespace: ns.name, body: pod(name) });
    const running = await waitFor(`${name} to run`, () => read(name), {
      until: (x) => x.status?.phase === 'Running',
      timeoutMs: 90_000,
    });
    const uid = running.metadata?.uid ?? '';
    await core.deleteNamespacedPod({ name, namespace: ns.name });
    // The container ignores SIGTERM: the pod object stays until the agent has killed it.
    const terminating = await read(name);
    expect(terminating.metadata?.deletionTimestamp).toBeDefined();
    expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(3);
    await waitFor(
      `${name} to be removed`,
      () =>
        read(name).then(
          () => false,
          () => true,
        ),
      { timeoutMs: 60_000 },
    );
    const logs = join(clusterDir, 'agent', 'pods', uid, 'logs');
    const files = await readdir(logs);
    const text = (await Promise.all(files.map((f) => readFile(join(logs, f), 'utf8')))).join('');
    expect(text).toContain('SIGTERM received; ignoring it');
  }, 120_000);
});
