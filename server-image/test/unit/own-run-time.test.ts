// The batcher's cost model learns the model's own run time, not the time until the server's
// thread saw the answer: on a main thread busy reading a burst of request bodies the second was
// seconds for a 2 ms run, and every deadline request after it was refused 504 on an idle model.
import { describe, expect, it } from '@jest/globals';
import type { Config } from '../../src/config.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { Feeds } from '../../src/model.ts';
import { createBatcher, observeRuns, OwnRunTime } from '../../src/pipeline.ts';
import { FakeClock, flush } from '../support/fake-clock.ts';

const CONFIG: Pick<
  Config,
  'modelName' | 'pool' | 'maxBatchSize' | 'maxDelayMs' | 'maxQueueSize' | 'inferenceThread' | 'targetP95Ms'
> = {
  modelName: 'm',
  pool: 'latency',
  maxBatchSize: 1,
  maxDelayMs: 0,
  maxQueueSize: 8,
  inferenceThread: 'main',
  targetP95Ms: undefined,
};

const RUN_MS = 2;
/** How long after its run the thread gets to the answer: a burst of I/O ahead of it. */
const SEEN_LATE_MS = 300;
const FEEDS: Feeds = { x: { data: new Float32Array(4), shape: [1, 4] } };

/**
 * A model whose session.run reports RUN_MS through onRun (when wired to `own`), and whose answer
 * the thread sees SEEN_LATE_MS later by the clock.
 */
function slowToAnswer(clock: FakeClock, own: OwnRunTime | undefined) {
  const onRun = observeRuns(CONFIG, createMetrics(), () => true, own);
  return {
    batched: false,
    runBatch: async (items: readonly Feeds[]) => {
      for (let i = 0; i < items.length; i++) onRun(RUN_MS / 1000);
      clock.advance(SEEN_LATE_MS);
      return [...items];
    },
  };
}

async function learnedRunMs(own: OwnRunTime | undefined): Promise<number> {
  const clock = new FakeClock();
  const batcher = createBatcher(CONFIG, slowToAnswer(clock, own), createMetrics(), clock, own);
  for (let i = 0; i < 5; i++) {
    const answer = batcher.submit(FEEDS, { rows: 1 });
    await flush();
    await answer;
  }
  return batcher.estimate(1, 1).runMs;
}

describe('the cost model and the model own run time', () => {
  it('learns the run time the model reported, however late the answer was seen', async () => {
    expect(await learnedRunMs(new OwnRunTime())).toBeLessThan(SEEN_LATE_MS / 10);
  });

  it('without the model own time, falls back to the time until the answer (what it used to learn)', async () => {
    expect(await learnedRunMs(undefined)).toBeGreaterThanOrEqual(SEEN_LATE_MS);
  });
});

describe('OwnRunTime', () => {
  it('gives the run time reported since it was last read', () => {
    const own = new OwnRunTime();
    own.add(0.002);
    own.add(0.003);
    expect(own.sinceLast()).toBeCloseTo(5);
    own.add(0.001);
    expect(own.sinceLast()).toBeCloseTo(1);
  });

  it('says nothing when no run was reported (a model without onRun), rather than 0 ms', () => {
    const own = new OwnRunTime();
    expect(own.sinceLast()).toBeUndefined();
    own.add(0.004);
    own.sinceLast();
    expect(own.sinceLast()).toBeUndefined();
  });

  it('leaves runs reported before a batch (warm-up) out of that batch', async () => {
    const clock = new FakeClock();
    const own = new OwnRunTime();
    const model = slowToAnswer(clock, own);
    // Warm-up: the model runs outside the batcher for a long while.
    own.add(5);
    const batcher = createBatcher(CONFIG, model, createMetrics(), clock, own);
    const answer = batcher.submit(FEEDS, { rows: 1 });
    await flush();
    await answer;
    expect(batcher.estimate(1, 1).runMs).toBeLessThan(SEEN_LATE_MS / 10);
  });
});
