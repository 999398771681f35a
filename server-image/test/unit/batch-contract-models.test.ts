/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// The batch contract and isolation on real onnxruntime sessions of generated models whose
// outputs are not batch-aligned, and of models whose runs fail on one request's input.
import { describe, expect, it } from '@jest/globals';
import { classifyRunError, Model } from '../../src/model.ts';
import type { Feeds, ModelOptions } from '../../src/model.ts';
import { Refusal } from '../../src/refusals.ts';
import { clsModelDir } from '../support/app.ts';
import { detectionModel, embeddingModel, timeMajorModel } from '../support/generated-models.ts';

const load = (dir: string, extra: Partial<ModelOptions> = {}) =>
  Model.load({
    name: 'm',
    dir,
    precision: 'fp32',
    executionProvider: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
    ...extra,
  });

function ok(r: Feeds | Error | undefined): Feeds {
  if (r === undefined || r instanceof Error) throw r ?? new Error('no result');
  return r;
}

const scores = (...v: number[]) => ({ scores: { data: Float32Array.from(v), shape: [v.length / 4, 4] } });
const hitsOf = (f: Feeds) => Array.from(f.hits!.data as BigInt64Array, Number);

describe('the batch contract on generated models', () => {
  it("never hands one caller's detections to another (NonZero -> Transpose, rows per detection)", async () => {
    const model = await load(detectionModel('hits'));
    expect(model.batched).toBe(false);
    expect(model.batching).toMatch(/output 'hits' has dimension 0 'hits', input 'scores' 'batch'/);
    // Client A sent all zeros; client B has one hit, at column 2.
    const [a, b] = await model.runBatch([scores(0, 0, 0, 0), scores(0, 0, 1, 0)]);
    expect(ok(a).hits!.shape).toEqual([0, 2]);
    expect(hitsOf(ok(b))).toEqual([0, 2]);
    await model.close();
  });

  it('checks the rows of a model that declares a batch it does not keep, and turns batching off', async () => {
    const off: string[] = [];
    const logged: string[] = [];
    const model = await load(detectionModel('batch'), {
      log: (m) => logged.push(m),
      onBatchingOff: (r) => off.push(r),
    });
    expect(model.batched).toBe(true);
    const [a, b] = await model.runBatch([scores(0, 0, 0, 0), scores(1, 0, 1, 1)]);
    expect(ok(a).hits!.shape).toEqual([0, 2]);
    expect(hitsOf(ok(b))).toEqual([0, 0, 0, 2, 0, 3]);
    expect(model.batched).toBe(false);
    expect(off).toEqual(["batching turned off: output 'hits' came back with 3 rows for a batch of 2"]);
    expect(logged).toHaveLength(1);
    // From now on requests run alone, and nothing more is logged.
    const [c, d] = await model.runBatch([scores(0, 1, 0, 0), scores(0, 0, 0, 0)]);
    expect(hitsOf(ok(c))).toEqual([0, 1]);
    expect(ok(d).hits!.shape).toEqual([0, 2]);
    expect(logged).toHaveLength(1);
    await model.close();
  });

  it('does not stack a time-major model along time', async () => {
    const model = await load(timeMajorModel());
    expect(model.batched).toBe(false);
    expect(model.batching).toMatch(/dimension 1 'batch'/);
    const seq = (v: number) => ({ x: { data: new Float32Array(8).fill(v), shape: [2, 1, 4] } });
    const [a, b] = await model.runBatch([seq(1), seq(10)]);
    // Each sequence's running sum is its own: 1, 2 and 10, 20.
    expect(Array.from(ok(a).y!.data as Float32Array)).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    expect(Array.from(ok(b).y!.data as Float32Array)).toEqual([10, 10, 10, 10, 20, 20, 20, 20]);
    await model.close();
  });

  it('batches what the configuration says is batch-first, though its names differ', async () => {
    expect((await load(clsModelDir())).batched).toBe(false);
    const cls = await load(clsModelDir(), { batchDimension: 'first' });
    expect([cls.batched, cls.batching]).toEqual([true, expect.stringMatching(/BATCH_DIMENSION=first/)]);
    await cls.close();
  });
});

describe('isolation: one bad request fails alone', () => {
  it('answers an out-of-vocabulary id with a refusal, and its batch-mates with their vectors', async () => {
    const model = await load(embeddingModel());
    expect(model.batched).toBe(true);
    const ids = (...v: number[]) => ({ ids: { data: BigInt64Array.from(v.map(BigInt)), shape: [1, 3] } });
    const out = await model.runBatch([ids(1, 2, 3), ids(4, 100, 5), ids(9, 8, 7)]);
    expect(ok(out[0]).vectors!.shape).toEqual([1, 3, 4]);
    expect(ok(out[2]).vectors!.shape).toEqual([1, 3, 4]);
    expect(out[1]).toBeInstanceOf(Refusal);
    expect([(out[1] as Refusal).kind, (out[1] as Refusal).message]).toEqual([
      'bad-input',
      expect.stringMatching(/^the model rejected this input: .*out of .*bounds.*\(Gather node/),
    ]);
    await model.close();
  });

  it('answers a zero-size dimension with a refusal that names the problem', async () => {
    const cls = await load(clsModelDir());
    await expect(cls.run({ x: { data: new Float32Array(0), shape: [1, 3, 0, 0] } })).rejects.toEqual(
      new Refusal(
        'bad-input',
        "the model rejected this input: Invalid input shape: {0,0} (Conv node 'batch_norm_0.tmp_3_nchwc')",
      ),
    );
    await cls.close();
  });
});

describe('classifyRunError', () => {
  it('blames the input for kernel failures, not for resources, and strips source locations', () => {
    const kernel = (msg: string) =>
      new Error(`Non-zero status code returned while running Reshape node. Name:'r' Status Message: ${msg}`);
    const reshape = classifyRunError(
      kernel(
        '/onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:84 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, bool) size != 0 was false. The input tensor cannot be reshaped.',
      ),
    );
    expect(reshape).toEqual(
      new Refusal(
        'bad-input',
        "the model rejected this input: size != 0 was false. The input tensor cannot be reshaped. (Reshape node 'r')",
      ),
    );
    const oom = kernel('Failed to allocate memory for requested buffer of size 1073741824');
    expect(classifyRunError(oom)).toBe(oom);
    const other = new Error('something else');
    expect(classifyRunError(other)).toBe(other);
    expect(
      classifyRunError(new Error('Got invalid dimensions for input: x for the following indices')),
    ).toBeInstanceOf(Refusal);
  });
});
