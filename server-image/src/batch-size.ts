// The batch size and delay the batcher works with. Without a latency target they are the
// configured maxima. With one (TARGET_P95_MS), they follow the cost model: the largest batch whose
// requests still finish within the target, since a larger batch is more rows per second.
//
// Under saturation a request joins a forming batch, waits for the batches the model already holds
// and then runs with its own: about (batches in flight + 1) runs of a full batch, plus the delay.
// The batch size is the largest whose runs fit that into the target; whatever time is left over
// may be spent waiting for a batch to fill. Clipper's AIMD finds the same size by probing (add
// one while under the target, cut by a tenth when over) and oscillates around it; the cost model
// gives the size directly, moves with the measured run times on every run, and prices larger
// inputs by their size. And it knows the arrival rate: when rows arrive faster than that size can
// serve them, no size keeps the target (queueing dominates), and the highest throughput is what
// helps: the size whose measured runs serve the most rows per second (on a CPU per-row cost often
// grows past some size, so that is not always the largest). Shrinking batches under overload, as
// AIMD does when the p95 it sees includes the queue, would only lower throughput; deadlines and the
// queue bound answer overload.
import type { RunCost } from './cost-model.ts';

export interface BatchSizeOptions {
  maxBatchSize: number;
  maxDelayMs: number;
  /** p95 the batcher aims to keep queue wait plus run under, ms; undefined: static settings. */
  targetP95Ms: number | undefined;
  /** Batches the model may hold at once (pipelining): each is a run a request may wait behind. */
  batchesInFlight: number;
}

/**
 * Share of the target the batcher plans to use: the rest covers reading, decoding and answering
 * requests, and the spread of run times beyond the upper estimate.
 */
export const TARGET_SHARE = 0.8;

export interface BatchLimits {
  batchSize: number;
  delayMs: number;
}

/** Above this share of a batch size's throughput, queues grow: the size no longer keeps up. */
export const UTILISATION = 0.8;

/**
 * The limits for a target, given the cost of a batch, the work in one row and the rows arriving
 * per millisecond.
 */
export function adaptiveLimits(
  opts: BatchSizeOptions & { targetP95Ms: number },
  cost: Pick<RunCost, 'upperMs' | 'expectedMs'>,
  workPerRow: number,
  arrivalsPerMs = 0,
): BatchLimits {
  const budget = opts.targetP95Ms * TARGET_SHARE;
  const latency = (rows: number) => (opts.batchesInFlight + 1) * cost.upperMs(rows * workPerRow);
  // Run time grows with the batch: binary search for the largest size within the budget.
  let lo = 1;
  let hi = opts.maxBatchSize;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (latency(mid) <= budget) lo = mid;
    else hi = mid - 1;
  }
  const throughput = (rows: number) => rows / Math.max(1e-9, cost.expectedMs(rows * workPerRow));
  if (arrivalsPerMs > UTILISATION * throughput(lo)) {
    // Overloaded at this size: the size, from it up, that serves the most rows per second.
    let best = lo;
    for (const rows of candidateSizes(lo, opts.maxBatchSize)) {
      if (throughput(rows) > throughput(best)) best = rows;
    }
    return { batchSize: best, delayMs: 0 };
  }
  return {
    batchSize: lo,
    delayMs: Math.min(opts.maxDelayMs, Math.max(0, budget - latency(lo))),
  };
}

/** `from`, the powers of two above it and `to`: enough points of a smooth cost curve. */
function candidateSizes(from: number, to: number): number[] {
  const sizes = [from, to];
  for (let p = 1; p < to; p *= 2) if (p > from) sizes.push(p);
  return sizes;
}

/** Holds the current limits and recomputes them, at most every `intervalMs`, when adaptive. */
export class BatchSize {
  private opts: BatchSizeOptions;
  private readonly cost: Pick<RunCost, 'upperMs' | 'expectedMs'>;
  private readonly arrivalsPerMs: () => number;
  private readonly intervalMs: number;
  private limits: BatchLimits;
  private updatedAt = -Infinity;
  /** Elements per row of recent batches (inputs vary in size when the model's shapes are open). */
  private workPerRow = 0;
  private readonly onChange: ((limits: BatchLimits) => void) | undefined;

  constructor(
    opts: BatchSizeOptions,
    cost: Pick<RunCost, 'upperMs' | 'expectedMs'>,
    arrivalsPerMs: () => number,
    onChange?: (limits: BatchLimits) => void,
    intervalMs = 100,
  ) {
    this.opts = opts;
    this.cost = cost;
    this.arrivalsPerMs = arrivalsPerMs;
    this.intervalMs = intervalMs;
    this.onChange = onChange;
    this.limits = { batchSize: opts.maxBatchSize, delayMs: opts.maxDelayMs };
    onChange?.(this.limits);
  }

  get adaptive(): boolean {
    return this.opts.targetP95Ms !== undefined && this.opts.maxBatchSize > 1;
  }

  get current(): BatchLimits {
    return this.limits;
  }

  /** Hears a batch that ran; may move the limits. */
  update(now: number, rows: number, work: number): void {
    if (!this.adaptive || rows === 0) return;
    const perRow = work / rows;
    this.workPerRow = this.workPerRow === 0 ? perRow : 0.9 * this.workPerRow + 0.1 * perRow;
    if (now - this.updatedAt < this.intervalMs) return;
    this.set(now);
  }

  /** From now on batches hold one request: the model's outputs did not split into requests. */
  stopBatching(): void {
    if (this.opts.maxBatchSize === 1) return;
    this.opts = { ...this.opts, maxBatchSize: 1, maxDelayMs: 0 };
    this.limits = { batchSize: 1, delayMs: 0 };
    this.onChange?.(this.limits);
  }

  /** Recomputes now (after warm-up has seeded the cost model). */
  refresh(now: number, workPerRow: number): void {
    if (!this.adaptive) return;
    if (this.workPerRow === 0) this.workPerRow = workPerRow;
    this.set(now);
  }

  private set(now: number): void {
    this.updatedAt = now;
    const next = adaptiveLimits(
      { ...this.opts, targetP95Ms: this.opts.targetP95Ms! },
      this.cost,
      this.workPerRow,
      this.arrivalsPerMs(),
    );
    if (next.batchSize === this.limits.batchSize && Math.abs(next.delayMs - this.limits.delayMs) < 0.05)
      return;
    this.limits = next;
    this.onChange?.(next);
  }
}
