/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
import { describe, expect, it } from '@jest/globals';
import { Model } from '../../src/model.ts';
import type { Feeds } from '../../src/model.ts';
import { Refusal } from '../../src/refusals.ts';
import { WorkerModel } from '../../src/worker-model.ts';
import { clsModelDir, MLP_DIR, modelOptions as opts } from '../support/app.ts';
import { detectionModel } from '../support/generated-models.ts';

/** A request's outputs; fails the test when the run gave it an error instead. */
function ok(r: Feeds | Error | undefined): Feeds {
  if (r === undefined || r instanceof Error) throw r ?? new Error('no result');
  return r;
}

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
      'batching',
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
    expect(got.map((g) => ok(g).probabilities!.shape)).toEqual([
      [1, 4],
      [3, 4],
    ]);
    expect(got.map((g) => Array.from(ok(g).probabilities!.data as Float32Array))).toEqual(
      expected.map((e) => Array.from(ok(e).probabilities!.data as Float32Array)),
    );
    await inThread.close();
    await worker.close();
  });

  it("moves the buffers under its inputs to the worker, views included, but copies from Node's shared pool", async () => {
    const worker = await WorkerModel.load(opts(MLP_DIR));
    const inThread = await Model.load(opts(MLP_DIR));
    // A request body with the tensor viewed in place after a 24-byte header.
    const body = new ArrayBuffer(24 + 16 * 4);
    const viewed = new Float32Array(body, 24, 16);
    viewed.set(rows(1, 5));
    // A small Buffer is a slice of the pool that Node marks untransferable.
    const pooled = Buffer.from(new Uint8Array(rows(1, 6).buffer));
    const fromPool = new Float32Array(pooled.buffer, pooled.byteOffset, 16);
    const expected = await inThread.runBatch([
      { input: { data: rows(1, 5), shape: [1, 16] } },
      { input: { data: rows(1, 6), shape: [1, 16] } },
    ]);
    const got = await worker.runBatch([
      { input: { data: viewed, shape: [1, 16] } },
      { input: { data: fromPool, shape: [1, 16] } },
    ]);
    expect(got.map((g) => Array.from(ok(g).probabilities!.data as Float32Array))).toEqual(
      expected.map((e) => Array.from(ok(e).probabilities!.data as Float32Array)),
    );
    expect(body.byteLength).toBe(0); // detached: moved, not copied
    expect(Array.from(fromPool)).toEqual(Array.from(rows(1, 6)));
    await inThread.close();
    await worker.close();
  });

  it('keeps the inputs of overlapping batches apart (batch memory is reused only after a run)', async () => {
    const reference = await Model.load(opts(MLP_DIR));
    const batches = [0, 1, 2, 3].map((b) => [
      { input: { data: rows(2, 10 * b), shape: [2, 16] } },
      { input: { data: rows(1, 10 * b + 1), shape: [1, 16] } },
    ]);
    const expected: number[][][] = [];
    for (const batch of batches) {
      const alone = await Promise.all(batch.map((f) => reference.run(f)));
      expected.push(alone.map((o) => Array.from(o.probabilities!.data as Float32Array)));
    }
    await reference.close();
    for (const load of [Model.load, WorkerModel.load]) {
      const model = await load(opts(MLP_DIR));
      try {
        for (let round = 0; round < 2; round++) {
          const copies = batches.map((b) =>
            b.map((f) => ({ input: { ...f.input, data: f.input.data.slice() } })),
          );
          const got = await Promise.all(copies.map((b) => model.runBatch(b)));
          expect(got.map((r) => r.map((o) => Array.from(ok(o).probabilities!.data as Float32Array)))).toEqual(
            expected,
          );
        }
      } finally {
        await model.close();
      }
    }
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

  it('reports runs asked for together without the wait for one another (the worker holds several batches)', async () => {
    const times: number[] = [];
    const model = await Model.load({ ...opts(clsModelDir()), onRun: (s) => times.push(s) });
    const image = () => ({
      x: { data: new Float32Array(4 * 3 * 48 * 192).fill(0.5), shape: [4, 3, 48, 192] },
    });
    await model.run(image());
    times.length = 0;
    const started = performance.now();
    await Promise.all([1, 2, 3, 4].map(() => model.run(image())));
    const wall = (performance.now() - started) / 1000;
    // Each run's own time, one after the other: together no more than the time they all took.
    expect(times).toHaveLength(4);
    expect(times.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(wall);
    await model.close();
  });

  it('times each pipelined batch on its own run, and reports the wait before it apart', async () => {
    const runs: number[] = [];
    const waits: number[] = [];
    const worker = await WorkerModel.load({
      ...opts(clsModelDir()),
      batchDimension: 'first',
      onRun: (s) => runs.push(s),
      onWorkerQueue: (s) => waits.push(s),
    });
    const image = () => ({
      x: { data: new Float32Array(8 * 3 * 48 * 192).fill(0.5), shape: [8, 3, 48, 192] },
    });
    await worker.runBatch([image()]);
    runs.length = 0;
    waits.length = 0;
    // Four batches handed over at once, as the batcher pipelines them: they run one after another.
    const started = performance.now();
    await Promise.all([1, 2, 3, 4].map(() => worker.runBatch([image()])));
    const wallSeconds = (performance.now() - started) / 1000;
    expect(runs).toHaveLength(4);
    expect(waits).toHaveLength(4);
    // Runs on one thread cannot overlap: honest run times add up to no more than the time it all
    // took. A clock started before onnxruntime's deferral counts the runs ahead too (1+2+3+4 runs).
    expect(runs.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(wallSeconds);
    // The batches behind the first waited, and that wait is reported apart.
    expect(Math.max(...waits)).toBeGreaterThan(0);
    await worker.close();
  });

  it('brings back the input the runtime rejects as a Refusal, beside the good one, and keeps serving', async () => {
    const worker = await WorkerModel.load({ ...opts(clsModelDir()), batchDimension: 'first' });
    const [bad, good] = await worker.runBatch([
      { x: { data: new Float32Array(0), shape: [1, 3, 0, 0] } },
      { x: { data: new Float32Array(3 * 48 * 192), shape: [1, 3, 48, 192] } },
    ]);
    expect(bad).toBeInstanceOf(Refusal);
    expect([(bad as Refusal).kind, (bad as Refusal).message]).toEqual([
      'bad-input',
      expect.stringMatching(/^the model rejected this input: Invalid input shape: \{0,0\} \(Conv node/),
    ]);
    expect(ok(good)['softmax_0.tmp_0']!.shape).toEqual([1, 2]);
    await worker.close();
    await expect(worker.runBatch([])).rejects.toThrow('model closed');
  });

  it('tells this thread when the model turns batching off, and says why', async () => {
    const off: string[] = [];
    const logged: string[] = [];
    const worker = await WorkerModel.load({
      ...opts(detectionModel('batch')),
      log: (m) => logged.push(m),
      onBatchingOff: (r) => off.push(r),
    });
    expect(worker.batched).toBe(true);
    const [none, three] = await worker.runBatch([
      { scores: { data: new Float32Array(4), shape: [1, 4] } },
      { scores: { data: Float32Array.of(1, 0, 1, 1), shape: [1, 4] } },
    ]);
    expect(ok(none).hits!.shape).toEqual([0, 2]);
    expect(ok(three).hits!.shape).toEqual([3, 2]);
    expect(worker.batched).toBe(false);
    expect(off).toEqual([expect.stringMatching(/output 'hits' came back with 3 rows for a batch of 2/)]);
    expect(logged).toEqual([expect.stringMatching(/batching turned off.*one at a time/)]);
    expect(worker.batching).toBe(off[0]);
    await worker.close();
  });

  it('fails to load with the same message as an in-thread load', async () => {
    await expect(WorkerModel.load(opts('/nonexistent', 'int8'))).rejects.toThrow(
      'model file /nonexistent/model.int8.onnx not found (PRECISION=int8 reads model.int8.onnx)',
    );
  });
});
