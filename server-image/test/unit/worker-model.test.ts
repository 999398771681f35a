/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
import { describe, expect, it } from '@jest/globals';
import { Model } from '../../src/model.ts';
import type { ModelOptions } from '../../src/model.ts';
import { WorkerModel } from '../../src/worker-model.ts';
import { clsModelDir, MLP_DIR } from '../support/app.ts';

const opts = (dir: string, precision: ModelOptions['precision'] = 'fp32'): ModelOptions => ({
  name: 'm',
  dir,
  precision,
  executionProvider: 'cpu',
  intraOpThreads: 1,
  interOpThreads: 1,
});

const rows = (n: number, seed: number) => Float32Array.from({ length: n * 16 }, (_, i) => Math.cos(i + seed));

describe('WorkerModel (session on a worker thread)', () => {
  it('describes the model as the in-thread Model does', async () => {
    const inThread = await Model.load(opts(MLP_DIR, 'fp16'));
    const worker = await WorkerModel.load(opts(MLP_DIR, 'fp16'));
    for (const k of [
      'name',
      'precision',
      'file',
      'executionProvider',
      'inputs',
      'outputs',
      'batched',
    ] as const) {
      expect(worker[k]).toEqual(inThread[k]);
    }
    await inThread.close();
    await worker.close();
  });

  it('runs a batch of requests and gives each the same rows as an in-thread run', async () => {
    const inThread = await Model.load(opts(MLP_DIR));
    const worker = await WorkerModel.load(opts(MLP_DIR));
    const items = [
      { input: { data: rows(1, 1), shape: [1, 16] } },
      { input: { data: rows(3, 2), shape: [3, 16] } },
    ];
    const expected = await inThread.runBatch(items);
    const got = await worker.runBatch(
      items.map((f) => ({ input: { ...f.input, data: f.input.data.slice() } })),
    );
    expect(got.map((g) => g.probabilities!.shape)).toEqual([
      [1, 4],
      [3, 4],
    ]);
    expect(got.map((g) => Array.from(g.probabilities!.data as Float32Array))).toEqual(
      expected.map((e) => Array.from(e.probabilities!.data as Float32Array)),
    );
    await inThread.close();
    await worker.close();
  });

  it("reports each batch's session.run time on this thread, as the in-thread Model does", async () => {
    const times = { inThread: [] as number[], worker: [] as number[] };
    const inThread = await Model.load({ ...opts(MLP_DIR), onRun: (s) => times.inThread.push(s) });
    const worker = await WorkerModel.load({ ...opts(MLP_DIR), onRun: (s) => times.worker.push(s) });
    const batch = () => [
      { input: { data: rows(2, 1), shape: [2, 16] } },
      { input: { data: rows(1, 2), shape: [1, 16] } },
    ];
    for (const model of [inThread, worker]) {
      await model.runBatch(batch());
      await model.runBatch(batch());
    }
    // One session.run per batch, whatever the number of requests in it.
    for (const t of [times.inThread, times.worker]) {
      expect(t).toHaveLength(2);
      for (const s of t) expect(s).toBeGreaterThan(0);
    }
    await inThread.close();
    await worker.close();
  });

  it('rejects a run the runtime fails, and keeps serving', async () => {
    const worker = await WorkerModel.load(opts(clsModelDir()));
    await expect(
      worker.runBatch([{ x: { data: new Float32Array(0), shape: [1, 3, 0, 0] } }]),
    ).rejects.toThrow(/Conv/);
    const ok = await worker.runBatch([
      { x: { data: new Float32Array(3 * 48 * 192), shape: [1, 3, 48, 192] } },
    ]);
    expect(ok[0]!['softmax_0.tmp_0']!.shape).toEqual([1, 2]);
    await worker.close();
    await expect(worker.runBatch([])).rejects.toThrow('model closed');
  });

  it('fails to load with the same message as an in-thread load', async () => {
    await expect(WorkerModel.load(opts('/nonexistent', 'int8'))).rejects.toThrow(
      'model file /nonexistent/model.int8.onnx not found (PRECISION=int8 reads model.int8.onnx)',
    );
  });
});
