// The batch size and delay the batcher works with. Without a latency target they are the
// configured maxima. With one (TARGET_P95_MS), a controller moves the size on what batches show,
// started and bounded by the cost model (Triton's and Clipper's adaptive batching together):
//
// The cost model gives the size to start from: under saturation a request joins a forming batch,
// waits for the batches the model already holds and then runs with its own: about (batches in
// flight + 1) runs of a full batch, plus the delay; the largest size whose runs fit that into the
// target, whatever time is left over spent waiting for a batch to fill. When the measured arrival
// rate is above what that size serves, it gives the size whose runs serve the most rows per second.
//
// A model alone is not enough: warm-up timings on a shared machine are noisy, upper estimates
// widen under load, and a closed loop of clients never arrives faster than it is served, so a
// model that says "one row" stays at one row while 63 requests queue (the committed bench at 64
// clients: 156 req/s adaptive, 316 static). So the size follows evidence, as Clipper's AIMD does:
// it grows while batches leave a backlog (full, with rows left behind: rows arrive faster than
// this size serves them), because queueing is then what makes requests late and larger batches
// serve more; it shrinks when the measured p95 of queue wait plus run is over the target without
// a backlog (the runs themselves are too long); it probes back up towards the model's size.
// Shrinking under a backlog, as AIMD does when the p95 it sees includes the queue, would only
// lower throughput; deadlines and the queue bound answer overload.
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
  const { batchSize, delayMs } = modelLimits(opts, cost, workPerRow, arrivalsPerMs);
  return { batchSize, delayMs };
}

/** adaptiveLimits, and whether the arrival rate made it choose for throughput. */
function modelLimits(
  opts: BatchSizeOptions & { targetP95Ms: number },
  cost: Pick<RunCost, 'upperMs' | 'expectedMs'>,
  workPerRow: number,
  arrivalsPerMs: number,
): BatchLimits & { overloaded: boolean } {
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
    return { batchSize: best, delayMs: 0, overloaded: true };
  }
  return {
    batchSize: lo,
    delayMs: Math.min(opts.maxDelayMs, Math.max(0, budget - latency(lo))),
    overloaded: false,
  };
}

/** `from`, the powers of two above it and `to`: enough points of a smooth cost curve. */
function candidateSizes(from: number, to: number): number[] {
  const sizes = [from, to];
  for (let p = 1; p < to; p *= 2) if (p > from) sizes.push(p);
  return sizes;
}

/** What one batch showed the size controller. */
export interface BatchOutcome {
  /**
   * The batch took all the rows the size allowed and rows that could have joined it were left
   * queued: rows arrive faster than batches of this size serve them.
   */
  backlog: boolean;
  /** With a backlog: the rows that were waiting when the batch was formed, its own included. */
  waitingRows?: number;
  /** How long the model sat idle before this batch, ms (unknown: treated as idle). */
  idleMs?: number;
  /** Each of its requests' time from arrival here to the end of the run, ms. */
  latenciesMs: readonly number[];
}

/** Growth per interval while a backlog persists (multiplicative: 1 → 64 in about ten steps). */
const GROWTH = 1.5;
/** Cut when the measured p95 is over the target without a backlog (AIMD's decrease). */
const SHRINK = 0.75;
/**
 * How long a size that left a backlog bounds cuts, ms: below it rows arrived faster than batches
 * served them, so a cut there would only lower throughput. Under a closed loop at capacity (the
 * bench's 64 clients) the p95 is over the target at every size; without this the size would be cut
 * and regrown over and over, each cut costing throughput.
 */
const BACKLOG_MEMORY_MS = 5000;
/**
 * Share of an interval the model must have sat idle for a p95 over the target to cut the size.
 * A model busy all the time is at capacity: requests are late for want of throughput (a closed
 * loop of N clients waits N ÷ throughput whatever the size), and a cut would lower it further.
 */
const IDLE_SHARE = 0.1;
/** Request latencies needed before their p95 may cut the size. */
const MIN_SAMPLES = 20;
/** Request latencies kept for the p95: at most this many, of the current size, from the last second. */
const WINDOW = 512;
const WINDOW_MS = 1000;
/**
 * A step to a larger batch that the cost model says serves fewer rows per second than this share
 * of the current size is not taken. Loose on purpose: the model sees only the run, while the
 * per-batch costs around it (gathering inputs, handing them to the worker, answering) favour
 * larger batches; on the bench's classifier the model priced 64 rows at 0.7 times the rows per
 * second of 7, and the server served more at 64.
 */
const NO_WORSE = 0.75;

