// A transport for client-node's generated clients (its HttpLibrary) that answers like a very small
// API server, so the operator's real client code runs end to end without a cluster: discovery
// lists every kind the operator uses, a GET of a named object is 404 unless a test put the object
// there, writes echo their body back, and lists are empty. Every request is recorded as sent.
import {
  KubeConfig,
  Observable,
  ResponseContext,
  type HttpLibrary,
  type RequestContext,
} from '@kubernetes/client-node';

export interface Sent {
  method: string;
  url: URL;
  body: unknown;
  headers: Record<string, string>;
  signal: AbortSignal | undefined;
}

const RESOURCES: Record<string, { name: string; kind: string; namespaced: boolean }[]> = {
  '/api/v1': [
    { name: 'services', kind: 'Service', namespaced: true },
    { name: 'services/status', kind: 'Service', namespaced: true },
  ],
  '/apis/apps/v1': [{ name: 'deployments', kind: 'Deployment', namespaced: true }],
  '/apis/autoscaling/v2': [
    { name: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler', namespaced: true },
  ],
  '/apis/networking.k8s.io/v1': [{ name: 'ingresses', kind: 'Ingress', namespaced: true }],
  '/apis/gateway.networking.k8s.io/v1': [
    { name: 'httproutes', kind: 'HTTPRoute', namespaced: true },
    { name: 'gateways', kind: 'Gateway', namespaced: true },
  ],
};

export function fakeKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: 'https://127.0.0.1:6443', skipTLSVerify: true }],
    users: [{ name: 'operator', token: 'not-a-real-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'operator' }],
    currentContext: 'fake',
  });
  return kc;
}

const json = (status: number, body: unknown) =>
  new ResponseContext(
    status,
    { 'content-type': 'application/json' },
    {
      text: async () => JSON.stringify(body),
      binary: async () => Buffer.from(JSON.stringify(body)),
      stream: () => null,
    },
  );

export class FakeTransport implements HttpLibrary {
  readonly sent: Sent[] = [];
  /** Objects a GET finds, by URL path. */
  readonly objects = new Map<string, unknown>();
  /** When set, requests wait for it (or for their abort signal). */
  hold: Promise<void> | undefined;
  /**
   * Paths of objects someone else has made: an apply without force answers 409 there, and a GET
   * finds an object without the operator's owner reference.
   */
  taken: (path: string) => boolean = () => false;

  send(ctx: RequestContext): Observable<ResponseContext> {
    const raw = ctx.getBody();
    const s: Sent = {
      method: ctx.getHttpMethod(),
      url: new URL(ctx.getUrl()),
      body: typeof raw === 'string' && raw !== '' ? JSON.parse(raw) : undefined,
      headers: ctx.getHeaders(),
      signal: ctx.getSignal(),
    };
    this.sent.push(s);
    return new Observable(this.answer(s));
  }

  private async answer(s: Sent): Promise<ResponseContext> {
    if (this.hold) {
      await new Promise<void>((resolve, reject) => {
        void this.hold?.then(resolve);
        s.signal?.addEventListener('abort', () => reject(s.signal?.reason));
      });
    }
    const path = s.url.pathname;
    const discovery = RESOURCES[path];
    if (s.method === 'GET' && discovery) {
      return json(200, {
        kind: 'APIResourceList',
        groupVersion: path.replace(/^\/apis?\//, ''),
        resources: discovery.map((r) => ({ ...r, singularName: '', verbs: [] })),
      });
    }
    if (s.method === 'GET') {
      const found = this.objects.get(path);
      if (found) return json(200, found);
      if (this.taken(path))
        return json(200, {
          metadata: { name: path.split('/').pop(), uid: 'someone-else', resourceVersion: '1' },
        });
      if (isCollection(path)) {
        return json(200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
      }
      return json(404, { kind: 'Status', code: 404, reason: 'NotFound', message: `${path} not found` });
    }
    if (s.method === 'DELETE') return json(200, { kind: 'Status', status: 'Success' });
    if (s.method === 'PATCH' && this.taken(path) && s.url.searchParams.get('force') !== 'true')
      return json(409, {
        kind: 'Status',
        code: 409,
        reason: 'Conflict',
        message: 'Apply failed with 1 conflict',
      });
    const body = (s.body ?? {}) as { metadata?: Record<string, unknown> };
    return json(200, { ...body, metadata: { ...body.metadata, uid: 'uid-echo', resourceVersion: '2' } });
  }
}

/** After /api/v1 or /apis/<g>/<v>: [namespaces/<ns>/]<plural>[/<name>[/<sub>]] — a collection has no name. */
function isCollection(path: string): boolean {
  const rest = path
    .replace(/^\/api\/v1\/?|^\/apis\/[^/]+\/[^/]+\/?/, '')
    .split('/')
    .filter(Boolean);
  const afterNs = rest[0] === 'namespaces' ? rest.slice(2) : rest;
  return afterNs.length === 1;
}
