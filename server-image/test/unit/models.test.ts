/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { Model } from '../../src/model.ts';
import type { Feeds, Precision } from '../../src/model.ts';
import { mlpFiles, MLP_INPUTS, MLP_CLASSES, MLP_SEED } from '../../src/models/mlp.ts';
import { fromHalfBits, toHalfBits } from '../../src/tensor/codec.ts';

const MLP_DIR = fileURLToPath(new URL('../../models/mlp', import.meta.url));

const load = (precision: Precision) =>
  Model.load({
    name: 'mlp',
    dir: MLP_DIR,
    precision,
    executionProvider: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
  });

/** A fixed, varied input batch. */
function inputs(rows: number): Float32Array {
  return Float32Array.from({ length: rows * MLP_INPUTS }, (_, i) => Math.sin(i * 0.7) * 2);
}

async function probabilities(precision: Precision, rows: number): Promise<number[]> {
  const model = await load(precision);
  try {
    const x = inputs(rows);
    const data = precision === 'fp16' ? toHalfBits(x) : x;
    const out = await model.run({ input: { data, shape: [rows, MLP_INPUTS] } });
    const p = out.probabilities!;
    expect(p.shape).toEqual([rows, MLP_CLASSES]);
    return precision === 'fp16'
      ? Array.from(fromHalfBits(p.data as Uint16Array))
      : Array.from(p.data as Float32Array);
  } finally {
    await model.close();
  }
}

describe('generated MLP', () => {
  it('regenerates byte for byte what is checked in, and its second version (the next seed) too', () => {
    for (const [name, bytes] of Object.entries(mlpFiles())) {
      expect(Buffer.compare(Buffer.from(bytes), readFileSync(`${MLP_DIR}/${name}`))).toBe(0);
    }
    for (const [name, bytes] of Object.entries(mlpFiles(MLP_SEED + 1))) {
      expect(Buffer.compare(Buffer.from(bytes), readFileSync(`${MLP_DIR}-v2/${name}`))).toBe(0);
      // Other weights: another version of every file.
      expect(Buffer.compare(Buffer.from(bytes), readFileSync(`${MLP_DIR}/${name}`))).not.toBe(0);
    }
  });

  it('describes each variant with its own datatypes and an open batch dimension', async () => {
    for (const [precision, datatype] of [
      ['fp32', 'FP32'],
      ['fp16', 'FP16'],
      ['int8', 'FP32'],
    ] as const) {
      const m = await load(precision);
      expect(m.inputs).toEqual([{ name: 'input', datatype, shape: [-1, MLP_INPUTS] }]);
      expect(m.outputs).toEqual([{ name: 'probabilities', datatype, shape: [-1, MLP_CLASSES] }]);
      expect(m.batched).toBe(true);
      expect(m.executionProvider).toBe('cpu');
      expect(
        m.file.endsWith({ fp32: 'model.onnx', fp16: 'model.fp16.onnx', int8: 'model.int8.onnx' }[precision]),
      ).toBe(true);
      await m.close();
    }
  });

  it('gives close outputs in every precision, and different bytes (a different graph ran)', async () => {
    const fp32 = await probabilities('fp32', 3);
    for (let r = 0; r < 3; r++) {
      expect(fp32.slice(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    // The softmax is not flat: the classes differ, so closeness below means something.
    expect(Math.max(...fp32) - Math.min(...fp32)).toBeGreaterThan(0.2);
    for (const precision of ['fp16', 'int8'] as const) {
      const other = await probabilities(precision, 3);
      other.forEach((v, i) => expect(Math.abs(v - fp32[i]!)).toBeLessThan(0.03));
      expect(other).not.toEqual(fp32);
    }
  });

  it('splits a batch back into its requests, matching single runs', async () => {
    const model = await load('fp32');
    const x = inputs(3);
    const parts = [x.slice(0, 16), x.slice(16, 48)];
    const batched = (await model.runBatch([
      { input: { data: parts[0]!, shape: [1, 16] } },
      { input: { data: parts[1]!, shape: [2, 16] } },
    ])) as Feeds[];
    expect(batched.some((b) => b instanceof Error)).toBe(false);
    const alone = await model.run({ input: { data: x, shape: [3, 16] } });
    expect(batched.map((b) => b.probabilities!.shape)).toEqual([
      [1, 4],
      [2, 4],
    ]);
    expect([...batched[0]!.probabilities!.data, ...batched[1]!.probabilities!.data]).toEqual([
      ...alone.probabilities!.data,
    ]);
    await model.close();
  });

  it('names the missing file when a precision variant is absent', async () => {
    await expect(
      Model.load({
        name: 'x',
        dir: '/nonexistent',
        precision: 'int8',
        executionProvider: 'cpu',
        intraOpThreads: 1,
        interOpThreads: 1,
      }),
    ).rejects.toThrow(
      'model file /nonexistent/model.int8.onnx not found (PRECISION=int8 reads model.int8.onnx)',
    );
  });
});
