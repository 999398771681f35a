// The Deployment of one pool: the server image with the pool's batching and precision as env.
import type { V1Container, V1Deployment, V1EnvVar, V1Toleration } from '@kubernetes/client-node';
import type { DefaultedStack, Pool } from '../api/servingstack.ts';
import { batchingEnv } from './batching-env.ts';
import { spilloverEnv } from './spillover-env.ts';
import type { BuildContext } from './context.ts';
import { fetchContainer, InvalidSpecError, modelSource } from './model-source.ts';
import { desiredModelVersion, MODEL_VERSION_ANNOTATION, modelPins } from './model-version.ts';
import { childNames, LABEL_MODEL_SET, LABEL_SERVICE, labels, selectorLabels } from './names.ts';
import { ownerReference } from './owner.ts';
import { canonicalQuantity } from './quantity.ts';
import { containerSecurityContext, podSecurityContext } from './security.ts';

export const SERVER_PORT = 8080;
/** /metrics, on a container port of its own (named `metrics`) that no Service exposes. */
export const METRICS_PORT = 9090;
export const GPU_RESOURCE = 'nvidia.com/gpu';
/** How long a terminating pod keeps serving so routers can drop it first (capped by the grace period). */
export const ENDPOINT_PROPAGATION_SECONDS = 5;
export const READINESS_TIMEOUT_SECONDS = 3;
export const LIVENESS_TIMEOUT_SECONDS = 5;
/** Of the grace period, what is kept back for the process to exit after its drain and for the kubelet. */
export const DRAIN_MARGIN_SECONDS = 2;

/**
 * How the grace period is spent: the preStop sleep (routers drop the pod), then the server's
 * drain on SIGTERM, then a margin, so that the server exits by itself before the kubelet's
 * SIGKILL. A short grace period shortens the margin and the sleep first, keeping a second to drain.
 */
export function terminationPlan(graceSeconds: number): { preStopSeconds: number; drainMs: number } {
  const margin = Math.min(DRAIN_MARGIN_SECONDS, Math.floor(graceSeconds / 4));
  const preStopSeconds = Math.max(0, Math.min(ENDPOINT_PROPAGATION_SECONDS, graceSeconds - margin - 1));
  return { preStopSeconds, drainMs: Math.max(0, graceSeconds - preStopSeconds - margin) * 1000 };
}
/**
 * Marks a Deployment whose replicas the operator sets (the pool has no autoscaling). When it is
 * gone from the intent, the operator hands replicas over before letting go (reconcile/replicas.ts).
 */
export const REPLICAS_ANNOTATION = 'servingstack.dev/replicas-from';

export function serverImage(stack: DefaultedStack, pool: Pool, ctx: BuildContext): string {
  const p = stack.spec[pool];
  return p.image ?? stack.spec.image ?? (p.resources.gpus > 0 ? ctx.defaultGpuImage : ctx.defaultImage);
}

/** A resource quantity in canonical form; one the CRD's rule should have refused names its field. */
function quantity(field: string, v: string | number): string {
  try {
    return canonicalQuantity(v);
  } catch {
    throw new InvalidSpecError(`${field} is not a quantity: ${JSON.stringify(v)}`);
  }
}

/** The pool's executionProvider, else cuda for a pool with GPUs and cpu for one without. */
export function executionProvider(p: DefaultedStack['spec'][Pool]): 'cuda' | 'cpu' | 'auto' {
  return p.executionProvider ?? (p.resources.gpus > 0 ? 'cuda' : 'cpu');
}

/** Which set a Deployment belongs to (switch.ts), and the replicas it starts with beside the live one. */
export interface SetOptions {
  set: string;
  startReplicas?: number;
}

