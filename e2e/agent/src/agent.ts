import { mkdir } from 'node:fs/promises';
import { KubeConfig, ListWatch, Watch, type V1Pod } from '@kubernetes/client-node';
import { AgentApi, describeApiError } from './api.ts';
import type { AgentConfig } from './config.ts';
import { EventRecorder } from './events.ts';
import { startHeartbeat } from './heartbeat.ts';
import { KubeForward } from './kube-forward.ts';
import { errorMessage, type Logger } from './log.ts';
import { allocatable } from './node-object.ts';
import { Podman } from './podman.ts';
import { LABEL_NODE, PodWorker, type Snapshot } from './pod-worker.ts';
import type { Reporting } from './reporting.ts';
import { ServiceProxy } from './service-proxy.ts';

const TICK_MS = 1_000;

/** The whole node agent: node registration, the pod informer, and one worker per bound pod. */
export async function runAgent(
  config: AgentConfig,
  reporting: Reporting,
  log: Logger,
): Promise<() => Promise<void>> {
  await mkdir(config.stateDir, { recursive: true });
  const kc = new KubeConfig();
  kc.loadFromFile(config.kubeconfig);
  const api = new AgentApi(kc);
  const podman = new Podman(config.ociRuntime, config.stateDir);
  const network = await podman.ensureNetwork(config.network);
  const podmanVersion = (await podman.exec(['version', '--format', '{{.Client.Version}}'])).trim();
  const nodeLabel = `${LABEL_NODE}=${config.nodeName}`;

  // A restarted agent starts from a clean slate, like a rebooted kubelet: pods bound here run anew.
  for (const stale of await podman.listPods(nodeLabel)) await podman.exec(['pod', 'rm', '-f', stale]);

  const stopHeartbeat = await startHeartbeat(api, config, network.gateway, podmanVersion, reporting, log);
  const forward = new KubeForward(network.gateway, kc.getCurrentCluster()?.server ?? '', log);
  // Before any pod starts: a sandbox gets the hosts entries of the Services known when it is made,
  // and every pod's hosts file follows the Services from then on.
  const services = new ServiceProxy(kc, log);
  await services.start();
  const workers = new Map<string, PodWorker>();
  // Pods this agent has already stopped and removed: late watch events for them start nothing.
  const finished = new Set<string>();
  const events = new EventRecorder(api.core, config.nodeName, log);
  const deps = {
    api,
    events,
    podman,
    reporting,
    log,
    nodeName: config.nodeName,
    stateDir: config.stateDir,
    network,
    allocatable: allocatable(config),
    kubeEnv: () => forward.env(),
    hosts: () => ({ [KubeForward.SERVICE_NAME]: network.gateway }),
    serviceHosts: () => services.hosts(),
  };

  services.onHostsChange(() => {
    for (const worker of workers.values()) void worker.refreshServiceHosts();
  });

  const upsert = (pod: V1Pod) => {
    const uid = pod.metadata?.uid ?? '';
    if (finished.has(uid)) return;
    const existing = workers.get(uid);
    if (existing) {
      existing.pod = pod;
      return;
    }
    // A pod that already finished (before an agent restart) keeps its status; once deleted,
    // nothing of it runs here, so the deletion completes at once.
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
      if (pod.metadata?.deletionTimestamp) {
        api
          .deletePodNow(pod)
          .catch((err: unknown) => log.warn('pod delete failed', { err: describeApiError(err) }));
      }
      return;
    }
    workers.set(uid, new PodWorker(pod, deps));
  };
  const path = '/api/v1/pods';
  const fieldSelector = `spec.nodeName=${config.nodeName}`;
  const informer = new ListWatch<V1Pod>(
    path,
    new Watch(kc),
    () => api.core.listPodForAllNamespaces({ fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
  informer.on('add', upsert);
  informer.on('update', upsert);
  informer.on('delete', (pod) => {
    const uid = pod.metadata?.uid ?? '';
    finished.delete(uid);
    workers.get(uid)?.forget();
  });
  let informerDelay = 1_000;
  let stopping = false;
  informer.on('connect', () => (informerDelay = 1_000));
  informer.on('error', (err) => {
    // client-node's informer stops for good on errors other than 410/timeouts: restart it.
    if (stopping) return;
    log.warn('pod informer error; restarting', { err: errorMessage(err), delayMs: informerDelay });
    setTimeout(() => void informer.start(), informerDelay);
    informerDelay = Math.min(informerDelay * 2, 30_000);
  });
  await informer.start();
  log.info('watching pods bound to the node', { node: config.nodeName, network });

  let ticking = false;
  const tick = async () => {
    if (ticking || stopping) return;
    ticking = true;
    try {
      const takenAt = Date.now();
      const list = await podman.list(nodeLabel);
      const snapshot: Snapshot = { takenAt, byId: new Map(list.map((c) => [c.Id, c])) };
      const now = Date.now();
      for (const [uid, worker] of workers) {
        worker.tick(snapshot, now);
        if (worker.gone) {
          workers.delete(uid);
          finished.add(uid);
          events.forget(uid);
        }
      }
    } catch (err) {
      log.warn('tick failed', { err: errorMessage(err) });
    } finally {
      ticking = false;
    }
  };
  const timer = setInterval(() => void tick(), TICK_MS);

  return async () => {
    stopping = true;
    clearInterval(timer);
    stopHeartbeat();
    await informer.stop();
    forward.close();
    await services.close();
    // Containers get a short grace on agent shutdown; pods restart when the agent comes back.
    const pods = await podman.listPods(nodeLabel);
    await Promise.all(pods.map((p) => podman.exec(['pod', 'rm', '-f', '-t', '5', p]).catch(() => undefined)));
    log.info('agent stopped', { removedPods: pods.length });
  };
}
