// Warm-up before readiness: run the model once at each batch size the batcher can form (up
// to a bound), so the first real requests do not pay for allocations and kernel selection.
import { warmupSizes } from './config.ts';
import type { Feeds, Model } from './model.ts';
import { allocate } from './tensor/datatypes.ts';

/** Returns the batch sizes run; empty when the model's shapes leave more than the batch open. */
export async function warmUp(
  model: Pick<Model, 'inputs' | 'batched' | 'runBatch'>,
  maxBatchSize: number,
  limit: number,
): Promise<number[]> {
  // Only the batch dimension may be open: other open dimensions (image sizes, sequence
  // lengths) have no natural value to warm up with.
  const fixed = model.inputs.every((s) => s.shape.slice(model.batched ? 1 : 0).every((d) => d >= 0));
  if (!fixed) return [];
  const sizes = model.batched ? warmupSizes(maxBatchSize, limit) : [1];
  for (const rows of sizes) {
    const feeds: Feeds = {};
    for (const spec of model.inputs) {
      const shape = model.batched ? [rows, ...spec.shape.slice(1)] : spec.shape;
      feeds[spec.name] = {
        data: allocate(
          spec.datatype,
          shape.reduce((n, d) => n * d, 1),
        ),
        shape,
      };
    }
    await model.runBatch([feeds]);
  }
  return sizes;
}
