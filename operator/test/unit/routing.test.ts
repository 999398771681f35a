import { describe, expect, test } from '@jest/globals';
import { buildHttpRoute } from '../../src/builders/httproute.ts';
import { buildIngresses } from '../../src/builders/ingress.ts';
import { defaulted } from './fixtures.ts';

describe('buildIngresses (ingress-nginx)', () => {
  test('main Ingress to the default pool, canary by priority header to the other', () => {
    const { objects, unexpressed } = buildIngresses(defaulted());
    const [main, canary] = objects;
    expect(objects).toHaveLength(2);
    expect(main?.metadata?.name).toBe('sentiment');
    expect(main?.metadata?.annotations).toBeUndefined();
    expect(main?.spec?.ingressClassName).toBe('nginx');
    expect(main?.spec?.rules?.[0]?.host).toBe('sentiment.example.com');
    expect(main?.spec?.rules?.[0]?.http?.paths[0]?.backend.service).toEqual({
      name: 'sentiment-throughput',
      port: { number: 80 },
    });
    expect(canary?.metadata?.name).toBe('sentiment-canary');
    expect(canary?.metadata?.annotations).toEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-by-header': 'X-Serving-Priority',
      'nginx.ingress.kubernetes.io/canary-by-header-value': 'real-time',
    });
    expect(canary?.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name).toBe('sentiment-latency');
    expect(unexpressed).toHaveLength(1);
    expect(unexpressed[0]).toContain('X-Request-Timeout-Ms < 100 -> latency');
  });

  test('default latency flips the two and reports the throughput timeout rule', () => {
    const { objects, unexpressed } = buildIngresses(
      defaulted({ routing: { host: 'h.test', default: 'latency' } }),
    );
    expect(objects[0]?.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name).toBe('sentiment-latency');
    expect(objects[1]?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-by-header-value']).toBe(
      'batch',
    );
    expect(unexpressed[0]).toContain('X-Request-Timeout-Ms > 1000 -> throughput');
  });
});

describe('buildHttpRoute (gateway-api)', () => {
  const stack = defaulted({
    routing: {
      host: 'sentiment.example.com',
      provider: 'gateway-api',
      gateway: { name: 'gw', namespace: 'infra' },
    },
  });
  const route = buildHttpRoute(stack);

  test('attaches to the gateway for the host', () => {
    expect(route.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect(route.spec.parentRefs).toEqual([{ name: 'gw', namespace: 'infra' }]);
    expect(route.spec.hostnames).toEqual(['sentiment.example.com']);
  });

  test('latency rule first, throughput second, catch-all to the default last', () => {
    const [lat, thr, def] = route.spec.rules;
    expect(lat?.backendRefs).toEqual([{ name: 'sentiment-latency', port: 80 }]);
    expect(lat?.matches.map((m) => m.headers?.[0])).toEqual([
      { type: 'Exact', name: 'X-Serving-Priority', value: 'real-time' },
      { type: 'RegularExpression', name: 'X-Request-Timeout-Ms', value: '^0*(0|[1-9]|[1-9][0-9])$' },
    ]);
    expect(thr?.backendRefs).toEqual([{ name: 'sentiment-throughput', port: 80 }]);
    expect(thr?.matches.map((m) => m.headers?.[0]?.value)).toEqual([
      'batch',
      '^0*(100[1-9]|10[1-9][0-9]|1[1-9][0-9]{2}|[2-9][0-9]{3}|[1-9][0-9]{4,})$',
    ]);
    expect(def).toEqual({
      matches: [{ path: { type: 'PathPrefix', value: '/' } }],
      backendRefs: thr?.backendRefs,
    });
  });

  test('every rule matches the whole host (path prefix /)', () => {
    for (const r of route.spec.rules)
      for (const m of r.matches) expect(m.path).toEqual({ type: 'PathPrefix', value: '/' });
  });
});