/**
 * The working batch size when adaptive: a controller on what batches show, started and bounded by
 * the cost model.
 *   - After warm-up, and while nothing says otherwise, the size the cost model fits in the target.
 *   - Backlog (half the batches in an interval or more full with rows left behind, or an arrival
 *     rate above what the size serves by the cost model): grow to the rows seen waiting, or else
 *     by half, unless the cost model says the step serves clearly fewer rows per second. Queueing, not the run, is what makes requests
 *     late then, and a larger batch serves more: so a closed loop of many clients gets the
 *     throughput of large batches even when warm-up timings or a noisy machine put the model's
 *     size at one.
 *   - No batch with a backlog, the model idle part of the time (below capacity), and the measured
 *     p95 of queue wait plus run over the planned share of the target: cut by a quarter (the runs
 *     themselves are too long), but not to a size that left a backlog in the last
 *     BACKLOG_MEMORY_MS (there, no size keeps the target: throughput is what helps).
 *   - Otherwise, below the model's size: add one per interval (AIMD's probe), up to it.
 * Decisions are made at most every `intervalMs`; the delay is what the target leaves at that size
 * (none while backlogged: batches fill without it).
 */
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
  /** Batches since the last decision, and how many of them left a backlog. */
  private runs = 0;
  private backlogged = 0;
  /** The most rows seen waiting behind a full batch since the last decision. */
  private demand = 0;
  /** The model's idle time since the last decision, ms (Infinity: unknown). */
  private idleMs = 0;
  /** The largest size that left a backlog lately, and when. */
  private backlogSize = 0;
  private backlogAt = -Infinity;
  /** Request latencies at the current size, ms, and when each ended. */
  private latencies: number[] = [];
  private latenciesAt: number[] = [];
  /**
   * The size in input elements: rows that grow (open shapes) shrink the batch in rows with them,
   * as the cost model prices them, without waiting for the p95 to say so.
   */
  private sizeWork = 0;

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
  update(now: number, rows: number, work: number, outcome?: BatchOutcome): void {
    if (!this.adaptive || rows === 0) return;
    const perRow = work / rows;
    this.workPerRow = this.workPerRow === 0 ? perRow : 0.9 * this.workPerRow + 0.1 * perRow;
    if (outcome) {
      this.runs++;
      if (outcome.backlog) this.backlogged++;
      this.demand = Math.max(this.demand, outcome.waitingRows ?? 0);
      this.idleMs += outcome.idleMs ?? Infinity;
      for (const ms of outcome.latenciesMs) {
        this.latencies.push(ms);
        this.latenciesAt.push(now);
      }
    }
    if (now - this.updatedAt < this.intervalMs) return;
    this.decide(now);
  }

  /** From now on batches hold one request: the model's outputs did not split into requests. */
  stopBatching(): void {
    if (this.opts.maxBatchSize === 1) return;
    this.opts = { ...this.opts, maxBatchSize: 1, maxDelayMs: 0 };
    this.limits = { batchSize: 1, delayMs: 0 };
    this.onChange?.(this.limits);
  }

  /** Starts from the cost model's size (after warm-up has seeded it). */
  refresh(now: number, workPerRow: number): void {
    if (!this.adaptive) return;
    if (this.workPerRow === 0) this.workPerRow = workPerRow;
    this.updatedAt = now;
    const model = this.model();
    this.apply(model.batchSize, model.delayMs);
  }

  private model(): BatchLimits & { overloaded: boolean } {
    return modelLimits(
      { ...this.opts, targetP95Ms: this.opts.targetP95Ms! },
      this.cost,
      this.workPerRow,
      this.arrivalsPerMs(),
    );
  }

  private decide(now: number): void {
    const since = this.updatedAt;
    this.updatedAt = now;
    const { maxBatchSize, batchesInFlight } = this.opts;
    const budget = this.opts.targetP95Ms! * TARGET_SHARE;
    // Only recent latencies: those of a load that has passed say nothing about this one.
    let stale = 0;
    while (stale < this.latenciesAt.length && this.latenciesAt[stale]! <= now - WINDOW_MS) stale++;
    stale = Math.max(stale, this.latencies.length - WINDOW);
    this.latencies.splice(0, stale);
    this.latenciesAt.splice(0, stale);
    const model = this.model();
    const size =
      this.sizeWork > 0 && this.workPerRow > 0
        ? Math.max(1, Math.min(maxBatchSize, Math.round(this.sizeWork / this.workPerRow)))
        : this.limits.batchSize;
    const throughput = (rows: number) => rows / Math.max(1e-9, this.cost.expectedMs(rows * this.workPerRow));
    const { overloaded } = model;
    let next = size;
    if (this.runs > 0 && 2 * this.backlogged >= this.runs) {
      this.backlogSize = now - this.backlogAt < BACKLOG_MEMORY_MS ? Math.max(this.backlogSize, size) : size;
      this.backlogAt = now;
    }
    const floor = now - this.backlogAt < BACKLOG_MEMORY_MS ? this.backlogSize + 1 : 1;
    if (overloaded || (this.runs > 0 && 2 * this.backlogged >= this.runs)) {
      // Straight to the rows seen waiting where the model allows (Triton takes what is queued),
      // else by half.
      const grown = Math.min(maxBatchSize, Math.max(size + 1, Math.ceil(size * GROWTH)));
      const demand = Math.min(maxBatchSize, this.demand);
      next =
        [Math.max(demand, grown), grown].find(
          (rows) => rows > size && throughput(rows) >= NO_WORSE * throughput(size),
        ) ?? size;
      if (overloaded) next = Math.max(next, model.batchSize);
    } else if (
      this.backlogged === 0 &&
      this.idleMs >= IDLE_SHARE * (now - since) &&
      this.latencies.length >= MIN_SAMPLES &&
      percentile95(this.latencies) > budget
    ) {
      next = Math.min(size, Math.max(floor, Math.floor(size * SHRINK)));
    } else if (size < model.batchSize) {
      next = size + 1;
    }
    this.runs = 0;
    this.backlogged = 0;
    this.demand = 0;
    this.idleMs = 0;
    const backlog = next > size;
    const latency = (batchesInFlight + 1) * this.cost.upperMs(next * this.workPerRow);
    this.apply(next, backlog ? 0 : Math.min(this.opts.maxDelayMs, Math.max(0, budget - latency)));
  }

  private apply(batchSize: number, delayMs: number): void {
    this.sizeWork = batchSize * this.workPerRow;
    if (batchSize !== this.limits.batchSize) {
      this.latencies = [];
      this.latenciesAt = [];
    }
    if (batchSize === this.limits.batchSize && Math.abs(delayMs - this.limits.delayMs) < 0.05) return;
    this.limits = { batchSize, delayMs };
    this.onChange?.(this.limits);
  }
}

function percentile95(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]!;
}
