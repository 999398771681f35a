// Spill-over's settings from the environment the operator sets, and the routing contract the
// server reads from a request's headers.
import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../src/config.ts';
import { parseSpilloverConfig } from '../../src/spillover/config.ts';
import { contractedPool } from '../../src/spillover/contract.ts';

describe('parseSpilloverConfig', () => {
  it('forwards nothing without a sibling URL, and defaults each pool to its share', () => {
    const latency = parseSpilloverConfig({}, 'latency');
    expect(latency.siblingUrl).toBeUndefined();
    expect(latency.sibling).toBe('throughput');
    expect(latency.maxSharePercent).toBe(20);
    expect(parseSpilloverConfig({}, 'throughput').maxSharePercent).toBe(50);
  });

  it('bounds a forward without a deadline at 15 s unless SPILLOVER_FORWARD_TIMEOUT_MS says otherwise', () => {
    expect(parseSpilloverConfig({}, 'latency').forwardTimeoutMs).toBe(15_000);
    expect(
      parseSpilloverConfig({ SPILLOVER_FORWARD_TIMEOUT_MS: '2500' }, 'throughput').forwardTimeoutMs,
    ).toBe(2500);
  });

  it('keeps the default bound within a shorter drain budget, and an explicit bound as set', () => {
    expect(parseSpilloverConfig({ DRAIN_TIMEOUT_MS: '3000' }, 'latency').forwardTimeoutMs).toBe(3000);
    expect(parseSpilloverConfig({ DRAIN_TIMEOUT_MS: '23000' }, 'latency').forwardTimeoutMs).toBe(15_000);
    expect(parseSpilloverConfig({ DRAIN_TIMEOUT_MS: '0' }, 'latency').forwardTimeoutMs).toBe(15_000);
    expect(
      parseSpilloverConfig({ DRAIN_TIMEOUT_MS: '3000', SPILLOVER_FORWARD_TIMEOUT_MS: '9000' }, 'latency')
        .forwardTimeoutMs,
    ).toBe(9000);
  });

  it('reads what the operator sets', () => {
    const c = parseSpilloverConfig(
      {
        SPILLOVER_SIBLING_URL: 'http://s-latency.ml.svc:8080',
        SPILLOVER_TO_SIBLING: 'off',
        SPILLOVER_ROUTE: 'on',
        SPILLOVER_MAX_SHARE_PERCENT: '30',
        LATENCY_BELOW_MS: '50',
        THROUGHPUT_ABOVE_MS: '500',
      },
      'throughput',
    );
    expect(c.siblingUrl?.host).toBe('s-latency.ml.svc:8080');
    expect(c).toMatchObject({ toSibling: false, route: true, maxSharePercent: 30, latencyBelowMs: 50 });
  });

  it.each([
    [{ SPILLOVER_SIBLING_URL: 'https://x:1' }, /SPILLOVER_SIBLING_URL must be http:\/\/<host>:<port> alone/],
    [{ SPILLOVER_SIBLING_URL: 'not a url' }, /SPILLOVER_SIBLING_URL must be an http:\/\/ URL/],
    [{ SPILLOVER_TO_SIBLING: 'yes' }, /SPILLOVER_TO_SIBLING must be on or off, got 'yes'/],
    [
      { SPILLOVER_MAX_SHARE_PERCENT: '101' },
      /SPILLOVER_MAX_SHARE_PERCENT must be an integer between 0 and 100/,
    ],
    [{ LATENCY_BELOW_MS: '900', THROUGHPUT_ABOVE_MS: '900' }, /LATENCY_BELOW_MS must be less than/],
    // No bound at all is what the setting is there to prevent; over ten minutes is none either.
    [
      { SPILLOVER_FORWARD_TIMEOUT_MS: '0' },
      /SPILLOVER_FORWARD_TIMEOUT_MS must be an integer between 1 and 600000/,
    ],
    [{ SPILLOVER_FORWARD_TIMEOUT_MS: '600001' }, /SPILLOVER_FORWARD_TIMEOUT_MS must be an integer between 1/],
    [{ SPILLOVER_FORWARD_TIMEOUT_MS: '1e4' }, /SPILLOVER_FORWARD_TIMEOUT_MS must be an integer/],
  ])('refuses %j naming the setting', (env, message) => {
    expect(() => parseSpilloverConfig(env, 'latency')).toThrow(message);
  });
});

describe('contractedPool', () => {
  const settings = { ...parseConfig({}), latencyBelowMs: 100, throughputAboveMs: 1000 };
  it.each([
    [{ 'x-serving-priority': 'real-time' }, 'latency'],
    [{ 'x-serving-priority': 'batch' }, 'throughput'],
    [{ 'x-request-timeout-ms': '50' }, 'latency'],
    [{ 'x-request-timeout-ms': '5000' }, 'throughput'],
    [{ 'x-request-timeout-ms': '500' }, undefined],
    [{}, undefined],
    // Latency rules first, as the operator's routing rules order them.
    [{ 'x-serving-priority': 'batch', 'x-request-timeout-ms': '50' }, 'latency'],
    [{ 'x-serving-priority': 'real-time', 'x-request-timeout-ms': '5000' }, 'latency'],
    // A malformed timeout names no pool; the server answers 400 where it lands.
    [{ 'x-request-timeout-ms': '-5' }, undefined],
    [{ 'x-request-timeout-ms': 'soon' }, undefined],
  ])('%j -> %s', (headers, pool) => {
    expect(contractedPool(headers, settings)).toBe(pool);
  });
});
