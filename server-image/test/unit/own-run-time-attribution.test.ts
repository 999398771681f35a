/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// Which batch the model's own run time is charged to, when batches are pipelined on the worker
// (up to WORKER_BATCHES_IN_FLIGHT at once, results in order), when a batch fails or is rerun in
// halves, and what the batcher does with the time the main thread takes to get to a batch.
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { Config } from '../../src/config.ts';
import { RunCost } from '../../src/cost-model.ts';
import { runIsolated } from '../../src/isolate.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { Feeds } from '../../src/model.ts';
import { createBatcher, observeRuns, OwnRunTime, WORKER_BATCHES_IN_FLIGHT } from '../../src/pipeline.ts';
import type { ModelBatcher } from '../../src/pipeline.ts';
import { WorkerModel } from '../../src/worker-model.ts';
import { MLP_DIR, modelOptions } from '../support/app.ts';
import { FakeClock, flush } from '../support/fake-clock.ts';

type BatcherConfig = Parameters<typeof createBatcher>[0];

const config = (over: Partial<Config> = {}): BatcherConfig => ({
  modelName: 'm',
  pool: 'latency',
  maxBatchSize: 4,
  maxDelayMs: 0,
  maxQueueSize: 64,
  inferenceThread: 'worker',
  targetP95Ms: undefined,
  ...over,
});

const feeds = (rows: number, bad = false): Feeds => ({
  input: { data: new Float32Array(rows * 16).fill(bad ? NaN : 0.5), shape: [rows, 16] },
});

