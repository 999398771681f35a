import { describe, expect, test } from '@jest/globals';
import type { V1Deployment } from '@kubernetes/client-node';
import type { Condition } from '../../src/api/servingstack.ts';
import { computeStatus, type Observed } from '../../src/status/compute.ts';
import { setCondition } from '../../src/status/conditions.ts';
import { sameStatus, staleFields } from '../../src/status/compare.ts';
import { defaulted } from './fixtures.ts';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const T1 = new Date('2026-01-01T00:05:00.000Z');
const at = (d: Date) => () => d;

function dep(name: string, desired: number, ready: number): V1Deployment {
  return {
    metadata: { name },
    spec: { replicas: desired, selector: {}, template: {} },
    status: {
      replicas: desired,
      readyReplicas: ready,
      conditions: [{ type: 'Available', status: ready > 0 ? 'True' : 'False' }],
    },
  };
}

const pending: Observed = {
  deployments: { throughput: dep('sentiment-throughput', 1, 0), latency: dep('sentiment-latency', 2, 0) },
  routingApplied: true,
  unexpressedRules: [],
  provider: 'gateway-api',
};

const running: Observed = {
  ...pending,
  deployments: { throughput: dep('sentiment-throughput', 1, 1), latency: dep('sentiment-latency', 2, 2) },
};

function cond(conds: Condition[] | undefined, type: string): Condition | undefined {
  return conds?.find((c) => c.type === type);
}

describe('setCondition', () => {
  test('lastTransitionTime moves only when status flips', () => {
    const first = setCondition(
      undefined,
      { type: 'Ready', status: 'False', reason: 'A', message: 'a' },
      1,
      at(T0),
    );
    expect(first.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    const sameStatusNewReason = setCondition(
      [first],
      { type: 'Ready', status: 'False', reason: 'B', message: 'b' },
      2,
      at(T1),
    );
    expect(sameStatusNewReason).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'B',
      message: 'b',
      observedGeneration: 2,
      lastTransitionTime: '2026-01-01T00:00:00Z',
    });
    const flipped = setCondition(
      [sameStatusNewReason],
      { type: 'Ready', status: 'True', reason: 'C', message: 'c' },
      2,
      at(T1),
    );
    expect(flipped.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });

  test('a Date from a listed object is read as the same time', () => {
    const prev = [
      { type: 'Ready', status: 'True', reason: 'x', message: '', lastTransitionTime: T0 },
    ] as unknown as Condition[];
    expect(
      setCondition(prev, { type: 'Ready', status: 'True', reason: 'x', message: '' }, 1, at(T1))
        .lastTransitionTime,
    ).toBe('2026-01-01T00:00:00Z');
  });
});

describe('computeStatus', () => {
  test('pending pods: pools not available, Ready False naming them, replicas reported', () => {
    const s = computeStatus(defaulted(), undefined, pending, at(T0));
    expect(s.observedGeneration).toBe(3);
    expect(s.url).toBe('http://sentiment.example.com');
    expect(s.throughput).toEqual({ replicas: 1, readyReplicas: 0, desiredReplicas: 1, summary: '0/1' });
    expect(s.latency?.summary).toBe('0/2');
    expect(cond(s.conditions, 'ThroughputAvailable')).toMatchObject({
      status: 'False',
      reason: 'ReplicasNotReady',
    });
    expect(cond(s.conditions, 'ThroughputAvailable')?.message).toContain(
      '0/1 replicas ready; pods are pending',
    );
    expect(cond(s.conditions, 'RoutingReady')).toMatchObject({ status: 'True', reason: 'Applied' });
    const ready = cond(s.conditions, 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'ReplicasNotReady', observedGeneration: 3 });
    expect(ready?.message).toContain('LatencyAvailable');
    expect(s.conditions?.map((c) => c.type)).toEqual([
      'Ready',
      'ThroughputAvailable',
      'LatencyAvailable',
      'RoutingReady',
      'ModelVersionConsistent',
    ]);
  });

  test('all parts ready: Ready True', () => {
    const s = computeStatus(defaulted(), undefined, running, at(T0));
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'AllPartsReady' });
    expect(s.latency).toEqual({ replicas: 2, readyReplicas: 2, desiredReplicas: 2, summary: '2/2' });
  });

  test('a blocker wins over the parts and names its reason', () => {
    const s = computeStatus(
      defaulted(),
      undefined,
      { ...running, blocker: { reason: 'ChildConflict', message: 'Service x is not ours' } },
      at(T0),
    );
    expect(cond(s.conditions, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ChildConflict',
      message: 'Service x is not ours',
    });
  });

  test('routing rules a provider cannot express are reported in RoutingReady and status.routing', () => {
    const rules = ['X-Request-Timeout-Ms < 100 -> latency (...)'];
    const s = computeStatus(
      defaulted(),
      undefined,
      { ...running, provider: 'ingress-nginx', unexpressedRules: rules },
      at(T0),
    );
    expect(cond(s.conditions, 'RoutingReady')).toMatchObject({
      status: 'True',
      reason: 'PartiallyExpressed',
    });
    expect(cond(s.conditions, 'RoutingReady')?.message).toContain('X-Request-Timeout-Ms < 100');
    expect(s.routing).toEqual({ provider: 'ingress-nginx', unexpressedRules: rules });
  });

  test('a missing provider CRD makes routing and Ready False', () => {
    const blocker = { reason: 'ProviderNotInstalled', message: 'no HTTPRoute' };
    const s = computeStatus(
      defaulted(),
      undefined,
      { ...running, routingApplied: false, routingBlocker: blocker },
      at(T0),
    );
    expect(cond(s.conditions, 'RoutingReady')).toMatchObject({
      status: 'False',
      reason: 'ProviderNotInstalled',
    });
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'ProviderNotInstalled' });
  });

  test('missing Deployments and zero replicas are their own reasons', () => {
    const s = computeStatus(
      defaulted(),
      undefined,
      { ...running, deployments: { latency: dep('sentiment-latency', 0, 0) } },
      at(T0),
    );
    expect(cond(s.conditions, 'ThroughputAvailable')?.reason).toBe('DeploymentMissing');
    expect(cond(s.conditions, 'LatencyAvailable')?.reason).toBe('ScaledToZero');
  });

  test('recomputing from an unchanged world gives the same status: nothing to write', () => {
    const first = computeStatus(defaulted(), undefined, pending, at(T0));
    const again = computeStatus(defaulted(), first, pending, at(T1));
    expect(sameStatus(first, again)).toBe(true);
    const changed = computeStatus(defaulted(), first, running, at(T1));
    expect(sameStatus(first, changed)).toBe(false);
    expect(cond(changed.conditions, 'Ready')?.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });
});

describe('staleFields', () => {
  const wanted = {
    url: 'http://h',
    routing: { provider: 'gateway-api' },
    conditions: [
      { type: 'Ready', status: 'True' },
      { type: 'RoutingReady', status: 'True' },
    ],
  };

  test('nothing when the stored status holds no more than wanted, whatever the order of a list', () => {
    expect(staleFields({ ...wanted, conditions: [...wanted.conditions].reverse() }, wanted)).toBeUndefined();
  });

  test('null for a field only the stored status has; the wanted list for a list with an item too many', () => {
    const stored = {
      ...wanted,
      routing: { provider: 'gateway-api', unexpressedRules: ['x'] },
      conditions: [...wanted.conditions, { type: 'Old', status: 'False' }],
      extra: 1,
    };
    expect(staleFields(stored, wanted)).toEqual({
      routing: { unexpressedRules: null },
      conditions: wanted.conditions,
      extra: null,
    });
  });
});
