// Threads sized to the pod, measured (figures, not a test): the server runs as a 1-CPU pod would
// on this host (pinned to one core with taskset), its load generator beside it, and four
// configurations are compared on the text-direction classifier (binary tensors, latency pool,
// closed loop): onnxruntime's old default (intra-op threads = the host's cores, idle threads
// spinning), each change alone, and the new default (threads = the pod's CPUs, no spinning).
// Results: bench/results/threads.json and the "Threads under a CPU quota" section of
// docs/benchmarks.md. BENCH=threads make bench runs it alone.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryPayload, clsDir } from './lib/bench-models.ts';
import { writeDocsSection } from './lib/docs-section.ts';
import { closedLoop, percentile } from './lib/load.ts';
import { freePort, stop, track, waitReady } from './lib/servers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONCURRENCY = 4;
const HOST_CORES = availableParallelism();
if (HOST_CORES < 2)
  throw new Error('the threads benchmark needs 2 cores: one for the server, one for the load');

interface Config {
  label: string;
  threads: number;
  spinning: boolean;
}
const CONFIGS: Config[] = [
  { label: `old default: ${HOST_CORES} threads (host cores), spinning`, threads: HOST_CORES, spinning: true },
  { label: `${HOST_CORES} threads, no spinning`, threads: HOST_CORES, spinning: false },
  { label: '1 thread (pod CPU), spinning', threads: 1, spinning: true },
  { label: 'new default: 1 thread (pod CPU), no spinning', threads: 1, spinning: false },
];

async function measure(c: Config, dir: string) {
  const port = await freePort();
  // taskset -c 0: one core, as a 1-CPU pod has; the load generator stays off it.
  const child = track(
    spawn('taskset', ['-c', '0', process.execPath, join(ROOT, 'server-image/src/main.ts')], {
      env: {
        ...process.env,
        ORT_DISABLE_TELEMETRY: '1',
        MODEL_DIR: dir,
        MODEL_NAME: 'cls',
        POOL: 'latency',
        BATCH_DIMENSION: 'first',
        WARMUP_SHAPES: '[{"x":[3,48,192]}]',
        PRECISION: 'fp32',
        EXECUTION_PROVIDER: 'cpu',
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        INTRA_OP_THREADS: String(c.threads),
        INTER_OP_THREADS: '1',
        THREAD_SPINNING: c.spinning ? '1' : '0',
      },
      stdio: 'inherit',
    }),
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitReady(`${base}/v2/health/ready`, child, false);
    const s = await closedLoop(
      `${base}/v2/models/cls/infer`,
      binaryPayload('x', [1, 3, 48, 192]),
      CONCURRENCY,
      SECONDS,
    );
    const sorted = [...s.latencies].sort((a, b) => a - b);
    return {
      ...c,
      requests: sorted.length,
      errors: s.errors,
      rps: +(sorted.length / s.seconds).toFixed(1),
      p50Ms: +percentile(sorted, 50).toFixed(2),
      p95Ms: +percentile(sorted, 95).toFixed(2),
    };
  } finally {
    await stop(child);
  }
}

const dir = clsDir();
const results = [];
for (const c of CONFIGS) {
  const r = await measure(c, dir);
  console.log(`${r.label}: ${r.rps} req/s, p50 ${r.p50Ms} ms, p95 ${r.p95Ms} ms (${r.errors} errors)`);
  results.push(r);
}
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(
  join(ROOT, 'bench/results/threads.json'),
  `${JSON.stringify({ hostCores: HOST_CORES, concurrency: CONCURRENCY, seconds: SECONDS, results }, null, 2)}\n`,
);
const ref = results[results.length - 1]!;
const rows = results.map(
  (r) =>
    `| ${r.label} | ${r.rps} | ${r.p50Ms} | ${r.p95Ms} | ${(r.p50Ms / ref.p50Ms).toFixed(2)} | ${(r.p95Ms / ref.p95Ms).toFixed(2)} |`,
);
writeDocsSection(
  '## Threads under a CPU quota',
  `## Threads under a CPU quota

\`bench/threads.bench.ts\` (\`BENCH=threads make bench\`): the server pinned to one core (\`taskset -c 0\`,
a 1-CPU pod on a ${HOST_CORES}-core host), latency pool, the text-direction classifier with binary
tensors [1, 3, 48, 192], ${CONCURRENCY} closed-loop clients (the load generator, not pinned, so mostly on the other core) for ${SECONDS} s per row. Ratios are
against the new default (last row); one run on a shared machine, so read them as a direction, not a
precise figure. The row that matters is the first against the last: what a 1-CPU pod got before
(onnxruntime sized its pool from the host's cores and let it spin) and what it gets now.

| configuration | req/s | p50 ms | p95 ms | p50 ratio | p95 ratio |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`,
);
