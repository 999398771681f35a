// Dynamic batcher: requests wait in a bounded queue and are run together by a caller-supplied
// `run`. A batch closes when it holds `maxBatchSize` rows or when its oldest request has waited
// `maxDelayMs`, whichever comes first. Normally one batch runs at a time; with
// `maxBatchesInFlight` above 1 full batches are handed over while earlier ones still run, so a
// model on another thread starts the next the moment one finishes (see pipeline.ts). Time comes from an
// injectable clock so the policy is tested with fake timers, never by sleeping.
import { RequestError } from './errors.ts';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BatcherOptions<I, O> {
  maxBatchSize: number;
  maxDelayMs: number;
  maxQueueSize: number;
  /**
   * Batches handed to `run` at once (default 1). Above 1, only full batches go while another
   * runs: a partial batch keeps filling until the model is free, as with 1.
   */
  maxBatchesInFlight?: number;
  /** Runs one batch; must return one output per input, in order. */
  run: (inputs: I[]) => Promise<O[]>;
  clock?: Clock;
  /** Called with the number of rows in each batch that runs. */
  onBatch?: (rows: number) => void;
  /** Called whenever the number of queued requests changes. */
  onQueueDepth?: (depth: number) => void;
}

export interface SubmitOptions {
  /** Rows this request adds to a batch (its size along dimension 0). */
  rows: number;
  /** Requests batch only with others of the same key (e.g. same non-batch shape). */
  key?: string;
  /** Absolute clock time by which the answer must be ready. */
  deadline?: number;
}

export interface Result<O> {
  output: O;
  /** Time spent queued before its batch started. */
  queuedMs: number;
}

interface Pending<I, O> {
  input: I;
  rows: number;
  key: string;
  enqueuedAt: number;
  deadline: number | undefined;
  deadlineTimer: unknown;
  resolve: (r: Result<O>) => void;
  reject: (e: Error) => void;
}

export const queueFull = (max: number) =>
  new RequestError(503, `server busy: the request queue is full (${max} requests); retry later`, {
    'retry-after': '1',
  });
export const deadlineUnmet = (why: string) => new RequestError(429, `request deadline cannot be met: ${why}`);
export const shuttingDown = () =>
  new RequestError(503, 'server is shutting down; retry on another replica', { 'retry-after': '1' });

export class Batcher<I, O> {
  private readonly opts: BatcherOptions<I, O>;
  private readonly clock: Clock;
  private readonly queue: Pending<I, O>[] = [];
  private readonly maxInFlight: number;
  /** Batches handed to `run` that have not finished. */
  private inFlight = 0;
  private closing = false;
  private delayTimer: unknown = undefined;
  private drained: (() => void) | undefined;
  /** Moving average of batch run time; used to refuse requests that cannot finish in time. */
  private runMsEstimate = 0;

