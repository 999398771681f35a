// Wires informers, the work queue and the reconciler: events enqueue a stack key (an owned
// object's event enqueues its owner), workers reconcile keys, a timer resyncs every stack.
import {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  NetworkingV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, PLURAL, VERSION, type ServingStack } from '../api/servingstack.ts';
import { MANAGED_SELECTOR } from '../builders/names.ts';
import { controllerStackName } from '../builders/owner.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { EventRecorder } from '../reconcile/events.ts';
import { CHILD_KINDS, kindKey, watchPath, type ChildKind } from '../reconcile/kinds.ts';
import { KubeClient } from '../reconcile/kube-client.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { MultiNamespaceCache, supervisedInformer, type Supervised } from './informers.ts';
import { WorkQueue } from './queue.ts';

type Lister = (
  ns: string | undefined,
  labelSelector: string,
) => Promise<KubernetesListObject<KubernetesObject>>;

function childLister(kc: KubeConfig, k: ChildKind): Lister {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const net = kc.makeApiClient(NetworkingV1Api);
  const hpa = kc.makeApiClient(AutoscalingV2Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  switch (k.kind) {
    case 'Deployment':
      return (ns, labelSelector) =>
        ns
          ? apps.listNamespacedDeployment({ namespace: ns, labelSelector })
          : apps.listDeploymentForAllNamespaces({ labelSelector });
    case 'Service':
      return (ns, labelSelector) =>
        ns
          ? core.listNamespacedService({ namespace: ns, labelSelector })
          : core.listServiceForAllNamespaces({ labelSelector });
    case 'Ingress':
      return (ns, labelSelector) =>
        ns
          ? net.listNamespacedIngress({ namespace: ns, labelSelector })
          : net.listIngressForAllNamespaces({ labelSelector });
    case 'HorizontalPodAutoscaler':
      return (ns, labelSelector) =>
        ns
          ? hpa.listNamespacedHorizontalPodAutoscaler({ namespace: ns, labelSelector })
          : hpa.listHorizontalPodAutoscalerForAllNamespaces({ labelSelector });
    default: {
      const [group = '', version = ''] = k.apiVersion.split('/');
      return (ns, labelSelector) =>
        (ns
          ? custom.listNamespacedCustomObject({
              group,
              version,
              namespace: ns,
              plural: k.plural,
              labelSelector,
            })
          : custom.listClusterCustomObject({ group, version, plural: k.plural, labelSelector })) as Promise<
          KubernetesListObject<KubernetesObject>
        >;
    }
  }
}

export class Controller {
  private readonly queue: WorkQueue;
  private readonly informers: Supervised<KubernetesObject>[] = [];
  private readonly reconciler: Reconciler;
  private readonly stacks: ObjectCache<ServingStack>;
  private readonly config: Config;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly workers: Promise<void>[] = [];
  private resync: NodeJS.Timeout | undefined;
  private started = false;

  constructor(kc: KubeConfig, config: Config, metrics: Metrics, log: Logger) {
    this.config = config;
    this.metrics = metrics;
    this.log = log;
    this.queue = new WorkQueue({ baseDelayMs: 500, maxDelayMs: 5 * 60_000 });
    const namespaces: (string | undefined)[] =
      config.watchNamespaces.length > 0 ? config.watchNamespaces : [undefined];
    const onRestart = (resource: string) => () => metrics.informerErrors.inc({ resource });

    const custom = kc.makeApiClient(CustomObjectsApi);
    const stackCaches = new Map<string, ObjectCache<ServingStack>>();
    for (const ns of namespaces) {
      const inf = supervisedInformer<ServingStack>(
        kc,
        watchPath({ prefix: `/apis/${GROUP}/${VERSION}`, plural: PLURAL }, ns),
        () =>
          (ns
            ? custom.listNamespacedCustomObject({
                group: GROUP,
                version: VERSION,
                namespace: ns,
                plural: PLURAL,
              })
            : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as Promise<
            KubernetesListObject<ServingStack>
          >,
        undefined,
        log,
        onRestart(PLURAL),
      );
      const enqueue = (s: ServingStack) => this.enqueue(s.metadata.namespace, s.metadata.name);
      inf.on('add', enqueue);
      inf.on('update', enqueue);
      inf.on('delete', enqueue);
      stackCaches.set(ns ?? '', inf.cache);
      this.informers.push(inf as unknown as Supervised<KubernetesObject>);
    }
    this.stacks = new MultiNamespaceCache(stackCaches);

    const children = new Map<string, ObjectCache<KubernetesObject>>();
    for (const k of CHILD_KINDS) {
      const list = childLister(kc, k);
      const perNs = new Map<string, ObjectCache<KubernetesObject>>();
      for (const ns of namespaces) {
        // The selector goes to both the list and the watch, or the cache would hold every object.
        const inf = supervisedInformer<KubernetesObject>(
          kc,
          watchPath(k, ns),
          () => list(ns, MANAGED_SELECTOR),
          MANAGED_SELECTOR,
          log,
          onRestart(k.plural),
        );
        const enqueueOwner = (o: KubernetesObject) =>
          this.enqueue(o.metadata?.namespace, controllerStackName(o.metadata));
        inf.on('add', enqueueOwner);
        inf.on('update', enqueueOwner);
        inf.on('delete', enqueueOwner);
        perNs.set(ns ?? '', inf.cache);
        this.informers.push(inf);
      }
      children.set(kindKey(k.apiVersion, k.kind), new MultiNamespaceCache(perNs));
    }

    const kube = new KubeClient(kc, metrics.apiCalls);
    const now = () => new Date();
    const events = new EventRecorder(kc.makeApiClient(EventsV1Api), config.identity, now, log);
    this.reconciler = new Reconciler(
      { stacks: this.stacks, children },
      kube,
      events,
      { defaultImage: config.defaultImage, defaultGpuImage: config.defaultGpuImage },
      now,
      log,
    );
  }

  private enqueue(namespace: string | undefined, name: string | undefined): void {
    if (!namespace || !name) return;
    this.queue.add(`${namespace}/${name}`);
    this.metrics.queueDepth.set(this.queue.depth);
  }

  /** Whether every informer has listed and is watching. */
  synced(): boolean {
    return this.started && this.informers.every((i) => i.synced());
  }

  async start(): Promise<void> {
    this.started = true;
    // Owned kinds first, so the first reconcile of each stack sees its existing children.
    const [stackInformers, childInformers] = [
      this.informers.slice(0, this.config.watchNamespaces.length || 1),
      this.informers.slice(this.config.watchNamespaces.length || 1),
    ];
    await Promise.all(childInformers.map((i) => i.start()));
    await Promise.all(stackInformers.map((i) => i.start()));
    for (let i = 0; i < this.config.workers; i++) this.workers.push(this.work());
    this.resync = setInterval(() => {
      for (const s of this.stacks.list()) this.enqueue(s.metadata.namespace, s.metadata.name);
    }, this.config.resyncPeriodSeconds * 1000);
    this.log.info({ informers: this.informers.length, workers: this.config.workers }, 'controller started');
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      this.metrics.queueDepth.set(this.queue.depth);
      if (key === undefined) return;
      const [namespace = '', name = ''] = key.split('/');
      const end = this.metrics.duration.startTimer();
      try {
        const r = await this.reconciler.reconcile(namespace, name);
        this.queue.forget(key);
        this.metrics.reconciles.inc({ result: r.requeueAfterMs ? 'blocked' : 'success' });
        if (r.requeueAfterMs) this.queue.addAfter(key, r.requeueAfterMs);
      } catch (err) {
        const retryInMs = this.queue.addRateLimited(key);
        this.metrics.reconciles.inc({ result: 'error' });
        this.log.warn(
          { stack: key, err: err instanceof Error ? err.message : String(err), retryInMs },
          'reconcile failed',
        );
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  /** Stops taking work, lets in-flight reconciles finish (bounded), and stops the informers. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.resync) clearInterval(this.resync);
    this.queue.shutDown();
    await Promise.race([Promise.all(this.workers), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
