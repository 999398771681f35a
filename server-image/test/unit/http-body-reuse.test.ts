/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// A binary body's memory serves the next body of its size once the model has run on it
// (read-body.ts). Over real sockets, no request may see another's data: not when requests are
// pipelined on one connection or compressed, and not when a request ends early (its client
// leaves, its deadline passes) while its tensors, views on that memory, wait for their run.
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Feeds } from '../../src/model.ts';
import { gatedModel, loadModel, MLP_DIR, testApp } from '../support/app.ts';
import type { GatedModel, TestApp } from '../support/app.ts';

jest.setTimeout(20_000);

const URL_PATH = '/v2/models/mlp/infer';

/** 16 inputs of the MLP's one row, different for every seed. */
const rowOf = (seed: number) =>
  Float32Array.from({ length: 16 }, (_, i) => Math.round(Math.sin(i * seed + seed) * 100) / 50);

const header = Buffer.from(
  JSON.stringify({
    inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', parameters: { binary_data_size: 64 } }],
  }),
);

/** A binary request's bytes on the wire: every seed's body has the same size. */
function rawRequest(seed: number, opts: { gzip?: boolean; timeoutMs?: number } = {}): Buffer {
  const plain = Buffer.concat([header, Buffer.from(rowOf(seed).buffer)]);
  const body = opts.gzip ? gzipSync(plain) : plain;
  const head =
    `POST ${URL_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n` +
    `Inference-Header-Content-Length: ${header.length}\r\nContent-Length: ${body.length}\r\n` +
    (opts.gzip ? 'Content-Encoding: gzip\r\n' : '') +
    (opts.timeoutMs !== undefined ? `X-Request-Timeout-Ms: ${opts.timeoutMs}\r\n` : '') +
    '\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** The answers in `raw`, in order: status and JSON body of each (answers carry Content-Length). */
function answers(raw: Buffer): { status: number; body: { outputs?: unknown; error?: string } }[] {
  const out = [];
  let at = 0;
  for (;;) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end < 0) return out;
    const head = raw.subarray(at, end).toString('latin1');
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
    if (raw.length < end + 4 + length) return out;
    out.push({
      status: Number(head.split(' ')[1]),
      body: JSON.parse(raw.subarray(end + 4, end + 4 + length).toString()) as { outputs?: unknown },
    });
    at = end + 4 + length;
  }
}

/** One connection: what it has received so far, and a way to send more or leave. */
function connection(port: number) {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d) => chunks.push(d));
  socket.on('error', () => {});
  return {
    socket,
    send: (data: Buffer) => socket.write(data),
    answers: () => answers(Buffer.concat(chunks)),
  };
}

