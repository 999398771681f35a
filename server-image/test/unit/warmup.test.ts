/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
import { describe, expect, it } from '@jest/globals';
import type { Model } from '../../src/model.ts';
import { warmupCases, warmUp } from '../../src/warmup.ts';
import { clsModelDir, loadModel, MLP_DIR } from '../support/app.ts';

type Spec = Pick<Model, 'inputs' | 'batched'>;
const cls: Spec = { batched: true, inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }] };
const mlp: Spec = { batched: true, inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }] };

describe('warmupCases', () => {
  it("takes a model's own shapes when only the batch is open", () => {
    expect(warmupCases(mlp, [])).toEqual({ cases: [{ input: [16] }] });
    const unbatched: Spec = { batched: false, inputs: [{ name: 'a', datatype: 'FP32', shape: [2, 2] }] };
    expect(warmupCases(unbatched, [])).toEqual({ cases: [{ a: [2, 2] }] });
  });

  it('names the inputs with open dimensions when no shapes are declared', () => {
    expect(warmupCases(cls, [])).toEqual({ open: ["'x' [-1,3,-1,-1]"] });
  });

  it('takes declared shapes, without the batch dimension, and checks them against the model', () => {
    expect(warmupCases(cls, [{ x: [3, 48, 192] }, { x: [3, 48, 320] }])).toEqual({
      cases: [{ x: [3, 48, 192] }, { x: [3, 48, 320] }],
    });
    expect(() => warmupCases(cls, [{ y: [3, 48, 192] }])).toThrow(
      "WARMUP_SHAPES case 1 names 'y'; the model's inputs are 'x'",
    );
    expect(() => warmupCases(cls, [{ x: [3, 48, 192] }, { x: [4, 48, 192] }])).toThrow(
      "WARMUP_SHAPES case 2: input 'x' [4,48,192] does not fit the model's [3,-1,-1] (shapes leave out the batch dimension)",
    );
    expect(() => warmupCases(cls, [{ x: [1, 3, 48, 192] }])).toThrow(/does not fit/);
  });
});

describe('warmUp', () => {
  it('runs every batch size for each declared shape, and times each run for the cost model', async () => {
    const model = await loadModel(clsModelDir(), { BATCH_DIMENSION: 'first' });
    const shapes = warmupCases(model, [{ x: [3, 48, 64] }, { x: [3, 48, 96] }]);
    if (!('cases' in shapes)) throw new Error('expected cases');
    const runs = await warmUp(model, shapes.cases, 3, 64);
    expect(runs.map((r) => [r.rows, r.work])).toEqual([
      [1, 3 * 48 * 64],
      [2, 2 * 3 * 48 * 64],
      [3, 3 * 3 * 48 * 64],
      [1, 3 * 48 * 96],
      [2, 2 * 3 * 48 * 96],
      [3, 3 * 3 * 48 * 96],
    ]);
    for (const r of runs) expect(r.ms).toBeGreaterThan(0);
    await model.close();
  });

  it('times each size up to three times and reports the median, repeating only within its budget', async () => {
    // A fake model on a fake clock: size 2 takes 9 ms once (a pause of the machine), else 1 ms a row.
    let t = 0;
    let calls = 0;
    const twos: number[] = [];
    const model = {
      ...mlp,
      runBatch: async ([feeds]: Parameters<Model['runBatch']>[0]) => {
        const rows = feeds!.input!.shape[0]!;
        calls++;
        if (rows === 2) twos.push(calls);
        t += rows === 2 && twos.length === 2 ? 9 : rows;
        return [{}];
      },
    };
    const runs = await warmUp(model, [{ input: [16] }], 3, 64, 1000, () => t);
    expect(runs.map((r) => [r.rows, r.ms])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(calls).toBe(1 + 3 * 3);
    // Past the budget after the first pass: one timing per size.
    calls = 0;
    await warmUp(model, [{ input: [16] }], 3, 64, 5, () => t);
    expect(calls).toBe(1 + 3);
  });

  it('fails naming the shape when the model rejects a declared one', async () => {
    const rejecting = {
      ...cls,
      runBatch: async () => [new Error('the model rejected this input: too small')],
    };
    await expect(warmUp(rejecting, [{ x: [3, 1, 1] }], 1, 1)).rejects.toThrow(
      'warm-up failed at shape {"x":[3,1,1]}, 1 row(s): the model rejected this input: too small',
    );
  });

  it('warms up the bundled MLP at every size up to the maximum', async () => {
    const model = await loadModel(MLP_DIR);
    const runs = await warmUp(model, [{ input: [16] }], 4, 64);
    expect(runs.map((r) => r.rows)).toEqual([1, 2, 3, 4]);
    await model.close();
  });
});
