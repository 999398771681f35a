// Warm-up before readiness: run the model at each batch size the batcher can form (up to a
// bound), so the first real requests do not pay for allocations and kernel selection, and time
// those runs to seed the cost model. Dimensions the model leaves open besides the batch (image
// sizes, sequence lengths) have no natural value: they come from declared shapes (WARMUP_SHAPES),
// and without them there is no warm-up, which the server logs.
import { ConfigError, warmupSizes } from './config.ts';
import type { WarmupShape } from './config.ts';
import type { RunSample } from './cost-model.ts';
import type { Feeds, Model, TensorSpec } from './model.ts';
import { allocate } from './tensor/datatypes.ts';

type WarmModel = Pick<Model, 'inputs' | 'batched' | 'runBatch'>;

/** One warm-up run: its rows and, for the cost model, its work and time. */
export interface WarmupRun extends RunSample {
  rows: number;
}

/**
 * The per-row shapes (whole shapes for a model that does not batch) warm-up runs with, one case
 * per declared shape, or the model's own when nothing but the batch is open; `open` lists the
 * inputs with open dimensions when there is neither.
 */
export function warmupCases(
  model: Pick<Model, 'inputs' | 'batched'>,
  declared: readonly WarmupShape[],
): { cases: WarmupShape[] } | { open: string[] } {
  const rowShape = (s: TensorSpec) => s.shape.slice(model.batched ? 1 : 0);
  if (declared.length === 0) {
    const open = model.inputs.filter((s) => rowShape(s).some((d) => d < 0));
    if (open.length > 0) return { open: open.map((s) => `'${s.name}' [${s.shape.join(',')}]`) };
    return { cases: [Object.fromEntries(model.inputs.map((s) => [s.name, rowShape(s)]))] };
  }
  declared.forEach((c, i) => {
    const what = `case ${i + 1}`;
    const unknown = Object.keys(c).filter((name) => !model.inputs.some((s) => s.name === name));
    if (unknown.length > 0) {
      throw new ConfigError(
        'WARMUP_SHAPES',
        `${what} names ${unknown.map((n) => `'${n}'`).join(', ')}; the model's inputs are ${model.inputs.map((s) => `'${s.name}'`).join(', ')}`,
      );
    }
    for (const spec of model.inputs) {
      const dims = c[spec.name];
      const want = rowShape(spec);
      if (!dims) throw new ConfigError('WARMUP_SHAPES', `${what} has no shape for input '${spec.name}'`);
      if (dims.length !== want.length || dims.some((d, j) => want[j]! >= 0 && want[j] !== d)) {
        throw new ConfigError(
          'WARMUP_SHAPES',
          `${what}: input '${spec.name}' [${dims.join(',')}] does not fit the model's [${want.join(',')}]` +
            (model.batched ? ' (shapes leave out the batch dimension)' : ''),
        );
      }
    }
  });
  return { cases: [...declared] };
}

/** Timings per size the cost model is seeded with (their median), time permitting. */
export const WARMUP_TIMINGS = 3;
/**
 * Time after which warm-up stops repeating passes, ms: the first pass always runs whole (every
 * size is warmed), the repeats only while warm-up has taken less than this, so a large model or
 * many shapes add at most about one pass to the start.
 */
export const WARMUP_REPEAT_BUDGET_MS = 5000;

/**
 * Runs every case at each batch size the batcher can form (up to `limit` sizes), timed: a size
 * timed once on a shared machine can be ten times off, so the whole pass is repeated (sizes
 * interleaved, so that a slow moment hits different sizes each time) up to WARMUP_TIMINGS times
 * within WARMUP_REPEAT_BUDGET_MS, and each size reports the median of its timings.
 */
export async function warmUp(
  model: WarmModel,
  cases: readonly WarmupShape[],
  maxBatchSize: number,
  limit: number,
  budgetMs = WARMUP_REPEAT_BUDGET_MS,
  now: () => number = () => performance.now(),
): Promise<WarmupRun[]> {
  const sizes = model.batched ? warmupSizes(maxBatchSize, limit) : [1];
  const started = now();
  const timings: WarmupRun[][] = [];
  for (let pass = 0; pass < WARMUP_TIMINGS && (pass === 0 || now() - started < budgetMs); pass++) {
    const runs: WarmupRun[] = [];
    for (const c of cases) {
      // The first run of a shape pays for allocations and kernel choice: not a cost to plan with.
      if (pass === 0) await runOnce(model, c, sizes[0]!, now);
      for (const rows of sizes) runs.push(await runOnce(model, c, rows, now));
    }
    timings.push(runs);
  }
  return timings[0]!.map((r, i) => ({ ...r, ms: median(timings.map((t) => t[i]!.ms)) }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function runOnce(
  model: WarmModel,
  c: WarmupShape,
  rows: number,
  now: () => number,
): Promise<WarmupRun> {
  const feeds: Feeds = {};
  let work = 0;
  for (const spec of model.inputs) {
    const shape = model.batched ? [rows, ...c[spec.name]!] : c[spec.name]!;
    const length = shape.reduce((n, d) => n * d, 1);
    feeds[spec.name] = { data: allocate(spec.datatype, length), shape };
    work += length;
  }
  const started = now();
  const [result] = await model.runBatch([feeds]);
  const ms = now() - started;
  if (result instanceof Error) {
    throw new Error(`warm-up failed at shape ${JSON.stringify(c)}, ${rows} row(s): ${result.message}`);
  }
  return { rows, work, ms };
}
