import { describe, expect, it } from '@jest/globals';
import { testNamespaceName } from '../support/namespace.ts';
import { waitFor } from '../support/wait-for.ts';

describe('waitFor', () => {
  it('returns the first value the predicate accepts', async () => {
    let n = 0;
    const value = await waitFor('n to reach 3', () => ++n, { until: (v) => v >= 3, intervalMs: 1 });
    expect(value).toBe(3);
  });

  it('names what it awaited and the last value seen when it times out', async () => {
    await expect(
      waitFor('the pod to be Running', () => ({ phase: 'Pending' }), {
        until: (p) => p.phase === 'Running',
        timeoutMs: 20,
        intervalMs: 5,
      }),
    ).rejects.toThrow(/waiting for the pod to be Running; last value: \{"phase":"Pending"\}/);
  });

  it('reports the last error when the probe keeps failing', async () => {
    await expect(
      waitFor(
        'the namespace to exist',
        () => {
          throw new Error('namespaces "x" not found');
        },
        { timeoutMs: 20, intervalMs: 5 },
      ),
    ).rejects.toThrow(/last error: namespaces "x" not found/);
  });
});

describe('testNamespaceName', () => {
  it('makes a unique DNS-1123 label from any prefix', () => {
    const a = testNamespaceName('Cluster_E2E');
    const b = testNamespaceName('Cluster_E2E');
    expect(a).toMatch(/^cluster-e2e-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(testNamespaceName('x'.repeat(100)).length).toBeLessThanOrEqual(63);
  });

  it('rejects a prefix with nothing usable in it', () => {
    expect(() => testNamespaceName('___')).toThrow(/prefix "___" has no usable characters/);
  });
});
