import { describe, expect, it } from '@jest/globals';
import { runIsolated } from '../../src/isolate.ts';

/** A run that fails whenever it holds a bad item, like a runtime on a batch with bad input. */
function runner(bad: Set<number>) {
  const runs: number[][] = [];
  const run = async (items: readonly number[]) => {
    runs.push([...items]);
    const culprit = items.find((i) => bad.has(i));
    if (culprit !== undefined) throw new Error(`bad item ${culprit}`);
    return items.map((i) => i * 10);
  };
  return { runs, run };
}

describe('runIsolated', () => {
  it('runs a good batch once', async () => {
    const r = runner(new Set());
    expect(await runIsolated([1, 2, 3], r.run)).toEqual([10, 20, 30]);
    expect(r.runs).toHaveLength(1);
  });

  it('pins a failure on the bad item alone, in about 2·log2(n) extra runs', async () => {
    const r = runner(new Set([5]));
    const items = Array.from({ length: 16 }, (_, i) => i);
    const out = await runIsolated(items, r.run);
    expect(out.map((o) => (o instanceof Error ? o.message : o))).toEqual(
      items.map((i) => (i === 5 ? 'bad item 5' : i * 10)),
    );
    expect(r.runs.length).toBeLessThanOrEqual(1 + 2 * 4);
  });

  it('isolates several bad items', async () => {
    const r = runner(new Set([0, 3]));
    const out = await runIsolated([0, 1, 2, 3], r.run);
    expect(out.map((o) => o instanceof Error)).toEqual([true, false, false, true]);
  });

  it('gives every item an error that is not splittable (a fault of the batch, not an item)', async () => {
    const r = runner(new Set([1]));
    const out = await runIsolated([1, 2, 3, 4], r.run, () => false);
    expect(out.every((o) => o instanceof Error)).toBe(true);
    expect(r.runs).toHaveLength(1);
  });
});
