// Wires the model to a batcher whose activity feeds the metrics.
import { Batcher } from './batcher.ts';
import type { Clock } from './batcher.ts';
import type { Config } from './config.ts';
import type { Metrics } from './metrics.ts';
import type { Feeds, Model } from './model.ts';

export type ModelBatcher = Batcher<Feeds, Feeds>;

export function createBatcher(
  config: Pick<
    Config,
    'modelName' | 'pool' | 'maxBatchSize' | 'maxDelayMs' | 'maxQueueSize' | 'inferenceThread'
  >,
  model: Pick<Model, 'runBatch' | 'batched'>,
  metrics: Metrics,
  clock?: Clock,
): ModelBatcher {
  const labels = { model: config.modelName, pool: config.pool };
  const batchSize = metrics.batchSize.labels(labels);
  const queueDepth = metrics.queueDepth.labels(labels);
  queueDepth.set(0);
  return new Batcher<Feeds, Feeds>({
    // A model without a batch dimension can only run one request at a time.
    maxBatchSize: model.batched ? config.maxBatchSize : 1,
    maxDelayMs: config.maxDelayMs,
    maxQueueSize: config.maxQueueSize,
    // A model on a worker thread gets the next full batch while it runs one: it then never waits
    // for the main thread between batches (and its caches stay warm).
    maxBatchesInFlight: config.inferenceThread === 'worker' ? 2 : 1,
    run: (inputs) => model.runBatch(inputs),
    onBatch: (rows) => batchSize.observe(rows),
    onQueueDepth: (depth) => queueDepth.set(depth),
    ...(clock ? { clock } : {}),
  });
}
