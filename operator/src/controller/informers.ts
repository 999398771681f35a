// Informers (list + watch caches) for stacks and owned kinds, supervised: client-node stops an
// informer for good on any error but 410 and timeouts, so each is restarted with capped backoff.
// A kind the cluster does not serve (no Gateway API CRDs) is a configuration state: it is said once,
// retried ever more slowly (up to 5 minutes), and counts as synced only when the kind is optional,
// so a missing ServingStack CRD shows in /readyz. Watches ask for bookmarks (a restarted watch
// resumes from a recent resourceVersion instead of relisting), and none outlives stop().
// Every listed or watched object passes `transform` before the cache keeps it (lean.ts), and an
// update fires only when `signature` says the kept object changed in a way that matters. Each cache
// indexes what it holds by the uid of its controller: a pass looks up its stack's children there,
// where a scan of the namespace would cost every pass as much as the namespace holds.
import {
  ListWatch,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type Watch,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { realTimers, type Timers } from './queue.ts';

/** An informer's cache, with what it holds indexed by the uid of each object's controller. */
export interface IndexedCache<T> extends ObjectCache<T> {
  /** The objects in `namespace` whose controller owner reference names `uid`. */
  controlledBy(uid: string, namespace: string): T[];
}

export interface Supervised<T extends KubernetesObject> {
  cache: IndexedCache<T>;
  on(verb: 'add' | 'update' | 'delete', cb: (obj: T) => void): void;
  /** True once the first list succeeded and while no error is outstanding; also while an optional kind is not served. */
  synced(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What opens a watch: client-node's Watch, or a fake in tests. */
export type WatchOpener = Pick<Watch, 'watch'>;

export interface InformerOptions<T extends KubernetesObject> {
  path: string;
  /** One page of the list (limit and continue token), or all of it when not paged. */
  list: (page?: Page) => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** The cluster may lack the kind without anything being wrong. */
  optional: boolean;
  watch: WatchOpener;
  log: Logger;
  onRestart: () => void;
  timers?: Timers;
  /** What the cache keeps of each object. */
  transform?: (o: T) => T;
  /** Updates with an unchanged signature fire no 'update'. */
  signature?: (o: T) => string;
}

/** A page of a list request. */
export interface Page {
  limit?: number;
  _continue?: string;
}

/**
 * Objects per list page: each page is transformed before the next is asked for, so a relist of
 * thousands of children never holds their whole JSON and client-node's model instances at once.
 */
export const LIST_PAGE = 250;

export const MIN_BACKOFF_MS = 1_000;
export const MAX_BACKOFF_MS = 30_000;
/** A kind that is not served comes back only when someone installs it: look ever more rarely. */
export const MAX_NOT_SERVED_BACKOFF_MS = 5 * 60_000;

/** Opens one informer's watches: with bookmarks, and never one that outlives stop(). */
class InformerWatch implements WatchOpener {
  stopped = false;
  private readonly inner: WatchOpener;
  private readonly transform: (o: KubernetesObject) => KubernetesObject;

  constructor(inner: WatchOpener, transform: (o: KubernetesObject) => KubernetesObject) {
    this.inner = inner;
    this.transform = transform;
  }

  async watch(...[path, params, cb, done]: Parameters<Watch['watch']>): Promise<AbortController> {
    if (this.stopped) return aborted();
    const lean = (phase: string, obj: unknown, raw: unknown) =>
      cb(
        phase,
        phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED'
          ? this.transform(obj as KubernetesObject)
          : obj,
        raw,
      );
    const request = await this.inner.watch(path, { ...params, allowWatchBookmarks: true }, lean, done);
    // stop() came while the watch was being opened (ListWatch does not look again): close it now.
    if (this.stopped) request.abort();
    return request;
  }
}

function aborted(): AbortController {
  const c = new AbortController();
  c.abort();
  return c;
}

const isNotServed = (err: unknown) =>
  (err as { code?: unknown }).code === 404 || (err as { statusCode?: unknown }).statusCode === 404;

export function supervisedInformer<T extends KubernetesObject>(o: InformerOptions<T>): Supervised<T> {
  const timers = o.timers ?? realTimers;
  const transform = o.transform ?? ((x: T) => x);
  const watch = new InformerWatch(o.watch, transform as unknown as (x: KubernetesObject) => KubernetesObject);
  const list = async (): Promise<KubernetesListObject<T>> => {
    const items: T[] = [];
    let page = await o.list({ limit: LIST_PAGE });
    for (;;) {
      for (const x of page.items) items.push(transform(x));
      const next = page.metadata?._continue;
      if (!next) break;
      page = await o.list({ limit: LIST_PAGE, _continue: next });
    }
    // Every page of one list is the same snapshot: the last one's resourceVersion starts the watch.
    return { ...page, items };
  };
  const inf = new ListWatch<T>(o.path, watch as unknown as Watch, list, false, o.labelSelector);
  // Signatures of what the cache holds, by namespace/name, when updates are filtered.
  const signatures = new Map<string, string>();
  const updates: ((x: T) => void)[] = [];
  const keyOf = (x: T) => `${x.metadata?.namespace ?? ''}/${x.metadata?.name ?? ''}`;
  // namespace/name of what each controller uid controls, and each object's controller uid. The
  // events come after the cache has changed, in the same tick, so no pass sees the two disagree.
  const controlled = new Map<string, Map<string, { namespace: string; name: string }>>();
  const controllerOf = new Map<string, string>();
  const unindex = (k: string) => {
    const uid = controllerOf.get(k);
    if (uid === undefined) return;
    controllerOf.delete(k);
    const of = controlled.get(uid);
    of?.delete(k);
    if (of?.size === 0) controlled.delete(uid);
  };
  const index = (x: T) => {
    const k = keyOf(x);
    unindex(k);
    const uid = x.metadata?.ownerReferences?.find((r) => r.controller === true)?.uid;
    if (!uid) return;
    controllerOf.set(k, uid);
    const of = controlled.get(uid) ?? new Map<string, { namespace: string; name: string }>();
    controlled.set(uid, of);
    of.set(k, { namespace: x.metadata?.namespace ?? '', name: x.metadata?.name ?? '' });
  };
  inf.on('add', index);
  inf.on('update', index);
  inf.on('delete', (x) => unindex(keyOf(x)));
  const cache: IndexedCache<T> = {
    get: (name, namespace) => inf.get(name, namespace),
    list: (namespace) => inf.list(namespace),
    controlledBy: (uid, namespace) =>
      [...(controlled.get(uid)?.values() ?? [])]
        .filter((o) => o.namespace === namespace)
        .map((o) => inf.get(o.name, o.namespace))
        .filter((o): o is T => o !== undefined),
  };
  if (o.signature) {
    const sig = o.signature;
    inf.on('add', (x) => signatures.set(keyOf(x), sig(x)));
    inf.on('delete', (x) => signatures.delete(keyOf(x)));
    inf.on('update', (x) => {
      const k = keyOf(x);
      const next = sig(x);
      if (signatures.get(k) === next) return;
      signatures.set(k, next);
      for (const cb of updates) cb(x);
    });
  }
  let delay = MIN_BACKOFF_MS;
  let failed = false;
  let listed = false;
  let notServed = false;
  let stopped = false;
  let timer: unknown;

  const begin = async () => {
    if (stopped) return;
    failed = false;
    await inf.start();
    // start() resolves once the watch is open, or after it fired 'error'.
    if (stopped || failed) return;
    if (notServed) o.log.info({ path: o.path }, 'the kind is served now');
    listed = true;
    notServed = false;
    delay = MIN_BACKOFF_MS;
  };
  inf.on('error', (err: unknown) => {
    failed = true;
    if (stopped) return;
    const missing = isNotServed(err);
    if (missing && !notServed) {
      o.log.warn(
        { path: o.path, optional: o.optional },
        'the cluster does not serve this kind; looking again with backoff',
      );
    } else if (!missing) {
      o.log.warn(
        { path: o.path, err: err instanceof Error ? err.message : String(err), retryInMs: delay },
        'informer failed; restarting',
      );
    }
    notServed = missing;
    o.onRestart();
    timer = timers.setTimeout(() => void begin(), delay);
    delay = Math.min(delay * 2, missing ? MAX_NOT_SERVED_BACKOFF_MS : MAX_BACKOFF_MS);
  });

  return {
    cache,
    on: (verb, cb) => {
      if (verb === 'update' && o.signature) updates.push(cb);
      else inf.on(verb, cb);
    },
    synced: () => (listed && !failed) || (notServed && o.optional),
    start: begin,
    stop: async () => {
      stopped = true;
      watch.stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      await inf.stop();
    },
  };
}

/** One cache over several namespace-scoped informers of the same kind. */
export class MultiNamespaceCache<T> implements IndexedCache<T> {
  private readonly byNamespace: ReadonlyMap<string, IndexedCache<T>>;

  /** Key '' holds an all-namespaces informer. */
  constructor(byNamespace: ReadonlyMap<string, IndexedCache<T>>) {
    this.byNamespace = byNamespace;
  }

  private pick(namespace: string | undefined): IndexedCache<T> | undefined {
    return this.byNamespace.get('') ?? (namespace ? this.byNamespace.get(namespace) : undefined);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.pick(namespace)?.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    if (namespace) return this.pick(namespace)?.list(namespace) ?? [];
    return [...this.byNamespace.values()].flatMap((c) => [...c.list()]);
  }

  controlledBy(uid: string, namespace: string): T[] {
    return this.pick(namespace)?.controlledBy(uid, namespace) ?? [];
  }
}
