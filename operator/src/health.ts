// /healthz, /readyz and /metrics over plain node:http: small, and no framework to configure.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { BindAddress } from './config.ts';

export interface Probes {
  healthy(): boolean;
  ready(): boolean;
}

export async function listen(
  bind: BindAddress,
  routes: Record<string, () => Promise<{ code: number; type: string; body: string }>>,
): Promise<Server> {
  const server = createServer((req, res) => {
    const route = routes[(req.url ?? '/').split('?')[0] ?? '/'];
    if (!route || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    route().then(
      (r) => res.writeHead(r.code, { 'content-type': r.type }).end(r.body),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('error\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host || undefined, () => resolve());
  });
  return server;
}

export function healthRoutes(p: Probes) {
  const text = (ok: boolean) => ({
    code: ok ? 200 : 503,
    type: 'text/plain',
    body: ok ? 'ok\n' : 'not ok\n',
  });
  return {
    '/healthz': async () => text(p.healthy()),
    '/readyz': async () => text(p.ready()),
  };
}

export function metricsRoutes(registry: Registry) {
  return {
    '/metrics': async () => ({ code: 200, type: registry.contentType, body: await registry.metrics() }),
  };
}

export function boundPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}
