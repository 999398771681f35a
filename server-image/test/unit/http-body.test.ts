/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// Request bodies through Node's real HTTP parser on loopback, which `inject` bypasses: bodies
// that arrive in pieces, chunked transfer encoding, a Content-Length over the limit, and a
// client that stops part way.
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mlpRequest, testApp } from '../support/app.ts';
import type { TestApp } from '../support/app.ts';

/** Sends `parts` over one connection, a pause between them, and returns the raw response. */
function exchange(port: number, parts: (string | Buffer)[], endAfter = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d) => {
      received.push(d);
      // One response is all these tests want; answers carry Content-Length.
      const text = Buffer.concat(received).toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text)?.[1];
      if (head >= 0 && length !== undefined && text.length >= head + 4 + Number(length)) socket.end();
    });
    socket.on('close', () => resolve(Buffer.concat(received).toString('latin1')));
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const p of parts) {
        socket.write(p);
        await new Promise((r) => setTimeout(r, 20));
      }
      if (endAfter) socket.end();
    });
  });
}

const status = (response: string) => Number(response.split(' ')[1]);
const body = (response: string) => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));

describe('request bodies over a real socket', () => {
  let t: TestApp;
  let port: number;
  const request = mlpRequest(2);
  const rows = Buffer.from(Float32Array.from(request.inputs[0]!.data).buffer);
  const header = Buffer.from(
    JSON.stringify({
      id: 'odd',
      inputs: [
        { name: 'input', shape: [2, 16], datatype: 'FP32', parameters: { binary_data_size: rows.length } },
      ],
    }),
  );
  const binaryBody = Buffer.concat([header, rows]);
  const binaryHead = (extra: string) =>
    `POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n` +
    `Inference-Header-Content-Length: ${header.length}\r\n${extra}\r\n`;
  let expected: unknown;

  beforeAll(async () => {
    t = await testApp({ MAX_BODY_BYTES: '4096' });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
    const viaJson = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(request),
    });
    expected = viaJson.json().outputs;
  });
  afterAll(() => t.close());

  it('answers a binary body that arrives in pieces', async () => {
    const cuts = [0, 7, header.length + 3, header.length + 64, binaryBody.length];
    const pieces = cuts.slice(1).map((end, i) => binaryBody.subarray(cuts[i], end));
    const res = await exchange(port, [binaryHead(`Content-Length: ${binaryBody.length}\r\n`), ...pieces]);
    expect(status(res)).toBe(200);
    expect(body(res).outputs).toEqual(expected);
  });

  it('answers a binary body sent with chunked transfer encoding', async () => {
    const halves = [binaryBody.subarray(0, 50), binaryBody.subarray(50)];
    const chunks = halves.map((h) =>
      Buffer.concat([Buffer.from(`${h.length.toString(16)}\r\n`), h, Buffer.from('\r\n')]),
    );
    const res = await exchange(port, [binaryHead('Transfer-Encoding: chunked\r\n'), ...chunks, '0\r\n\r\n']);
    expect(status(res)).toBe(200);
    expect(body(res).outputs).toEqual(expected);
  });

  it('answers 413 at once for a Content-Length over MAX_BODY_BYTES, without waiting for the body', async () => {
    const res = await exchange(port, [binaryHead('Content-Length: 5000\r\n')]);
    expect(status(res)).toBe(413);
    expect(body(res).error).toMatch(/too large/);
  });

  it('answers 413 for a chunked body that grows past MAX_BODY_BYTES', async () => {
    const big = Buffer.alloc(3000, 0x20);
    const chunk = Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n')]);
    const res = await exchange(port, [binaryHead('Transfer-Encoding: chunked\r\n'), chunk, chunk]);
    expect(status(res)).toBe(413);
  });

  it('keeps serving after a client stops part way through a body', async () => {
    await exchange(
      port,
      [binaryHead(`Content-Length: ${binaryBody.length}\r\n`), binaryBody.subarray(0, 40)],
      true,
    );
    const res = await exchange(port, [binaryHead(`Content-Length: ${binaryBody.length}\r\n`), binaryBody]);
    expect(status(res)).toBe(200);
    expect(body(res).outputs).toEqual(expected);
  });
});

// Binary bodies' memory is reused once the model has run on it (read-body.ts): each answer must
// still be computed from its own request's data, one after another and many at once over real
// connections (bodies then arrive while earlier requests wait for their runs).
describe.each(['latency', 'throughput'])('binary bodies in the %s pool', (pool) => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    t = await testApp({ POOL: pool, INFERENCE_THREAD: 'main' });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}/v2/models/mlp/infer`;
  });
  afterAll(() => t.close());

  const rowsOf = (seed: number) =>
    Float32Array.from({ length: 16 }, (_, i) => Math.round(Math.sin(i * seed + seed) * 100) / 50);
  const viaJson = async (rows: Float32Array) =>
    (
      await t.app.inject({
        method: 'POST',
        url: '/v2/models/mlp/infer',
        payload: { inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', data: [...rows] }] },
      })
    ).json().outputs;
  const viaBinary = async (rows: Float32Array) => {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', parameters: { binary_data_size: 64 } }],
      }),
    );
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
      },
      body: Buffer.concat([header, Buffer.from(rows.buffer)]),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { outputs: unknown }).outputs;
  };

  it('answers each request from its own data, one after another and at once', async () => {
    const seeds = Array.from({ length: 16 }, (_, i) => i + 1);
    const expected = await Promise.all(seeds.map((s) => viaJson(rowsOf(s))));
    for (const [i, s] of seeds.entries()) expect(await viaBinary(rowsOf(s))).toEqual(expected[i]);
    for (let round = 0; round < 5; round++) {
      expect(await Promise.all(seeds.map((s) => viaBinary(rowsOf(s))))).toEqual(expected);
    }
  });
});
