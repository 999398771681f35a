// Informers (list + watch caches) for stacks and owned kinds, supervised: client-node stops an
// informer for good on any error but 410 and timeouts, so each is restarted with backoff.
import type { KubeConfig } from '@kubernetes/client-node';
import {
  ListWatch,
  Watch,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface Supervised<T extends KubernetesObject> {
  cache: ObjectCache<T>;
  on(verb: 'add' | 'update' | 'delete', cb: (obj: T) => void): void;
  /**
   * True once the first list succeeded and while no error is outstanding; also while the kind is
   * not served at all (e.g. no Gateway API CRDs), which is a configuration state, not a failure.
   */
  synced(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

export function supervisedInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  labelSelector: string | undefined,
  log: Logger,
  onRestart: () => void,
): Supervised<T> {
  const inf = new ListWatch<T>(path, new Watch(kc), list, false, labelSelector);
  let delay = MIN_BACKOFF_MS;
  let failed = false;
  let listed = false;
  let notServed = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const begin = async () => {
    failed = false;
    await inf.start();
    // start() resolves once the watch is open, or after it fired 'error'.
    if (!failed) {
      listed = true;
      notServed = false;
      delay = MIN_BACKOFF_MS;
    }
  };
  inf.on('error', (err: unknown) => {
    failed = true;
    notServed =
      (err as { code?: unknown; statusCode?: unknown }).code === 404 ||
      (err as { statusCode?: unknown }).statusCode === 404;
    if (stopped) return;
    onRestart();
    log.warn(
      { path, err: err instanceof Error ? err.message : String(err), retryInMs: delay },
      'informer failed; restarting',
    );
    timer = setTimeout(() => void begin(), delay);
    delay = Math.min(delay * 2, MAX_BACKOFF_MS);
  });

  return {
    cache: inf,
    on: (verb, cb) => inf.on(verb, cb),
    synced: () => (listed && !failed) || notServed,
    start: begin,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inf.stop();
    },
  };
}

/** One cache over several namespace-scoped informers of the same kind. */
export class MultiNamespaceCache<T> implements ObjectCache<T> {
  private readonly byNamespace: ReadonlyMap<string, ObjectCache<T>>;

  /** Key '' holds an all-namespaces informer. */
  constructor(byNamespace: ReadonlyMap<string, ObjectCache<T>>) {
    this.byNamespace = byNamespace;
  }

  private pick(namespace: string | undefined): ObjectCache<T> | undefined {
    return this.byNamespace.get('') ?? (namespace ? this.byNamespace.get(namespace) : undefined);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.pick(namespace)?.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    if (namespace) return this.pick(namespace)?.list(namespace) ?? [];
    return [...this.byNamespace.values()].flatMap((c) => [...c.list()]);
  }
}
