import { describe, expect, it } from '@jest/globals';
import { adaptiveLimits, BatchSize, TARGET_SHARE } from '../../src/batch-size.ts';

// 2 ms plus 1 ms per row (one element per row), planned and expected alike.
const cost = { upperMs: (work: number) => 2 + work, expectedMs: (work: number) => 2 + work };
const noArrivals = () => 0;

describe('adaptiveLimits', () => {
  it('picks the largest batch whose runs fit the target, and spends what is left on the delay', () => {
    const limits = adaptiveLimits(
      { maxBatchSize: 64, maxDelayMs: 50, targetP95Ms: 100, batchesInFlight: 1 },
      cost,
      1,
    );
    // Two runs (the one running and its own) within 80 ms: 2 × (2 + 38) = 80.
    expect(limits).toEqual({ batchSize: 38, delayMs: 0 });
    expect(2 * cost.upperMs(38)).toBeLessThanOrEqual(100 * TARGET_SHARE);
    expect(2 * cost.upperMs(39)).toBeGreaterThan(100 * TARGET_SHARE);
  });

  it('counts each batch a pipelining model holds as a run to wait behind', () => {
    const one = adaptiveLimits(
      { maxBatchSize: 64, maxDelayMs: 5, targetP95Ms: 100, batchesInFlight: 1 },
      cost,
      1,
    );
    const four = adaptiveLimits(
      { maxBatchSize: 64, maxDelayMs: 5, targetP95Ms: 100, batchesInFlight: 4 },
      cost,
      1,
    );
    expect(four.batchSize).toBe(14); // 5 × (2 + 14) = 80
    expect(four.batchSize).toBeLessThan(one.batchSize);
  });

  it('stays within the configured maxima, and keeps a delay where there is time for one', () => {
    expect(
      adaptiveLimits({ maxBatchSize: 8, maxDelayMs: 5, targetP95Ms: 100, batchesInFlight: 1 }, cost, 1),
    ).toEqual({ batchSize: 8, delayMs: 5 });
  });

  it('prices rows by their size: larger rows, smaller batches', () => {
    const opts = { maxBatchSize: 64, maxDelayMs: 5, targetP95Ms: 100, batchesInFlight: 1 };
    expect(adaptiveLimits(opts, cost, 4).batchSize).toBe(9); // 2 × (2 + 36) = 76
  });

  it('when rows arrive faster than that size serves them, takes the size that serves the most', () => {
    const opts = { maxBatchSize: 64, maxDelayMs: 5, targetP95Ms: 100, batchesInFlight: 1 };
    // Size 38 serves 38 rows per 40 ms: 0.95 rows/ms. Below 80% of that, the target decides.
    expect(adaptiveLimits(opts, cost, 1, 0.7).batchSize).toBe(38);
    // Above it, the queue grows whatever the size: throughput decides, here the largest.
    expect(adaptiveLimits(opts, cost, 1, 0.9)).toEqual({ batchSize: 64, delayMs: 0 });
    // A CPU whose cost per row rises past 16 rows: the most rows per second are at 16.
    const cpu = {
      upperMs: (w: number) => 2 + w,
      expectedMs: (w: number) => 10 + 0.5 * w + 2 * Math.max(0, w - 16),
    };
    expect(adaptiveLimits({ ...opts, targetP95Ms: 30 }, cpu, 1, 5).batchSize).toBe(16);
  });

  it('falls back to one row when even that misses the target', () => {
    expect(
      adaptiveLimits({ maxBatchSize: 64, maxDelayMs: 5, targetP95Ms: 1, batchesInFlight: 1 }, cost, 1),
    ).toEqual({ batchSize: 1, delayMs: 0 });
  });
});

