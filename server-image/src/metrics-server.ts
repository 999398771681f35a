// Prometheus metrics on a listener of their own (METRICS_PORT, the container port named
// `metrics`), apart from the inference port: no Service or router route reaches it, so callers
// cannot read (or load) it, and a scrape never passes through the app's routing, hooks and
// request accounting, nor queues behind inference requests on a router's connections.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';

export function createMetricsServer(registry: Registry, pool: string): Server {
  const json = (status: number, error: string) => ({
    status,
    type: 'application/json',
    body: JSON.stringify({ error }),
  });
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const answer =
      path !== '/metrics'
        ? Promise.resolve(json(404, `no route ${req.method} ${path}: this port serves GET /metrics`))
        : req.method !== 'GET' && req.method !== 'HEAD'
          ? Promise.resolve(json(405, `${req.method} /metrics: only GET`))
          : registry.metrics().then(
              (body) => ({ status: 200, type: registry.contentType, body }),
              () => json(500, 'metrics collection failed'),
            );
    void answer.then(({ status, type, body }) => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'x-serving-pool': pool,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  // Scrapers reconnect each time at most every few seconds; nothing to keep open for long.
  server.keepAliveTimeout = 30_000;
  server.requestTimeout = 10_000;
  return server;
}
