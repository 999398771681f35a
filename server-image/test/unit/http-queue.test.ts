/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// The queue as seen over a real socket, which `inject` cannot show: a full queue answers before
// the body is sent, and a client that hangs up leaves the queue.
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { gatedModel, loadModel, MLP_DIR, mlpRequest, testApp, until } from '../support/app.ts';
import type { GatedModel, TestApp } from '../support/app.ts';

let t: TestApp;
let gate: GatedModel;
let port: number;

beforeEach(async () => {
  gate = gatedModel(await loadModel(MLP_DIR));
  t = await testApp({ MAX_QUEUE_SIZE: '1' }, undefined, gate.model);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.app.server.address() as AddressInfo).port;
});

afterEach(async () => {
  gate.release();
  await t.close();
  await gate.model.close();
});

const body = Buffer.from(JSON.stringify(mlpRequest()));
const head = `POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;

/** Opens a connection and sends `data`; resolves with the socket and everything it receives. */
async function send(data: (string | Buffer)[]): Promise<{ socket: Socket; received: () => string }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d) => chunks.push(d));
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  for (const d of data) socket.write(d);
  return { socket, received: () => Buffer.concat(chunks).toString('latin1') };
}

/** What a connection received once an answer with a body has arrived (a few seconds at most). */
async function answer(c: { received: () => string }): Promise<string> {
  for (let i = 0; i < 400 && !c.received().includes('\r\n\r\n{'); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return c.received();
}

const requestsWith = async (code: number) =>
  ((await t.metrics.requests.get()).values.find((v) => v.labels.code === String(code))?.value ?? 0) as number;

describe('the queue over a real socket', () => {
  it('refuses a request with 503 before its body is sent when the queue is full', async () => {
    gate.hold();
    const running = await send([head, body]);
    await until(() => gate.runs.length === 1, 'the first run');
    const queued = await send([head, body]);
    await until(() => t.batcher.depth === 1, 'a queued request');
    // Headers only: the answer must not wait for a body that never comes.
    const refused = await send([head]);
    expect(await answer(refused)).toMatch(/^HTTP\/1\.1 503 .*\r\nretry-after: 1\r\n[\s\S]*queue is full/i);
    // A refusal of the served model says which version refused it, as an answer would.
    expect(await answer(refused)).toMatch(/\r\nx-model-version: sha256:[0-9a-f]{64}\r\n/i);
    gate.release();
    await until(() => running.received().includes(' 200 ') && queued.received().includes(' 200 '), 'answers');
    for (const c of [running, queued, refused]) c.socket.destroy();
  });

  it('refuses with 504 before the body is sent a deadline that even one row cannot meet', async () => {
    t.batcher.seed([
      { rows: 1, work: 16, ms: 200 },
      { rows: 2, work: 32, ms: 250 },
    ]);
    gate.hold();
    const running = await send([head, body]);
    await until(() => gate.runs.length === 1, 'the first run');
    const hurried = await send([head.replace('\r\n\r\n', '\r\nX-Request-Timeout-Ms: 100\r\n\r\n')]);
    expect(await answer(hurried)).toMatch(/^HTTP\/1\.1 504 [\s\S]*deadline cannot be met: \d+\.\d ms left/);
    gate.release();
    await until(() => running.received().includes(' 200 '), 'the first answer');
    for (const c of [running, hurried]) c.socket.destroy();
  });

  it('drops a queued request whose client hangs up, and never runs it', async () => {
    gate.hold();
    const running = await send([head, body]);
    await until(() => gate.runs.length === 1, 'the first run');
    const leaving = await send([head, body]);
    await until(() => t.batcher.depth === 1, 'a queued request');
    leaving.socket.destroy();
    await until(() => t.batcher.depth === 0, 'the queue to empty');
    gate.release();
    await until(() => running.received().includes(' 200 '), 'the first answer');
    running.socket.destroy();
    expect(gate.runs).toHaveLength(1);
    expect(await requestsWith(499)).toBe(1);
  });
});