/** Every `ms` the Triton statistics were given for a batch, in order. */
function recordRan(metrics: ReturnType<typeof createMetrics>): number[] {
  const ran: number[] = [];
  const original = metrics.stats.ran.bind(metrics.stats);
  metrics.stats.ran = (rows, ms) => {
    ran.push(ms);
    original(rows, ms);
  };
  return ran;
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('own run time with the worker pipelining batches (real worker, real model)', () => {
  it('charges each batch exactly the run time the worker reported with its result', async () => {
    const metrics = createMetrics();
    const own = new OwnRunTime();
    const reported: number[] = [];
    const onRun = observeRuns(config(), metrics, () => true, own);
    const worker = await WorkerModel.load(
      modelOptions(MLP_DIR, 'fp32', {
        onRun: (s) => {
          reported.push(s * 1000);
          onRun(s);
        },
      }),
    );
    let inModel = 0;
    let mostInModel = 0;
    const model = {
      get batched() {
        return worker.batched;
      },
      runBatch: async (items: readonly Feeds[]) => {
        mostInModel = Math.max(mostInModel, ++inModel);
        try {
          return await worker.runBatch(items);
        } finally {
          inModel--;
        }
      },
    };
    const ran = recordRan(metrics);
    const observed: number[] = [];
    const observe = RunCost.prototype.observe;
    jest.spyOn(RunCost.prototype, 'observe').mockImplementation(function (this: RunCost, work, ms) {
      observed.push(ms);
      observe.call(this, work, ms);
    });
    const batcher: ModelBatcher = createBatcher(config(), model, metrics, undefined, own);
    try {
      const answers = Array.from({ length: 40 }, (_, i) =>
        batcher.submit(feeds(1 + (i % 2)), { rows: 1 + (i % 2) }),
      );
      await Promise.all(answers);
    } finally {
      await worker.close();
    }
    // The batches really were pipelined, up to the worker's limit.
    expect(mostInModel).toBe(WORKER_BATCHES_IN_FLIGHT);
    // One report per batch, and each batch got its own report (results come back in order).
    expect(ran).toEqual(reported);
    expect(observed).toEqual(reported);
  });
});

/**
 * A model on a worker, modelled: batches wait in order; `finish()` completes the oldest one as
 * the worker's result message does (its run time reported, then its outputs), in a task of its
 * own. A batch is rerun in halves (isolate.ts) when it holds a NaN input; halves without one
 * succeed. `failWhole` makes the next batch fail as a whole (the worker's 'error' message).
 */
function pipelinedModel(onRun: (seconds: number) => void, msPerRow: number) {
  const waiting: Array<{
    items: readonly Feeds[];
    resolve: (o: Array<Feeds | Error>) => void;
    reject: (e: Error) => void;
    failWhole: boolean;
  }> = [];
  let failNext = false;
  return {
    batched: true,
    waiting,
    failWhole: () => (failNext = true),
    runBatch: (items: readonly Feeds[]) =>
      new Promise<Array<Feeds | Error>>((resolve, reject) => {
        waiting.push({ items, resolve, reject, failWhole: failNext });
        failNext = false;
      }),
    async finish(): Promise<void> {
      const head = waiting.shift()!;
      if (head.failWhole) head.reject(new Error('inference worker: batch failed'));
      else {
        let seconds = 0;
        const outs = await runIsolated(head.items, async (some) => {
          if (some.some((f) => Number.isNaN((f.input!.data as Float32Array)[0])))
            throw new Error('NaN input');
          seconds += (some.reduce((n, f) => n + f.input!.shape[0]!, 0) * msPerRow) / 1000;
          return [...some];
        });
        onRun(seconds);
        head.resolve(outs);
      }
      await flush();
    },
  };
}

describe('own run time with failures among pipelined batches', () => {
  it('a failed batch, whole or in part, is not learned, and the batches after it get their own time', async () => {
    const metrics = createMetrics();
    const own = new OwnRunTime();
    const model = pipelinedModel(
      observeRuns(config(), metrics, () => true, own),
      3,
    );
    const observed: Array<[number, number]> = [];
    const observe = RunCost.prototype.observe;
    jest.spyOn(RunCost.prototype, 'observe').mockImplementation(function (this: RunCost, work, ms) {
      observed.push([work, ms]);
      observe.call(this, work, ms);
    });
    const clock = new FakeClock();
    const batcher = createBatcher(config({ maxBatchSize: 2 }), model, metrics, clock, own);
    const settled: Promise<unknown>[] = [];
    const submit = (rows: number, bad = false) =>
      settled.push(batcher.submit(feeds(rows, bad), { rows, work: rows }).catch((e: Error) => e));
    // Batch 1: one row alone (the model was idle). Then full batches of 2 rows each, pipelined.
    submit(1);
    model.failWhole();
    submit(1);
    submit(1); // batch 2: fails as a whole
    submit(1);
    submit(1, true); // batch 3: one half fails, the other runs (reported)
    submit(1);
    submit(1); // batch 4: clean
    await flush();
    expect(model.waiting.length).toBe(WORKER_BATCHES_IN_FLIGHT);
    submit(1);
    submit(1); // batch 5 waits in the batcher
    while (model.waiting.length > 0) await model.finish();
    await Promise.all(settled);
    // Batch 1 (1 row, 3 ms), batch 4 (2 rows, 6 ms), batch 5 (2 rows, 6 ms); 2 and 3 not learned.
    expect(observed).toEqual([
      [1, 3],
      [2, 6],
      [2, 6],
    ]);
  });
});

describe('the main thread getting to a batch late, with the model own time learned', () => {
  /** A main-thread model: each run takes RUN_MS, but the thread gets to it LATE_MS after dispatch. */
  const RUN_MS = 2;
  const LATE_MS = 48;

  function lateModel(clock: FakeClock, own: OwnRunTime) {
    const onRun = observeRuns(config(), createMetrics(), () => true, own);
    const runs: number[] = [];
    const gates: Array<() => void> = [];
    return {
      batched: false,
      runs,
      gates,
      runBatch: (items: readonly Feeds[]) =>
        new Promise<Array<Feeds | Error>>((resolve) => {
          gates.push(() => {
            runs.push(items.length);
            onRun(RUN_MS / 1000);
            resolve([...items]);
          });
        }),
    };
  }

  async function busyMainThread() {
    // Timers run late too: the loop is busy (reading bodies) when they come due.
    const clock = new FakeClock();
    clock.lateMs = LATE_MS;
    const own = new OwnRunTime();
    const model = lateModel(clock, own);
    const batcher = createBatcher(
      config({ inferenceThread: 'main', maxBatchSize: 1 }),
      model,
      createMetrics(),
      clock,
      own,
    );
    /** The thread gets to the oldest batch: LATE_MS of other work, then its run. */
    const finishOne = async () => {
      clock.advance(LATE_MS);
      model.gates.shift()!();
      await flush();
    };
    // Traffic without deadlines teaches the cost model.
    for (let i = 0; i < 5; i++) {
      const a = batcher.submit(feeds(1), { rows: 1 });
      await flush();
      await finishOne();
      await a;
    }
    model.runs.length = 0;
    return { clock, model, batcher, finishOne };
  }

  it('does not run a request whose answer is already due when the model becomes free (the run is wasted, its answer a 504 anyway)', async () => {
    const { clock, model, batcher, finishOne } = await busyMainThread();
    const first = batcher.submit(feeds(1), { rows: 1 });
    await flush();
    // Admitted behind the running batch: the model's own 2 ms says it can make 30 ms.
    const hurried = batcher.submit(feeds(1), { rows: 1, deadline: clock.now() + 30 }).catch((e: Error) => e);
    await finishOne();
    await first;
    // The thread got to the first batch after 48 ms, and the hurried request's answer was due by 30.
    const answer = await Promise.race([hurried, flush().then(() => 'still waiting')]);
    expect(answer).toBeInstanceOf(Error);
    expect((answer as Error).message).toMatch(/deadline/);
    // It never ran: only the first request did.
    expect(model.runs).toEqual([1]);
  });
});
