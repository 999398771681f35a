import { describe, expect, test } from '@jest/globals';
import { buildDeployment } from '../../src/builders/deployment.ts';
import { spilloverEnv } from '../../src/builders/spillover-env.ts';
import { ctx, defaulted } from './fixtures.ts';

const asMap = (env: { name: string; value?: string }[]) =>
  Object.fromEntries(env.map((e) => [e.name, e.value]));

describe('spilloverEnv', () => {
  test('by default each pool forwards to the other and takes a share of its own capacity', () => {
    const stack = defaulted();
    expect(asMap(spilloverEnv(stack, 'throughput'))).toMatchObject({
      SPILLOVER_SIBLING_URL: 'http://sentiment-latency.ml.svc:80',
      SPILLOVER_TO_SIBLING: 'on',
      SPILLOVER_MAX_SHARE_PERCENT: '50',
    });
    expect(asMap(spilloverEnv(stack, 'latency'))).toMatchObject({
      SPILLOVER_SIBLING_URL: 'http://sentiment-throughput.ml.svc:80',
      SPILLOVER_TO_SIBLING: 'on',
      SPILLOVER_ROUTE: 'on',
      // The latency pool keeps most of itself for its own callers.
      SPILLOVER_MAX_SHARE_PERCENT: '20',
    });
  });

  test('a direction turned off stops that pool forwarding and the other taking', () => {
    const stack = defaulted({
      routing: { host: 'sentiment.example.com', spillover: { toLatency: { enabled: false } } },
    });
    expect(asMap(spilloverEnv(stack, 'throughput'))).toMatchObject({ SPILLOVER_TO_SIBLING: 'off' });
    expect(asMap(spilloverEnv(stack, 'latency'))).toMatchObject({
      SPILLOVER_TO_SIBLING: 'on',
      SPILLOVER_MAX_SHARE_PERCENT: '0',
    });
  });

  test('carries the routing thresholds the server checks misrouted requests against', () => {
    const stack = defaulted({
      routing: { host: 'h.example.com', latencyBelowMs: 40, throughputAboveMs: 400 },
    });
    expect(asMap(spilloverEnv(stack, 'throughput'))).toMatchObject({
      LATENCY_BELOW_MS: '40',
      THROUGHPUT_ABOVE_MS: '400',
    });
  });

  test('enabled: false sets nothing, so the servers forward nothing', () => {
    const stack = defaulted({ routing: { host: 'h.example.com', spillover: { enabled: false } } });
    expect(spilloverEnv(stack, 'throughput')).toEqual([]);
    const env = asMap(buildDeployment(stack, 'latency', ctx).spec!.template.spec!.containers[0]!.env!);
    expect(Object.keys(env).filter((k) => k.startsWith('SPILLOVER_'))).toEqual([]);
  });
});
