import { describe, expect, it } from '@jest/globals';
import { batchContract, checkRows } from '../../src/batch-contract.ts';

const t = (name: string, ...shape: (number | string)[]) => ({ name, shape });

describe('batchContract', () => {
  it('batches when one symbolic name is dimension 0 of every input and output', () => {
    expect(batchContract([t('input', 'batch', 16)], [t('probabilities', 'batch', 4)], 'auto')).toEqual({
      batched: true,
      reason: "dimension 0 is 'batch' on every input and output",
    });
  });

  it('does not batch a detection model: its outputs have a row per detection, not per input row', () => {
    const c = batchContract([t('image', 'batch', 4)], [t('hits', 'hits', 2)], 'auto');
    expect(c.batched).toBe(false);
    expect(c.reason).toMatch(/output 'hits' has dimension 0 'hits', input 'image' 'batch'/);
    expect(c.reason).toMatch(/BATCH_DIMENSION=first/);
  });

  it('does not batch a time-major model ([seq, batch, ...])', () => {
    const c = batchContract([t('x', 'seq', 'batch', 8)], [t('y', 'seq', 'batch', 8)], 'auto');
    expect(c.batched).toBe(false);
    expect(c.reason).toMatch(/input 'x' names dimension 1 'batch': the batch is not first/);
  });

  it('does not batch what exporters named apart, fixed or unnamed first dimensions', () => {
    // What paddle2onnx writes for the ocr-models classifier.
    expect(
      batchContract(
        [t('x', 'p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2')],
        [t('softmax_0.tmp_0', 'p2o.DynamicDimension.3', 2)],
        'auto',
      ).batched,
    ).toBe(false);
    expect(batchContract([t('x', 1, 4)], [t('y', 1, 4)], 'auto').reason).toMatch(/fixed dimension 0 \(1\)/);
    expect(batchContract([t('x', '', 4)], [t('y', '', 4)], 'auto').reason).toMatch(/unnamed dimension 0/);
    expect(batchContract([t('x')], [t('y', 'n')], 'auto').reason).toMatch(/input 'x' has no dimensions/);
  });

  it('follows an explicit setting, and refuses one the model contradicts', () => {
    const cls = [[t('x', 'a', 3, 48, 'w')], [t('y', 'b', 2)]] as const;
    expect(batchContract(...cls, 'first').batched).toBe(true);
    expect(batchContract([t('x', 'batch', 4)], [t('y', 'batch', 4)], 'none')).toEqual({
      batched: false,
      reason: 'BATCH_DIMENSION=none',
    });
    expect(() => batchContract([t('x', 'a', 4)], [t('y', 1, 4)], 'first')).toThrow(
      "BATCH_DIMENSION=first, but output 'y' has a fixed dimension 0 (1)",
    );
  });
});

describe('checkRows', () => {
  it("names the first output whose rows are not the batch's", () => {
    expect(checkRows({ a: { shape: [3, 4] }, b: { shape: [3] } }, 3)).toBeUndefined();
    expect(checkRows({ a: { shape: [3, 4] }, hits: { shape: [5, 2] } }, 3)).toBe(
      "output 'hits' came back with 5 rows for a batch of 3",
    );
  });
});
