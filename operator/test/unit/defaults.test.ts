import { describe, expect, test } from '@jest/globals';
import { applyDefaults } from '../../src/api/schema.ts';
import { withDefaults } from '../../src/api/servingstack.ts';
import { defaulted, stackOf } from './fixtures.ts';

describe('withDefaults (structural defaulting from the CRD schema)', () => {
  test("fills the brief's numbers for both pools and routing", () => {
    const s = defaulted().spec;
    expect(s.throughput.precision).toBe('fp16');
    expect(s.throughput.batching).toEqual({
      maxBatchSize: 64,
      maxDelayMs: 50,
      maxQueueSize: 1024,
      adaptive: true,
    });
    expect(s.model.batchDimension).toBe('auto');
    expect(s.latency.precision).toBe('int8');
    expect(s.latency.batching).toMatchObject({ maxBatchSize: 1, maxDelayMs: 0 });
    expect(s.throughput.resources.gpus).toBe(1);
    expect(s.routing).toMatchObject({
      provider: 'ingress-nginx',
      priorityHeader: 'X-Serving-Priority',
      timeoutHeader: 'X-Request-Timeout-Ms',
      latencyBelowMs: 100,
      throughputAboveMs: 1000,
      default: 'throughput',
    });
  });

  test('autoscaling stays absent when unset, and is completed per pool when present', () => {
    expect(defaulted().spec.throughput.autoscaling).toBeUndefined();
    const s = defaulted({
      throughput: { autoscaling: {} },
      latency: { autoscaling: { maxReplicas: 4 } },
    }).spec;
    expect(s.throughput.autoscaling).toEqual({
      minReplicas: 1,
      maxReplicas: 8,
      targetRPSPerReplica: 1000,
      targetP95Ms: 500,
      scaleUpStabilizationWindowSeconds: 0,
      scaleDownStabilizationWindowSeconds: 300,
    });
    expect(s.latency.autoscaling).toMatchObject({
      minReplicas: 2,
      maxReplicas: 4,
      targetP95Ms: 50,
      targetRPSPerReplica: 50,
    });
  });

  test('keeps what the user set and does not mutate the input', () => {
    const raw = stackOf({ throughput: { precision: 'fp32', batching: { maxBatchSize: 8 } } });
    const before = JSON.stringify(raw);
    const s = withDefaults(raw).spec;
    expect(s.throughput.precision).toBe('fp32');
    expect(s.throughput.batching).toEqual({
      maxBatchSize: 8,
      maxDelayMs: 50,
      maxQueueSize: 1024,
      adaptive: true,
    });
    expect(JSON.stringify(raw)).toBe(before);
  });

  test('defaults inside a defaulted value, and inside array items', () => {
    const schema = {
      type: 'object',
      properties: {
        a: { type: 'object', default: {}, properties: { b: { type: 'integer', default: 7 } } },
        list: {
          type: 'array',
          items: { type: 'object', properties: { c: { type: 'string', default: 'x' } } },
        },
      },
    };
    expect(applyDefaults(schema, { list: [{}, { c: 'y' }] })).toEqual({
      a: { b: 7 },
      list: [{ c: 'x' }, { c: 'y' }],
    });
  });

  test('a stack without a uid is refused with the field named', () => {
    const raw = stackOf();
    delete raw.metadata.uid;
    expect(() => withDefaults(raw)).toThrow(/metadata.uid/);
  });
});
