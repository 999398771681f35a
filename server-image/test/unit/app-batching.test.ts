/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// Batching as a client sees it through the app: what runs together, priorities and deadlines from
// the headers, status codes for refusals, isolation of a bad request, the batch contract.
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Feeds } from '../../src/model.ts';
import { clsModelDir, gatedModel, loadModel, MLP_DIR, mlpRequest, testApp, until } from '../support/app.ts';
import type { GatedModel, TestApp } from '../support/app.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { detectionModel, embeddingModel } from '../support/generated-models.ts';

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  headers: { 'content-type': 'application/json', ...headers },
  payload: JSON.stringify(body),
});

/** An MLP request of one row whose first value is `mark` (what the gated model records). */
const marked = (mark: number) => {
  const r = mlpRequest(1);
  r.inputs[0]!.data[0] = mark;
  return r;
};

let t: TestApp;
let gate: GatedModel;

async function gatedApp(dir: string, env: Record<string, string>) {
  gate = gatedModel(await loadModel(dir, env));
  t = await testApp({ MODEL_DIR: dir, ...env }, undefined, gate.model);
}

afterEach(async () => {
  gate.release();
  await t.close();
  await gate.model.close();
});

const infer = (body: unknown, headers: Record<string, string> = {}, model = 'mlp') =>
  t.app.inject({ method: 'POST', url: `/v2/models/${model}/infer`, ...json(body, headers) });