/** Waits (a few seconds at most) until `done` holds. */
async function waitFor(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Requests answered (or given up by their client) with `code`. */
const count = async (code: number) =>
  ((await t.metrics.requests.get()).values.find((v) => v.labels.code === String(code))?.value ?? 0) as number;

let t: TestApp;
let gate: GatedModel;
let port: number;
/** Inputs that changed between being handed to a run and the end of that run: another body's. */
let overwritten: number[][];

/**
 * The gated model, checking that each request's input at the end of its run is still what it
 * was when the batch was handed over: a body whose memory went to another request while its
 * tensors waited for (or were in) their run would show the other request's data.
 */
function watched(inner: GatedModel): GatedModel {
  const model = Object.create(inner.model) as GatedModel['model'];
  model.runBatch = async (items: readonly Feeds[]) => {
    const given = items.map((f) => Array.from(f.input!.data as Float32Array));
    const out = await inner.model.runBatch(items);
    items.forEach((f, i) => {
      const now = Array.from(f.input!.data as Float32Array);
      if (now.some((v, j) => v !== given[i]![j])) overwritten.push(now);
    });
    return out;
  };
  return { ...inner, model };
}

/** What the MLP answers for seed's row, computed through a JSON request. */
async function expected(seed: number): Promise<unknown> {
  gate.release();
  const res = await t.app.inject({
    method: 'POST',
    url: URL_PATH,
    payload: { inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', data: [...rowOf(seed)] }] },
  });
  return res.json().outputs;
}

describe.each([
  ['latency', {}],
  ['throughput', { INFERENCE_THREAD: 'main' }],
])('binary bodies in the %s pool', (pool, env: Record<string, string>) => {
  beforeEach(async () => {
    overwritten = [];
    gate = watched(gatedModel(await loadModel(MLP_DIR)));
    t = await testApp({ POOL: pool, ...env }, undefined, gate.model);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    gate.release();
    await t.close();
    await gate.model.close();
  });

  const seeds = [2, 3, 4, 5, 6, 7];

  /**
   * With a run held, sends seeds' requests (bodies of the held request's size) on connections of
   * their own, lets the run go, and checks every answer against `want`.
   */
  async function othersAnswerRight(want: unknown[]): Promise<void> {
    const others = seeds.map((s) => {
      const c = connection(port);
      c.send(rawRequest(s));
      return c;
    });
    // Their bodies read, and queued behind the held run, before it ends.
    await waitFor(() => t.batcher.depth === seeds.length, 'the other requests queued');
    gate.release();
    await waitFor(() => others.every((c) => c.answers().length === 1), 'their answers');
    expect(others.map((c) => c.answers()[0])).toEqual(
      want.map((outputs) => ({ status: 200, body: expect.objectContaining({ outputs }) })),
    );
    for (const c of others) c.socket.destroy();
  }

  it('keeps the body of a request whose client left during its run until the run is done', async () => {
    const want = [];
    for (const s of seeds) want.push(await expected(s));
    gate.hold();
    const left = connection(port);
    left.send(rawRequest(1));
    await waitFor(() => gate.runs.length === seeds.length + 1, 'its run');
    const gone = await count(499);
    left.socket.destroy();
    await waitFor(async () => (await count(499)) === gone + 1, 'the client gone');
    await othersAnswerRight(want);
    expect(overwritten).toEqual([]);
  });

  it('keeps the body of a request answered 504 during its run until the run is done', async () => {
    const want = [];
    for (const s of seeds) want.push(await expected(s));
    gate.hold();
    const late = connection(port);
    late.send(rawRequest(1, { timeoutMs: 150 }));
    await waitFor(() => late.answers().length === 1, 'its 504');
    expect(late.answers()[0]!.status).toBe(504);
    await othersAnswerRight(want);
    expect(overwritten).toEqual([]);
    late.socket.destroy();
  });

  it('never runs a body cut short of its Content-Length on what its memory held before', async () => {
    const items = () => gate.runs.flat().length;
    // A body of this size is answered and its memory released, holding seed 2's row.
    const before = connection(port);
    before.send(rawRequest(2));
    await waitFor(() => before.answers().length === 1, 'the first answer');
    const ran = items();
    // The same size announced, its last 32 bytes never sent: the client says it is done writing.
    const short = connection(port);
    const whole = rawRequest(3);
    short.send(whole.subarray(0, whole.length - 32));
    short.socket.end();
    await new Promise((r) => short.socket.once('close', r));
    // A request after it: by its answer, the short one would have run too.
    const after = connection(port);
    after.send(rawRequest(4));
    await waitFor(() => after.answers().length === 1, 'the answer after');
    expect(after.answers()[0]!.status).toBe(200);
    expect(short.answers().filter((a) => a.status === 200)).toEqual([]);
    expect(items() - ran).toBe(1);
    for (const c of [before, after]) c.socket.destroy();
  });

  it('answers pipelined requests on one connection, plain and compressed, each from its own data', async () => {
    const want = [];
    for (const s of seeds) want.push(await expected(s));
    for (let round = 0; round < 3; round++) {
      const c = connection(port);
      c.send(Buffer.concat(seeds.map((s, i) => rawRequest(s, { gzip: i % 2 === round % 2 }))));
      await waitFor(() => c.answers().length === seeds.length, 'the pipelined answers');
      expect(c.answers()).toEqual(
        want.map((outputs) => ({ status: 200, body: expect.objectContaining({ outputs }) })),
      );
      c.socket.destroy();
    }
    expect(overwritten).toEqual([]);
  });
});
