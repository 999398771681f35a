// Batching benchmark (figures, not a test): `node bench/batching.bench.ts`, or `BENCH=batching make
// bench`. On the ocr-models classifier, whose runs cost about a millisecond a row, so that batching
// decides throughput, with the throughput pool's settings as the CRD defaults them (batch ≤ 64,
// delay 50 ms), on loopback:
//   - a step load of 1 → 64 → 1 closed-loop clients, static settings against the adaptive batch
//     size (TARGET_P95_MS): throughput, p95 and the share of requests within the target per step;
//   - 2× overload: requests arrive (open loop, Poisson) at twice the rate the pool sustains, with
//     a mix of deadlines: how many were answered after their deadline (the aim: none), how many
//     were refused early with 504 and how early, how many found the queue full (503); and, to
//     tell the server's lateness from the shared machine's, how many answers the server itself
//     sent late by its own clock (servingstack_deadline_missed_total) and how late the
//     generator's own event loop ran (an answer it reads late counts as late).
// Results: bench/results/batching.json and the "## Batching" section of docs/benchmarks.md.
process.env.ORT_DISABLE_TELEMETRY = '1';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { batchingSection } from './lib/batching-report.ts';
import type { BatchingReport, OverloadResult, StepResult } from './lib/batching-report.ts';
import { binaryPayload, clsDir } from './lib/bench-models.ts';
import { writeDocsSection } from './lib/docs-section.ts';
import { closedLoop, percentile } from './lib/load.ts';
import type { Payload } from './lib/load.ts';
import { openLoop, poissonSchedule } from './lib/open-loop.ts';
import type { Outcome } from './lib/open-loop.ts';
import { freePort, stop, track, waitReady } from './lib/servers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET_P95_MS = Number(process.env.BENCH_TARGET_P95_MS ?? 150);
const STEPS = [1, 64, 1];
const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 5);
const OVERLOAD_SECONDS = Number(process.env.BENCH_OVERLOAD_SECONDS ?? 8);
/** Deadlines of the overload's requests, drawn evenly; undefined: none. */
const DEADLINES_MS = [50, 200, 1000, undefined] as const;

const MODEL = { name: 'cls', dir: clsDir(), payload: binaryPayload('x', [1, 3, 48, 192]) };

const VARIANTS: { name: string; label: string; env: Record<string, string> }[] = [
  { name: 'static', label: 'static (batch ≤ 64, delay 50 ms)', env: {} },
  {
    name: 'adaptive',
    label: `adaptive (TARGET_P95_MS=${TARGET_P95_MS}, up to batch 64, delay 50 ms)`,
    env: { TARGET_P95_MS: String(TARGET_P95_MS) },
  },
];

async function startServer(env: Record<string, string>) {
  const port = await freePort();
  const child = track(
    spawn(process.execPath, [join(ROOT, 'server-image/src/main.ts')], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        ORT_DISABLE_TELEMETRY: '1',
        MODEL_DIR: MODEL.dir,
        MODEL_NAME: MODEL.name,
        BATCH_DIMENSION: 'first',
        // Warm-up at the benchmark's image size seeds the cost model before the first request.
        WARMUP_SHAPES: JSON.stringify([{ x: [3, 48, 192] }]),
        POOL: 'throughput',
        MAX_BATCH_SIZE: '64',
        MAX_DELAY_MS: '50',
        PORT: String(port),
        METRICS_PORT: String(port + 1),
        HOST: '127.0.0.1',
        INTRA_OP_THREADS: '1',
        INTER_OP_THREADS: '1',
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: 'inherit',
    }),
  );
  await waitReady(`http://127.0.0.1:${port}/v2/health/ready`, child, false);
  return { child, port, url: `http://127.0.0.1:${port}/v2/models/${MODEL.name}/infer` };
}

/** The batch size the server works with now, from its model metadata. */
async function batchSizeLimit(port: number): Promise<number> {
  const meta = await (await fetch(`http://127.0.0.1:${port}/v2/models/${MODEL.name}`)).json();
  return (meta as { parameters: { batch_size_limit: number } }).parameters.batch_size_limit;
}

async function stepLoad(url: string, port: number): Promise<StepResult[]> {
  const steps: StepResult[] = [];
  for (const clients of STEPS) {
    const s = await closedLoop(url, MODEL.payload, clients, STEP_SECONDS);
    const sorted = [...s.latencies].sort((a, b) => a - b);
    const answered = sorted.length + s.errors;
    steps.push({
      clients,
      rps: +(sorted.length / s.seconds).toFixed(1),
      p50Ms: +percentile(sorted, 50).toFixed(2),
      p95Ms: +percentile(sorted, 95).toFixed(2),
      withinTarget: +(sorted.filter((l) => l <= TARGET_P95_MS).length / answered).toFixed(4),
      errors: s.errors,
      batchSizeLimit: await batchSizeLimit(port),
    });
  }
  return steps;
}

