import { describe, expect, test } from '@jest/globals';
import type { V1Container, V1Deployment } from '@kubernetes/client-node';
import { buildDeployment, terminationPlan } from '../../src/builders/deployment.ts';
import { ctx, defaulted } from './fixtures.ts';

function server(d: V1Deployment): V1Container {
  const c = d.spec?.template.spec?.containers[0];
  if (!c) throw new Error('no container');
  return c;
}

function env(d: V1Deployment): Record<string, string | undefined> {
  return Object.fromEntries((server(d).env ?? []).map((e) => [e.name, e.value]));
}

describe('buildDeployment', () => {
  test('runs the default image with the pool settings as the server env contract', () => {
    const d = buildDeployment(defaulted(), 'throughput', ctx);
    expect(d.metadata?.name).toBe('sentiment-throughput');
    expect(d.metadata?.namespace).toBe('ml');
    expect(server(d).image).toBe('localhost/servingstack/server:dev-cuda13'); // gpus: 1 by default
    expect(env(d)).toEqual({
      MODEL_NAME: 'sentiment',
      MODEL_DIR: '/opt/servingstack/models/mlp',
      POOL: 'throughput',
      PRECISION: 'fp16',
      MAX_BATCH_SIZE: '64',
      MAX_DELAY_MS: '50',
      MAX_QUEUE_SIZE: '1024',
      BATCH_DIMENSION: 'auto',
      TIMEOUT_HEADER: 'X-Request-Timeout-Ms',
      PRIORITY_HEADER: 'X-Serving-Priority',
      REAL_TIME_PRIORITY: 'real-time',
      BATCH_PRIORITY: 'batch',
      SPILLOVER_SIBLING_URL: 'http://sentiment-latency.ml.svc:80',
      SPILLOVER_TO_SIBLING: 'on',
      SPILLOVER_ROUTE: 'on',
      SPILLOVER_MAX_SHARE_PERCENT: '50',
      LATENCY_BELOW_MS: '100',
      THROUGHPUT_ABOVE_MS: '1000',
      PORT: '8080',
      METRICS_PORT: '9090',
      DRAIN_TIMEOUT_MS: '23000',
      ORT_DISABLE_TELEMETRY: '1',
      // From the downward API (valueFrom), checked in 'threads sized to the pod' below.
      CPU_REQUEST_MILLICORES: undefined,
      CPU_LIMIT_MILLICORES: undefined,
      EXECUTION_PROVIDER: 'cuda',
      CUDA_CACHE_PATH: '/tmp/cuda-cache',
    });
    const l = buildDeployment(
      defaulted({ latency: { threads: { intraOp: 2, interOp: 1 } } }),
      'latency',
      ctx,
    );
    expect(env(l)).toMatchObject({
      POOL: 'latency',
      PRECISION: 'int8',
      MAX_BATCH_SIZE: '1',
      MAX_DELAY_MS: '0',
    });
    expect(env(l)).toMatchObject({ INTRA_OP_THREADS: '2', INTER_OP_THREADS: '1' });
  });

  test("passes the model's batch contract and warm-up shapes to both pools", () => {
    const stack = defaulted({
      model: {
        name: 'cls',
        uri: 'file:///m',
        batchDimension: 'first',
        warmupShapes: [{ x: [3, 48, 192] }, { x: [3, 48, 320] }],
      },
    });
    for (const pool of ['throughput', 'latency'] as const) {
      expect(env(buildDeployment(stack, pool, ctx))).toMatchObject({
        BATCH_DIMENSION: 'first',
        WARMUP_SHAPES: '[{"x":[3,48,192]},{"x":[3,48,320]}]',
      });
    }
  });

  test("adapts the batch size to the pool's batching target, else its autoscaling target, unless told not to", () => {
    const target = (spec: Parameters<typeof defaulted>[0]) =>
      env(buildDeployment(defaulted(spec), 'throughput', ctx)).TARGET_P95_MS;
    expect(target({})).toBeUndefined();
    expect(target({ throughput: { autoscaling: { targetP95Ms: 300 } } })).toBe('300');
    expect(target({ throughput: { autoscaling: {} } })).toBe('500');
    expect(
      target({ throughput: { batching: { targetP95Ms: 120 }, autoscaling: { targetP95Ms: 300 } } }),
    ).toBe('120');
    expect(target({ throughput: { batching: { adaptive: false }, autoscaling: { targetP95Ms: 300 } } })).toBe(
      undefined,
    );
  });

  test("passes the stack's routing headers, which the server reads for deadlines and priorities", () => {
    const d = buildDeployment(
      defaulted({
        routing: {
          host: 'h.test',
          priorityHeader: 'X-Lane',
          latencyPriority: 'now',
          throughputPriority: 'later',
          timeoutHeader: 'X-Budget',
        },
      }),
      'latency',
      ctx,
    );
    expect(env(d)).toMatchObject({
      PRIORITY_HEADER: 'X-Lane',
      REAL_TIME_PRIORITY: 'now',
      BATCH_PRIORITY: 'later',
      TIMEOUT_HEADER: 'X-Budget',
    });
  });

  test('image: pool override beats stack override beats the operator default', () => {
    expect(server(buildDeployment(defaulted({ image: 'a:1' }), 'latency', ctx)).image).toBe('a:1');
    expect(
      server(buildDeployment(defaulted({ image: 'a:1', latency: { image: 'b:2' } }), 'latency', ctx)).image,
    ).toBe('b:2');
  });

  test("the operator's default image follows the pool: the CUDA image with GPUs, the CPU image without", () => {
    const stack = defaulted({ latency: { resources: { gpus: 0 } } });
    expect(stack.spec.throughput.resources.gpus).toBe(1);
    expect(server(buildDeployment(stack, 'throughput', ctx)).image).toBe(ctx.defaultGpuImage);
    expect(server(buildDeployment(stack, 'latency', ctx)).image).toBe(ctx.defaultImage);
    // The model-fetch init container runs the pool's own image.
    const fetched = defaulted({ model: { name: 'm', uri: 'https://models.example/m/' } });
    expect(buildDeployment(fetched, 'throughput', ctx).spec?.template.spec?.initContainers?.[0]?.image).toBe(
      ctx.defaultGpuImage,
    );
    // A stack or pool image is taken as it is, GPUs or not.
    expect(server(buildDeployment(defaulted({ image: 'a:1' }), 'throughput', ctx)).image).toBe('a:1');
    expect(
      server(
        buildDeployment(defaulted({ latency: { image: 'b:2', resources: { gpus: 0 } } }), 'latency', ctx),
      ).image,
    ).toBe('b:2');
  });

  test('GPU limit, port, probes and grace period', () => {
    const d = buildDeployment(
      defaulted({ throughput: { resources: { gpus: 2, cpu: '4', memory: '8Gi' } } }),
      'throughput',
      ctx,
    );
    const c = server(d);
    expect(c.resources?.limits).toEqual({ 'nvidia.com/gpu': '2', memory: '8Gi' });
    expect(c.resources?.requests).toEqual({ cpu: '4', memory: '8Gi' });
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
    ]);
    expect(d.spec?.template.metadata?.annotations).toMatchObject({
      'prometheus.io/port': '9090',
      'prometheus.io/path': '/metrics',
    });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/v2/health/ready', port: 'http' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/v2/health/live', port: 'http' });
    expect(c.startupProbe?.httpGet?.path).toBe('/v2/health/live');
    // Explicit, above Kubernetes' 1 s default: probes share the event loop with JSON parsing.
    expect(c.readinessProbe?.timeoutSeconds).toBe(3);
    expect(c.livenessProbe?.timeoutSeconds).toBe(5);
    expect(c.startupProbe?.timeoutSeconds).toBe(5);
    expect(d.spec?.template.spec?.terminationGracePeriodSeconds).toBe(30);
  });

  test('keeps serving a moment after termination starts so routers drop the pod first', () => {
    const drainMs = (dep: ReturnType<typeof buildDeployment>) =>
      server(dep).env?.find((e) => e.name === 'DRAIN_TIMEOUT_MS')?.value;
    // 30 s of grace: 5 s preStop, 23 s to drain, 2 s for the process to exit before SIGKILL.
    const d = buildDeployment(defaulted(), 'latency', ctx);
    expect(d.spec?.template.spec?.terminationGracePeriodSeconds).toBe(30);
    expect(server(d).lifecycle?.preStop?.sleep?.seconds).toBe(5);
    expect(drainMs(d)).toBe('23000');
    const short = buildDeployment(
      defaulted({ latency: { terminationGracePeriodSeconds: 2 } }),
      'latency',
      ctx,
    );
    expect(server(short).lifecycle?.preStop?.sleep?.seconds).toBe(1);
    expect(drainMs(short)).toBe('1000');
    const none = buildDeployment(
      defaulted({ latency: { terminationGracePeriodSeconds: 0 } }),
      'latency',
      ctx,
    );
    expect(server(none).lifecycle).toBeUndefined();
    expect(drainMs(none)).toBe('0');
  });

  test.each([0, 1, 2, 3, 5, 8, 10, 30, 60, 3600])(
    'a grace period of %i s holds preStop, drain and margin, leaving a second to drain where it can',
    (grace) => {
      const { preStopSeconds, drainMs } = terminationPlan(grace);
      expect(preStopSeconds).toBeGreaterThanOrEqual(0);
      expect(preStopSeconds * 1000 + drainMs).toBeLessThanOrEqual(grace * 1000);
      if (grace >= 1) expect(drainMs).toBeGreaterThanOrEqual(1000);
      if (grace >= 8) expect(grace * 1000 - preStopSeconds * 1000 - drainMs).toBe(2000);
    },
  );

  test('gpus: 0 asks for no GPU and adds no GPU toleration', () => {
    const d = buildDeployment(defaulted({ latency: { resources: { gpus: 0 } } }), 'latency', ctx);
    expect(server(d).resources?.limits).toBeUndefined();
    expect(d.spec?.template.spec?.tolerations).toBeUndefined();
  });

  test('restricted security context, writable /tmp only', () => {
    const d = buildDeployment(defaulted(), 'latency', ctx);
    expect(d.spec?.template.spec?.securityContext).toEqual({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(server(d).securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(server(d).volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(d.spec?.template.spec?.volumes).toContainEqual({ name: 'tmp', emptyDir: {} });
  });

  test('GPU toleration first, then user tolerations; nodeSelector and affinity passed through', () => {
    const affinity = {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
    };
    const d = buildDeployment(
      defaulted({
        throughput: {
          nodeSelector: { 'gpu.type': 'a100' },
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }],
          affinity,
        },
      }),
      'throughput',
      ctx,
    );
    const spec = d.spec?.template.spec;
    expect(spec?.tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' },
    ]);
    expect(spec?.nodeSelector).toEqual({ 'gpu.type': 'a100' });
    expect(spec?.affinity).toEqual(affinity);
  });

  test('replicas from the spec without autoscaling, left out when an HPA owns the pool', () => {
    expect(buildDeployment(defaulted({ latency: { replicas: 3 } }), 'latency', ctx).spec?.replicas).toBe(3);
    const d = buildDeployment(defaulted({ latency: { replicas: 3, autoscaling: {} } }), 'latency', ctx);
    expect(d.spec && 'replicas' in d.spec).toBe(false);
  });

  test('selector matches the pod labels and is owned by the stack', () => {
    const d = buildDeployment(defaulted(), 'throughput', ctx);
    expect(d.spec?.template.metadata?.labels).toMatchObject(
      d.spec?.selector.matchLabels ?? { missing: true },
    );
    // Prometheus copies it into the `service` label the pool's p95 (an Object metric) is keyed by.
    expect(d.spec?.template.metadata?.labels?.['servingstack.dev/service']).toBe('sentiment-throughput');
    expect(d.metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'servingstack.dev/v1alpha1',
        kind: 'ServingStack',
        name: 'sentiment',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  test('pvc:// mounts the claim read-only and points MODEL_DIR inside it', () => {
    const d = buildDeployment(
      defaulted({ model: { name: 'm', uri: 'pvc://models/sentiment/v2' } }),
      'latency',
      ctx,
    );
    expect(d.spec?.template.spec?.volumes).toContainEqual({
      name: 'model',
      persistentVolumeClaim: { claimName: 'models', readOnly: true },
    });
    expect(server(d).volumeMounts).toContainEqual({
      name: 'model',
      mountPath: '/mnt/models',
      readOnly: true,
    });
    expect(env(d).MODEL_DIR).toBe('/mnt/models/sentiment/v2');
    expect(d.spec?.template.spec?.initContainers).toBeUndefined();
  });

  test("https:// fetches the pool's precision with an init container of the same image, capped, verified by a sha256 per file", () => {
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(64));
    const d = buildDeployment(
      defaulted({
        model: {
          name: 'm',
          uri: 'https://models.test/m/',
          // Given out of order: the args are sorted, so the pod template does not churn.
          digests: { 'model.int8.onnx': b!, 'model.fp16.onnx': a!, 'weights/w.bin': c! },
          maxSize: '2Gi',
          credentialsSecretName: 'creds',
        },
      }),
      'throughput',
      ctx,
    );
    const init = d.spec?.template.spec?.initContainers?.[0];
    expect(init?.image).toBe(server(d).image);
    expect(init?.args).toEqual([
      'fetch-model',
      '--uri',
      'https://models.test/m/',
      '--dest',
      '/mnt/models',
      '--precision',
      'fp16',
      '--max-bytes',
      String(2 * 1024 ** 3),
      '--digest',
      `model.fp16.onnx=${a}`,
      '--digest',
      `model.int8.onnx=${b}`,
      '--digest',
      `weights/w.bin=${c}`,
    ]);
    expect(init?.envFrom).toEqual([{ secretRef: { name: 'creds' } }]);
    expect(init?.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(init?.resources).toEqual({
      requests: { cpu: '100m', memory: '64Mi' },
      limits: { memory: '256Mi' },
    });
    expect(d.spec?.template.spec?.volumes).toContainEqual({ name: 'model', emptyDir: { sizeLimit: '2Gi' } });
    expect(env(d).MODEL_DIR).toBe('/mnt/models');
  });

  test('a single-file URI passes its sha256; the default cap is 16Gi', () => {
    const sha = 'a'.repeat(64);
    const d = buildDeployment(
      defaulted({ model: { name: 'm', uri: 'https://models.test/resnet.onnx', sha256: sha } }),
      'latency',
      ctx,
    );
    expect(d.spec?.template.spec?.initContainers?.[0]?.args).toEqual([
      'fetch-model',
      '--uri',
      'https://models.test/resnet.onnx',
      '--dest',
      '/mnt/models',
      '--precision',
      'int8',
      '--max-bytes',
      String(16 * 1024 ** 3),
      '--sha256',
      sha,
    ]);
    expect(d.spec?.template.spec?.volumes).toContainEqual({ name: 'model', emptyDir: { sizeLimit: '16Gi' } });
  });

  test('s3:// without a checksum fetches too; oci:// becomes an image volume', () => {
    const s3 = buildDeployment(defaulted({ model: { name: 'm', uri: 's3://bucket/m' } }), 'latency', ctx);
    expect(s3.spec?.template.spec?.initContainers?.[0]?.args).toEqual([
      'fetch-model',
      '--uri',
      's3://bucket/m',
      '--dest',
      '/mnt/models',
      '--precision',
      'int8',
      '--max-bytes',
      String(16 * 1024 ** 3),
    ]);
    const oci = buildDeployment(
      defaulted({ model: { name: 'm', uri: 'oci://registry.test/models/m:1' } }),
      'latency',
      ctx,
    );
    expect(oci.spec?.template.spec?.volumes).toContainEqual({
      name: 'model',
      image: { reference: 'registry.test/models/m:1', pullPolicy: 'IfNotPresent' },
    });
  });

  test('an unknown scheme (schema bypassed) is an InvalidSpecError naming the field', () => {
    expect(() =>
      buildDeployment(defaulted({ model: { name: 'm', uri: 'ftp://x/y' } }), 'latency', ctx),
    ).toThrow(/spec\.model\.uri/);
  });

  test('threads sized to the pod: the CPU request and limit from the downward API; spinning only when asked for', () => {
    const d = buildDeployment(defaulted({ throughput: { resources: { cpu: '2' } } }), 'throughput', ctx);
    const byName = Object.fromEntries((server(d).env ?? []).map((e) => [e.name, e]));
    expect(byName.CPU_REQUEST_MILLICORES?.valueFrom).toEqual({
      resourceFieldRef: { containerName: 'server', resource: 'requests.cpu', divisor: '1m' },
    });
    expect(byName.CPU_LIMIT_MILLICORES?.valueFrom).toEqual({
      resourceFieldRef: { containerName: 'server', resource: 'limits.cpu', divisor: '1m' },
    });
    expect(byName.THREAD_SPINNING).toBeUndefined();
    expect(byName.INTRA_OP_THREADS).toBeUndefined();
    const spinning = buildDeployment(defaulted({ latency: { threads: { spinning: true } } }), 'latency', ctx);
    expect(env(spinning).THREAD_SPINNING).toBe('1');
  });

  test('a pool with GPUs runs on CUDA or does not start; auto is the opt-out; a CPU pool runs on CPU', () => {
    const gpu = buildDeployment(defaulted(), 'throughput', ctx);
    expect(env(gpu)).toMatchObject({ EXECUTION_PROVIDER: 'cuda', CUDA_CACHE_PATH: '/tmp/cuda-cache' });
    expect(env(gpu).CUDA_CACHE_PATH?.startsWith('/tmp/')).toBe(true); // the only writable path
    const optOut = buildDeployment(
      defaulted({ throughput: { executionProvider: 'auto' } }),
      'throughput',
      ctx,
    );
    expect(env(optOut).EXECUTION_PROVIDER).toBe('auto');
    const cpu = buildDeployment(defaulted({ latency: { resources: { gpus: 0 } } }), 'latency', ctx);
    expect(env(cpu).EXECUTION_PROVIDER).toBe('cpu');
    expect(env(cpu).CUDA_CACHE_PATH).toBeUndefined();
  });
});
