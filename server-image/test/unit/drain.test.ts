/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// The drain on SIGTERM over real loopback sockets held open by keep-alive clients, as a router
// holds them: every request in flight or queued is answered, every connection closes after its
// last answer, and the drain ends long before the keep-alive timeout would have closed them.
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { drain } from '../../src/drain.ts';
import { gatedModel, loadModel, MLP_DIR, mlpRequest, testApp } from '../support/app.ts';
import type { GatedModel, TestApp } from '../support/app.ts';

let t: TestApp;
let gate: GatedModel;
let port: number;

beforeEach(async () => {
  gate = gatedModel(await loadModel(MLP_DIR));
  t = await testApp({}, undefined, gate.model);
  // As server.ts sets it: far longer than the drain budget below, so a socket left to the
  // keep-alive timeout would make the drain run out of budget.
  t.app.server.keepAliveTimeout = 65_000;
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.app.server.address() as AddressInfo).port;
});

afterEach(async () => {
  gate.release();
  if (t.app.server.listening) await t.close();
  await gate.model.close();
});

const BUDGET_MS = 5_000;

/** Waits for `done` over real sockets: polls every few milliseconds, for up to 20 s. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 4000 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!done()) throw new Error(`timed out waiting for ${what}`);
}
const body = JSON.stringify(mlpRequest());

interface Answer {
  status: number;
  connection: string | undefined;
}

function post(agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v2/models/mlp/infer',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('drain under keep-alive load', () => {
  it('answers every request in flight, closes every connection, and ends well within its budget', async () => {
    const CLIENTS = 16;
    const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
    const answers: Answer[] = [];
    const failures: string[] = [];
    let refusedAtConnect = 0;
    // Each client sends one request after another on its kept-alive socket until it can no
    // longer connect: a router would then send to another pod, having sent nothing here.
    const client = async () => {
      for (;;) {
        try {
          answers.push(await post(agent));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') refusedAtConnect++;
          else failures.push(String(err));
          return;
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    await until(() => answers.length >= 4 * CLIENTS, 'traffic on every connection');
    // Hold the model so that, when the drain starts, every client has a request running or queued.
    gate.hold();
    await until(
      () => gate.runs.length > 0 && gate.runs.at(-1)!.length + t.batcher.depth === CLIENTS,
      'every client waiting on the model',
    );
    const before = answers.length;
    const drained = drain({ app: t.app, batcher: t.batcher, state: t.state, budgetMs: BUDGET_MS });
    gate.release();
    const outcome = await drained;
    await Promise.all(clients);
    agent.destroy();

    expect(outcome).toBe('drained');
    expect(failures).toEqual([]);
    const duringDrain = answers.slice(before);
    expect(duringDrain).toHaveLength(CLIENTS);
    expect(duringDrain.every((a) => a.status === 200 && a.connection === 'close')).toBe(true);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(refusedAtConnect).toBe(CLIENTS);
    expect(t.app.server.listening).toBe(false);
  });

  it('closes a connection that is idle when the drain starts', async () => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    const closed = new Promise((r) => socket.once('close', r));
    socket.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => Buffer.concat(received).includes('{"live":true}'), 'the answer');
    const outcome = await drain({ app: t.app, batcher: t.batcher, state: t.state, budgetMs: BUDGET_MS });
    await closed;
    expect(outcome).toBe('drained');
  });

  it('answers a request that arrives on an open connection while draining, then closes it', async () => {
    gate.hold();
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    const closed = new Promise((r) => socket.once('close', r));
    await new Promise((r) => socket.once('connect', r));
    const head = `POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    socket.write(head + body);
    await until(() => gate.runs.length === 1, 'the request running');
    const drained = drain({ app: t.app, batcher: t.batcher, state: t.state, budgetMs: BUDGET_MS });
    gate.release();
    expect(await drained).toBe('drained');
    await closed;
    const text = Buffer.concat(received).toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.toLowerCase()).toContain('connection: close');
  });

  it('answers every pipelined request already on a connection when the drain starts', async () => {
    gate.hold();
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    const closed = new Promise((r) => socket.once('close', r));
    await new Promise((r) => socket.once('connect', r));
    const one = `POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    socket.write(one + one + one);
    await until(() => gate.runs.length >= 1, 'the first request running');
    const drained = drain({ app: t.app, batcher: t.batcher, state: t.state, budgetMs: BUDGET_MS });
    gate.release();
    expect(await drained).toBe('drained');
    await closed;
    const text = Buffer.concat(received).toString('latin1');
    const answers = text.match(/HTTP\/1\.1 \d+/g) ?? [];
    // Three requests the server took: three answers, the last one closing the connection.
    expect(answers).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
  });

  it('reports a drain that cannot finish within its budget, and destroys what is left', async () => {
    gate.hold();
    const agent = new Agent({ keepAlive: true });
    const pending = post(agent).then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    await until(() => gate.runs.length === 1, 'the request running');
    const outcome = await drain({ app: t.app, batcher: t.batcher, state: t.state, budgetMs: 50 });
    expect(outcome).toBe('timed-out');
    expect(await pending).toBe('ECONNRESET');
    gate.release();
    agent.destroy();
  });
});
