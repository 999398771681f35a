import { execFile } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import {
  CoreV1Api,
  DiscoveryV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
  type V1EndpointSlice,
  type V1Service,
} from '@kubernetes/client-node';
import { errorMessage, type Logger } from './log.ts';
import { serviceHosts, serviceListeners, type Backend } from './service-rules.ts';

/**
 * The node's service proxy, the part of a node kube-proxy plays (its old userspace mode): each
 * Service's ClusterIP becomes an address of this host (on `lo`, labelled `lo:ssk`), the agent
 * listens on each of its TCP ports and relays every connection to one ready endpoint of that port
 * (round robin), following EndpointSlices as they change. Pods reach ClusterIPs through the
 * bridge's gateway, the host itself directly. Pods resolve `<svc>.<ns>.svc` through /etc/hosts
 * entries (serviceHosts), which the agent rewrites in every pod's hosts file whenever they change
 * (onHostsChange): there is no cluster DNS.
 */
export class ServiceProxy {
  static readonly ADDRESS_LABEL = 'lo:ssk';
  readonly #log: Logger;
  readonly #services: ListWatch<V1Service>;
  readonly #slices: ListWatch<V1EndpointSlice>;
  /** Listening servers by `<clusterIP>:<port>`, and the endpoints each relays to now. */
  readonly #servers = new Map<string, Server>();
  readonly #backends = new Map<string, Backend[]>();
  readonly #next = new Map<string, number>();
  readonly #addresses = new Set<string>();
  #pending = false;
  /** The hosts entries last announced, and who is told when they change. */
  #lastHosts = '';
  #hostsListeners: (() => void)[] = [];
  #stopping = false;
  /** Reconciles run one at a time: each awaits `ip` and listens before the next looks. */
  #running: Promise<void> = Promise.resolve();

  constructor(kc: KubeConfig, log: Logger) {
    this.#log = log.child({ component: 'service-proxy' });
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    this.#services = this.#informer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
    this.#slices = this.#informer(kc, '/apis/discovery.k8s.io/v1/endpointslices', () =>
      discovery.listEndpointSliceForAllNamespaces(),
    );
  }

  /** Starts both informers (their first lists done) and serves what they hold. */
  async start(): Promise<void> {
    // What a crashed agent left: addresses no Service may own any more.
    await ip(['addr', 'flush', 'dev', 'lo', 'label', ServiceProxy.ADDRESS_LABEL]).catch(() => undefined);
    await this.#services.start();
    await this.#slices.start();
    this.#running = this.#running.then(() => this.#reconcile());
    await this.#running;
  }

  /** /etc/hosts entries for every Service known now. */
  hosts(): Record<string, string> {
    return serviceHosts(this.#services.list());
  }

  /** Calls `listener` after a reconcile that changed the hosts entries (a Service added, gone, re-addressed). */
  onHostsChange(listener: () => void): void {
    this.#hostsListeners.push(listener);
  }

  async close(): Promise<void> {
    this.#stopping = true;
    await this.#services.stop();
    await this.#slices.stop();
    for (const server of this.#servers.values()) server.close();
    this.#servers.clear();
    await ip(['addr', 'flush', 'dev', 'lo', 'label', ServiceProxy.ADDRESS_LABEL]).catch(() => undefined);
  }

  #informer<T extends KubernetesObject>(kc: KubeConfig, path: string, list: ListPromise<T>): ListWatch<T> {
    const informer = new ListWatch<T>(path, new Watch(kc), list, false);
    const changed = () => this.#schedule();
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', changed);
    let delay = 1_000;
    informer.on('connect', () => (delay = 1_000));
    informer.on('error', (err) => {
      // client-node's informer stops for good on errors other than 410/timeouts: restart it.
      if (this.#stopping) return;
      this.#log.warn('informer error; restarting', { path, err: errorMessage(err), delayMs: delay });
      setTimeout(() => void informer.start(), delay);
      delay = Math.min(delay * 2, 30_000);
    });
    return informer;
  }

  #schedule(): void {
    if (this.#pending || this.#stopping) return;
    this.#pending = true;
    setImmediate(() => {
      this.#pending = false;
      this.#running = this.#running.then(() => this.#reconcile());
    });
  }

  async #reconcile(): Promise<void> {
    if (this.#stopping) return;
    const hosts = JSON.stringify(this.hosts());
    if (hosts !== this.#lastHosts) {
      this.#lastHosts = hosts;
      for (const listener of this.#hostsListeners) listener();
    }
    const listeners = serviceListeners(this.#services.list(), this.#slices.list());
    const wanted = new Map(listeners.map((l) => [l.key, l]));
    for (const [key, server] of this.#servers) {
      if (wanted.has(key)) continue;
      server.close();
      this.#servers.delete(key);
      this.#backends.delete(key);
    }
    const ips = new Set(listeners.map((l) => l.clusterIP));
    for (const addr of this.#addresses) {
      if (ips.has(addr)) continue;
      this.#addresses.delete(addr);
      await ip(['addr', 'del', `${addr}/32`, 'dev', 'lo']).catch(() => undefined);
    }
    for (const l of listeners) {
      this.#backends.set(l.key, l.backends);
      if (this.#servers.has(l.key)) continue;
      try {
        if (!this.#addresses.has(l.clusterIP)) {
          await ip([
            'addr',
            'add',
            `${l.clusterIP}/32`,
            'dev',
            'lo',
            'label',
            ServiceProxy.ADDRESS_LABEL,
          ]).catch((err: unknown) => {
            if (!/File exists/.test(errorMessage(err))) throw err;
          });
          this.#addresses.add(l.clusterIP);
        }
        this.#servers.set(l.key, await this.#listen(l.key, l.clusterIP, l.port));
        this.#log.info('serving a Service', {
          service: l.service,
          listen: l.key,
          endpoints: l.backends.length,
        });
      } catch (err) {
        // Retried on the next change of any Service or EndpointSlice.
        this.#log.warn('cannot serve a Service', {
          service: l.service,
          listen: l.key,
          err: errorMessage(err),
        });
      }
    }
  }

  #listen(key: string, host: string, port: number): Promise<Server> {
    const server = createServer((client) => {
      const backends = this.#backends.get(key) ?? [];
      if (backends.length === 0) {
        // kube-proxy rejects a connection to a Service without endpoints; so does this proxy.
        client.resetAndDestroy();
        return;
      }
      const i = (this.#next.get(key) ?? 0) % backends.length;
      this.#next.set(key, i + 1);
      const backend = backends[i] as Backend;
      const upstream = connect({ host: backend.ip, port: backend.port });
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) =>
          this.#log.warn('listener error', { listen: key, err: errorMessage(err) }),
        );
        resolve(server);
      });
    });
  }
}

function ip(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}
