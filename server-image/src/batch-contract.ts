// Whether requests may be stacked into one run, Triton's max_batch_size contract: dimension 0 is
// the batch dimension of every input and every output, so a run's outputs have one row per input
// row, in order. An open first dimension alone does not say that: a detection model's outputs
// have one row per detection (NonZero, then Transpose), a time-major model's inputs are
// [seq, batch, ...]. Stacking those hands one caller's rows to another. So batching is on only
// when the model's own dimension names say so (one symbolic name on dimension 0 everywhere, and
// no batch-like name elsewhere), or when the operator says so (BATCH_DIMENSION=first); and every
// batch's outputs are checked to have as many rows as the batch (checkRows).

export type BatchDimension = 'auto' | 'first' | 'none';
export const BATCH_DIMENSIONS: readonly BatchDimension[] = ['auto', 'first', 'none'];

export interface DeclaredTensor {
  name: string;
  /** As onnxruntime reports it: a number for a fixed size, a string for a symbolic one. */
  shape: readonly (number | string)[];
}

export interface BatchContract {
  batched: boolean;
  /** Why, in words for the log and the model metadata. */
  reason: string;
}

/** Names exporters give a batch dimension; one of them past dimension 0 means a batch elsewhere. */
const BATCH_LIKE = /^(n|b|bs|batch|batch[_-]?size|num[_-]?batch(es)?|.*[_-]batch)$/i;

export function batchContract(
  inputs: readonly DeclaredTensor[],
  outputs: readonly DeclaredTensor[],
  setting: BatchDimension,
): BatchContract {
  const tensors = [
    ...inputs.map((t) => ({ ...t, kind: 'input' })),
    ...outputs.map((t) => ({ ...t, kind: 'output' })),
  ];
  const label = (t: { kind: string; name: string }) => `${t.kind} '${t.name}'`;
  if (setting === 'none') return { batched: false, reason: 'BATCH_DIMENSION=none' };
  if (setting === 'first') {
    const fixed = tensors.find((t) => t.shape.length === 0 || typeof t.shape[0] === 'number');
    if (fixed) {
      throw new Error(
        `BATCH_DIMENSION=first, but ${label(fixed)} has ${fixed.shape.length === 0 ? 'no dimensions' : `a fixed dimension 0 (${fixed.shape[0]})`}`,
      );
    }
    return { batched: true, reason: 'BATCH_DIMENSION=first: dimension 0 is the batch, as configured' };
  }
  const off = (why: string): BatchContract => ({
    batched: false,
    reason: `${why}; set BATCH_DIMENSION=first if dimension 0 is the batch of every input and output`,
  });
  const first = tensors[0];
  if (!first) return off('the model has no tensors');
  for (const t of tensors) {
    const d0 = t.shape[0];
    if (d0 === undefined) return off(`${label(t)} has no dimensions`);
    if (typeof d0 === 'number') return off(`${label(t)} has a fixed dimension 0 (${d0})`);
    if (d0 === '') return off(`${label(t)} has an unnamed dimension 0`);
    if (d0 !== first.shape[0]) {
      return off(`${label(t)} has dimension 0 '${d0}', ${label(first)} '${String(first.shape[0])}'`);
    }
    const elsewhere = t.shape.findIndex((d, i) => i > 0 && typeof d === 'string' && BATCH_LIKE.test(d));
    if (elsewhere > 0) {
      return off(
        `${label(t)} names dimension ${elsewhere} '${String(t.shape[elsewhere])}': the batch is not first`,
      );
    }
  }
  return { batched: true, reason: `dimension 0 is '${String(first.shape[0])}' on every input and output` };
}

/**
 * Why a batch's outputs cannot be cut back into its requests (an output whose dimension 0 is not
 * the batch's row count), or undefined when they can.
 */
export function checkRows(
  outputs: Record<string, { shape: readonly number[] }>,
  rows: number,
): string | undefined {
  for (const [name, out] of Object.entries(outputs)) {
    if (out.shape[0] !== rows) {
      return `output '${name}' came back with ${out.shape[0] ?? 'no'} rows for a batch of ${rows}`;
    }
  }
  return undefined;
}
