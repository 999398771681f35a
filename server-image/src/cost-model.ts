// How long things take, for deadline admission, for closing batches in time and for the adaptive
// batch size:
//   - RunCost: how long a batch runs, from the work it holds (input elements, so that a batch of 8
//     rows and one large image are both priced), fitted to every run the batcher sees and seeded
//     by warm-up. Runs are kept by size (half-octave buckets) and a prediction fits a line to the
//     sizes near the one asked for, weighted by closeness: run time is rarely one straight line
//     from one row to a huge image (a GPU is flat, then linear; caches change the slope), and one
//     huge run must not reprice small ones;
//   - ArrivalRate: rows arriving per millisecond;
//   - completionEstimate: when a request of N rows would finish behind a queue.
// Both estimators age with time, not with traffic: an observation's weight halves every half-life
// whether or not anything else happens, so one slow run (a large input, a pause of the machine)
// fades even on an idle server instead of pricing every later request until something runs.
// Warm-up samples never age: an idle server's estimate returns to what warm-up measured. They are
// cleaned when seeded, since one warm-up timing on a shared machine can be ten times its neighbours
// (one size timed at 5.2, 20.3 and 1.3 ms in three warm-ups): repeated timings of a size count by
// their median, a size far off the line through its neighbours is replaced by the median of the
// three, and run time is made non-decreasing in work. While a size has fresh live runs, those
// replace its warm-up figure rather than average with it (the seed's weight shrinks as 1 / (1 + live
// weight)), so a warm-up figure that was wrong stops counting once the size has run a few times.

export interface RunSample {
  /** Input elements in the batch (every input's element count, summed). */
  work: number;
  /** Wall time of the batch, ms. */
  ms: number;
}

export interface RunCostOptions {
  now: () => number;
  /** Time in which an observation loses half its weight (default 10 s). */
  halfLifeMs?: number;
}

/** Weighted means and co-moments of (work, ms); merging and ageing keep them exact. */
interface Moments {
  w: number;
  mx: number;
  my: number;
  cxx: number;
  cxy: number;
}

const none = (): Moments => ({ w: 0, mx: 0, my: 0, cxx: 0, cxy: 0 });

function add(m: Moments, x: number, y: number, weight: number): void {
  const w = m.w + weight;
  const dx = x - m.mx;
  m.mx += (weight * dx) / w;
  m.my += (weight * (y - m.my)) / w;
  m.cxx += weight * dx * (x - m.mx);
  m.cxy += weight * dx * (y - m.my);
  m.w = w;
}

function merge(a: Moments, b: Moments): Moments {
  const w = a.w + b.w;
  if (a.w === 0) return b;
  if (b.w === 0) return a;
  const dx = b.mx - a.mx;
  const dy = b.my - a.my;
  return {
    w,
    mx: a.mx + (dx * b.w) / w,
    my: a.my + (dy * b.w) / w,
    cxx: a.cxx + b.cxx + (dx * dx * a.w * b.w) / w,
    cxy: a.cxy + b.cxy + (dx * dy * a.w * b.w) / w,
  };
}

/** The same moments with every weight times `k`. */
const scaled = (m: Moments, k: number): Moments => ({ ...m, w: m.w * k, cxx: m.cxx * k, cxy: m.cxy * k });

/** Half-octave buckets of work. */
const bucketOf = (work: number) => (work < 1 ? 0 : 1 + Math.floor(Math.log2(work) * 2));

/**
 * A weight that fades a fit with no recent evidence towards 0 ms: an estimate resting on one
 * observation 7 half-lives old counts half. Admission then errs towards trying a request.
 */
const FORGET_WEIGHT = 0.01;
/** Prior for the mean overrun (run time above the line, relative), before runs say otherwise. */
const PRIOR_EXCESS = 0.1;
/**
 * The planning margin, in mean overruns: for normally distributed run times the mean overrun is
 * 0.4 σ, so four of them put the upper estimate near the 95th percentile.
 */
const EXCESS_FACTOR = 4;
/** Live buckets lighter than this are dropped. */
const NEGLIGIBLE = 1e-6;

export class RunCost {
  private readonly now: () => number;
  private readonly halfLifeMs: number;
  private readonly seeded = new Map<number, Moments>();
  private readonly live = new Map<number, Moments>();
  /** Weighted sum of relative overruns of live runs, and the weight it is over; aged like `live`. */
  private excess = 0;
  private excessWeight = 0;
  private agedAt: number;

  constructor(opts: RunCostOptions) {
    this.now = opts.now;
    this.halfLifeMs = opts.halfLifeMs ?? 10_000;
    this.agedAt = opts.now();
  }