describe('dynamic batching through the app', () => {
  it('runs a lone request at once, and what arrives meanwhile as one batch with its own rows each', async () => {
    await gatedApp(MLP_DIR, { POOL: 'throughput', MAX_BATCH_SIZE: '8', MAX_DELAY_MS: '50' });
    gate.hold();
    const first = infer(marked(1));
    await until(() => gate.runs.length === 1, 'the first run');
    const bodies = [mlpRequest(1), mlpRequest(3), mlpRequest(2)];
    const pending = bodies.map((b) => infer(b));
    await until(() => t.batcher.depth === 3, 'three queued requests');
    gate.release();
    const responses = await Promise.all(pending);
    expect((await first).statusCode).toBe(200);
    expect(gate.runs.map((r) => r.length)).toEqual([1, 3]);
    const alone = await t.model.run({
      input: { data: Float32Array.from(bodies[1]!.inputs[0]!.data), shape: [3, 16] },
    });
    expect(responses.map((r) => r.json().outputs[0].shape)).toEqual([
      [1, 4],
      [3, 4],
      [2, 4],
    ]);
    responses[1]!
      .json()
      .outputs[0].data.forEach((v: number, i: number) =>
        expect(v).toBeCloseTo(alone.probabilities!.data[i] as number, 6),
      );
    const metrics = await t.metrics.registry.metrics();
    expect(metrics).toMatch(/servingstack_batch_size_sum\{model="mlp",pool="throughput"\} 7/);
    expect(metrics).toMatch(/servingstack_batch_size_count\{model="mlp",pool="throughput"\} 2/);
  });

  it('answers 503 with Retry-After when the queue is full', async () => {
    await gatedApp(MLP_DIR, { MAX_QUEUE_SIZE: '1' });
    gate.hold();
    const running = infer(mlpRequest());
    await until(() => gate.runs.length === 1, 'the first run');
    const queued = infer(mlpRequest());
    await until(() => t.batcher.depth === 1, 'a queued request');
    const refused = await infer(mlpRequest());
    expect([refused.statusCode, refused.headers['retry-after'], refused.json().error]).toEqual([
      503,
      '1',
      expect.stringMatching(/queue is full \(1 rows\)/),
    ]);
    gate.release();
    expect([(await running).statusCode, (await queued).statusCode]).toEqual([200, 200]);
  });

  it('runs X-Serving-Priority: real-time ahead of earlier requests, and batch last', async () => {
    // One batch at a time (a worker would get full batches handed ahead).
    await gatedApp(MLP_DIR, { MAX_BATCH_SIZE: '1', MAX_DELAY_MS: '0', INFERENCE_THREAD: 'main' });
    gate.hold();
    const all = [infer(marked(0))];
    await until(() => gate.runs.length === 1, 'the first run');
    all.push(infer(marked(1), { 'x-serving-priority': 'batch' }));
    all.push(infer(marked(2)));
    all.push(infer(marked(3), { 'x-serving-priority': 'real-time' }));
    await until(() => t.batcher.depth === 3, 'three queued requests');
    gate.release();
    expect((await Promise.all(all)).map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
    expect(gate.runs).toEqual([[0], [3], [2], [1]]);
  });

  it("reads the stack's own header names and values", async () => {
    await gatedApp(MLP_DIR, {
      MAX_BATCH_SIZE: '1',
      INFERENCE_THREAD: 'main',
      PRIORITY_HEADER: 'X-Lane',
      REAL_TIME_PRIORITY: 'fast',
      TIMEOUT_HEADER: 'X-Budget-Ms',
    });
    gate.hold();
    const all = [infer(marked(0)), infer(marked(1)), infer(marked(2), { 'x-lane': 'fast' })];
    await until(() => t.batcher.depth === 2, 'two queued requests');
    const bad = await infer(marked(3), { 'x-budget-ms': 'soon' });
    expect([bad.statusCode, bad.json().error]).toEqual([400, expect.stringMatching(/^X-Budget-Ms must be/)]);
    gate.release();
    await Promise.all(all);
    expect(gate.runs).toEqual([[0], [2], [1]]);
  });

  it('answers 504 at once for a deadline that the queue and the run cannot meet, and runs one that can', async () => {
    await gatedApp(MLP_DIR, { MAX_BATCH_SIZE: '1', INFERENCE_THREAD: 'main' });
    t.batcher.seed([
      { rows: 1, work: 16, ms: 40 },
      { rows: 2, work: 32, ms: 50 },
    ]);
    gate.hold();
    const running = infer(mlpRequest());
    await until(() => gate.runs.length === 1, 'the first run');
    const hurried = await infer(mlpRequest(), { 'x-request-timeout-ms': '60' });
    expect([hurried.statusCode, hurried.json().error]).toEqual([
      504,
      expect.stringMatching(
        /^request deadline cannot be met: (60\.0|59\.\d) ms left; it would wait about \d+\.\d ms and run about 55\.7 ms$/,
      ),
    ]);
    const patient = infer(mlpRequest(), { 'x-request-timeout-ms': '5000' });
    await until(() => t.batcher.depth === 1, 'the patient request queued');
    gate.release();
    expect([(await running).statusCode, (await patient).statusCode]).toEqual([200, 200]);
    const metrics = await t.metrics.registry.metrics();
    expect(metrics).toMatch(/servingstack_requests_total\{model="mlp",pool="throughput",code="504"\} 1/);
  });

  it('answers 504, not 200, when the deadline passes between the batch and the send (a loop that ran late)', async () => {
    const clock = new FakeClock();
    // The app's clock runs ahead of the batcher's by `late` ms: time the answer waited to be sent.
    let late = 0;
    gate = gatedModel(await loadModel(MLP_DIR));
    t = await testApp({ POOL: 'throughput' }, clock, gate.model, () => clock.now() + late);
    gate.hold();
    const answer = infer(mlpRequest(), { 'x-request-timeout-ms': '1000' });
    await until(() => gate.runs.length === 1, 'the run');
    late = 1500;
    gate.release();
    const res = await answer;
    expect([res.statusCode, res.json().error]).toEqual([
      504,
      expect.stringMatching(
        /^request deadline cannot be met: its answer was ready 5\d\d\.\d ms after the deadline$/,
      ),
    ]);
    // In time, the same request is answered.
    late = 0;
    expect((await infer(mlpRequest(), { 'x-request-timeout-ms': '1000' })).statusCode).toBe(200);
    // The late 504 is counted as a deadline missed (by the server's clock); the 200 is not.
    const metrics = await t.metrics.registry.metrics();
    expect(metrics).toMatch(
      /servingstack_deadline_missed_total\{model="mlp",pool="throughput",code="504"\} 1\n/,
    );
    expect(metrics).not.toMatch(/servingstack_deadline_missed_total\{[^}]*code="200"/);
  });

  it('shows the batch size and delay in force, and the target, in the metadata and metrics', async () => {
    await gatedApp(MLP_DIR, { MAX_BATCH_SIZE: '64', MAX_DELAY_MS: '5', TARGET_P95_MS: '20' });
    // 1 ms plus 0.5 ms per row: the model's runs decide the batch size.
    t.batcher.seed([
      { rows: 1, work: 16, ms: 1.5 },
      { rows: 8, work: 128, ms: 5 },
    ]);
    const { parameters } = (await t.app.inject({ url: '/v2/models/mlp' })).json();
    expect(parameters).toMatchObject({
      max_batch_size: 64,
      max_delay_ms: 5,
      target_p95_ms: 20,
      batching: "dimension 0 is 'batch' on every input and output",
    });
    expect(parameters.batch_size_limit).toBeGreaterThan(1);
    expect(parameters.batch_size_limit).toBeLessThan(64);
    const metrics = await t.metrics.registry.metrics();
    expect(metrics).toContain(
      `servingstack_batch_size_limit{model="mlp",pool="throughput"} ${parameters.batch_size_limit}`,
    );
    expect(metrics).toMatch(/servingstack_batch_delay_seconds\{model="mlp",pool="throughput"\} \d/);
  });
});

describe('isolation and bad input', () => {
  it('fails only the request with an out-of-vocabulary id, with 400, and answers its batch-mates', async () => {
    await gatedApp(embeddingModel(), { MODEL_NAME: 'emb', MAX_BATCH_SIZE: '8' });
    const ids = (...v: number[]) => ({
      inputs: [{ name: 'ids', shape: [1, 3], datatype: 'INT64', data: v }],
    });
    gate.hold();
    const first = infer(ids(0, 0, 0), {}, 'emb');
    await until(() => gate.runs.length === 1, 'the first run');
    const batch = [ids(1, 2, 3), ids(4, 100, 5), ids(9, 8, 7)].map((b) => infer(b, {}, 'emb'));
    await until(() => t.batcher.depth === 3, 'three queued requests');
    gate.release();
    const [a, bad, c] = await Promise.all(batch);
    expect([(await first).statusCode, a!.statusCode, bad!.statusCode, c!.statusCode]).toEqual([
      200, 200, 400, 200,
    ]);
    expect(gate.runs.map((r) => r.length)).toEqual([1, 3]);
    expect(bad!.json().error).toMatch(/^the model rejected this input: .*\(Gather node/);
    expect(c!.json().outputs[0].data.slice(0, 4)).toEqual([9, 9.25, 9.5, 9.75]);
  });

  it('bisects a batch of requests with different row counts and two bad ones: each good request gets exactly its own rows', async () => {
    await gatedApp(embeddingModel(), { MODEL_NAME: 'emb', MAX_BATCH_SIZE: '16' });
    // Rows of three ids each; the vector of id k is [k, k + .25, k + .5, k + .75].
    const ids = (...rows: number[][]) => ({
      inputs: [{ name: 'ids', shape: [rows.length, 3], datatype: 'INT64', data: rows.flat() }],
    });
    const vectors = (rows: number[][]) => rows.flat().flatMap((k) => [k, k + 0.25, k + 0.5, k + 0.75]);
    const requests = [
      [[1, 2, 3]],
      [
        [4, 5, 6],
        [7, 8, 9],
      ],
      [[0, 10, 1]], // id 10 is out of range
      [
        [9, 8, 7],
        [6, 5, 4],
        [3, 2, 1],
      ],
      [
        [2, 2, 2],
        [99, 0, 0],
      ], // its second row is out of range
      [[5, 5, 5]],
    ];
    gate.hold();
    const first = infer(ids([0, 0, 0]), {}, 'emb');
    await until(() => gate.runs.length === 1, 'the first run');
    const answers = requests.map((rows) => infer(ids(...rows), {}, 'emb'));
    await until(() => t.batcher.depth === requests.length, 'the queued requests');
    gate.release();
    const res = await Promise.all(answers);
    expect((await first).statusCode).toBe(200);
    expect(res.map((r) => r.statusCode)).toEqual([200, 200, 400, 200, 400, 200]);
    // One batch of all six, then halves and quarters around the bad ones.
    expect(gate.runs[1]).toEqual([1, 4, 0, 9, 2, 5]);
    requests.forEach((rows, i) => {
      if (res[i]!.statusCode !== 200) return;
      const out = res[i]!.json().outputs[0];
      expect([out.shape, out.data]).toEqual([[rows.length, 3, 4], vectors(rows)]);
    });
  });

  it('answers a zero-size image with 400 naming the problem', async () => {
    await gatedApp(clsModelDir(), { MODEL_NAME: 'cls', BATCH_DIMENSION: 'first' });
    const res = await infer(
      { inputs: [{ name: 'x', shape: [1, 3, 0, 0], datatype: 'FP32', data: [] }] },
      {},
      'cls',
    );
    expect([res.statusCode, res.json().error]).toEqual([
      400,
      expect.stringMatching(/Invalid input shape: \{0,0\} \(Conv node/),
    ]);
  });

  it('answers a runtime failure with a 500 that does not leak internals, and keeps serving', async () => {
    await gatedApp(MLP_DIR, {});
    const runBatch = gate.model.runBatch;
    gate.model.runBatch = async (items: readonly Feeds[]) =>
      items.map(() => new Error('CUDA failure 2: out of memory at /src/secret/path.cu'));
    const res = await infer(mlpRequest());
    expect([res.statusCode, res.json()]).toEqual([500, { error: 'internal server error' }]);
    gate.model.runBatch = runBatch;
    expect((await infer(mlpRequest())).statusCode).toBe(200);
  });
});

describe('the batch contract through the app', () => {
  it('gives each caller its own detections, and says in the metadata why batching is off', async () => {
    await gatedApp(detectionModel('hits'), { MODEL_NAME: 'det', MAX_BATCH_SIZE: '8' });
    const scores = (...v: number[]) => ({
      inputs: [{ name: 'scores', shape: [1, 4], datatype: 'FP32', data: v }],
    });
    gate.hold();
    const first = infer(scores(1, 1, 1, 1), {}, 'det');
    await until(() => gate.runs.length === 1, 'the first run');
    const a = infer(scores(0, 0, 0, 0), {}, 'det');
    const b = infer(scores(0, 0, 1, 0), {}, 'det');
    await until(() => gate.runs.length === 3, 'three runs');
    gate.release();
    expect(gate.runs.map((r) => r.length)).toEqual([1, 1, 1]);
    expect((await first).json().outputs[0].shape).toEqual([4, 2]);
    expect((await a).json().outputs[0]).toMatchObject({ shape: [0, 2], data: [] });
    expect((await b).json().outputs[0]).toMatchObject({ shape: [1, 2], data: [0, 2] });
    const { parameters } = (await t.app.inject({ url: '/v2/models/det' })).json();
    expect(parameters).toMatchObject({
      max_batch_size: 0,
      batching: expect.stringMatching(/output 'hits' has dimension 0 'hits'/),
    });
  });
});
