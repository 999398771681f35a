// Dynamic batcher: the one place where scheduling lives (queue, priorities, deadlines, batch
// size). Requests wait in a queue bounded in rows and run together through a caller-supplied
// `run`; the model backend stacks and splits them (model.ts).
//
// When batches run:
//   - at once when the model is idle, unless the arrival rate says the batch will fill before
//     it must close (and arrivals keep coming at that rate): waiting only pays while there is
//     something to wait for;
//   - while a batch runs, requests gather into the next one; it goes when the model is free, or
//     ahead of that (pipelining, `maxBatchesInFlight`) when it is full;
//   - a partial batch closes at the earlier of its oldest request's arrival + the delay and the
//     latest moment one of its requests can start and still meet its deadline.
// Deadlines: a request whose deadline cannot be met is answered when that is known, never at the
// deadline: at arrival (predicted wait + run, from the cost model), or when its latest start
// passes while the model is busy. A batch never grows past what its members' deadlines allow: a
// request that would make it run past one is passed over, not a reason to close the batch (under
// overload, batches cut short at every tight deadline would lower throughput for everyone).
// While the model is idle nothing is refused for its deadline: the estimate may be stale, and
// running the request is what corrects it (but a request whose answer is already due when the
// model takes it is not run: its answer would be a 504 whatever the run cost).
// No answer after the deadline: from dispatch, a request's deadline is watched while its batch
// runs; when the batch has not finished by the time an answer must leave (the deadline minus the
// server's time to answer and its loop's lag), the request is answered 504 then, and its result,
// if it comes, is dropped. A model that slows down mid-run, or a batch priced with a stale
// estimate, costs the requests that would have been late a prompt 504, never a late 200.
// Time comes from an injectable clock so the policy is tested with fake timers, never by sleeping.
import { BatchSize } from './batch-size.ts';
import type { BatchLimits } from './batch-size.ts';
import { ArrivalRate, completionEstimate, RunCost } from './cost-model.ts';
import type { CompletionEstimate, RunSample } from './cost-model.ts';
import { cancelled, deadlineUnmet, queueFull, Refusal, shuttingDown } from './refusals.ts';
import { priorityLevel, RequestQueue } from './request-queue.ts';
import type { Priority, Queued } from './request-queue.ts';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  // A time already past fires at once (Node would warn, then wait 1 ms).
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BatcherOptions<I, O> {
  maxBatchSize: number;
  maxDelayMs: number;
  /** Rows that may wait in the queue. */
  maxQueueSize: number;
  /**
   * Batches handed to `run` at once (default 1). Above 1, only full batches go while another
   * runs: a partial batch keeps filling until the model is free, as with 1.
   */
  maxBatchesInFlight?: number;
  /** p95 to keep queue wait plus run under by adapting the batch size; unset: static. */
  targetP95Ms?: number;
  /** How late the thread that answers requests runs what is due, ms; deadlines leave room for it. */
  loopLagMs?: () => number;
  /** Runs one batch; returns one output per input, in order, or the Error that input met. */
  run: (inputs: I[]) => Promise<Array<O | Error>>;
  /**
   * The model's own time for the batch `run` just returned, ms (read right after it resolves):
   * what the cost model learns from. Without it, the time from dispatch to the answer, which
   * also counts whatever the thread did before it saw the answer: on a main thread busy reading
   * a burst of bodies that was seconds for a 2 ms run, and every deadline request was refused.
   */
  ownRunMs?: () => number | undefined;
  clock?: Clock;
  /** Called with the number of rows in each batch that runs. */
  onBatch?: (rows: number) => void;
  /** Called whenever the number of queued requests changes. */
  onQueueDepth?: (depth: number) => void;
  /** Called with the batch size and delay in force, whenever they change. */
  onLimits?: (limits: BatchLimits) => void;
}

export interface SubmitOptions {
  /** Rows this request adds to a batch (its size along dimension 0). */
  rows: number;
  /** Input elements in this request, what its share of a run costs (default: rows). */
  work?: number;
  /** Requests batch only with others of the same key (e.g. same non-batch shape). */
  key?: string;
  /** Absolute clock time by which the answer must be ready. */
  deadline?: number;
  priority?: Priority;
  /** Aborted when the client goes away: the request leaves the queue if it has not run. */
  signal?: AbortSignal;
}

export interface Result<O> {
  output: O;
  /** Time spent queued before its batch started. */
  queuedMs: number;
  /** Time its batch took, from dispatch to the result. */
  ranMs: number;
}

