import { describe, expect, test } from '@jest/globals';
import { buildHpa } from '../../src/builders/hpa.ts';
import { canonicalMilli } from '../../src/builders/quantity.ts';
import { buildService } from '../../src/builders/service.ts';
import { defaulted } from './fixtures.ts';

describe('buildService', () => {
  test('selects the pool pods and exposes port 80 to http', () => {
    const s = buildService(defaulted(), 'latency');
    expect(s.metadata?.name).toBe('sentiment-latency');
    expect(s.spec?.selector).toEqual({
      'app.kubernetes.io/name': 'servingstack',
      'app.kubernetes.io/instance': 'sentiment',
      'servingstack.dev/pool': 'latency',
    });
    expect(s.spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
  });
});

describe('buildHpa', () => {
  test('null when the pool has no autoscaling', () => {
    expect(buildHpa(defaulted(), 'throughput')).toBeNull();
  });

  test('targets the pool Deployment on the two adapter metrics with the stack targets', () => {
    const h = buildHpa(defaulted({ throughput: { autoscaling: {} } }), 'throughput');
    expect(h?.spec?.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'sentiment-throughput',
    });
    expect(h?.spec?.minReplicas).toBe(1);
    expect(h?.spec?.maxReplicas).toBe(8);
    expect(h?.spec?.metrics).toEqual([
      {
        type: 'Pods',
        pods: {
          metric: { name: 'servingstack_requests_per_second' },
          target: { type: 'AverageValue', averageValue: '1k' },
        },
      },
      {
        type: 'Pods',
        pods: {
          metric: { name: 'servingstack_request_duration_p95_seconds' },
          target: { type: 'AverageValue', averageValue: '500m' },
        },
      },
    ]);
  });

  test('latency pool defaults: 2..16, p95 50 ms, 50 RPS; optional GPU metric', () => {
    const h = buildHpa(
      defaulted({ latency: { autoscaling: { targetGPUUtilizationPercent: 60 } } }),
      'latency',
    );
    expect([h?.spec?.minReplicas, h?.spec?.maxReplicas]).toEqual([2, 16]);
    const targets = h?.spec?.metrics?.map((m) =>
      m.type === 'Pods' ? [m.pods?.metric.name, m.pods?.target.averageValue] : [m.object?.metric.name],
    );
    expect(targets).toEqual([
      ['servingstack_requests_per_second', '50'],
      ['servingstack_pool_request_duration_p95_seconds'],
      ['DCGM_FI_DEV_GPU_UTIL', '60'],
    ]);
  });

  test('the latency pool scales on the p95 of the whole pool: a Value target on its Service', () => {
    const h = buildHpa(defaulted({ latency: { autoscaling: { targetP95Ms: 40 } } }), 'latency');
    expect(h?.spec?.metrics?.[1]).toEqual({
      type: 'Object',
      object: {
        describedObject: { apiVersion: 'v1', kind: 'Service', name: 'sentiment-latency' },
        metric: { name: 'servingstack_pool_request_duration_p95_seconds' },
        // One value for the pool, not an average per pod: one slow pod moves it.
        target: { type: 'Value', value: '40m' },
      },
    });
    expect(
      h?.spec?.metrics?.some((m) => m.pods?.metric.name === 'servingstack_request_duration_p95_seconds'),
    ).toBe(false);
  });

  test('behavior: immediate scale-up, scale-down stabilised by the spec window', () => {
    const h = buildHpa(
      defaulted({ latency: { autoscaling: { scaleDownStabilizationWindowSeconds: 15 } } }),
      'latency',
    );
    expect(h?.spec?.behavior?.scaleUp?.stabilizationWindowSeconds).toBe(0);
    expect(h?.spec?.behavior?.scaleDown?.stabilizationWindowSeconds).toBe(15);
    expect(h?.spec?.behavior?.scaleDown?.policies?.[0]).toEqual({
      type: 'Percent',
      value: 50,
      periodSeconds: 60,
    });
  });
});

describe('canonicalMilli (the API server’s quantity form)', () => {
  test.each([
    [0, '0'],
    [500, '500m'],
    [1000, '1'],
    [1500, '1500m'],
    [50_000, '50'],
    [1_000_000, '1k'],
    [1_500_000, '1500'],
    [2_000_000_000, '2M'],
  ])('%d milli-units -> %s', (m, q) => {
    expect(canonicalMilli(m)).toBe(q);
  });

  test('refuses negative and fractional input', () => {
    expect(() => canonicalMilli(-1)).toThrow(RangeError);
    expect(() => canonicalMilli(0.5)).toThrow(RangeError);
  });
});