  /** Warm-up runs: the estimate an idle server returns to, cleaned of outliers (see top). */
  seed(samples: readonly RunSample[]): void {
    for (const s of robustSeeds(samples)) add(bucket(this.seeded, s.work), s.work, s.ms, 1);
  }

  /** One run as the batcher saw it. */
  observe(work: number, ms: number): void {
    const predicted = this.expectedMs(work);
    if (predicted > 0) {
      // Capped so one pathological run cannot make every later estimate useless.
      this.excess += Math.min(10, Math.max(0, ms - predicted) / predicted);
      this.excessWeight += 1;
    }
    add(bucket(this.live, work), work, ms, 1);
  }

  /** The run time to expect for a batch holding `work` input elements, ms (0 with no data). */
  expectedMs(work: number): number {
    this.age();
    const sizes: Moments[] = [];
    for (const [b, m] of this.seeded) {
      const l = this.live.get(b);
      // Fresh live runs of this size replace its warm-up figure; as they age, it returns.
      sizes.push(l ? merge(scaled(m, 1 / (1 + l.w)), l) : m);
    }
    for (const [b, m] of this.live) if (!this.seeded.has(b)) sizes.push(m);
    let total = 0;
    let nearest = Infinity;
    const at = Math.log2(Math.max(1, work));
    const distance2 = sizes.map((m) => {
      total += m.w;
      const d2 = (at - Math.log2(Math.max(1, m.mx))) ** 2;
      nearest = Math.min(nearest, d2);
      return d2;
    });
    if (total === 0) return 0;
    // Sizes weigh by closeness in octaves (the nearest counts fully), so a prediction far from
    // every observation still extrapolates from the nearest ones.
    let fit = none();
    sizes.forEach((m, i) => (fit = merge(fit, scaled(m, Math.exp(-(distance2[i]! - nearest) / 2)))));
    const { fixed, perWork } = line(fit);
    return ((fixed + perWork * work) * total) / (total + FORGET_WEIGHT);
  }

  /** A run time that few runs exceed: what deadlines are planned with, ms. */
  upperMs(work: number): number {
    const meanExcess = (this.excess + PRIOR_EXCESS) / (this.excessWeight + 1);
    return this.expectedMs(work) * (1 + EXCESS_FACTOR * meanExcess);
  }

  private age(): void {
    const now = this.now();
    const elapsed = now - this.agedAt;
    if (elapsed <= 0) return;
    this.agedAt = now;
    const f = 2 ** (-elapsed / this.halfLifeMs);
    for (const [b, m] of this.live) {
      if (m.w * f < NEGLIGIBLE) this.live.delete(b);
      else this.live.set(b, scaled(m, f));
    }
    this.excess *= f;
    this.excessWeight *= f;
  }
}

/** Sizes whose neighbours are this close (in octaves of work) say what the size should cost. */
const NEIGHBOUR_OCTAVES = 2;

const median3 = (a: number, b: number, c: number) => Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));

/**
 * Warm-up samples fit to plan with: one per work size (the median of its timings), each replaced by
 * the median of itself, its neighbours' figures and the line through them where both neighbours
 * are close (at the ends, the line through the two nearest: Tukey's end-point rule), then made
 * non-decreasing in work (pool-adjacent-violators). A lone far size (one huge input) is kept.
 */
