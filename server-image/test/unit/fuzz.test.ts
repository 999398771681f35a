/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// Throws a bounded, seeded stream of malformed bodies at the infer endpoint: every answer must
// be a 4xx in the protocol's error shape (or a 200 when a mutation happens to be valid), never
// a 5xx, and the server must still be healthy and correct afterwards.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mlpRequest, testApp } from '../support/app.ts';
import type { TestApp } from '../support/app.ts';

const CASES = 400;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WEIRD: unknown[] = [
  null,
  true,
  -1,
  0,
  1e30,
  -0.5,
  'FP32',
  '',
  'x'.repeat(300),
  [],
  {},
  [[[]]],
  [1, [2, [3]]],
  { name: 'input' },
  [-1, 16],
  [1e9, 16],
  [0, 16],
  Array(40).fill(1),
];

interface Case {
  payload: Buffer | string;
  headers: Record<string, string>;
}

function makeCase(rnd: () => number): Case {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const valid = JSON.stringify(mlpRequest(1 + Math.floor(rnd() * 3)));
  const json = { 'content-type': 'application/json' };
  switch (Math.floor(rnd() * 6)) {
    case 0: // random bytes
      return {
        payload: Buffer.from(Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256))),
        headers: json,
      };
    case 1: // truncated JSON
      return { payload: valid.slice(0, Math.floor(rnd() * valid.length)), headers: json };
    case 2: {
      // one field replaced by something odd
      const body = JSON.parse(valid);
      const target = pick([
        'root',
        'inputs',
        'input',
        'name',
        'shape',
        'datatype',
        'data',
        'parameters',
        'outputs',
        'id',
      ]);
      const v = pick(WEIRD);
      if (target === 'root') return { payload: JSON.stringify(v), headers: json };
      if (target === 'inputs' || target === 'outputs' || target === 'id' || target === 'parameters')
        body[target] = v;
      else if (target === 'input') body.inputs[0] = v;
      else body.inputs[0][target] = v;
      return { payload: JSON.stringify(body), headers: json };
    }
    case 3: {
      // binary extension with wrong sizes or header lengths
      const head = Buffer.from(
        JSON.stringify({
          inputs: [
            {
              name: 'input',
              shape: [1, 16],
              datatype: 'FP32',
              parameters: { binary_data_size: pick([0, 63, 64, 65, -4, 1e12]) },
            },
          ],
        }),
      );
      const tail = Buffer.alloc(Math.floor(rnd() * 100));
      const len = pick([
        String(head.length),
        String(head.length + 3),
        '-1',
        'abc',
        '',
        String(head.length * 10),
        '0',
      ]);
      return {
        payload: Buffer.concat([head, tail]),
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': len },
      };
    }
    case 4: // characters flipped inside valid JSON
      return {
        payload: valid
          .split('')
          .map((c) => (rnd() < 0.02 ? pick(['{', '}', '[', ']', '"', ',', ':', '\\', '9', 'e', '-']) : c))
          .join(''),
        headers: json,
      };
    default: // odd timeouts and content types on a valid body
      return {
        payload: valid,
        headers: {
          'content-type': pick(['text/plain', 'application/json', 'image/png']),
          'x-request-timeout-ms': pick(['-5', 'NaN', '1e400', '0']),
        },
      };
  }
}

describe('infer fuzzing', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({ MAX_DELAY_MS: '0', MAX_BODY_BYTES: '4096' });
  });
  afterAll(() => t.close());

  it(`answers ${CASES} malformed requests with 4xx and stays healthy`, async () => {
    const rnd = prng(7);
    const statuses = new Map<number, number>();
    for (let i = 0; i < CASES; i++) {
      const c = makeCase(rnd);
      const res = await t.app.inject({
        method: 'POST',
        url: '/v2/models/mlp/infer',
        payload: c.payload,
        headers: c.headers,
      });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode !== 200) {
        // 504: a timeout of 0 is well-formed, a deadline that has passed.
        const refused = res.statusCode < 500 || res.statusCode === 504;
        expect({ case: i, status: refused }).toEqual({ case: i, status: true });
        expect(typeof res.json().error).toBe('string');
      }
    }
    // The stream really exercised the error paths.
    expect(statuses.get(400) ?? 0).toBeGreaterThan(CASES / 2);
    expect((await t.app.inject({ url: '/v2/health/ready' })).statusCode).toBe(200);
    const ok = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(mlpRequest(2)),
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().outputs[0].shape).toEqual([2, 4]);
    expect(t.batcher.idle).toBe(true);
  });
});
