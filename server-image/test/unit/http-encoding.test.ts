/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// Body caps (JSON lower than binary, both on the decompressed size) and Content-Encoding on
// requests and responses, as Triton serves them.
import { deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { injectBinary, mlpRequest, testApp } from '../support/app.ts';
import type { TestApp } from '../support/app.ts';

let t: TestApp;

beforeAll(async () => {
  t = await testApp({ MAX_JSON_BODY_BYTES: '2048', MAX_BODY_BYTES: '65536' });
});

afterAll(() => t.close());

const url = '/v2/models/mlp/infer';
const post = (payload: Buffer | string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload });

/** A 32-row MLP request as binary tensor data: about 2 KB of tensor, a small JSON header. */
function binaryRequest(rows: number) {
  const json = mlpRequest(rows);
  const data = Float32Array.from(json.inputs[0]!.data);
  const header = {
    inputs: [
      {
        name: 'input',
        shape: [rows, 16],
        datatype: 'FP32',
        parameters: { binary_data_size: data.byteLength },
      },
    ],
  };
  return { header, data };
}

describe('body caps', () => {
  it('refuses JSON over MAX_JSON_BODY_BYTES with 413 naming the cap and the binary way, and takes the same tensor as binary', async () => {
    const json = JSON.stringify(mlpRequest(32));
    expect(json.length).toBeGreaterThan(2048);
    const refused = await post(json);
    expect(refused.statusCode).toBe(413);
    expect(refused.json().error).toMatch(/at most 2048 bytes of JSON.*binary/);
    const { header, data } = binaryRequest(32);
    const ok = await injectBinary(t.app, url, header, data);
    expect(ok.statusCode).toBe(200);
    expect(ok.json().outputs[0].shape).toEqual([32, 4]);
  });

  it('caps the JSON header of a binary request too', async () => {
    const padded = { ...binaryRequest(1).header, id: 'x'.repeat(3000) };
    const r = await injectBinary(t.app, url, padded, binaryRequest(1).data);
    expect(r.statusCode).toBe(413);
    expect(r.json().error).toMatch(/bytes of JSON/);
  });

  it('refuses a binary body over MAX_BODY_BYTES', async () => {
    const { header } = binaryRequest(1);
    const r = await injectBinary(t.app, url, header, new Float32Array(20_000));
    expect(r.statusCode).toBe(413);
    expect(r.json().error).toMatch(/at most 65536 bytes/);
  });
});

describe('Content-Encoding on requests', () => {
  const body = JSON.stringify(mlpRequest(2));

  it('gzip and deflate bodies answer as the plain one does', async () => {
    const plain = await post(body);
    expect(plain.statusCode).toBe(200);
    for (const [encoding, packed] of [
      ['gzip', gzipSync(body)],
      ['deflate', deflateSync(body)],
      ['GZip', gzipSync(body)],
    ] as const) {
      const r = await post(packed, { 'content-encoding': encoding });
      expect({ encoding, status: r.statusCode, outputs: r.json().outputs }).toEqual({
        encoding,
        status: 200,
        outputs: plain.json().outputs,
      });
    }
  });

  it('a compressed binary request: the header length counts the decompressed body', async () => {
    const { header, data } = binaryRequest(3);
    const json = Buffer.from(JSON.stringify(header));
    const r = await post(gzipSync(Buffer.concat([json, Buffer.from(data.buffer)])), {
      'content-type': 'application/octet-stream',
      'content-encoding': 'gzip',
      'inference-header-content-length': String(json.length),
    });
    expect(r.statusCode).toBe(200);
    expect(r.json().outputs[0].shape).toEqual([3, 4]);
  });

  it('a zip bomb is refused with 413 on its decompressed size', async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(65536);
    const r = await post(bomb, { 'content-encoding': 'gzip' });
    expect(r.statusCode).toBe(413);
    expect(r.json().error).toMatch(/\(decompressed\)/);
    const binary = await post(bomb, { 'content-encoding': 'gzip', 'inference-header-content-length': '10' });
    expect(binary.statusCode).toBe(413);
    expect(binary.json().error).toMatch(/at most 65536 bytes \(decompressed\)/);
  });

  it('a body that is not what its encoding says: 400; an encoding not served: 415', async () => {
    const corrupt = await post(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' });
    expect(corrupt.statusCode).toBe(400);
    expect(corrupt.json().error).toMatch(/not valid gzip/);
    const brotli = await post(body, { 'content-encoding': 'br' });
    expect(brotli.statusCode).toBe(415);
    expect(brotli.json().error).toMatch(/unsupported Content-Encoding 'br'/);
  });
});

describe('Accept-Encoding on responses', () => {
  const body = JSON.stringify(mlpRequest(2));

  it('compresses the answer with the encoding asked for, and not when none is', async () => {
    const plain = await post(body);
    expect(plain.headers['content-encoding']).toBeUndefined();
    const gz = await post(body, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['content-type']).toBe('application/json');
    expect(JSON.parse(gunzipSync(gz.rawPayload).toString())).toEqual(plain.json());
    const df = await post(body, { 'accept-encoding': 'deflate, gzip;q=0' });
    expect(df.headers['content-encoding']).toBe('deflate');
    expect(JSON.parse(inflateSync(df.rawPayload).toString())).toEqual(plain.json());
    const none = await post(body, { 'accept-encoding': 'br, identity' });
    expect(none.headers['content-encoding']).toBeUndefined();
  });

  it('a binary answer keeps the uncompressed header length', async () => {
    const req = mlpRequest(1, { parameters: { binary_data_output: true } });
    const r = await post(JSON.stringify(req), { 'accept-encoding': 'gzip' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-encoding']).toBe('gzip');
    const raw = gunzipSync(r.rawPayload);
    const headerLength = Number(r.headers['inference-header-content-length']);
    expect(JSON.parse(raw.subarray(0, headerLength).toString()).outputs[0].parameters.binary_data_size).toBe(
      16,
    );
    expect(raw.length - headerLength).toBe(16);
  });
});
