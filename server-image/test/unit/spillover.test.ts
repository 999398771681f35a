/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// Spill-over between two real servers on loopback, one per pool, each on the bundled model behind
// a gate that holds its runs (a busy pool without timing). What the sibling computed is told by
// the answer's headers and by each server's own counters.
import { createServer as createHttpServer, request } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { drain } from '../../src/drain.ts';
import { parseConfig } from '../../src/config.ts';
import type { Pool } from '../../src/config.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { Metrics } from '../../src/metrics.ts';
import { createBatcher } from '../../src/pipeline.ts';
import type { ModelBatcher } from '../../src/pipeline.ts';
import { identifyModel, versionOf } from '../../src/model-version.ts';
import { mlp, sha } from '../support/fetch-fixtures.ts';
import { parseSpilloverConfig } from '../../src/spillover/config.ts';
import { Spillover } from '../../src/spillover/spillover.ts';
import { WorkerModel } from '../../src/worker-model.ts';
import { gatedModel, loadModel, MLP_DIR, mlpRequest, modelOptions } from '../support/app.ts';
import type { GatedModel } from '../support/app.ts';

interface PoolServer {
  pool: Pool;
  app: FastifyInstance;
  metrics: Metrics;
  batcher: ModelBatcher;
  gate: GatedModel;
  spillover: Spillover;
  /** Headers of every request this server received. */
  seen: IncomingHttpHeaders[];
  /** Requests held before their handler until their client left (header PARK_UNTIL_GONE). */
  parked: () => number;
  url: string;
}

let servers: PoolServer[] = [];

/** A request with this header reaches its handler only once its client has gone (body read). */
const PARK_UNTIL_GONE = 'x-test-park-until-gone';

jest.setTimeout(30_000);

afterEach(async () => {
  for (const s of servers) s.gate.release();
  for (const s of servers) {
    await s.app.close();
    s.spillover.close();
    await s.gate.model.close();
  }
  servers = [];
});

/**
 * A server of `pool` whose sibling is at `sibling` (a URL object the test may point elsewhere once
 * the sibling listens: the two servers need each other's port).
 */