describe('BatchSize', () => {
  it('is static without a target', () => {
    const size = new BatchSize(
      { maxBatchSize: 32, maxDelayMs: 5, targetP95Ms: undefined, batchesInFlight: 1 },
      cost,
      noArrivals,
    );
    size.refresh(0, 1);
    size.update(1000, 32, 32);
    expect([size.adaptive, size.current]).toEqual([false, { batchSize: 32, delayMs: 5 }]);
  });

  it('follows the rows it sees, at most every interval, and reports changes', () => {
    const seen: number[] = [];
    const size = new BatchSize(
      { maxBatchSize: 64, maxDelayMs: 5, targetP95Ms: 100, batchesInFlight: 1 },
      cost,
      noArrivals,
      (l) => seen.push(l.batchSize),
      100,
    );
    size.refresh(0, 1);
    expect(size.current.batchSize).toBe(38);
    for (let t = 1; t < 1000; t += 10) size.update(t, 4, 16); // rows of 4 elements now
    expect(size.current.batchSize).toBeLessThan(15);
    expect(seen[0]).toBe(64);
    expect(seen.length).toBeLessThan(15);
  });

  it('reads the arrival rate when it recomputes', () => {
    let rate = 0;
    const size = new BatchSize(
      { maxBatchSize: 64, maxDelayMs: 5, targetP95Ms: 100, batchesInFlight: 1 },
      cost,
      () => rate,
    );
    size.refresh(0, 1);
    expect(size.current.batchSize).toBe(38);
    rate = 0.9;
    size.update(1000, 38, 38);
    expect(size.current.batchSize).toBe(64);
  });

  const opts = { maxBatchSize: 64, maxDelayMs: 5, targetP95Ms: 100, batchesInFlight: 1 };
  const quick = (n: number, ms: number) => Array<number>(n).fill(ms);

  it('grows while batches leave a backlog, even when the cost model says one row', () => {
    // Upper estimates widened by a noisy machine: by the model only one row fits the target, and
    // a closed loop of clients never arrives faster than it is served.
    const pessimistic = { upperMs: (w: number) => 60 + w, expectedMs: (w: number) => 2 + w };
    const seen: number[] = [];
    const size = new BatchSize(
      opts,
      pessimistic,
      () => 0.2,
      (l) => seen.push(l.batchSize),
    );
    size.refresh(0, 1);
    expect(size.current.batchSize).toBe(1);
    let t = 0;
    for (let i = 0; i < 12; i++) {
      const rows = size.current.batchSize;
      for (let k = 0; k < 5; k++)
        size.update((t += 20), rows, rows, { backlog: true, latenciesMs: quick(rows, 300) });
    }
    expect(size.current).toEqual({ batchSize: 64, delayMs: 0 });
    // Grown in steps, never cut while the backlog lasted.
    expect(seen.slice(1)).toEqual([...seen.slice(1)].sort((a, b) => a - b));
  });

  it('grows straight to the rows seen waiting behind full batches', () => {
    const pessimistic = { upperMs: (w: number) => 60 + w, expectedMs: (w: number) => 2 + w };
    const size = new BatchSize(opts, pessimistic, () => 0.2);
    size.refresh(0, 1);
    expect(size.current.batchSize).toBe(1);
    size.update(100, 1, 1, { backlog: true, waitingRows: 40, latenciesMs: [300] });
    expect(size.current.batchSize).toBe(40);
    size.update(200, 40, 40, { backlog: true, waitingRows: 45, latenciesMs: quick(40, 300) });
    expect(size.current.batchSize).toBe(60);
  });

  it('shrinks when the measured p95 is over the target without a backlog, then probes back up', () => {
    const size = new BatchSize(opts, cost, noArrivals);
    size.refresh(0, 1);
    expect(size.current.batchSize).toBe(38);
    // Runs as the model said, but requests took 120 ms: more than the 80 ms planned for the batcher.
    size.update(100, 38, 38, { backlog: false, latenciesMs: quick(38, 120) });
    expect(size.current.batchSize).toBe(28);
    size.update(200, 20, 20, { backlog: false, latenciesMs: quick(20, 120) });
    expect(size.current.batchSize).toBe(21);
    // Within the target again: one more row per interval, up to the model's size.
    for (let t = 300; t < 3000; t += 100)
      size.update(t, 20, 20, { backlog: false, latenciesMs: quick(20, 30) });
    expect(size.current.batchSize).toBe(38);
  });

  it('does not shrink under a backlog: the queue, not the run, makes requests late', () => {
    const size = new BatchSize(opts, cost, noArrivals);
    size.refresh(0, 1);
    for (let t = 100; t < 1000; t += 100)
      size.update(t, 64, 64, { backlog: true, latenciesMs: quick(64, 500) });
    expect(size.current.batchSize).toBe(64);
  });

  it('at capacity, does not cut back to a size that left a backlog a moment ago', () => {
    const size = new BatchSize(opts, cost, noArrivals);
    size.refresh(0, 1);
    let t = 0;
    // Batches of 38 leave rows behind: it grows to 57.
    size.update((t += 100), 38, 38, { backlog: true, latenciesMs: quick(38, 300) });
    expect(size.current.batchSize).toBe(57);
    // No backlog at 57, but the p95 is over the target (a closed loop: every size misses it):
    // no cut below 39, where rows arrived faster than batches served them.
    for (let i = 0; i < 10; i++)
      size.update((t += 100), 57, 57, { backlog: false, latenciesMs: quick(57, 300) });
    expect(size.current.batchSize).toBe(39);
    // Long after the backlog, a p95 over the target cuts again.
    t += 10_000;
    size.update(t, 39, 39, { backlog: false, latenciesMs: quick(39, 300) });
    expect(size.current.batchSize).toBe(29);
  });

  it('does not cut while the model is never idle: at capacity, a cut lowers throughput', () => {
    const size = new BatchSize(opts, cost, noArrivals);
    size.refresh(0, 1);
    // Batches not full, no backlog, p95 over the target, but each batch started as the last ended.
    for (let t = 100; t < 1000; t += 100) {
      size.update(t, 30, 30, { backlog: false, idleMs: 0, latenciesMs: quick(30, 300) });
    }
    expect(size.current.batchSize).toBe(38);
    // With the model idle a fifth of the time, the same p95 cuts.
    size.update(1100, 30, 30, { backlog: false, idleMs: 20, latenciesMs: quick(30, 300) });
    expect(size.current.batchSize).toBe(28);
  });

  it('judges the p95 on recent requests only: a load that has passed does not cut the size', () => {
    const size = new BatchSize(opts, cost, noArrivals);
    size.refresh(0, 1);
    // 30 slow requests, then one fast one every 100 ms (one client): no cut once the slow ones are
    // more than a second old.
    size.update(50, 30, 30, { backlog: false, latenciesMs: quick(10, 300) });
    for (let t = 1100; t < 3000; t += 100) size.update(t, 1, 1, { backlog: false, latenciesMs: [3] });
    expect(size.current.batchSize).toBe(38);
  });

  it('stops batching for good when told', () => {
    const size = new BatchSize(
      { maxBatchSize: 64, maxDelayMs: 5, targetP95Ms: 100, batchesInFlight: 1 },
      cost,
      noArrivals,
    );
    size.stopBatching();
    size.refresh(0, 1);
    expect(size.current).toEqual({ batchSize: 1, delayMs: 0 });
  });
});
