import { describe, expect, it } from '@jest/globals';
import { ArrivalRate, completionEstimate, robustSeeds, RunCost } from '../../src/cost-model.ts';

function clockAt(t = 0) {
  const c = { t, now: () => c.t };
  return c;
}

describe('RunCost', () => {
  it('knows nothing before any run, so it holds nothing against a request', () => {
    const cost = new RunCost({ now: clockAt().now });
    expect(cost.expectedMs(1000)).toBe(0);
    expect(cost.upperMs(1000)).toBe(0);
  });

  it('fits a fixed cost plus a cost per element from warm-up, and plans above it', () => {
    const cost = new RunCost({ now: clockAt().now });
    cost.seed([
      { work: 100, ms: 3 },
      { work: 400, ms: 6 },
      { work: 1600, ms: 18 },
    ]);
    // 2 ms + 0.01 ms per element.
    expect(cost.expectedMs(800)).toBeCloseTo(10, 1);
    expect(cost.expectedMs(100)).toBeCloseTo(3, 1);
    expect(cost.expectedMs(3200)).toBeCloseTo(34, 0);
    expect(cost.upperMs(800)).toBeGreaterThan(cost.expectedMs(800) * 1.2);
  });

  it('prices inputs by their size: one large slow run barely moves the price of small ones', () => {
    const c = clockAt();
    const cost = new RunCost({ now: c.now });
    cost.seed([
      { work: 27_648, ms: 1.4 },
      { work: 8 * 27_648, ms: 8 },
    ]);
    const small = cost.expectedMs(27_648);
    // A [1,3,48,50000] image: 260 times the elements, 1.7 s.
    cost.observe(7_200_000, 1727);
    expect(cost.expectedMs(7_200_000)).toBeGreaterThan(1000);
    expect(cost.expectedMs(27_648)).toBeLessThan(small + 5);
  });

  it('follows the runs it observes, and returns to warm-up figures when traffic stops', () => {
    const c = clockAt();
    const cost = new RunCost({ now: c.now, halfLifeMs: 1000 });
    cost.seed([
      { work: 1, ms: 10 },
      { work: 4, ms: 16 },
    ]);
    // The machine got three times slower for a while.
    for (let i = 0; i < 200; i++) {
      cost.observe(i % 2 ? 1 : 4, i % 2 ? 30 : 48);
      c.t += 5;
    }
    expect(cost.expectedMs(1)).toBeCloseTo(30, 0);
    c.t += 20_000; // twenty half-lives, nothing run
    expect(cost.expectedMs(1)).toBeCloseTo(10, 0);
  });

  it('without warm-up, forgets an old estimate instead of holding it against requests forever', () => {
    const c = clockAt();
    const cost = new RunCost({ now: c.now, halfLifeMs: 1000 });
    cost.observe(1, 500);
    expect(cost.expectedMs(1)).toBeCloseTo(500, -1);
    c.t += 20_000;
    expect(cost.expectedMs(1)).toBeLessThan(5);
  });

  it('widens its upper estimate when runs overrun their prediction', () => {
    const c = clockAt();
    const steady = new RunCost({ now: c.now });
    const noisy = new RunCost({ now: c.now });
    for (const cost of [steady, noisy])
      cost.seed([
        { work: 1, ms: 10 },
        { work: 2, ms: 12 },
      ]);
    for (let i = 0; i < 50; i++) {
      steady.observe(1, 10);
      noisy.observe(1, i % 2 ? 6 : 16);
      c.t += 1;
    }
    const ratio = (cost: RunCost) => cost.upperMs(1) / cost.expectedMs(1);
    expect(ratio(steady)).toBeLessThan(1.1);
    expect(ratio(noisy)).toBeGreaterThan(1.5);
  });

  it('discards one warm-up timing far off its neighbours', () => {
    const cost = new RunCost({ now: clockAt().now });
    // Sizes 1…16 at 2 ms + 1 ms a row; size 4 timed during a pause of the machine.
    const rows = Array.from({ length: 16 }, (_, i) => i + 1);
    cost.seed(rows.map((r) => ({ work: r, ms: r === 4 ? 60 : 2 + r })));
    for (const r of [3, 4, 5]) expect(cost.expectedMs(r)).toBeCloseTo(2 + r, 0);
  });

  it('plans with the median of repeated warm-up timings of a size, and keeps cost non-decreasing', () => {
    const cost = new RunCost({ now: clockAt().now });
    cost.seed([
      { work: 1, ms: 5.2 },
      { work: 1, ms: 20.3 },
      { work: 1, ms: 1.3 },
      { work: 2, ms: 4 },
      { work: 4, ms: 3 },
    ]);
    expect(
      robustSeeds([
        { work: 1, ms: 5.2 },
        { work: 1, ms: 20.3 },
        { work: 1, ms: 1.3 },
      ]),
    ).toEqual([{ work: 1, ms: 5.2 }]);
    expect(cost.expectedMs(1)).toBeLessThan(5.3);
    expect(cost.expectedMs(4)).toBeGreaterThanOrEqual(cost.expectedMs(2));
  });

  it('lets fresh runs of a size replace its warm-up figure', () => {
    const c = clockAt();
    const cost = new RunCost({ now: c.now, halfLifeMs: 1000 });
    cost.seed([{ work: 1, ms: 20 }]);
    for (let i = 0; i < 5; i++) {
      cost.observe(1, 2);
      c.t += 1;
    }
    expect(cost.expectedMs(1)).toBeLessThan(3);
  });

  it('never predicts a negative or falling cost', () => {
    const cost = new RunCost({ now: clockAt().now });
    cost.seed([
      { work: 1, ms: 5 },
      { work: 100, ms: 1 },
    ]);
    expect(cost.expectedMs(1)).toBeGreaterThan(0);
    expect(cost.expectedMs(1000)).toBeGreaterThanOrEqual(cost.expectedMs(1));
  });
});

describe('ArrivalRate', () => {
  it('measures a steady rate and decays without arrivals', () => {
    const c = clockAt();
    const rate = new ArrivalRate({ now: c.now, halfLifeMs: 100 });
    for (let i = 0; i < 2000; i++) {
      rate.observe(2);
      c.t += 1; // 2 rows per ms
    }
    expect(rate.perMs()).toBeCloseTo(2, 1);
    expect(rate.lastAt).toBe(1999);
    c.t += 1000;
    expect(rate.perMs()).toBeLessThan(0.01);
  });
});

describe('completionEstimate', () => {
  const cost = { expectedMs: (w: number) => 2 + w, upperMs: (w: number) => 2 * (2 + w) };

  it('adds the busy time, the full batches ahead and its own batch', () => {
    // 10 rows ahead in batches of 4: two full batches (6 ms each), then it shares the third.
    expect(completionEstimate(cost, { busyMs: 5, rowsAhead: 10, batchSize: 4 }, 1, 1)).toEqual({
      waitMs: 5 + 2 * 6,
      runMs: 2 * (2 + 3),
    });
  });

  it('prices its own batch by its work per row, and ignores a busy time already past', () => {
    expect(completionEstimate(cost, { busyMs: -3, rowsAhead: 0, batchSize: 8 }, 2, 10)).toEqual({
      waitMs: 0,
      runMs: 2 * (2 + 20),
    });
  });
});
