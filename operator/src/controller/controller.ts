// Informers, the work queue and the reconciler: events enqueue a stack key (an owned object's event
// enqueues its owner), workers reconcile keys, a timer resyncs every stack. One Controller runs at
// most once in a process: start() after start() or stop() is refused.
import type { KubernetesListObject, KubernetesObject, ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, PLURAL, VERSION, type ServingStack } from '../api/servingstack.ts';
import { MANAGED_SELECTOR } from '../builders/names.ts';
import { controllerStackName } from '../builders/owner.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { CHILD_KINDS, kindKey, OBSERVED_KINDS, watchPath, type ChildKind } from '../reconcile/kinds.ts';
import type { Caches, ReconcileResult } from '../reconcile/reconciler.ts';
import { MultiNamespaceCache, type IndexedCache, type Page, type Supervised } from './informers.ts';
import { childSignature, leanChild, leanStack, stackSignature } from './lean.ts';
import { realTimers, WorkQueue, type Timers } from './queue.ts';

export interface InformerSpec<T extends KubernetesObject> {
  /** For logs and metrics: the plural of the kind. */
  resource: string;
  path: string;
  list: (page?: Page) => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  optional: boolean;
  /** What the cache keeps of each object (lean.ts). */
  transform?: (o: T) => T;
  /** An update whose signature did not change starts no pass. */
  signature?: (o: T) => string;
}

export type InformerFactory = <T extends KubernetesObject>(spec: InformerSpec<T>) => Supervised<T>;

/** List calls per kind and namespace (undefined: all namespaces). */
export interface Listers {
  stacks(namespace: string | undefined): (page?: Page) => Promise<KubernetesListObject<ServingStack>>;
  children(
    kind: ChildKind,
    namespace: string | undefined,
    labelSelector: string,
  ): (page?: Page) => Promise<KubernetesListObject<KubernetesObject>>;
}

export interface ControllerDeps {
  config: Pick<Config, 'watchNamespaces' | 'workers' | 'resyncPeriodSeconds'>;
  metrics: Pick<Metrics, 'queueDepth' | 'reconciles' | 'duration'>;
  log: Logger;
  informer: InformerFactory;
  listers: Listers;
  /** The reconciler, over the caches the controller fills. */
  reconciler: (caches: Caches) => { reconcile(namespace: string, name: string): Promise<ReconcileResult> };
  timers?: Timers;
}

/** The Deployment in `cache` that controls `o`, if the cache holds it. */
function controllingDeployment(
  o: KubernetesObject,
  cache: ObjectCache<KubernetesObject> | undefined,
): KubernetesObject | undefined {
  const ref = o.metadata?.ownerReferences?.find((r) => r.controller === true && r.kind === 'Deployment');
  return ref && o.metadata?.namespace ? cache?.get(ref.name, o.metadata.namespace) : undefined;
}

export class Controller {
  private readonly d: ControllerDeps;
  private readonly timers: Timers;
  private readonly queue: WorkQueue;
  private readonly stackInformers: Supervised<ServingStack>[] = [];
  private readonly childInformers: Supervised<KubernetesObject>[] = [];
  private readonly reconciler: ReturnType<ControllerDeps['reconciler']>;
  private readonly stacks: ObjectCache<ServingStack>;
  private readonly workers: Promise<void>[] = [];
  private resync: unknown;
  private state: 'new' | 'started' | 'stopped' = 'new';

