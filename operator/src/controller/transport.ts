// One keep-alive connection pool per API server for every client of the process.
// client-node 2.0.1 builds a new undici Agent for every call (KubeConfig.applySecurityAuthentication,
// notes/client-node.md "Connections"), so each call opened its own TCP and TLS connection and, in a
// pod, read the CA file again. This replaces that authentication step:
//  - requests share one Agent with at most `maxConnections` connections to the server;
//  - watches share another one without that bound: a watch holds its connection for minutes, and
//    would otherwise starve the requests;
//  - the TLS material (CA, client certificate and key) is read again at most every `refreshMs`, and
//    both Agents are rebuilt (the old ones closed once their requests are done) when it changed;
//  - a token file (the projected service-account token, which the kubelet rotates) is read again at
//    most every `refreshMs` too, so a rotated token is sent within that time; the token is a header,
//    not part of the connection, so a rotation keeps the pool.
// Other kubeconfig auth (exec plugins, OIDC, cloud providers) still gets its header from client-node.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  RequestContext,
  HttpMethod,
  type KubeConfig,
  type SecurityAuthentication,
  type User,
} from '@kubernetes/client-node';
import { Agent, type Dispatcher } from 'undici';

export interface TransportOptions {
  /** Connections to the API server for requests (watches aside). */
  maxConnections?: number;
  /** How often credentials files are looked at again. */
  refreshMs?: number;
  now?: () => number;
}

export const DEFAULT_MAX_CONNECTIONS = 16;
/** client-go reads a token file again every minute too (CachedFileTokenSource). */
export const DEFAULT_REFRESH_MS = 60_000;

interface Tls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
}

const read = (file: string | undefined, data: string | undefined): Buffer | undefined =>
  file ? readFileSync(file) : data ? Buffer.from(data, 'base64') : undefined;

function fingerprint(t: Tls): string {
  const h = createHash('sha256');
  for (const b of [t.ca, t.cert, t.key]) h.update(b ?? '').update('\0');
  h.update(String(t.rejectUnauthorized))
    .update('\0')
    .update(t.servername ?? '');
  return h.digest('hex');
}

const tokenFileOf = (u: User | null): string | undefined => {
  const f: unknown = u?.authProvider?.config?.tokenFile;
  return typeof f === 'string' ? f : undefined;
};

export class SharedTransport implements SecurityAuthentication {
  private readonly kc: KubeConfig;
  private readonly maxConnections: number;
  private readonly refreshMs: number;
  private readonly now: () => number;
  private tlsRead = -Infinity;
  private tlsKey = '';
  private requests?: Agent;
  private watches?: Agent;
  private token?: { value: string; at: number };
  /** Agents built so far (for tests and the log). */
  builds = 0;

  constructor(kc: KubeConfig, o: TransportOptions = {}) {
    this.kc = kc;
    this.maxConnections = o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.refreshMs = o.refreshMs ?? DEFAULT_REFRESH_MS;
    this.now = o.now ?? Date.now;
  }

  getName(): string {
    return 'servingstack shared transport';
  }

  async applySecurityAuthentication(ctx: RequestContext): Promise<void> {
    await this.authorize(ctx);
    const d = this.dispatcher('requests');
    if (d) ctx.setDispatcher(d);
  }

  /** What client-node's Watch takes as its KubeConfig: this authentication, on the watch pool. */
  forWatches(): KubeConfig {
    const kc = this.kc;
    const view = {
      getCurrentCluster: () => kc.getCurrentCluster(),
      applySecurityAuthentication: async (ctx: RequestContext) => {
        await this.authorize(ctx);
        const d = this.dispatcher('watches');
        if (d) ctx.setDispatcher(d);
      },
    };
    return view as unknown as KubeConfig;
  }

  /** Closes the pools (ends keep-alive connections) at shutdown. */
  async close(): Promise<void> {
    const agents = [this.requests, this.watches].filter((a): a is Agent => a !== undefined);
    this.requests = this.watches = undefined;
    await Promise.all(agents.map((a) => a.close()));
  }

  private async authorize(ctx: RequestContext): Promise<void> {
    const user = this.kc.getCurrentUser();
    if (user?.username) {
      const basic = Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64');
      ctx.setHeaderParam('Authorization', `Basic ${basic}`);
    }
    if (user?.impersonateUser) ctx.setHeaderParam('Impersonate-User', user.impersonateUser);
    const file = tokenFileOf(user);
    if (user?.token) {
      ctx.setHeaderParam('Authorization', `Bearer ${user.token}`);
    } else if (file) {
      const t = this.now();
      if (!this.token || t - this.token.at >= this.refreshMs)
        this.token = { value: readFileSync(file, 'utf8').trim(), at: t };
      if (this.token.value) ctx.setHeaderParam('Authorization', `Bearer ${this.token.value}`);
    } else if (user?.exec || user?.authProvider) {
      // Exec plugins, OIDC and the like: client-node computes (and caches) the header.
      const scratch = new RequestContext(ctx.getUrl(), HttpMethod.GET);
      await this.kc.applySecurityAuthentication(scratch);
      const auth = scratch.getHeaders().Authorization;
      if (auth) ctx.setHeaderParam('Authorization', auth);
    }
  }

  private dispatcher(which: 'requests' | 'watches'): Dispatcher | undefined {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) return undefined;
    const t = this.now();
    if (t - this.tlsRead >= this.refreshMs || !this.requests) {
      this.tlsRead = t;
      const user = this.kc.getCurrentUser();
      const tls: Tls = {
        ca: read(cluster.caFile, cluster.caData),
        cert: read(user?.certFile, user?.certData),
        key: read(user?.keyFile, user?.keyData),
        ...(cluster.skipTLSVerify ? { rejectUnauthorized: false } : {}),
        ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
      };
      const key = fingerprint(tls);
      if (key !== this.tlsKey || !this.requests) {
        const old = [this.requests, this.watches];
        this.tlsKey = key;
        // keepAliveInitialDelay 30 s as client-go (and client-node) use against idle-timeout races.
        const connect = { ...tls, keepAlive: true, keepAliveInitialDelay: 30_000 };
        this.requests = new Agent({ connections: this.maxConnections, connect });
        this.watches = new Agent({ connect });
        this.builds += 1;
        // Requests under way on the old pools finish; their connections close after.
        for (const a of old) void a?.close().catch(() => {});
      }
    }
    return which === 'requests' ? this.requests : this.watches;
  }
}