export function buildDeployment(
  stack: DefaultedStack,
  pool: Pool,
  ctx: BuildContext,
  { set, startReplicas }: SetOptions = { set: '' },
): V1Deployment {
  const p = stack.spec[pool];
  const image = serverImage(stack, pool, ctx);
  const model = modelSource(stack.spec.model, p.precision);
  const termination = terminationPlan(p.terminationGracePeriodSeconds);
  const env: V1EnvVar[] = [
    { name: 'MODEL_NAME', value: stack.spec.model.name },
    { name: 'MODEL_DIR', value: model.modelDir },
    { name: 'POOL', value: pool },
    { name: 'PRECISION', value: p.precision },
    { name: 'MAX_BATCH_SIZE', value: String(p.batching.maxBatchSize) },
    { name: 'MAX_DELAY_MS', value: String(p.batching.maxDelayMs) },
    { name: 'MAX_QUEUE_SIZE', value: String(p.batching.maxQueueSize) },
    ...batchingEnv(stack, pool),
    ...spilloverEnv(stack, pool),
    { name: 'PORT', value: String(SERVER_PORT) },
    { name: 'METRICS_PORT', value: String(METRICS_PORT) },
    { name: 'DRAIN_TIMEOUT_MS', value: String(termination.drainMs) },
    // onnxruntime reads this before it initialises; an inference server must not phone home.
    { name: 'ORT_DISABLE_TELEMETRY', value: '1' },
  ];
  // The server checks the files it loads against the release and reports its version.
  const pins = modelPins(stack.spec.model);
  if (pins) env.push({ name: 'MODEL_DIGESTS', value: JSON.stringify(pins) });
  const version = desiredModelVersion(stack.spec.model);
  if (p.threads?.intraOp !== undefined)
    env.push({ name: 'INTRA_OP_THREADS', value: String(p.threads.intraOp) });
  if (p.threads?.interOp !== undefined)
    env.push({ name: 'INTER_OP_THREADS', value: String(p.threads.interOp) });
  // Unset, the server sizes intra-op threads to these (the pod's CPUs), not to the node's cores.
  for (const [name, resource] of [
    ['CPU_REQUEST_MILLICORES', 'requests.cpu'],
    ['CPU_LIMIT_MILLICORES', 'limits.cpu'],
  ] as const)
    env.push({ name, valueFrom: { resourceFieldRef: { containerName: 'server', resource, divisor: '1m' } } });
  if (p.threads?.spinning) env.push({ name: 'THREAD_SPINNING', value: '1' });
  // A pool that holds GPUs runs on CUDA or fails to start, never silently on CPU; auto opts out.
  env.push({ name: 'EXECUTION_PROVIDER', value: executionProvider(p) });
  // The CUDA driver's JIT cache defaults to ~/.nv, which the read-only root filesystem refuses.
  if (p.resources.gpus > 0) env.push({ name: 'CUDA_CACHE_PATH', value: '/tmp/cuda-cache' });

  const limits: Record<string, string> = {};
  const requests: Record<string, string> = {};
  // In the form the API server stores, or every pass would see a difference that is not one.
  if (p.resources.gpus > 0) limits[GPU_RESOURCE] = String(p.resources.gpus);
  if (p.resources.cpu !== undefined) requests.cpu = quantity(`spec.${pool}.resources.cpu`, p.resources.cpu);
  if (p.resources.memory !== undefined) {
    requests.memory = quantity(`spec.${pool}.resources.memory`, p.resources.memory);
    limits.memory = requests.memory;
  }

  const server: V1Container = {
    name: 'server',
    image,
    env,
    ports: [
      { name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' },
      { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
    ],
    // Timeouts set, not Kubernetes' 1 s: the probes share the event loop with request handling,
    // which a JSON body holds for up to ~40 ms (MAX_JSON_BODY_BYTES) and a burst of them longer.
    // Liveness allows more than readiness: a restart loses the warm model and what is queued.
    readinessProbe: {
      httpGet: { path: '/v2/health/ready', port: 'http' },
      periodSeconds: 5,
      timeoutSeconds: READINESS_TIMEOUT_SECONDS,
      failureThreshold: 3,
    },
    livenessProbe: {
      httpGet: { path: '/v2/health/live', port: 'http' },
      periodSeconds: 10,
      timeoutSeconds: LIVENESS_TIMEOUT_SECONDS,
      failureThreshold: 3,
    },
    // Loading and warming a model can take minutes; liveness waits until the process is up.
    startupProbe: {
      httpGet: { path: '/v2/health/live', port: 'http' },
      periodSeconds: 5,
      timeoutSeconds: LIVENESS_TIMEOUT_SECONDS,
      failureThreshold: 60,
    },
    // Routers learn of a terminating pod's removal from the endpoints only after a moment; serving
    // on through that moment (then draining on SIGTERM) is what keeps a rolling update lossless.
    ...(termination.preStopSeconds > 0
      ? { lifecycle: { preStop: { sleep: { seconds: termination.preStopSeconds } } } }
      : {}),
    resources: {
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
      ...(Object.keys(requests).length > 0 ? { requests } : {}),
    },
    securityContext: containerSecurityContext(),
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...model.mounts],
  };

  const tolerations: V1Toleration[] = [
    ...(p.resources.gpus > 0 ? [{ key: GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' }] : []),
    ...(p.tolerations ?? []),
  ];

  const initContainers = model.fetchArgs
    ? [
        {
          ...fetchContainer(image, model.fetchArgs, stack.spec.model),
          securityContext: containerSecurityContext(),
        },
      ]
    : undefined;

  const setLabel: Record<string, string> = set === '' ? {} : { [LABEL_MODEL_SET]: set };
  const podLabels = { ...labels(stack, pool), ...setLabel };
  // A new set beside the live one starts at the live set's count (the HPA scales the live set).
  const replicas = startReplicas ?? (p.autoscaling ? undefined : p.replicas);
  const replicasFrom = startReplicas !== undefined ? 'the live set' : `spec.${pool}.replicas`;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: childNames.poolSet(stack, pool, set),
      namespace: stack.namespace,
      labels: podLabels,
      ...(replicas === undefined ? {} : { annotations: { [REPLICAS_ANNOTATION]: replicasFrom } }),
      ownerReferences: [ownerReference(stack)],
    },
    spec: {
      // An HPA owns the count when autoscaling is on; setting it here too would make them fight.
      ...(replicas === undefined ? {} : { replicas }),
      revisionHistoryLimit: 3,
      selector: { matchLabels: { ...selectorLabels(stack, pool), ...setLabel } },
      template: {
        metadata: {
          labels: { ...podLabels, [LABEL_SERVICE]: childNames.pool(stack, pool) },
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(METRICS_PORT),
            'prometheus.io/path': '/metrics',
            ...(version ? { [MODEL_VERSION_ANNOTATION]: version } : {}),
          },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: p.terminationGracePeriodSeconds,
          securityContext: podSecurityContext(),
          ...(initContainers ? { initContainers } : {}),
          containers: [server],
          volumes: [{ name: 'tmp', emptyDir: {} }, ...model.volumes],
          ...(tolerations.length > 0 ? { tolerations } : {}),
          ...(p.nodeSelector ? { nodeSelector: p.nodeSelector } : {}),
          ...(p.affinity ? { affinity: p.affinity } : {}),
        },
      },
    },
  };
}