/**
 * A completion estimate with the server's own time around the batcher: answering (and, for a
 * request whose body is still to come, reading it), plus its event loop's lag.
 */
export interface Estimate extends CompletionEstimate {
  overheadMs: number;
}

interface Pending<I, O> extends Queued {
  input: I;
  work: number;
  enqueuedAt: number;
  deadline: number | undefined;
  /** The latest start that still meets the deadline, running alone. */
  latestStart: number;
  /** Queued: fires at the latest start. Running: fires when an answer must leave. */
  timer: unknown;
  /** Answered (result or refusal); a result that comes after is dropped. */
  settled: boolean;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  resolve: (r: Result<O>) => void;
  reject: (e: Error) => void;
}

/**
 * A fill-wait ends when no request has come for this many mean inter-arrival times: a closed
 * loop of N clients sends N requests and then waits for their answers, whatever the rate says.
 */
const ARRIVAL_GAPS = 2;
/** Requests whose size per row refusals made before a body is read go by. */
const RECENT_REQUESTS = 16;

export class Batcher<I, O> {
  private readonly opts: BatcherOptions<I, O>;
  private readonly clock: Clock;
  private readonly queue = new RequestQueue<Pending<I, O>>();
  /** Queued requests that carry a deadline. */
  private readonly deadlined = new Set<Pending<I, O>>();
  private readonly maxInFlight: number;
  private readonly cost: RunCost;
  /**
   * The server's own time per request outside the batcher, priced like a run of no work (an aged
   * mean and upper estimate): reading and decoding it before, encoding and sending its answer
   * after. Apart, because once a request is here its reading is behind it (its deadline already
   * counts it), and a deadline watched while its batch runs needs only the answering.
   */
  private readonly reading: RunCost;
  private readonly answering: RunCost;
  private readonly arrivals: ArrivalRate;
  /**
   * Input elements per row of the last requests, for refusals made before a body is read: those
   * price the smallest of them, so that one huge input does not refuse every later small one
   * before its body is seen (and, its body unread, nothing would correct the price).
   */
  private readonly recentWorkPerRow: number[] = [];
  private recentNext = 0;
  private readonly size: BatchSize;
  /** Batches handed to `run` that have not finished. */
  private inFlight = 0;
  /** When the model is expected to have finished every batch it holds. */
  private busyUntil = 0;
  private lastCompletedAt = -Infinity;
  private closing = false;
  private delayTimer: unknown = undefined;
  private delayDue = Infinity;
  private drained: (() => void) | undefined;