export function robustSeeds(samples: readonly RunSample[]): RunSample[] {
  const byWork = new Map<number, number[]>();
  for (const s of samples) {
    if (!(s.ms >= 0) || !(s.work >= 0)) continue;
    const list = byWork.get(s.work) ?? [];
    list.push(s.ms);
    byWork.set(s.work, list);
  }
  const pts = [...byWork].map(([work, ms]) => ({ work, ms: median(ms) })).sort((a, b) => a.work - b.work);
  const close = (a: RunSample, b: RunSample) =>
    Math.abs(Math.log2(Math.max(1, a.work)) - Math.log2(Math.max(1, b.work))) <= NEIGHBOUR_OCTAVES;
  const at = (a: RunSample, b: RunSample, work: number) =>
    a.work === b.work ? a.ms : a.ms + ((b.ms - a.ms) * (work - a.work)) / (b.work - a.work);
  const cleaned = pts.map((p, i) => {
    const prev = pts[i - 1];
    const next = pts[i + 1];
    if (prev && next && close(prev, p) && close(p, next)) return median3(prev.ms, p.ms, next.ms);
    const [a, b] = !prev ? [next, pts[i + 2]] : !next ? [prev, pts[i - 2]] : [undefined, undefined];
    if (a && b && close(p, a) && close(a, b)) return Math.max(0, median3(p.ms, a.ms, at(a, b, p.work)));
    return p.ms;
  });
  // Pool-adjacent-violators: the least-squares non-decreasing fit.
  const blocks: { sum: number; n: number }[] = [];
  for (const ms of cleaned) {
    blocks.push({ sum: ms, n: 1 });
    while (
      blocks.length > 1 &&
      blocks.at(-2)!.sum / blocks.at(-2)!.n > blocks.at(-1)!.sum / blocks.at(-1)!.n
    ) {
      const last = blocks.pop()!;
      blocks.at(-1)!.sum += last.sum;
      blocks.at(-1)!.n += last.n;
    }
  }
  const fitted = blocks.flatMap((b) => Array<number>(b.n).fill(b.sum / b.n));
  return pts.map((p, i) => ({ work: p.work, ms: fitted[i]! }));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function bucket(buckets: Map<number, Moments>, work: number): Moments {
  const b = bucketOf(work);
  let m = buckets.get(b);
  if (!m) buckets.set(b, (m = none()));
  return m;
}

/** Least-squares line through the moments, kept physical: never negative, never falling. */
function line(m: Moments): { fixed: number; perWork: number } {
  const vxx = m.cxx / m.w;
  // Runs of (nearly) one size say nothing about the slope: price work in proportion.
  if (vxx <= 1e-4 * m.mx * m.mx) {
    return m.mx > 0 ? { fixed: 0, perWork: m.my / m.mx } : { fixed: m.my, perWork: 0 };
  }
  const perWork = m.cxy / m.cxx;
  if (perWork < 0) return { fixed: m.my, perWork: 0 };
  const fixed = m.my - perWork * m.mx;
  if (fixed >= 0) return { fixed, perWork };
  // A negative intercept: refit through the origin.
  const sxx = m.cxx + m.w * m.mx * m.mx;
  const sxy = m.cxy + m.w * m.mx * m.my;
  return { fixed: 0, perWork: sxy / sxx };
}

export interface ArrivalRateOptions {
  now: () => number;
  /** Time in which an arrival loses half its weight (default 1 s). */
  halfLifeMs?: number;
}

/** Rows arriving per millisecond, as an exponentially decaying count. */
export class ArrivalRate {
  private readonly now: () => number;
  /** Mean lifetime of an arrival's weight: a steady rate r leaves r × tau in `count`. */
  private readonly tau: number;
  private count = 0;
  private at: number;
  /** When the last rows arrived (-Infinity before any). */
  lastAt = -Infinity;

  constructor(opts: ArrivalRateOptions) {
    this.now = opts.now;
    this.tau = (opts.halfLifeMs ?? 1000) / Math.LN2;
    this.at = opts.now();
  }

  observe(rows: number): void {
    this.decay();
    this.count += rows;
    this.lastAt = this.at;
  }

  perMs(): number {
    this.decay();
    return this.count / this.tau;
  }

  private decay(): void {
    const now = this.now();
    if (now > this.at) {
      this.count *= Math.exp(-(now - this.at) / this.tau);
      this.at = now;
    }
  }
}

export interface QueueState {
  /** Time until the model has finished what it was already given, ms. */
  busyMs: number;
  /** Rows queued that will run before the new request (same or higher priority). */
  rowsAhead: number;
  /** Rows per batch the batcher forms now. */
  batchSize: number;
}

export interface CompletionEstimate {
  /** Until the request's batch starts, ms. */
  waitMs: number;
  /** The request's batch's run, planned with the upper estimate, ms. */
  runMs: number;
}

/**
 * When a request of `rows` rows (`workPerRow` elements each) would finish if it joined `queue`
 * now: it waits for what the model is busy with and for the full batches ahead of it (at the
 * expected run time: several runs average out), then its own batch runs (at the upper estimate).
 */
export function completionEstimate(
  cost: Pick<RunCost, 'expectedMs' | 'upperMs'>,
  queue: QueueState,
  rows: number,
  workPerRow: number,
): CompletionEstimate {
  const size = Math.max(1, queue.batchSize);
  const batchesAhead = Math.floor(queue.rowsAhead / size);
  const ownRows = Math.min(size, Math.max(rows, queue.rowsAhead - batchesAhead * size + rows));
  return {
    waitMs: Math.max(0, queue.busyMs) + batchesAhead * cost.expectedMs(size * workPerRow),
    runMs: cost.upperMs(ownRows * workPerRow),
  };
}