function deadlinePayload(deadline: number | undefined): Payload {
  if (deadline === undefined) return MODEL.payload;
  return {
    body: MODEL.payload.body,
    headers: { ...MODEL.payload.headers, 'x-request-timeout-ms': String(deadline) },
  };
}

/**
 * Answers the server sent after their deadline by its own clock, by status (deadline_missed),
 * from /metrics on its own port (the one after the server's).
 */
async function missedByServer(port: number): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port + 1}/metrics`);
  if (!res.ok) throw new Error(`/metrics on port ${port + 1} answered ${res.status}`);
  const text = await res.text();
  const byCode: Record<string, number> = {};
  for (const m of text.matchAll(/^servingstack_deadline_missed_total\{[^}]*code="(\d+)"[^}]*\} (\d+)$/gm)) {
    byCode[m[1]!] = Number(m[2]);
  }
  return byCode;
}

async function overload(url: string, port: number): Promise<OverloadResult> {
  const capacity = (await closedLoop(url, MODEL.payload, 64, 4)).latencies.length / 4;
  const rate = 2 * capacity;
  const schedule = poissonSchedule(rate, OVERLOAD_SECONDS, (rnd) => Math.floor(rnd() * DEADLINES_MS.length));
  const missedBefore = await missedByServer(port);
  // The generator's own loop lag: an answer it reads late counts as late, whoever was slow.
  const generatorLag = monitorEventLoopDelay({ resolution: 10 });
  generatorLag.enable();
  const outcomes = await openLoop(url, DEADLINES_MS.map(deadlinePayload), schedule);
  generatorLag.disable();
  const missedAfter = await missedByServer(port);
  const missed = Object.fromEntries(
    Object.entries(missedAfter).map(([code, n]) => [code, n - (missedBefore[code] ?? 0)]),
  );
  const classes = DEADLINES_MS.map((deadline, kind) => {
    const mine = outcomes.filter((o) => o.kind === kind);
    // The deadline runs from when the request was sent: how late the generator itself sent it
    // (it shares the CPUs) is no fault of the server's, and is reported apart.
    const fromSent = (o: Outcome) => o.latencyMs - o.sendLagMs;
    const late = (o: Outcome) => deadline !== undefined && fromSent(o) > deadline;
    const ok = mine.filter((o) => o.status === 200);
    const refused = mine.filter((o) => o.status === 504);
    // How long before its deadline each 504 arrived.
    const early = refused.map((o) => deadline! - fromSent(o)).sort((a, b) => a - b);
    return {
      deadlineMs: deadline ?? null,
      sent: mine.length,
      answeredInTime: ok.filter((o) => !late(o)).length,
      answeredLate: ok.filter((o) => late(o)).length,
      refusedDeadline: refused.length,
      refusedEarlyMedianMs: refused.length ? +percentile(early, 50).toFixed(1) : null,
      refusedEarlyMinMs: refused.length ? +early[0]!.toFixed(1) : null,
      refusedLate: early.filter((ms) => ms < 0).length,
      refusedQueueFull: mine.filter((o) => o.status === 503).length,
      failed: mine.filter((o) => ![200, 503, 504].includes(o.status)).length,
      p95OkMs: ok.length
        ? +percentile(
            ok.map(fromSent).sort((a, b) => a - b),
            95,
          ).toFixed(1)
        : null,
    };
  });
  const lags = outcomes.map((o) => o.sendLagMs).sort((a, b) => a - b);
  return {
    capacityRps: +capacity.toFixed(1),
    offeredRps: +rate.toFixed(1),
    sendLagP50Ms: +percentile(lags, 50).toFixed(1),
    sendLagP95Ms: +percentile(lags, 95).toFixed(1),
    generatorLoopLagP99Ms: +Math.max(0, generatorLag.percentile(99) / 1e6 - 10).toFixed(1),
    generatorLoopLagMaxMs: +Math.max(0, generatorLag.max / 1e6 - 10).toFixed(1),
    lateByServerClock: missed,
    seconds: OVERLOAD_SECONDS,
    classes,
  };
}

async function main(): Promise<void> {
  const report: BatchingReport = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    targetP95Ms: TARGET_P95_MS,
    stepSeconds: STEP_SECONDS,
    loadAverage: [],
    variants: [],
  };
  for (const v of VARIANTS) {
    console.log(`batching bench: ${v.label}`);
    report.loadAverage!.push({ variant: `the start of ${v.name}`, at: loadavg()[0]! });
    const server = await startServer(v.env);
    try {
      const steps = await stepLoad(server.url, server.port);
      for (const s of steps) console.log(`  step ${s.clients} clients: ${JSON.stringify(s)}`);
      const over = await overload(server.url, server.port);
      console.log(`  overload: ${JSON.stringify(over)}`);
      report.variants.push({ name: v.name, label: v.label, steps, overload: over });
    } finally {
      await stop(server.child);
    }
  }
  report.loadAverage!.push({ variant: 'the end', at: loadavg()[0]! });
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/batching.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeDocsSection('## Batching', batchingSection(report));
}

await main();