  constructor(opts: BatcherOptions<I, O>) {
    for (const k of ['maxBatchSize', 'maxQueueSize', 'maxBatchesInFlight'] as const) {
      const v = opts[k] ?? 1;
      if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be an integer >= 1`);
    }
    if (!(opts.maxDelayMs >= 0)) throw new Error('maxDelayMs must be >= 0');
    if (opts.targetP95Ms !== undefined && !(opts.targetP95Ms > 0)) throw new Error('targetP95Ms must be > 0');
    this.maxInFlight = opts.maxBatchesInFlight ?? 1;
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    const now = () => this.clock.now();
    this.cost = new RunCost({ now });
    this.reading = new RunCost({ now });
    this.answering = new RunCost({ now });
    this.arrivals = new ArrivalRate({ now });
    this.size = new BatchSize(
      {
        maxBatchSize: opts.maxBatchSize,
        maxDelayMs: opts.maxDelayMs,
        targetP95Ms: opts.targetP95Ms,
        batchesInFlight: this.maxInFlight,
      },
      this.cost,
      () => this.arrivals.perMs(),
      opts.onLimits,
    );
  }

  /** Requests waiting. */
  get depth(): number {
    return this.queue.length;
  }

  get idle(): boolean {
    return this.inFlight === 0 && this.queue.length === 0;
  }

  /** The batch size and delay in force. */
  get limits(): BatchLimits {
    return this.size.current;
  }

  /**
   * The refusal a request would meet knowing only its headers (so before its body is read): a
   * full queue for its priority, or a deadline that even a one-row request cannot meet.
   */
  refusalBefore(priority: Priority = 'default', deadline?: number): Refusal | undefined {
    const room =
      this.queue.rows < this.opts.maxQueueSize ||
      this.queue.evictable(priorityLevel(priority), 1, this.opts.maxQueueSize) !== undefined;
    if (!room) return this.queueFull();
    if (deadline === undefined || this.idle) return undefined;
    const smallest = this.recentWorkPerRow.length === 0 ? 0 : Math.min(...this.recentWorkPerRow);
    return this.unmeetable(deadline, this.estimate(1, smallest, priority), 'read and answer');
  }

  /**
   * The server's own time for a request outside the batcher, as the edge measured it: from its
   * arrival to its submission, and from its answer here to the end of the response. Every answer
   * counts, refusals too, so a slow one is corrected by the next.
   */
  observeOverhead(readingMs: number, answeringMs: number): void {
    this.reading.observe(1, Math.max(0, readingMs));
    this.answering.observe(1, Math.max(0, answeringMs));
  }

  /** From now on each batch is one request (its rows are still counted as rows). */
  stopBatching(): void {
    this.size.stopBatching();
  }

  /** Warm-up runs seed the cost model (and so the adaptive batch size). */
  seed(samples: readonly (RunSample & { rows: number })[]): void {
    this.cost.seed(samples);
    const rows = samples.reduce((n, s) => n + s.rows, 0);
    if (rows > 0) this.size.refresh(this.clock.now(), samples.reduce((n, s) => n + s.work, 0) / rows);
  }

  /**
   * When a request of `rows` rows and `work` elements would finish if it arrived now: the wait
   * for what the model holds and the batches queued ahead of it, its own batch's run, and the
   * server's time around them (reading its body too unless `bodyRead`).
   */
  estimate(rows: number, work: number, priority: Priority = 'default', bodyRead = false): Estimate {
    const now = this.clock.now();
    const queued = completionEstimate(
      this.cost,
      {
        busyMs: this.inFlight > 0 ? Math.max(now, this.busyUntil) - now : 0,
        rowsAhead: this.queue.rowsAhead(priorityLevel(priority)),
        batchSize: this.size.current.batchSize,
      },
      rows,
      work / Math.max(1, rows),
    );
    return {
      ...queued,
      overheadMs: this.answerMs() + (bodyRead ? 0 : this.reading.upperMs(1)),
    };
  }

  /** The server's time to answer a request once the batcher has: as measured, plus the loop's lag. */
  private answerMs(): number {
    return this.answering.upperMs(1) + (this.opts.loopLagMs?.() ?? 0);
  }

  /**
   * The last moment a request's answer may leave the batcher and still reach its client by the
   * deadline.
   */
  private answerBy(p: Pending<I, O>, answerMs = this.answerMs()): number {
    return p.deadline! - answerMs;
  }

  /** A deadline refusal when `e` says the request would finish after `deadline`. */
  private unmeetable(deadline: number, e: Estimate, what: string): Refusal | undefined {
    const left = deadline - this.clock.now();
    if (e.waitMs + e.runMs + e.overheadMs <= left) return undefined;
    return deadlineUnmet(
      `${left.toFixed(1)} ms left; it would wait about ${e.waitMs.toFixed(1)} ms ` +
        `and run about ${e.runMs.toFixed(1)} ms` +
        (e.overheadMs >= 0.05 ? `, plus ${e.overheadMs.toFixed(1)} ms to ${what} it` : ''),
    );
  }

  submit(input: I, options: SubmitOptions): Promise<Result<O>> {
    const { rows, key = '', deadline, priority = 'default', signal } = options;
    const work = options.work ?? rows;
    if (this.closing) return Promise.reject(shuttingDown());
    if (rows > this.opts.maxBatchSize) {
      return Promise.reject(
        new Refusal(
          'too-many-rows',
          `request has ${rows} rows; this server's max batch size is ${this.opts.maxBatchSize}`,
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(cancelled());
    const now = this.clock.now();
    this.arrivals.observe(rows);
    this.recentWorkPerRow[this.recentNext] = work / rows;
    this.recentNext = (this.recentNext + 1) % RECENT_REQUESTS;
    if (deadline !== undefined && deadline <= now) {
      return Promise.reject(deadlineUnmet('it has already passed'));
    }
    const idle = this.inFlight === 0 && this.queue.length === 0;
    // Fast path: an idle model and a batch that would not wait: run now, no timers, no queue.
    if (idle && !this.worthWaiting(now, now + this.size.current.delayMs, rows)) {
      return new Promise<Result<O>>((resolve, reject) => {
        const p = this.pending(input, { rows, work, key, deadline, priority, signal }, now, resolve, reject);
        this.runBatch([p], now);
      });
    }
    const level = priorityLevel(priority);
    if (deadline !== undefined && !idle) {
      const refusal = this.unmeetable(deadline, this.estimate(rows, work, priority, true), 'answer');
      if (refusal) return Promise.reject(refusal);
    }
    if (this.queue.rows + rows > this.opts.maxQueueSize) {
      const victims = this.queue.evictable(level, rows, this.opts.maxQueueSize);
      if (!victims) return Promise.reject(this.queueFull());
      // A higher priority takes the places of the newest lower-priority requests.
      for (const v of victims) this.drop(v, this.queueFull());
    }
    return new Promise<Result<O>>((resolve, reject) => {
      const p = this.pending(input, { rows, work, key, deadline, priority, signal }, now, resolve, reject);
      this.queue.push(p);
      if (deadline !== undefined) {
        this.deadlined.add(p);
        p.timer = this.clock.setTimeout(() => this.latestStartPassed(p), p.latestStart - now);
      }
      if (signal) {
        p.onAbort = () => this.drop(p, cancelled());
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.opts.onQueueDepth?.(this.queue.length);
      this.schedule();
    });
  }

  /** Stops taking requests and resolves once everything queued or running has finished. */
  close(): Promise<void> {
    this.closing = true;
    this.schedule();
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  private pending(
    input: I,
    o: Required<Pick<SubmitOptions, 'rows' | 'work' | 'key' | 'priority'>> &
      Pick<SubmitOptions, 'deadline' | 'signal'>,
    now: number,
    resolve: (r: Result<O>) => void,
    reject: (e: Error) => void,
  ): Pending<I, O> {
    const p: Pending<I, O> = {
      input,
      rows: o.rows,
      work: o.work,
      key: o.key,
      level: priorityLevel(o.priority),
      enqueuedAt: now,
      deadline: o.deadline,
      latestStart:
        o.deadline === undefined ? Infinity : o.deadline - this.cost.upperMs(o.work) - this.answerMs(),
      timer: undefined,
      settled: false,
      signal: o.signal,
      onAbort: undefined,
      resolve: (r) => {
        if (p.settled) return;
        p.settled = true;
        resolve(r);
      },
      reject: (e) => {
        if (p.settled) return;
        p.settled = true;
        reject(e);
      },
    };
    return p;
  }

  /** Retry once the model is expected to have finished what it holds and to take from the queue. */
  private queueFull(): Refusal {
    const busyMs = this.inFlight > 0 ? this.busyUntil - this.clock.now() : 0;
    return queueFull(this.opts.maxQueueSize, Math.max(1, Math.ceil(busyMs / 1000)));
  }

  /**
   * Whether a batch of `rows` queued rows should wait, at most until `closeAt`, for more: only
   * while the arrival rate fills it by then and the last arrival was recent for that rate.
   */
  private worthWaiting(now: number, closeAt: number, rows: number): boolean {
    const need = this.size.current.batchSize - rows;
    if (need <= 0 || closeAt <= now) return false;
    const rate = this.arrivals.perMs();
    return rate * (closeAt - now) >= need && now < this.arrivals.lastAt + ARRIVAL_GAPS / rate;
  }

  /** Removes a queued request and answers it with `err`. */
  private drop(p: Pending<I, O>, err: Error): void {
    if (!this.queue.remove(p)) return;
    this.release(p);
    p.reject(err);
    this.opts.onQueueDepth?.(this.queue.length);
    this.schedule();
  }

  /** Forgets a request's timer and abort listener: it is leaving the queue. */
  private release(p: Pending<I, O>): void {
    if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
    p.timer = undefined;
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    this.deadlined.delete(p);
  }

  /** A queued request's last chance to start: run it now if the model can, else refuse it now. */
  private latestStartPassed(p: Pending<I, O>): void {
    p.timer = undefined;
    if (!this.deadlined.has(p)) return;
    const now = this.clock.now();
    if (this.inFlight === 0) return this.dispatch(now, p);
    const start = Math.max(now, this.busyUntil);
    if (this.inFlight < this.maxInFlight && start + this.cost.upperMs(p.work) <= this.answerBy(p)) {
      return this.dispatch(now, p);
    }
    this.drop(
      p,
      deadlineUnmet(
        `${(p.deadline! - now).toFixed(1)} ms left, a run takes about ` +
          `${this.cost.upperMs(p.work).toFixed(1)} ms, and the model is busy`,
      ),
    );
  }

  /** Decides whether the head of the queue runs now, later (timer), or after the current batch. */
  private schedule(): void {
    if (this.inFlight >= this.maxInFlight) return;
    const head = this.queue.head();
    if (!head) {
      this.clearDelay();
      if (this.drained && this.inFlight === 0) {
        this.drained();
        this.drained = undefined;
      }
      return;
    }
    const now = this.clock.now();
    const { batchSize, delayMs } = this.size.current;
    const queued = this.queue.rowsOf(head.key);
    const full = queued >= batchSize;
    if (this.inFlight > 0) {
      // Pipelining: only a full batch goes ahead of the one running; anything else waits for it.
      if (full) this.dispatch(now);
      return;
    }
    const closeAt = head.enqueuedAt + delayMs;
    if (this.closing || full || !this.worthWaiting(now, closeAt, queued)) {
      this.dispatch(now);
      return;
    }
    // Wait for more, until the batch must close or arrivals pause, whichever is first.
    const rate = this.arrivals.perMs();
    const due = Math.min(closeAt, this.arrivals.lastAt + ARRIVAL_GAPS / rate);
    if (due !== this.delayDue) {
      this.clearDelay();
      this.delayDue = due;
      // A timer that fires ends the wait: Node's timers can fire a little before the clock says,
      // and re-arming would add a millisecond or two each time.
      this.delayTimer = this.clock.setTimeout(() => {
        this.delayTimer = undefined;
        this.delayDue = Infinity;
        if (this.inFlight === 0 && this.queue.length > 0) this.dispatch(this.clock.now());
      }, due - now);
    }
  }

  private clearDelay(): void {
    if (this.delayTimer !== undefined) {
      this.clock.clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
    }
    this.delayDue = Infinity;
  }

  /**
   * Hands the next batch to `run`, starting with `seed` (a request at its latest start), else
   * with the head of the queue. Within a level requests go first come first served, which is
   * what admission predicted for them: moving the most urgent ahead (earliest deadline first)
   * would make later requests late that admission had let in, and under overload its batches,
   * each cut to one tight deadline, would lower throughput for everyone.
   */
  private dispatch(now: number, seed?: Pending<I, O>): void {
    this.clearDelay();
    const first = seed ?? this.queue.head()!;
    const start = this.inFlight === 0 ? now : Math.max(now, this.busyUntil);
    // Deadlines here are when answers must leave the batcher (the server's own time taken off).
    const answerMs = this.answerMs();
    const by = (p: Pending<I, O>) => (p.deadline === undefined ? Infinity : this.answerBy(p, answerMs));
    let work = first.work;
    let deadline = by(first);
    const batch = this.queue.take(first, this.size.current.batchSize, (next) => {
      const w = work + next.work;
      const d = Math.min(deadline, by(next));
      if (d !== Infinity && start + this.cost.upperMs(w) > d) return false;
      work = w;
      deadline = d;
      return true;
    });
    this.opts.onQueueDepth?.(this.queue.length);
    // Full, with rows that could have joined it left behind: arrivals outpace this batch size.
    const taken = batch.reduce((n, p) => n + p.rows, 0);
    const left = this.queue.rowsOf(first.key);
    const backlog = taken >= this.size.current.batchSize && left > 0 ? taken + left : 0;
    for (const p of batch) this.release(p);
    // Behind other batches, the first request may already be too late: say so rather than run late.
    // Idle or not, one whose answer was due before the model could take it is not run: no
    // estimate is involved, its answer would be a 504 whatever the run cost (execute's check), and
    // the run would delay everything behind it. A thread that got to the model late (timers late
    // too, so its latest start never fired) can hand the model such a request.
    const overdue = now > by(first);
    if (overdue || (this.inFlight > 0 && start + this.cost.upperMs(work) > deadline)) {
      first.reject(
        deadlineUnmet(
          overdue
            ? `its answer was due ${(now - by(first)).toFixed(1)} ms before the model was free to run it`
            : 'it would pass before its batch finishes',
        ),
      );
      batch.shift();
    }
    if (batch.length > 0) this.runBatch(batch, now, backlog);
    this.refuseUnreachable(now);
    this.schedule();
  }

  /**
   * Queued requests that can no longer start in time, now that the model has been given another
   * batch: answered 504 now, as their latest-start timers would, but without waiting for those
   * to fire (on a loop that runs late they fire after the deadline; dispatches keep coming).
   */
  private refuseUnreachable(now: number): void {
    if (this.inFlight === 0 || this.deadlined.size === 0) return;
    const start = Math.max(now, this.busyUntil);
    const answerMs = this.answerMs();
    const runs = new Map<number, number>();
    let dropped = false;
    for (const p of [...this.deadlined]) {
      let run = runs.get(p.work);
      if (run === undefined) runs.set(p.work, (run = this.cost.upperMs(p.work)));
      if (start + run <= this.answerBy(p, answerMs) || !this.queue.remove(p)) continue;
      this.release(p);
      p.reject(
        deadlineUnmet(
          `${(p.deadline! - now).toFixed(1)} ms left, the model is busy for about ` +
            `${(start - now).toFixed(1)} ms and a run takes about ${run.toFixed(1)} ms`,
        ),
      );
      dropped = true;
    }
    if (dropped) this.opts.onQueueDepth?.(this.queue.length);
  }

  /** `backlog`: the rows that were waiting when a full batch left some behind (else 0). */
  private runBatch(batch: Pending<I, O>[], now: number, backlog = 0): void {
    // How long the model sat idle before this batch: none while it ran others.
    const idleMs = this.inFlight === 0 && this.lastCompletedAt > -Infinity ? now - this.lastCompletedAt : 0;
    this.inFlight++;
    let rows = 0;
    let work = 0;
    let answerMs: number | undefined;
    for (const p of batch) {
      rows += p.rows;
      work += p.work;
      // Watched while it runs: answered 504 when its answer must leave and the batch is not done.
      if (p.deadline !== undefined) {
        answerMs ??= this.answerMs();
        p.timer = this.clock.setTimeout(() => this.overran(p), this.answerBy(p, answerMs) - now);
      }
    }
    this.busyUntil = Math.max(now, this.busyUntil) + this.cost.expectedMs(work);
    this.opts.onBatch?.(rows);
    void this.execute(batch, rows, work, now, backlog, idleMs);
  }

  /** A running request whose answer must leave now: 504 now, whether or not its batch is done. */
  private overran(p: Pending<I, O>, finished = false): void {
    p.timer = undefined;
    p.reject(
      deadlineUnmet(
        `${(p.deadline! - this.clock.now()).toFixed(1)} ms left when its batch ` +
          `${finished ? 'finished' : 'was still running'}, and answering takes about ` +
          `${this.answerMs().toFixed(1)} ms`,
      ),
    );
  }

  private async execute(
    batch: Pending<I, O>[],
    rows: number,
    work: number,
    dispatchedAt: number,
    backlog: number,
    idleMs: number,
  ): Promise<void> {
    let outputs: Array<O | Error>;
    try {
      outputs = await this.opts.run(batch.map((p) => p.input));
      if (outputs.length !== batch.length) {
        throw new Error(`batch run returned ${outputs.length} outputs for ${batch.length} inputs`);
      }
    } catch (err) {
      outputs = batch.map(() => (err instanceof Error ? err : new Error(String(err))));
    }
    const end = this.clock.now();
    // A pipelined batch starts when the one before it ends: its own cost is from then.
    const ranMs = this.opts.ownRunMs?.() ?? end - Math.max(dispatchedAt, this.lastCompletedAt);
    this.lastCompletedAt = end;
    // A run with failures is no measure of cost (the model backend reran parts of it).
    if (!outputs.some((o) => o instanceof Error)) {
      this.cost.observe(work, ranMs);
      this.size.update(end, rows, work, {
        backlog: backlog > 0,
        waitingRows: backlog,
        idleMs,
        latenciesMs: batch.map((p) => end - p.enqueuedAt),
      });
    }
    this.inFlight--;
    if (this.inFlight === 0) this.busyUntil = end;
    let answerMs: number | undefined;
    batch.forEach((p, i) => {
      if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
      p.timer = undefined;
      const out = outputs[i]!;
      // The watch may not have fired yet on a loop that runs late: the clock decides.
      if (p.deadline !== undefined && end > this.answerBy(p, (answerMs ??= this.answerMs()))) {
        this.overran(p, true);
      } else if (out instanceof Error) p.reject(out);
      else p.resolve({ output: out, queuedMs: dispatchedAt - p.enqueuedAt, ranMs: end - dispatchedAt });
    });
    this.schedule();
  }
}