  constructor(d: ControllerDeps) {
    this.d = d;
    this.timers = d.timers ?? realTimers;
    this.queue = new WorkQueue({ baseDelayMs: 500, maxDelayMs: 5 * 60_000, timers: this.timers });
    const namespaces: (string | undefined)[] =
      d.config.watchNamespaces.length > 0 ? d.config.watchNamespaces : [undefined];

    const stackCaches = new Map<string, IndexedCache<ServingStack>>();
    for (const ns of namespaces) {
      const inf = d.informer<ServingStack>({
        resource: PLURAL,
        path: watchPath({ prefix: `/apis/${GROUP}/${VERSION}`, plural: PLURAL }, ns),
        list: d.listers.stacks(ns),
        optional: false,
        transform: leanStack,
        // Status-only updates (the operator's own status writes included) start no pass.
        signature: stackSignature,
      });
      const enqueue = (s: ServingStack) => this.enqueue(s.metadata.namespace, s.metadata.name);
      inf.on('add', enqueue);
      inf.on('update', enqueue);
      inf.on('delete', enqueue);
      stackCaches.set(ns ?? '', inf.cache);
      this.stackInformers.push(inf);
    }
    this.stacks = new MultiNamespaceCache(stackCaches);

    const children = new Map<string, IndexedCache<KubernetesObject>>();
    const deployments = () => children.get(kindKey('apps/v1', 'Deployment'));
    for (const k of [...CHILD_KINDS, ...OBSERVED_KINDS]) {
      const observed = OBSERVED_KINDS.includes(k);
      const perNs = new Map<string, IndexedCache<KubernetesObject>>();
      for (const ns of namespaces) {
        // The selector goes to both the list and the watch, or the cache would hold every object.
        const inf = d.informer<KubernetesObject>({
          resource: k.plural,
          path: watchPath(k, ns),
          list: d.listers.children(k, ns, MANAGED_SELECTOR),
          labelSelector: MANAGED_SELECTOR,
          optional: k.optional,
          transform: leanChild(k.kind),
          // Only a change of what the cache keeps (what a pass reads) starts one.
          signature: childSignature,
        });
        // An observed object (a ReplicaSet) is the stack's through the Deployment that controls it.
        const enqueueOwner = (o: KubernetesObject) =>
          this.enqueue(
            o.metadata?.namespace,
            controllerStackName(observed ? controllingDeployment(o, deployments())?.metadata : o.metadata),
          );
        inf.on('add', enqueueOwner);
        inf.on('update', enqueueOwner);
        inf.on('delete', enqueueOwner);
        perNs.set(ns ?? '', inf.cache);
        this.childInformers.push(inf);
      }
      children.set(kindKey(k.apiVersion, k.kind), new MultiNamespaceCache(perNs));
    }
    this.reconciler = d.reconciler({ stacks: this.stacks, children });
  }

  private enqueue(namespace: string | undefined, name: string | undefined): void {
    if (!namespace || !name) return;
    this.queue.add(`${namespace}/${name}`);
    this.d.metrics.queueDepth.set(this.queue.depth);
  }

  private get informers(): Supervised<KubernetesObject>[] {
    return [...(this.stackInformers as unknown as Supervised<KubernetesObject>[]), ...this.childInformers];
  }

  /** Whether every informer has listed and is watching (an optional kind the cluster lacks aside). */
  synced(): boolean {
    return this.state === 'started' && this.informers.every((i) => i.synced());
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`a controller runs once; this one is ${this.state}`);
    this.state = 'started';
    // Owned kinds first, so the first reconcile of each stack sees its existing children.
    await Promise.all(this.childInformers.map((i) => i.start()));
    await Promise.all(this.stackInformers.map((i) => i.start()));
    if (this.state !== 'started') return; // stopped while starting
    for (let i = 0; i < this.d.config.workers; i++) this.workers.push(this.work());
    this.scheduleResync();
    this.d.log.info(
      { informers: this.informers.length, workers: this.d.config.workers },
      'controller started',
    );
  }

  private scheduleResync(): void {
    this.resync = this.timers.setTimeout(() => {
      for (const s of this.stacks.list()) this.enqueue(s.metadata.namespace, s.metadata.name);
      this.scheduleResync();
    }, this.d.config.resyncPeriodSeconds * 1000);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      this.d.metrics.queueDepth.set(this.queue.depth);
      if (key === undefined) return;
      const [namespace = '', name = ''] = key.split('/');
      const end = this.d.metrics.duration.startTimer();
      try {
        const r = await this.reconciler.reconcile(namespace, name);
        this.queue.forget(key);
        this.d.metrics.reconciles.inc({ result: r.requeueAfterMs ? 'blocked' : 'success' });
        if (r.requeueAfterMs) this.queue.addAfter(key, r.requeueAfterMs);
      } catch (err) {
        const retryInMs = this.queue.addRateLimited(key);
        this.d.metrics.reconciles.inc({ result: 'error' });
        this.d.log.warn(
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
    this.state = 'stopped';
    if (this.resync !== undefined) this.timers.clearTimeout(this.resync);
    this.queue.shutDown();
    let timer: unknown;
    await Promise.race([
      Promise.all(this.workers),
      new Promise<void>((r) => (timer = this.timers.setTimeout(r, timeoutMs))),
    ]);
    this.timers.clearTimeout(timer);
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
