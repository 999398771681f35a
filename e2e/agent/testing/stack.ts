import type { KubernetesObject } from '@kubernetes/client-node';

// A small ServingStack for the e2e suites and the demo: the locally built server image, the
// test model inside it, one replica per pool, one FAKE GPU each (executionProvider: auto, so the CPU
// image serves on them).

export const SERVER_IMAGE = process.env.SERVINGSTACK_SERVER_IMAGE ?? 'localhost/servingstack/server:dev';
export const TEST_MODEL = { name: 'mlp', uri: 'file:///opt/servingstack/models/mlp' };

export interface StackOptions {
  name: string;
  namespace: string;
  host: string;
  provider: 'ingress-nginx' | 'gateway-api';
  gateway?: { name: string; namespace: string };
  /**
   * fp32 and int8 both take FP32 inputs; fp16 takes FP16, so one request body fits every pool
   * only when neither pool runs fp16.
   */
  throughputPrecision?: 'fp32' | 'int8' | 'fp16';
}

export function stackManifest(o: StackOptions): KubernetesObject & { spec: Record<string, unknown> } {
  const pool = (precision: string, batching: Record<string, number>) => ({
    precision,
    replicas: 1,
    batching,
    resources: { gpus: 1, cpu: '250m', memory: '512Mi' },
    // The node's GPUs are FAKES and the image is the CPU one: a pool with GPUs runs cuda (and exits
    // without it) unless it opts out, so these pools opt out.
    executionProvider: 'auto',
    threads: { intraOp: 1, interOp: 1 },
    terminationGracePeriodSeconds: 20,
  });
  return {
    apiVersion: 'servingstack.dev/v1alpha1',
    kind: 'ServingStack',
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      model: TEST_MODEL,
      image: SERVER_IMAGE,
      routing: { host: o.host, provider: o.provider, ...(o.gateway && { gateway: o.gateway }) },
      throughput: pool(o.throughputPrecision ?? 'fp32', {
        maxBatchSize: 16,
        maxDelayMs: 5,
        maxQueueSize: 256,
      }),
      latency: pool('int8', { maxBatchSize: 1, maxDelayMs: 0 }),
    },
  };
}
