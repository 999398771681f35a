// /metrics on its own port, over a real socket: served there, and not on the inference port.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildApp } from '../../src/app.ts';
import { createMetricsServer } from '../../src/metrics-server.ts';
import { createMetrics } from '../../src/metrics.ts';
import { parseConfig } from '../../src/config.ts';

const metrics = createMetrics();
const server = createMetricsServer(metrics.registry, 'latency');
let base = '';

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('the metrics port', () => {
  it('serves the registry in the Prometheus text format', async () => {
    metrics.requests.labels({ model: 'm', pool: 'latency', code: '200' }).inc();
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.registry.contentType);
    expect(await res.text()).toContain('servingstack_requests_total{model="m",pool="latency",code="200"} 1');
  });

  it('answers anything else in the protocol error shape', async () => {
    const other = await fetch(`${base}/v2/health/live`);
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toBe('application/json');
    expect(await other.json()).toEqual({ error: expect.stringMatching(/this port serves GET \/metrics/) });
    const post = await fetch(`${base}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('is not served on the inference port', async () => {
    const config = parseConfig({ MODEL_NAME: 'm' });
    expect(config.metricsPort).toBe(9090);
    expect(() => parseConfig({ PORT: '9090' })).toThrow(/METRICS_PORT must differ from PORT/);
    const app = buildApp({
      config,
      model: { precision: 'fp32' } as never,
      identity: { version: 'sha256:0', files: {}, pinned: false },
      batcher: {} as never,
      metrics,
      state: { warm: true, draining: false },
      logger: false,
    });
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(404);
    await app.close();
  });
});
