// Wires the model to a batcher whose activity feeds the metrics, and the model's own run
// times to theirs.
import { Batcher } from './batcher.ts';
import type { Clock } from './batcher.ts';
import type { Config } from './config.ts';
import type { Metrics } from './metrics.ts';
import { LoopLag } from './loop-lag.ts';
import type { Feeds, Model } from './model.ts';

export type ModelBatcher = Batcher<Feeds, Feeds>;

/**
 * Batches a model on a worker thread may hold at once: the one it runs and up to three full
 * ones queued behind it. The main thread hands over the next batch only when it gets a result
 * back, and it can be late by a garbage-collection pause or a burst of I/O (10–30 ms on a busy
 * machine); three batches queued keep the worker computing through such a pause. On a 2-core
 * machine (the classifier of `make bench`, batch 8, 64 clients, interleaved runs) the server
 * reached 0.96× raw session.run with 4, 0.90× with 3 and 0.82× with 2.
 */
export const WORKER_BATCHES_IN_FLIGHT = 4;

/**
 * The model's onRun: each batch's session.run time into servingstack_inference_duration_seconds,
 * once `counting()` says so (warm-up runs are not traffic).
 */
export function observeRuns(
  config: Pick<Config, 'modelName' | 'pool'>,
  metrics: Metrics,
  counting: () => boolean,
): (seconds: number) => void {
  const runs = metrics.inferenceDuration.labels({ model: config.modelName, pool: config.pool });
  return (seconds) => {
    if (counting()) runs.observe(seconds);
  };
}

/** The worker's onWorkerQueue: each batch's wait inside the worker, once `counting()` says so. */
export function observeWorkerQueue(
  config: Pick<Config, 'modelName' | 'pool'>,
  metrics: Metrics,
  counting: () => boolean,
): (seconds: number) => void {
  const waits = metrics.workerQueueDuration.labels({ model: config.modelName, pool: config.pool });
  return (seconds) => {
    if (counting()) waits.observe(seconds);
  };
}

export function createBatcher(
  config: Pick<
    Config,
    'modelName' | 'pool' | 'maxBatchSize' | 'maxDelayMs' | 'maxQueueSize' | 'inferenceThread' | 'targetP95Ms'
  >,
  model: Pick<Model, 'runBatch' | 'batched'>,
  metrics: Metrics,
  clock?: Clock,
): ModelBatcher {
  const labels = { model: config.modelName, pool: config.pool };
  const batchSize = metrics.batchSize.labels(labels);
  const queueDepth = metrics.queueDepth.labels(labels);
  const sizeLimit = metrics.batchSizeLimit.labels(labels);
  const delayLimit = metrics.batchDelay.labels(labels);
  queueDepth.set(0);
  let batchRows = 0;
  const lag = config.inferenceThread === 'worker' ? new LoopLag() : undefined;
  const batcher: ModelBatcher = new Batcher<Feeds, Feeds>({
    // A model without a batch contract runs one request at a time.
    maxBatchSize: model.batched ? config.maxBatchSize : 1,
    maxDelayMs: model.batched ? config.maxDelayMs : 0,
    maxQueueSize: config.maxQueueSize,
    ...(config.targetP95Ms !== undefined ? { targetP95Ms: config.targetP95Ms } : {}),
    // A model on the main thread runs one batch at a time: session.run blocks that thread (and
    // its loop's lag would count the runs twice in deadline admission).
    maxBatchesInFlight: config.inferenceThread === 'worker' ? WORKER_BATCHES_IN_FLIGHT : 1,
    ...(lag ? { loopLagMs: () => lag.ms } : {}),
    run: async (inputs) => {
      // onBatch said this batch's rows just before the batcher called run.
      const rows = batchRows;
      const started = performance.now();
      const outputs = await model.runBatch(inputs);
      metrics.stats.ran(rows, performance.now() - started);
      // The model turns batching off when a batch's outputs did not split into its requests.
      if (!model.batched && inputs.length > 1) batcher.stopBatching();
      return outputs;
    },
    onBatch: (rows) => {
      batchRows = rows;
      batchSize.observe(rows);
    },
    onQueueDepth: (depth) => queueDepth.set(depth),
    onLimits: ({ batchSize: rows, delayMs }) => {
      sizeLimit.set(rows);
      delayLimit.set(delayMs / 1000);
    },
    ...(clock ? { clock } : {}),
  });
  return batcher;
}