async function startPool(
  pool: Pool,
  sibling: URL,
  env: Record<string, string> = {},
  held?: GatedModel,
): Promise<PoolServer> {
  // Thresholds far above what a test server takes, so that no deadline here is tight.
  env = { LATENCY_BELOW_MS: '2000', THROUGHPUT_ABOVE_MS: '5000', ...env };
  const config = parseConfig({
    MODEL_DIR: MLP_DIR,
    MODEL_NAME: 'mlp',
    INTRA_OP_THREADS: '1',
    INFERENCE_THREAD: 'main',
    POOL: pool,
    ...env,
  });
  const metrics = createMetrics();
  const gate = held ?? gatedModel(await loadModel(MLP_DIR));
  // The first run of a session is slow (allocation, profiling): not something to time a hop by.
  await gate.model.runBatch([{ input: { data: new Float32Array(16), shape: [1, 16] } }]);
  gate.runs.length = 0;
  const batcher = createBatcher(config, gate.model, metrics);
  const spillover = new Spillover({
    config: { ...parseSpilloverConfig(env, pool), siblingUrl: sibling },
    headers: config,
    modelName: config.modelName,
    capacity: config.maxQueueSize + config.maxBatchSize,
    registry: metrics.registry,
    now: () => performance.now(),
  });
  const app = buildApp({
    config,
    model: gate.model,
    identity: await identifyModel(gate.model.file, config.modelDigests),
    batcher,
    metrics,
    state: { warm: true, draining: false },
    logger: false,
    spillover,
  });
  const seen: IncomingHttpHeaders[] = [];
  app.addHook('onRequest', (request, _reply, done) => {
    seen.push(request.headers);
    done();
  });
  let parked = 0;
  app.addHook('preHandler', (request, _reply, done) => {
    if (request.headers[PARK_UNTIL_GONE] === undefined) return done();
    parked++;
    const socket = request.raw.socket;
    if (socket.destroyed) return done();
    socket.once('close', () => done());
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const s = { pool, app, metrics, batcher, gate, spillover, seen, parked: () => parked, url };
  servers.push(s);
  return s;
}

/**
 * The model on an inference worker, with runs that, while the test holds the gate, wait after the
 * batch's inputs have moved to the worker: the request's body is no longer on this thread.
 */
async function heldOnWorker(): Promise<GatedModel> {
  const worker = await WorkerModel.load(modelOptions(MLP_DIR, 'fp32', { name: 'mlp' }));
  let gate: Promise<void> = Promise.resolve();
  let open = () => {};
  const runs: number[][] = [];
  const held = Object.create(worker) as WorkerModel;
  held.runBatch = async (items) => {
    runs.push(items.map((f) => Number(Object.values(f)[0]!.data[0])));
    const ran = worker.runBatch(items);
    await gate;
    return ran;
  };
  return {
    model: held as unknown as GatedModel['model'],
    runs,
    hold: () => {
      gate = new Promise((r) => (open = r));
    },
    release: () => open(),
  };
}

/** Both pools, each the other's sibling. */
async function startPools(
  env: Partial<Record<Pool, Record<string, string>>> = {},
  held: Partial<Record<Pool, GatedModel>> = {},
): Promise<{ throughput: PoolServer; latency: PoolServer }> {
  const toLatency = new URL('http://127.0.0.1:1');
  const toThroughput = new URL('http://127.0.0.1:1');
  const throughput = await startPool('throughput', toLatency, env.throughput, held.throughput);
  const latency = await startPool('latency', toThroughput, env.latency, held.latency);
  toLatency.port = new URL(latency.url).port;
  toThroughput.port = new URL(throughput.url).port;
  return { throughput, latency };
}

/** Waits, by the clock (a loaded machine may be slow), until `done` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A port nothing listens on: a sibling that is down. */
async function closedPort(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  return String(port);
}

/** An answer as a test reads it: status, headers and the body as text. */
interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One inference request to `s` on a connection of its own. */
function infer(s: PoolServer, headers: Record<string, string> = {}, rows = 1): Promise<Answer> {
  const body = JSON.stringify(mlpRequest(rows));
  return new Promise((resolve, reject) => {
    const req = request(
      `${s.url}/v2/models/mlp/infer`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A request with a body of the test's own bytes; the answer's body as raw bytes. */
function post(
  s: PoolServer,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${s.url}/v2/models/mlp/infer`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A model run held open on `s`: the pool is busy until the test releases its gate. */
async function busy(s: PoolServer, runMs = 2000): Promise<{ running: Promise<Answer> }> {
  s.batcher.seed([
    { rows: 1, work: 16, ms: runMs },
    { rows: 2, work: 32, ms: runMs * 1.25 },
  ]);
  s.gate.hold();
  const running = infer(s);
  await until(() => s.gate.runs.length === 1, `a held run on the ${s.pool} pool`);
  // Wrapped: an async function returning the promise itself would wait for it.
  return { running };
}

async function counter(s: PoolServer, name: string, labels: Record<string, string>): Promise<number> {
  const metric = s.metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const values = (await metric.get()).values;
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((n, v) => n + v.value, 0);
}

const answered = (s: PoolServer, code = '200') => counter(s, 'servingstack_requests_total', { code });

describe('spill-over between the pools', () => {
  it('sends a deadline the busy throughput pool cannot meet to the latency pool, with what is left of it', async () => {
    const { throughput, latency } = await startPools();
    const { running } = await busy(throughput);
    const res = await infer(throughput, { 'X-Request-Timeout-Ms': '3000' });
    expect(res.status).toBe(200);
    expect(res.headers['x-serving-pool']).toBe('latency');
    expect(res.headers['x-serving-spilled-from']).toBe('throughput');
    expect((JSON.parse(res.text) as { outputs: unknown[] }).outputs).toHaveLength(1);
    const hop = latency.seen.at(-1)!;
    expect(hop['x-serving-spilled-from']).toBe('throughput');
    expect(hop['x-serving-spill-reason']).toBe('deadline');
    const left = Number(hop['x-request-timeout-ms']);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(3000);
    expect(
      await counter(throughput, 'servingstack_spillover_total', {
        from: 'throughput',
        to: 'latency',
        reason: 'deadline',
      }),
    ).toBe(1);
    // Computed and counted by the latency pool alone.
    expect(await answered(latency)).toBe(1);
    throughput.gate.release();
    expect((await running).status).toBe(200);
    expect(await answered(throughput)).toBe(1);
  });

  it('sends a request the batcher refuses once its body is read (its rows cost more than one row)', async () => {
    const { throughput, latency } = await startPools({ latency: { MAX_BATCH_SIZE: '4' } });
    // One row would make it (about 1 s busy + 1 s), two rows would not (about 1 s + 2.5 s).
    const { running } = await busy(throughput, 1000);
    throughput.batcher.seed([{ rows: 2, work: 32, ms: 2500 }]);
    expect(throughput.batcher.refusalBefore('default', performance.now() + 3000)).toBeUndefined();
    const res = await infer(throughput, { 'X-Request-Timeout-Ms': '3000' }, 2);
    expect(res.status).toBe(200);
    expect(res.headers['x-serving-pool']).toBe('latency');
    expect((JSON.parse(res.text) as { outputs: { shape: number[] }[] }).outputs[0]!.shape[0]).toBe(2);
    expect(await answered(latency)).toBe(1);
    expect(
      await counter(throughput, 'servingstack_spillover_total', { to: 'latency', reason: 'deadline' }),
    ).toBe(1);
    throughput.gate.release();
    await running;
  });

  it('sends a request the full latency queue cannot take to the throughput pool', async () => {
    // The throughput pool pins the release (all three files), so its version differs from the
    // latency pool's (the one file it loaded): the answer must carry the pool that computed it.
    const release = Object.fromEntries(
      ['model.onnx', 'model.fp16.onnx', 'model.int8.onnx'].map((f) => [f, sha(mlp(f))]),
    );
    const { throughput, latency } = await startPools({
      latency: { MAX_QUEUE_SIZE: '1' },
      throughput: { MODEL_DIGESTS: JSON.stringify(release) },
    });
    const { running } = await busy(latency);
    const queued = infer(latency);
    await until(() => latency.batcher.depth === 1, 'a queued request on the latency pool');
    const res = await infer(latency);
    expect(res.status).toBe(200);
    expect(res.headers['x-serving-pool']).toBe('throughput');
    expect(res.headers['x-serving-spilled-from']).toBe('latency');
    expect(res.headers['x-model-version']).toBe(versionOf(Object.values(release)));
    expect(res.headers['x-model-version']).not.toBe((await identifyModel(latency.gate.model.file)).version);
    expect(
      await counter(latency, 'servingstack_spillover_total', { to: 'throughput', reason: 'queue-full' }),
    ).toBe(1);
    expect(await answered(throughput)).toBe(1);
    latency.gate.release();
    expect((await running).status).toBe(200);
    expect((await queued).status).toBe(200);
  });

  it('forwards no more requests at once than it has connections to the sibling; beyond, it refuses at once', async () => {
    const { throughput, latency } = await startPools({
      latency: { MAX_QUEUE_SIZE: '1', SPILLOVER_CONNECTIONS: '1' },
    });
    const { running: runningT } = await busy(throughput);
    const { running: runningL } = await busy(latency);
    const queuedL = infer(latency);
    await until(() => latency.batcher.depth === 1, 'a queued request on the latency pool');
    // Forwarded, and queued behind the held run on the throughput pool: one forward in flight.
    const forwarded = infer(latency);
    await until(() => throughput.batcher.depth === 1, 'the forwarded request queued on the throughput pool');
    const refused = await infer(latency);
    expect(refused.status).toBe(503);
    expect(refused.headers['x-serving-pool']).toBe('latency');
    expect(throughput.seen.filter((h) => h['x-serving-spilled-from'] === 'latency')).toHaveLength(1);
    throughput.gate.release();
    latency.gate.release();
    const answer = await forwarded;
    expect([answer.status, answer.headers['x-serving-pool']]).toEqual([200, 'throughput']);
    await Promise.all([runningT, runningL, queuedL]);
  });

  it('keeps work without a deadline off the latency pool: a full throughput queue answers 503 itself', async () => {
    const { throughput, latency } = await startPools({ throughput: { MAX_QUEUE_SIZE: '1' } });
    const { running } = await busy(throughput);
    const queued = infer(throughput);
    await until(() => throughput.batcher.depth === 1, 'a queued request on the throughput pool');
    const res = await infer(throughput);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(latency.seen).toHaveLength(0);
    throughput.gate.release();
    await Promise.all([running, queued]);
  });

  it('sends a request the router left on the wrong pool to the pool its headers name, both ways', async () => {
    const { throughput, latency } = await startPools();
    const short = await infer(throughput, { 'X-Request-Timeout-Ms': '1500' });
    expect(short.status).toBe(200);
    expect(short.headers['x-serving-pool']).toBe('latency');
    expect(short.headers['x-serving-spilled-from']).toBe('throughput');
    const batch = await infer(latency, { 'X-Serving-Priority': 'batch' });
    expect(batch.headers['x-serving-pool']).toBe('throughput');
    // The contract's own pool computes it where it lands.
    const here = await infer(throughput, { 'X-Serving-Priority': 'batch', 'X-Request-Timeout-Ms': '9000' });
    expect(here.headers['x-serving-pool']).toBe('throughput');
    expect(here.headers['x-serving-spilled-from']).toBeUndefined();
    expect(await counter(throughput, 'servingstack_spillover_total', { reason: 'route' })).toBe(1);
    expect(await counter(latency, 'servingstack_spillover_total', { reason: 'route' })).toBe(1);
    expect(await answered(latency)).toBe(1);
    expect(await answered(throughput)).toBe(2);
  });

  it('never forwards a request twice: a spilled request the sibling cannot take gets the original refusal', async () => {
    const { throughput, latency } = await startPools({ latency: { MAX_QUEUE_SIZE: '1' } });
    const { running: runningT } = await busy(throughput);
    const { running: runningL } = await busy(latency);
    const queuedL = infer(latency);
    await until(() => latency.batcher.depth === 1, 'a queued request on the latency pool');
    const res = await infer(throughput, { 'X-Request-Timeout-Ms': '3000' });
    // The latency pool refused at admission (full) and did not send it back.
    expect(res.status).toBe(504);
    expect(res.headers['x-serving-pool']).toBe('throughput');
    expect(res.headers['x-serving-spilled-from']).toBeUndefined();
    expect((JSON.parse(res.text) as { error: string }).error).toMatch(/deadline cannot be met/);
    expect(latency.seen.filter((h) => h['x-serving-spilled-from'] === 'throughput')).toHaveLength(1);
    expect(throughput.seen.filter((h) => h['x-serving-spilled-from'] !== undefined)).toHaveLength(0);
    expect(await counter(latency, 'servingstack_spillover_total', {})).toBe(0);
    expect(await counter(throughput, 'servingstack_spillover_failed_total', { why: 'refused' })).toBe(1);
    // A request that says it was spilled is never forwarded, whatever its headers ask.
    const hop = await infer(latency, {
      'X-Serving-Spilled-From': 'throughput',
      'X-Serving-Priority': 'batch',
    });
    expect(hop.status).toBe(503);
    expect(hop.headers['x-serving-pool']).toBe('latency');
    throughput.gate.release();
    latency.gate.release();
    await Promise.all([runningT, runningL, queuedL]);
  });

  it('caps what spilled requests may hold of a pool; misrouted ones are the pool’s own and pass', async () => {
    // 1% of 128 queued + 1 running: one spilled request at a time.
    const { latency } = await startPools({ latency: { SPILLOVER_MAX_SHARE_PERCENT: '1' } });
    const spilled = { 'X-Serving-Spilled-From': 'throughput', 'X-Serving-Spill-Reason': 'deadline' };
    latency.gate.hold();
    const first = infer(latency, spilled);
    await until(() => latency.gate.runs.length === 1, 'the spilled request running');
    const second = await infer(latency, spilled);
    expect(second.status).toBe(503);
    expect((JSON.parse(second.text) as { error: string }).error).toMatch(
      /spilled from the throughput pool may hold 1%/,
    );
    const misrouted = infer(latency, { ...spilled, 'X-Serving-Spill-Reason': 'route' });
    await until(() => latency.batcher.depth === 1, 'the misrouted request queued');
    expect(latency.spillover.spilledInFlight).toBe(1);
    latency.gate.release();
    expect((await first).status).toBe(200);
    expect((await misrouted).status).toBe(200);
    await until(() => latency.spillover.spilledInFlight === 0, 'the spilled request to leave');
    expect((await infer(latency, spilled)).status).toBe(200);
  });

  it('answers with the original refusal when the sibling is down, and stops trying it for a while', async () => {
    const { throughput } = await startPools();
    (throughput.spillover as unknown as { client: { base: URL } }).client.base.port = await closedPort();
    const { running } = await busy(throughput);
    const first = await infer(throughput, { 'X-Request-Timeout-Ms': '3000' });
    expect(first.status).toBe(504);
    expect(first.headers['x-serving-pool']).toBe('throughput');
    expect(await counter(throughput, 'servingstack_spillover_failed_total', { why: 'unreachable' })).toBe(1);
    const second = await infer(throughput, { 'X-Request-Timeout-Ms': '3000' });
    expect(second.status).toBe(504);
    // Known down: refused at admission, no connection tried and no body read.
    expect(await counter(throughput, 'servingstack_spillover_failed_total', { why: 'unreachable' })).toBe(1);
    throughput.gate.release();
    await running;
    // A misrouted request is computed where it landed while its pool is down.
    const short = await infer(throughput, { 'X-Request-Timeout-Ms': '1500' });
    expect(short.status).toBe(200);
    expect(short.headers['x-serving-pool']).toBe('throughput');
  });
});

describe('spill-over of encoded requests and answers', () => {
  it('forwards a gzip-encoded request as the body it decoded, without the Content-Encoding it no longer has', async () => {
    const { throughput, latency } = await startPools();
    // Misrouted: a short deadline on the throughput pool goes to the latency pool.
    const res = await post(
      throughput,
      { 'X-Request-Timeout-Ms': '1500', 'content-encoding': 'gzip' },
      gzipSync(JSON.stringify(mlpRequest(1))),
    );
    expect([res.status, res.headers['x-serving-pool']]).toEqual([200, 'latency']);
    expect((JSON.parse(res.body.toString()) as { outputs: unknown[] }).outputs).toHaveLength(1);
    expect(latency.seen.at(-1)!['content-encoding']).toBeUndefined();
  });

  it('passes the sibling’s compressed answer on with its Content-Encoding, compressed once', async () => {
    const { throughput } = await startPools();
    const res = await post(
      throughput,
      { 'X-Request-Timeout-Ms': '1500', 'accept-encoding': 'gzip' },
      Buffer.from(JSON.stringify(mlpRequest(1))),
    );
    expect([res.status, res.headers['x-serving-pool']]).toEqual([200, 'latency']);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers.vary).toMatch(/accept-encoding/i);
    expect((JSON.parse(gunzipSync(res.body).toString()) as { outputs: unknown[] }).outputs).toHaveLength(1);
  });

  it('forwards binary tensor data with its header length, and passes a binary answer back whole', async () => {
    const { throughput, latency } = await startPools();
    const data = new Float32Array(Array.from({ length: 16 }, (_, i) => i / 8));
    const json = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', parameters: { binary_data_size: 64 } }],
        parameters: { binary_data_output: true },
      }),
    );
    const headers = {
      'X-Request-Timeout-Ms': '1500',
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(json.length),
    };
    const body = Buffer.concat([json, Buffer.from(data.buffer)]);
    const here = await post(latency, headers, body);
    const res = await post(throughput, headers, body);
    expect(here.status).toBe(200);
    expect([res.status, res.headers['x-serving-pool']]).toEqual([200, 'latency']);
    expect(res.headers['x-serving-spilled-from']).toBe('throughput');
    expect(res.headers['inference-header-content-length']).toBe(
      here.headers['inference-header-content-length'],
    );
    expect(res.body.equals(here.body)).toBe(true);
    expect(Number(latency.seen.at(-1)!['inference-header-content-length'])).toBe(json.length);
  });

  it('answers its own 504, not the sibling’s 400, when a deadline passes after the tensors went to the worker', async () => {
    const { throughput, latency } = await startPools(
      { throughput: { INFERENCE_THREAD: 'worker' } },
      { throughput: await heldOnWorker() },
    );
    // Answering has taken about a second: the batcher gives up on a run a second before the
    // deadline, time enough for a forward, which would carry a body already moved away.
    for (let i = 0; i < 3; i++) throughput.batcher.observeOverhead(0, 1000);
    const json = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', parameters: { binary_data_size: 64 } }],
      }),
    );
    const body = Buffer.concat([json, Buffer.from(new Float32Array(16).fill(0.5).buffer)]);
    throughput.gate.hold();
    const res = await post(
      throughput,
      {
        'X-Request-Timeout-Ms': '2500',
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(json.length),
      },
      body,
    );
    expect([res.status, res.headers['x-serving-pool']]).toEqual([504, 'throughput']);
    expect(latency.seen).toHaveLength(0);
    expect(throughput.gate.runs).toHaveLength(1);
  });
});

/** A sibling of the test's own on loopback (one that fails or hangs), put in `s`'s place. */
async function fakeSibling(
  s: PoolServer,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; closed: () => number }> {
  let closed = 0;
  const server = createHttpServer((req, res) => {
    req.resume();
    req.socket.once('close', () => closed++);
    handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fakes.push(server);
  (s.spillover as unknown as { client: { base: URL } }).client.base.port = String(
    (server.address() as AddressInfo).port,
  );
  return { server, closed: () => closed };
}

let fakes: Server[] = [];
afterEach(async () => {
  for (const f of fakes) {
    f.closeAllConnections();
    await new Promise((r) => f.close(r));
  }
  fakes = [];
});

const forwarding = (s: PoolServer) => (s.spillover as unknown as { forwarding: number }).forwarding;

describe('spill-over to a sibling that fails', () => {
  it('computes a misrouted request here when the sibling answers 500, rather than passing the 500 on', async () => {
    const { throughput } = await startPools();
    await fakeSibling(throughput, (_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json', 'x-serving-pool': 'latency' });
      res.end('{"error":"internal server error"}');
    });
    const res = await infer(throughput, { 'X-Request-Timeout-Ms': '1500' });
    expect([res.status, res.headers['x-serving-pool']]).toEqual([200, 'throughput']);
    expect(await counter(throughput, 'servingstack_spillover_failed_total', { why: 'refused' })).toBe(1);
    expect(await counter(throughput, 'servingstack_spillover_total', {})).toBe(0);
  });

  it('answers a request whose sibling hangs with its own refusal by its deadline', async () => {
    const { throughput } = await startPools();
    await fakeSibling(throughput, () => undefined);
    const { running } = await busy(throughput);
    const res = await infer(throughput, { 'X-Request-Timeout-Ms': '1500' });
    expect([res.status, res.headers['x-serving-pool']]).toEqual([504, 'throughput']);
    expect(await counter(throughput, 'servingstack_spillover_failed_total', { why: 'timeout' })).toBe(1);
    await until(() => forwarding(throughput) === 0, 'the forward to be let go');
    throughput.gate.release();
    await running;
  });

  it('lets go of the forward when its client leaves: the sibling’s request is closed and the count falls', async () => {
    const { latency } = await startPools({ latency: { MAX_QUEUE_SIZE: '1' } });
    let arrived = 0;
    const fake = await fakeSibling(latency, () => arrived++);
    const { running } = await busy(latency);
    const queued = infer(latency);
    await until(() => latency.batcher.depth === 1, 'a queued request on the latency pool');
    const body = JSON.stringify(mlpRequest(1));
    const leaving = request(`${latency.url}/v2/models/mlp/infer`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json' },
    });
    leaving.on('error', () => undefined);
    leaving.end(body);
    await until(() => arrived === 1, 'the forward to reach the sibling');
    expect(forwarding(latency)).toBe(1);
    leaving.destroy();
    await until(() => fake.closed() === 1, 'the sibling’s request to be closed');
    await until(() => forwarding(latency) === 0, 'the forward count to fall');
    expect(await counter(latency, 'servingstack_spillover_failed_total', { why: 'aborted' })).toBe(1);
    expect(await counter(latency, 'servingstack_spillover_total', {})).toBe(0);
    // No refusal counted for an answer never sent (the sibling counts the request that left).
    expect(await answered(latency, '503')).toBe(0);
    latency.gate.release();
    await Promise.all([running, queued]);
  });
});

describe('spill-over under concurrency and drain', () => {
  it('gives each of many concurrent forwards over few connections its own answer', async () => {
    const { throughput, latency } = await startPools({ throughput: { SPILLOVER_CONNECTIONS: '2' } });
    const bodies = Array.from({ length: 12 }, (_, k) => {
      const r = mlpRequest(1);
      r.inputs[0]!.data = r.inputs[0]!.data.map((v) => v * (k + 1));
      return Buffer.from(JSON.stringify(r));
    });
    const headers = { 'X-Request-Timeout-Ms': '1500' };
    const direct = await Promise.all(bodies.map((b) => post(latency, headers, b)));
    // Misrouted to the latency pool, all at once; past two in flight, computed here instead.
    const spilled = await Promise.all(bodies.map((b) => post(throughput, headers, b)));
    const outputs = (r: { body: Buffer }) =>
      JSON.stringify((JSON.parse(r.body.toString()) as { outputs: unknown }).outputs);
    spilled.forEach((r, k) => {
      expect(r.status).toBe(200);
      expect(outputs(r)).toBe(outputs(direct[k]!));
    });
    expect(spilled.some((r) => r.headers['x-serving-pool'] === 'latency')).toBe(true);
    expect(await counter(throughput, 'servingstack_spillover_total', { reason: 'route' })).toBe(
      spilled.filter((r) => r.headers['x-serving-pool'] === 'latency').length,
    );
  });

  it('finishes a forward in flight when its server drains: the client gets the sibling’s answer and the drain completes', async () => {
    const { latency } = await startPools({ latency: { MAX_QUEUE_SIZE: '1' } });
    let answer: (() => void) | undefined;
    await fakeSibling(latency, (_req, res) => {
      answer = () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-serving-pool': 'throughput' });
        res.end('{"outputs":[]}');
      };
    });
    const { running } = await busy(latency);
    const queued = infer(latency);
    await until(() => latency.batcher.depth === 1, 'a queued request on the latency pool');
    const forwarded = infer(latency);
    await until(() => answer !== undefined, 'the forward to reach the sibling');
    const state = { warm: true, draining: false };
    const drained = drain({
      app: latency.app,
      batcher: latency.batcher,
      state,
      budgetMs: 10_000,
    });
    latency.gate.release();
    answer!();
    const res = await forwarded;
    expect([res.status, res.headers['x-serving-pool'], res.text]).toEqual([
      200,
      'throughput',
      '{"outputs":[]}',
    ]);
    expect(await drained).toBe('drained');
    latency.spillover.close();
    await Promise.all([running, queued]);
  });
});

describe('spill-over of deadlines at the edges', () => {
  it('forwards a misrouted request whose deadline is beyond what a timer holds (days away)', async () => {
    const { latency } = await startPools();
    // 35 days: past a timer's 2^31-1 ms (which fires at once instead); 1e11 ms: past 2^32.
    for (const ms of ['3000000000', '100000000000']) {
      const res = await infer(latency, { 'X-Request-Timeout-Ms': ms });
      expect([res.status, res.headers['x-serving-pool'], ms]).toEqual([200, 'throughput', ms]);
    }
    expect(await counter(latency, 'servingstack_spillover_total', { reason: 'route' })).toBe(2);
  });

  it('does not forward a request whose deadline has passed: it gets its own 504 and the sibling sees nothing', async () => {
    const { throughput, latency } = await startPools();
    const res = await infer(throughput, { 'X-Request-Timeout-Ms': '0' });
    expect([res.status, res.headers['x-serving-pool']]).toEqual([504, 'throughput']);
    expect(latency.seen).toHaveLength(0);
    expect(await counter(throughput, 'servingstack_spillover_total', {})).toBe(0);
  });
});

/** `p`, or a failure naming `what` past `ms`: a forward that hangs fails the test, not jest's timer. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A request to `s` that its client abandons once `ready` holds; resolves when it has left. */
async function leaveWhen(
  s: PoolServer,
  headers: Record<string, string>,
  ready: () => boolean,
): Promise<void> {
  const leaving = request(`${s.url}/v2/models/mlp/infer`, {
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', ...headers },
  });
  leaving.on('error', () => undefined);
  leaving.end(JSON.stringify(mlpRequest(1)));
  await until(ready, 'the forward to reach the sibling');
  leaving.destroy();
}

// A sibling that hangs: it accepted the request and says nothing more, or it sent its answer's
// headers and part of the body and stops there. `sent` is called once what it says has gone out.
type Hang = (res: ServerResponse, sent: () => void) => void;
const HANGS: [string, Hang][] = [
  ['never answers', (_res, sent) => sent()],
  [
    'stalls in the middle of its answer',
    (res, sent) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"outputs":', sent);
    },
  ],
];

describe('spill-over without a deadline, bounded in time', () => {
  it.each(HANGS)(
    'answers a request the sibling %s with its own refusal after SPILLOVER_FORWARD_TIMEOUT_MS, and closes the connection',
    async (_what, hang) => {
      const { latency } = await startPools({
        latency: { MAX_QUEUE_SIZE: '1', SPILLOVER_FORWARD_TIMEOUT_MS: '300' },
      });
      const fake = await fakeSibling(latency, (_req, res) => hang(res, () => undefined));
      const { running } = await busy(latency);
      const queued = infer(latency);
      await until(() => latency.batcher.depth === 1, 'a queued request on the latency pool');
      // Full, without a deadline: spilled to the throughput pool for want of room.
      const res = await within(infer(latency), 10_000, 'answer from the forwarding server');
      expect([res.status, res.headers['x-serving-pool']]).toEqual([503, 'latency']);
      expect(res.headers['retry-after']).toBeDefined();
      expect((JSON.parse(res.text) as { error: string }).error).toMatch(
        /queue is full .*; spilled to the throughput pool: (no answer|its answer stopped after the headers and was not whole) within 300 ms$/,
      );
      expect(
        await counter(latency, 'servingstack_spillover_failed_total', {
          reason: 'queue-full',
          why: 'timeout',
        }),
      ).toBe(1);
      expect(await counter(latency, 'servingstack_spillover_total', {})).toBe(0);
      // The connection to the sibling is destroyed, not left to hold a request it may still run.
      await until(() => fake.closed() === 1, 'the connection to the sibling to close');
      expect(forwarding(latency)).toBe(0);
      expect(await answered(latency, '503')).toBe(1);
      latency.gate.release();
      await Promise.all([running, queued]);
    },
  );

  it('lets a real sibling go of the request it was holding when the forward times out', async () => {
    const { throughput, latency } = await startPools({
      latency: { MAX_QUEUE_SIZE: '1', SPILLOVER_FORWARD_TIMEOUT_MS: '300' },
    });
    // The throughput pool takes the spilled request into its queue, behind a run that never ends.
    const { running: runningT } = await busy(throughput);
    const { running: runningL } = await busy(latency);
    const queuedL = infer(latency);
    await until(() => latency.batcher.depth === 1, 'a queued request on the latency pool');
    const res = await within(infer(latency), 10_000, 'answer from the forwarding server');
    expect([res.status, res.headers['x-serving-pool']]).toEqual([503, 'latency']);
    expect(throughput.seen.filter((h) => h['x-serving-spilled-from'] === 'latency')).toHaveLength(1);
    expect(
      await counter(latency, 'servingstack_spillover_failed_total', { reason: 'queue-full', why: 'timeout' }),
    ).toBe(1);
    // Both sides let go: the share the spilled request held of the throughput pool, its place in
    // that queue, and the forward here.
    await until(() => throughput.spillover.spilledInFlight === 0, 'the spilled-in share to be released');
    await until(() => throughput.batcher.depth === 0, 'the spilled request to leave the sibling’s queue');
    expect(forwarding(latency)).toBe(0);
    expect(await answered(throughput, '499')).toBe(1);
    throughput.gate.release();
    latency.gate.release();
    await Promise.all([runningT, runningL, queuedL]);
    // Only the run held from the start ran there: the request left before its turn.
    expect(throughput.gate.runs).toHaveLength(1);
  });

  it('computes a misrouted request here when the sibling does not answer in time, no longer counted as forwarding', async () => {
    const { latency } = await startPools({ latency: { SPILLOVER_FORWARD_TIMEOUT_MS: '300' } });
    const fake = await fakeSibling(latency, () => undefined);
    latency.gate.hold();
    // Batch work the router left on the latency pool: the throughput pool's by the contract.
    const res = within(infer(latency, { 'X-Serving-Priority': 'batch' }), 10_000, 'answer');
    await until(() => latency.gate.runs.length === 1, 'the request to run here after the forward failed');
    expect(forwarding(latency)).toBe(0);
    expect(
      await counter(latency, 'servingstack_spillover_failed_total', { reason: 'route', why: 'timeout' }),
    ).toBe(1);
    await until(() => fake.closed() === 1, 'the connection to the sibling to close');
    latency.gate.release();
    const answer = await res;
    expect([answer.status, answer.headers['x-serving-pool']]).toEqual([200, 'latency']);
  });

  it('keeps a deadline longer than SPILLOVER_FORWARD_TIMEOUT_MS: the forward waits for its deadline', async () => {
    const { throughput } = await startPools({ throughput: { SPILLOVER_FORWARD_TIMEOUT_MS: '100' } });
    await fakeSibling(throughput, (_req, res) => {
      // Six times the bound for requests without a deadline, and far inside this one's.
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-serving-pool': 'latency' });
        res.end('{"outputs":[]}');
      }, 600);
    });
    // Misrouted: a deadline under latencyBelowMs (2000 here) is the latency pool's.
    const res = await infer(throughput, { 'X-Request-Timeout-Ms': '1900' });
    expect([res.status, res.headers['x-serving-pool'], res.text]).toEqual([200, 'latency', '{"outputs":[]}']);
    expect(await counter(throughput, 'servingstack_spillover_failed_total', {})).toBe(0);
  });
});

describe('spill-over to a sibling that closes the connection', () => {
  it.each<[string, (req: IncomingMessage, res: ServerResponse) => void, RegExp]>([
    ['without answering', (req) => req.socket.destroy(), /closed the connection without answering/],
    [
      'in the middle of its answer',
      (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"outputs":', () => req.socket.destroy());
      },
      /closed the connection in the middle of its answer/,
    ],
  ])('answers with its own refusal at once when the sibling closes %s', async (_what, close, message) => {
    // A bound far beyond the test's own: the answer must not wait for it.
    const { latency } = await startPools({
      latency: { MAX_QUEUE_SIZE: '1', SPILLOVER_FORWARD_TIMEOUT_MS: '600000' },
    });
    await fakeSibling(latency, close);
    const { running } = await busy(latency);
    const queued = infer(latency);
    await until(() => latency.batcher.depth === 1, 'a queued request on the latency pool');
    const res = await within(infer(latency), 10_000, 'answer from the forwarding server');
    // Never a truncated answer passed on as the sibling's.
    expect([res.status, res.headers['x-serving-pool']]).toEqual([503, 'latency']);
    expect((JSON.parse(res.text) as { error: string }).error).toMatch(message);
    expect(
      await counter(latency, 'servingstack_spillover_failed_total', {
        reason: 'queue-full',
        why: 'unreachable',
      }),
    ).toBe(1);
    expect(forwarding(latency)).toBe(0);
    latency.gate.release();
    await Promise.all([running, queued]);
  });
});

describe('spill-over whose client leaves during the forward', () => {
  it.each(HANGS)(
    'aborts a misrouted forward the sibling %s, and computes nothing here for the client that left',
    async (_what, hang) => {
      const { latency } = await startPools({ latency: { SPILLOVER_FORWARD_TIMEOUT_MS: '600000' } });
      let arrived = 0;
      const fake = await fakeSibling(latency, (_req, res) => hang(res, () => arrived++));
      await leaveWhen(latency, { 'X-Serving-Priority': 'batch' }, () => arrived === 1);
      await until(() => fake.closed() === 1, 'the connection to the sibling to close');
      await until(() => forwarding(latency) === 0, 'the forward count to fall');
      expect(
        await counter(latency, 'servingstack_spillover_failed_total', { reason: 'route', why: 'aborted' }),
      ).toBe(1);
      // A request of the latency pool's own, answered after the one that left would have been
      // taken into the queue: it is the only run.
      const own = await infer(latency);
      expect([own.status, own.headers['x-serving-pool']]).toEqual([200, 'latency']);
      expect(latency.gate.runs).toHaveLength(1);
      expect(await answered(latency)).toBe(1);
    },
  );

  it('sends nothing to the sibling for a client that left after its body was read, before the forward', async () => {
    const { latency } = await startPools({ latency: { SPILLOVER_FORWARD_TIMEOUT_MS: '600000' } });
    let arrived = 0;
    await fakeSibling(latency, () => arrived++);
    await leaveWhen(
      latency,
      { 'X-Serving-Priority': 'batch', [PARK_UNTIL_GONE]: '1' },
      () => latency.parked() === 1,
    );
    // Counted once its handler ran (after the client left); a forward sent would wait 600 s.
    const aborted = { reason: 'route', why: 'aborted' };
    const end = Date.now() + 10_000;
    while ((await counter(latency, 'servingstack_spillover_failed_total', aborted)) === 0) {
      if (Date.now() > end) throw new Error('timed out waiting for the forward to be given up');
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(arrived).toBe(0);
    expect(forwarding(latency)).toBe(0);
    const own = await infer(latency);
    expect(own.status).toBe(200);
    expect(latency.gate.runs).toHaveLength(1);
  });
});
