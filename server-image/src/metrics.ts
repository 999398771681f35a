// Prometheus metrics named in DESIGN.md, labelled by model and pool, on a registry of their
// own (so tests can build several apps in one process) with the default process metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ModelStats } from './triton/model-stats.ts';

export interface Metrics {
  registry: Registry;
  requests: Counter<'model' | 'pool' | 'code'>;
  requestDuration: Histogram<'model' | 'pool'>;
  queueDuration: Histogram<'model' | 'pool'>;
  inferenceDuration: Histogram<'model' | 'pool'>;
  workerQueueDuration: Histogram<'model' | 'pool'>;
  batchSize: Histogram<'model' | 'pool'>;
  queueDepth: Gauge<'model' | 'pool'>;
  batchSizeLimit: Gauge<'model' | 'pool'>;
  batchDelay: Gauge<'model' | 'pool'>;
  deadlineMissed: Counter<'model' | 'pool' | 'code'>;
  /** 1, labelled by the model version the server loaded (model-version.ts) and its precision. */
  modelInfo: Gauge<'model' | 'pool' | 'version' | 'precision'>;
  /** The same measurements as Triton's statistics extension reports them (not Prometheus). */
  stats: ModelStats;
}

// From 0.5 ms (a small model's whole request) to 10 s (a long batch behind a full queue).
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// A batch's run alone starts far lower: 0.1 ms covers a small model's single row on CPU.
const RUN_BUCKETS = [0.0001, 0.00025, ...LATENCY_BUCKETS];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ['model', 'pool'] as const;
  return {
    registry,
    stats: new ModelStats(),
    requests: new Counter({
      name: 'servingstack_requests_total',
      help: 'Inference requests answered, by HTTP status code.',
      labelNames: [...labelNames, 'code'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'servingstack_request_duration_seconds',
      help: 'Time from receiving an inference request to sending its answer.',
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    queueDuration: new Histogram({
      name: 'servingstack_queue_duration_seconds',
      help: 'Time an inference request waited in the batcher queue before its batch ran.',
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    inferenceDuration: new Histogram({
      name: 'servingstack_inference_duration_seconds',
      help:
        'Time the model took to run each batch, measured around the native run itself (no queueing, ' +
        "no wait behind another batch or onnxruntime's deferral, no decoding or HTTP).",
      labelNames,
      buckets: RUN_BUCKETS,
      registers: [registry],
    }),
    workerQueueDuration: new Histogram({
      name: 'servingstack_worker_queue_duration_seconds',
      help:
        'Time each batch waited inside the inference worker thread before its run started: behind ' +
        'the batch running there (pipelining). Only where inference runs on a worker thread.',
      labelNames,
      buckets: RUN_BUCKETS,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'servingstack_batch_size',
      help: 'Rows per batch run by the model.',
      labelNames,
      buckets: BATCH_BUCKETS,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'servingstack_queue_depth',
      help: 'Inference requests waiting in the batcher queue.',
      labelNames,
      registers: [registry],
    }),
    batchSizeLimit: new Gauge({
      name: 'servingstack_batch_size_limit',
      help: 'Rows a batch may hold now: MAX_BATCH_SIZE, or less where the adaptive batch size chose so.',
      labelNames,
      registers: [registry],
    }),
    batchDelay: new Gauge({
      name: 'servingstack_batch_delay_seconds',
      help: 'Longest wait for a batch to fill now: MAX_DELAY_MS, or less where the adaptive batch size chose so.',
      labelNames,
      registers: [registry],
    }),
    deadlineMissed: new Counter({
      name: 'servingstack_deadline_missed_total',
      help: "Inference answers sent after their request's deadline by the server's clock, by HTTP status code.",
      labelNames: [...labelNames, 'code'],
      registers: [registry],
    }),
    modelInfo: new Gauge({
      name: 'servingstack_model_info',
      help: 'Always 1: the model version (content digest, as X-Model-Version) this server loaded, and its precision.',
      labelNames: [...labelNames, 'version', 'precision'],
      registers: [registry],
    }),
  };
}
