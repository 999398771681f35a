import { createServer, connect, type Server } from 'node:net';
import type { Logger } from './log.ts';

/**
 * Lets pods reach the API server the way a Service VIP would with kube-proxy: the API server
 * listens on loopback only, which a container cannot reach, so this relays TCP from the host's
 * address on the pod bridge to it. Containers get KUBERNETES_SERVICE_HOST/PORT for the relay and
 * resolve the name through an /etc/hosts entry, so TLS checks the name the certificate carries.
 */
export class KubeForward {
  readonly #listenHost: string;
  readonly #target: { host: string; port: number };
  readonly #log: Logger;
  #server?: Server;
  #port?: number;

  constructor(listenHost: string, apiServerUrl: string, log: Logger) {
    const url = new URL(apiServerUrl);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      throw new Error(`the API server ${apiServerUrl} is not on loopback; the agent relays only to loopback`);
    }
    this.#listenHost = listenHost;
    this.#target = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
    this.#log = log;
  }

  /** The API server's in-cluster name; the hosts entry points it at the relay. */
  static readonly SERVICE_NAME = 'kubernetes.default.svc';

  get listenHost(): string {
    return this.#listenHost;
  }

  /**
   * Starts the relay once the bridge (and so the host's address on it) exists; resolves with
   * the env every container gets, or with none while the relay cannot listen yet.
   */
  async env(): Promise<Record<string, string>> {
    if (this.#port === undefined) await this.#listen();
    if (this.#port === undefined) return {};
    return {
      KUBERNETES_SERVICE_HOST: KubeForward.SERVICE_NAME,
      KUBERNETES_SERVICE_PORT: String(this.#port),
      KUBERNETES_SERVICE_PORT_HTTPS: String(this.#port),
    };
  }

  async #listen(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.#target);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.#target.port, this.#listenHost, () => resolve());
      });
      this.#server = server;
      this.#port = this.#target.port;
      this.#log.info('relaying the API server to pods', { listen: `${this.#listenHost}:${this.#port}` });
    } catch (err) {
      this.#log.warn('API server relay cannot listen yet', { err: String(err) });
    }
  }

  close(): void {
    this.#server?.close();
  }
}
