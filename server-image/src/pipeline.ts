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
 * The model's own session.run time, summed as its onRun reports it, read once per completed
 * batch. Batches complete in the order they were asked for (one thread runs them), and a batch's
 * run times are reported just before its outputs come back, so what was reported since the
 * last completed batch is the one that just completed.
 */
export class OwnRunTime {
  /** Reported since the last read: summed afresh each time, so one report reads back as it came. */
  private pendingMs = 0;
  private reports = 0;

  add(seconds: number): void {
    this.pendingMs += seconds * 1000;
    this.reports++;
  }

  /** Run time reported since the last call, ms; undefined when nothing was (a model without onRun). */
  sinceLast(): number | undefined {
    if (this.reports === 0) return undefined;
    const ms = this.pendingMs;
    this.pendingMs = 0;
    this.reports = 0;
    return ms;
  }
}

/**
 * The model's onRun: each batch's session.run time into servingstack_inference_duration_seconds,
 * once `counting()` says so (warm-up runs are not traffic), and into `own` always.
 */
export function observeRuns(
  config: Pick<Config, 'modelName' | 'pool'>,
  metrics: Metrics,
  counting: () => boolean,
  own?: OwnRunTime,
): (seconds: number) => void {
  const runs = metrics.inferenceDuration.labels({ model: config.modelName, pool: config.pool });
  return (seconds) => {
    own?.add(seconds);
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
  own?: OwnRunTime,
): ModelBatcher {
  const labels = { model: config.modelName, pool: config.pool };
  const batchSize = metrics.batchSize.labels(labels);
  const queueDepth = metrics.queueDepth.labels(labels);
  const sizeLimit = metrics.batchSizeLimit.labels(labels);
  const delayLimit = metrics.batchDelay.labels(labels);
  queueDepth.set(0);
  let batchRows = 0;
  const lag = config.inferenceThread === 'worker' ? new LoopLag() : undefined;
  // Batches of this batcher in the model now, and the own run time of the last one to complete.
  let running = 0;
  let lastOwnMs: number | undefined;
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
    ...(own ? { ownRunMs: () => lastOwnMs } : {}),
    run: async (inputs) => {
      // onBatch said this batch's rows just before the batcher called run.
      const rows = batchRows;
      const started = performance.now();
      // Runs reported while none of ours was in the model (warm-up) belong to no batch.
      if (running++ === 0) own?.sinceLast();
      let outputs: Array<Feeds | Error>;
      try {
        outputs = await model.runBatch(inputs);
      } finally {
        running--;
        // Read even when the batch failed, so that its runs are not charged to the next one.
        lastOwnMs = own?.sinceLast();
      }
      metrics.stats.ran(rows, lastOwnMs ?? performance.now() - started);
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