  constructor(opts: BatcherOptions<I, O>) {
    for (const k of ['maxBatchSize', 'maxQueueSize', 'maxBatchesInFlight'] as const) {
      const v = opts[k] ?? 1;
      if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be an integer >= 1`);
    }
    this.maxInFlight = opts.maxBatchesInFlight ?? 1;
    if (!(opts.maxDelayMs >= 0)) throw new Error('maxDelayMs must be >= 0');
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
  }

  get depth(): number {
    return this.queue.length;
  }

  get idle(): boolean {
    return this.inFlight === 0 && this.queue.length === 0;
  }

  submit(input: I, { rows, key = '', deadline }: SubmitOptions): Promise<Result<O>> {
    if (this.closing) return Promise.reject(shuttingDown());
    if (rows > this.opts.maxBatchSize) {
      return Promise.reject(
        new RequestError(
          400,
          `request has ${rows} rows; this server's max batch size is ${this.opts.maxBatchSize}`,
        ),
      );
    }
    const now = this.clock.now();
    if (deadline !== undefined) {
      const left = deadline - now;
      if (left <= 0) return Promise.reject(deadlineUnmet('it has already passed'));
      if (left < this.runMsEstimate) {
        return Promise.reject(
          deadlineUnmet(
            `${left.toFixed(1)} ms left, a batch takes about ${this.runMsEstimate.toFixed(1)} ms`,
          ),
        );
      }
    }
    // Fast path: nothing queued or running and the batch could not grow anyway (or is not
    // allowed to wait), so run now without touching timers or the queue.
    const runNow =
      this.inFlight === 0 &&
      this.queue.length === 0 &&
      (this.opts.maxDelayMs === 0 || rows === this.opts.maxBatchSize);
    if (!runNow && this.queue.length >= this.opts.maxQueueSize) {
      return Promise.reject(queueFull(this.opts.maxQueueSize));
    }
    return new Promise<Result<O>>((resolve, reject) => {
      const p: Pending<I, O> = {
        input,
        rows,
        key,
        enqueuedAt: now,
        deadline,
        deadlineTimer: undefined,
        resolve,
        reject,
      };
      if (runNow) {
        void this.runBatch([p], now);
        return;
      }
      if (deadline !== undefined) {
        p.deadlineTimer = this.clock.setTimeout(() => this.expire(p), deadline - now);
      }
      this.queue.push(p);
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

  private expire(p: Pending<I, O>): void {
    const i = this.queue.indexOf(p);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.opts.onQueueDepth?.(this.queue.length);
    p.reject(deadlineUnmet('it passed while the request was queued'));
    this.schedule();
  }

  private queuedRows(key: string): number {
    let n = 0;
    for (const p of this.queue) if (p.key === key) n += p.rows;
    return n;
  }

  /** Decides whether the head of the queue runs now, later (timer), or after the current batch. */
  private schedule(): void {
    if (this.inFlight >= this.maxInFlight) return;
    const head = this.queue[0];
    if (!head) {
      this.clearDelay();
      if (this.drained) {
        this.drained();
        this.drained = undefined;
      }
      return;
    }
    const now = this.clock.now();
    const full = this.queuedRows(head.key) >= this.opts.maxBatchSize;
    if (this.inFlight > 0) {
      // Pipelining: only a full batch goes ahead of the one running; anything else waits for it.
      if (full) this.dispatch(head.key, now);
      return;
    }
    const due = head.enqueuedAt + this.opts.maxDelayMs;
    if (this.closing || now >= due || full) {
      this.dispatch(head.key, now);
      return;
    }
    if (this.delayTimer === undefined) {
      this.delayTimer = this.clock.setTimeout(() => {
        this.delayTimer = undefined;
        this.schedule();
      }, due - now);
    }
  }

  /** Hands the next batch of `key` to `run`, then sees whether another can follow it. */
  private dispatch(key: string, now: number): void {
    this.clearDelay();
    void this.runBatch(this.take(key), now);
    this.schedule();
  }

  private clearDelay(): void {
    if (this.delayTimer !== undefined) {
      this.clock.clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
    }
  }

  /** Removes from the queue, in order, the requests of one key that fit in a batch. */
  private take(key: string): Pending<I, O>[] {
    const batch: Pending<I, O>[] = [];
    let rows = 0;
    for (let i = 0; i < this.queue.length && rows < this.opts.maxBatchSize;) {
      const p = this.queue[i]!;
      if (p.key === key && rows + p.rows <= this.opts.maxBatchSize) {
        batch.push(p);
        rows += p.rows;
        this.queue.splice(i, 1);
      } else if (p.key === key) {
        break; // keep order within a key: a later, smaller request does not jump this one
      } else {
        i++;
      }
    }
    this.opts.onQueueDepth?.(this.queue.length);
    return batch;
  }

  private async runBatch(candidates: Pending<I, O>[], now: number): Promise<void> {
    this.inFlight++;
    const batch: Pending<I, O>[] = [];
    for (const p of candidates) {
      if (p.deadlineTimer !== undefined) this.clock.clearTimeout(p.deadlineTimer);
      // Never run late: a request whose deadline falls before the batch can finish is answered now.
      if (p.deadline !== undefined && p.deadline < now + this.runMsEstimate) {
        p.reject(deadlineUnmet('it would pass before its batch finishes'));
      } else {
        batch.push(p);
      }
    }
    try {
      if (batch.length > 0) await this.execute(batch, now);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }

  private async execute(batch: Pending<I, O>[], start: number): Promise<void> {
    this.opts.onBatch?.(batch.reduce((n, p) => n + p.rows, 0));
    let outputs: O[];
    try {
      outputs = await this.opts.run(batch.map((p) => p.input));
      if (outputs.length !== batch.length) {
        throw new Error(`batch run returned ${outputs.length} outputs for ${batch.length} inputs`);
      }
    } catch (err) {
      for (const p of batch) p.reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const took = this.clock.now() - start;
    this.runMsEstimate = this.runMsEstimate === 0 ? took : 0.8 * this.runMsEstimate + 0.2 * took;
    batch.forEach((p, i) => p.resolve({ output: outputs[i]!, queuedMs: start - p.enqueuedAt }));
  }
}
