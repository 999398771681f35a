/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// Every error over a real socket, where `inject` cannot go: the ones Node's parser raises before
// fastify sees the request included. Each must be the protocol's `{"error": "..."}` with
// Content-Type exactly `application/json` and X-Serving-Pool.
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mlpRequest, testApp } from '../support/app.ts';
import type { TestApp } from '../support/app.ts';

let t: TestApp;
let port: number;

beforeAll(async () => {
  t = await testApp({ POOL: 'latency', MAX_BODY_BYTES: '65536' }, undefined, undefined, undefined, {
    requestTimeouts: { requestTimeoutMs: 300, checkIntervalMs: 50 },
  });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.app.server.address() as AddressInfo).port;
});

afterAll(() => t.close());

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `raw` on a fresh connection and parses the first answer, read until the server closes or it is complete. */
async function exchange(raw: string | Buffer, endAfterWrite = false): Promise<Answer> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d) => chunks.push(d));
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  socket.write(raw);
  if (endAfterWrite) socket.end();
  const complete = () => {
    const text = Buffer.concat(chunks).toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    if (split < 0) return undefined;
    const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split));
    if (!length || text.length - split - 4 < Number(length[1])) return undefined;
    return text;
  };
  const closed = new Promise((r) => socket.once('close', r));
  for (let i = 0; i < 600 && !complete(); i++) {
    await Promise.race([closed, new Promise((r) => setTimeout(r, 10))]);
  }
  socket.destroy();
  const text = complete();
  if (!text)
    throw new Error(`no complete answer; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`);
  const [head, ...rest] = text.split('\r\n\r\n');
  const [status, ...lines] = head!.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines)
    headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  return { status: Number(status!.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
}

function expectProtocolError(a: Answer, status: number, message: RegExp): void {
  expect(a.status).toBe(status);
  expect(a.headers['content-type']).toBe('application/json');
  expect(a.headers['x-serving-pool']).toBe('latency');
  const parsed = JSON.parse(a.body) as Record<string, unknown>;
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(parsed.error).toMatch(message);
}

const body = JSON.stringify(mlpRequest());
const infer = 'POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';

describe('errors over a real socket', () => {
  it('a malformed Content-Length: 400 from the parser, in the protocol shape', async () => {
    expectProtocolError(
      await exchange(`${infer}Content-Length: 12abc\r\n\r\n${body}`),
      400,
      /^malformed HTTP request: .*content-length/i,
    );
  });

  it('Content-Length together with chunked encoding: 400', async () => {
    expectProtocolError(
      await exchange(`${infer}Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`),
      400,
      /^malformed HTTP request: .*transfer-encoding/i,
    );
  });

  it('a body that stalls past the request timeout: 408', async () => {
    expectProtocolError(
      await exchange(`${infer}Content-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`),
      408,
      /timed out/,
    );
  });

  it('headers too large: 431', async () => {
    expectProtocolError(
      await exchange(`GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
      431,
      /headers too large/,
    );
  });

  it('an Expect the server cannot meet: 417 (Node answers it bare unless told otherwise)', async () => {
    const a = await exchange('GET /v2/health/live HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n');
    expectProtocolError(a, 417, /Expect 'something-else'.*100-continue/);
  });

  it('an HTTP/1.1 request without Host: 400 (Node answers it bare unless told otherwise)', async () => {
    const a = await exchange('GET /v2/health/live HTTP/1.1\r\n\r\n');
    expectProtocolError(a, 400, /no Host header/);
    // HTTP/1.0 needs none.
    const old = await exchange('GET /v2/health/live HTTP/1.0\r\n\r\n');
    expect(old.status).toBe(200);
  });

  it('a body over the limit: 413 naming the limit', async () => {
    expectProtocolError(await exchange(`${infer}Content-Length: 70000\r\n\r\n`), 413, /at most 65536 bytes/);
  });

  it('a body shorter than its Content-Length: 400', async () => {
    expectProtocolError(
      await exchange(`${infer}Content-Length: ${body.length + 5}\r\n\r\n${body}`, true),
      400,
      /ended before the request did/,
    );
  });

  it('an unknown route: 404', async () => {
    expectProtocolError(
      await exchange('GET /v3/nothing HTTP/1.1\r\nHost: x\r\n\r\n'),
      404,
      /no route GET \/v3\/nothing/,
    );
  });

  it('a URL fastify cannot decode: 400', async () => {
    expectProtocolError(
      await exchange('GET /v2/models/%E0%A4%A/ready HTTP/1.1\r\nHost: x\r\n\r\n'),
      400,
      /URL/,
    );
  });

  it('malformed JSON: 400', async () => {
    expectProtocolError(await exchange(`${infer}Content-Length: 5\r\n\r\n{"in"`), 400, /JSON/);
  });

  it('a model that is not served: 404', async () => {
    expectProtocolError(
      await exchange(
        `POST /v2/models/other/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      ),
      404,
      /not served here/,
    );
  });

  it('success answers carry the exact type too', async () => {
    const a = await exchange(`${infer}Content-Length: ${body.length}\r\n\r\n${body}`);
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('application/json');
    expect(a.headers['x-serving-pool']).toBe('latency');
  });
});
