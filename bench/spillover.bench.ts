// Spill-over benchmark (figures, not a test): `node bench/spillover.bench.ts`, or `BENCH=spillover
// make bench`. Two real servers on loopback, a latency pool (batch 1, queue 128) and a throughput
// pool (batch ≤ 64, delay 5 ms), on the ocr-models classifier (about a millisecond a row), each on
// its pool's default inference thread (latency: the main thread; throughput: a worker):
//   - a burst of BURST concurrent deadline-bound requests on the latency pool, with spill-over off
//     (no sibling) and on (each server's sibling is the other): the share answered within the
//     deadline, and which pool computed them;
//   - the hop: sequential requests at idle, straight to the latency pool and through the
//     throughput pool (a request whose header names the latency pool, forwarded once): the added
//     latency of a spilled request, median and p95.
// Results: bench/results/spillover.json and the "## Spill-over" section of docs/benchmarks.md.
process.env.ORT_DISABLE_TELEMETRY = '1';
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryPayload, clsDir } from './lib/bench-models.ts';
import { writeDocsSection } from './lib/docs-section.ts';
import { percentile } from './lib/load.ts';
import { freePort, stop, track, waitReady } from './lib/servers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BURST = Number(process.env.BENCH_SPILL_BURST ?? 1000);
const DEADLINE_MS = Number(process.env.BENCH_SPILL_DEADLINE_MS ?? 2000);
const HOPS = Number(process.env.BENCH_SPILL_HOPS ?? 300);
const MODEL = { name: 'cls', dir: clsDir(), payload: binaryPayload('x', [1, 3, 48, 192]) };

type Pool = 'latency' | 'throughput';
interface Answer {
  status: number;
  pool: string | undefined;
  spilled: boolean;
  ms: number;
  /** A refusal's reason (its error text without figures), to tell why requests were refused. */
  reason?: string;
}

/** The error text of a refusal, its numbers replaced so that equal reasons count together. */
function refusalReason(body: string): string {
  let text = body;
  try {
    text = (JSON.parse(body) as { error?: string }).error ?? body;
  } catch {
    // Not JSON: the text as it came.
  }
  return text.replace(/[0-9]+(\.[0-9]+)?/g, 'N').slice(0, 160);
}

const POOL_ENV: Record<Pool, Record<string, string>> = {
  latency: { POOL: 'latency', MAX_BATCH_SIZE: '1', MAX_DELAY_MS: '0', MAX_QUEUE_SIZE: '128' },
  throughput: { POOL: 'throughput', MAX_BATCH_SIZE: '64', MAX_DELAY_MS: '5', MAX_QUEUE_SIZE: '1024' },
};

async function startPools(
  spill: boolean,
): Promise<{ ports: Record<Pool, number>; stopAll(): Promise<void> }> {
  const ports = { latency: await freePort(), throughput: await freePort() };
  const children = (['latency', 'throughput'] as const).map((pool) => {
    const sibling = pool === 'latency' ? 'throughput' : 'latency';
    return track(
      spawn(process.execPath, [join(ROOT, 'server-image/src/main.ts')], {
        env: {
          ...process.env,
          NODE_OPTIONS: '',
          ORT_DISABLE_TELEMETRY: '1',
          MODEL_DIR: MODEL.dir,
          MODEL_NAME: MODEL.name,
          BATCH_DIMENSION: 'first',
          WARMUP_SHAPES: JSON.stringify([{ x: [3, 48, 192] }]),
          PORT: String(ports[pool]),
          // Metrics apart from inference since the metrics port split; 0: any free port (never read here).
          METRICS_PORT: '0',
          HOST: '127.0.0.1',
          INTRA_OP_THREADS: '1',
          INTER_OP_THREADS: '1',
          LOG_LEVEL: 'warn',
          ...POOL_ENV[pool],
          ...(spill ? { SPILLOVER_SIBLING_URL: `http://127.0.0.1:${ports[sibling]}` } : {}),
        },
        stdio: 'inherit',
      }),
    );
  });
  await Promise.all(
    children.map((c, i) =>
      waitReady(`http://127.0.0.1:${Object.values(ports)[i]}/v2/health/ready`, c, false),
    ),
  );
  return { ports, stopAll: async () => void (await Promise.all(children.map(stop))) };
}

const agent = new Agent({ keepAlive: true, maxSockets: 2048 });

function infer(port: number, headers: Record<string, string>): Promise<Answer> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: `/v2/models/${MODEL.name}/infer`,
        method: 'POST',
        agent,
        headers: { ...MODEL.payload.headers, ...headers, 'content-length': MODEL.payload.body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        if (res.statusCode === 200) res.resume();
        else res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            reason: chunks.length > 0 ? refusalReason(Buffer.concat(chunks).toString()) : undefined,
            pool: res.headers['x-serving-pool'] as string | undefined,
            spilled: res.headers['x-serving-spilled-from'] !== undefined,
            ms: performance.now() - start,
          }),
        );
      },
    );
    req.on('error', () =>
      resolve({ status: 0, pool: undefined, spilled: false, ms: performance.now() - start }),
    );
    req.end(MODEL.payload.body);
  });
}

interface BurstResult {
  spill: boolean;
  requests: number;
  withinDeadline: number;
  byStatus: Record<string, number>;
  computedBy: Record<string, number>;
  /** Refusals by status and reason. */
  refusals: Record<string, number>;
  p95Ms: number;
}

async function burst(spill: boolean): Promise<BurstResult> {
  const { ports, stopAll } = await startPools(spill);
  try {
    const headers = { 'X-Serving-Priority': 'real-time', 'X-Request-Timeout-Ms': String(DEADLINE_MS) };
    const answers = await Promise.all(Array.from({ length: BURST }, () => infer(ports.latency, headers)));
    const byStatus: Record<string, number> = {};
    const computedBy: Record<string, number> = {};
    const refusals: Record<string, number> = {};
    for (const a of answers) {
      byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
      if (a.reason !== undefined) {
        const key = `${a.status} ${a.reason}`;
        refusals[key] = (refusals[key] ?? 0) + 1;
      }
      if (a.status === 200) {
        const by = `${a.pool ?? '?'}${a.spilled ? ' (spilled)' : ''}`;
        computedBy[by] = (computedBy[by] ?? 0) + 1;
      }
    }
    const ok = answers.filter((a) => a.status === 200 && a.ms <= DEADLINE_MS);
    return {
      spill,
      requests: BURST,
      withinDeadline: ok.length,
      byStatus,
      computedBy,
      refusals,
      p95Ms: +percentile(
        answers.map((a) => a.ms).sort((a, b) => a - b),
        95,
      ).toFixed(1),
    };
  } finally {
    await stopAll();
  }
}

interface HopResult {
  directMedianMs: number;
  directP95Ms: number;
  spilledMedianMs: number;
  spilledP95Ms: number;
  allSpilled: boolean;
}

async function hop(): Promise<HopResult> {
  const { ports, stopAll } = await startPools(true);
  try {
    const direct: number[] = [];
    const spilled: number[] = [];
    let allSpilled = true;
    // Interleaved, so that both see the same machine.
    for (let i = 0; i < HOPS; i++) {
      direct.push((await infer(ports.latency, { 'X-Request-Timeout-Ms': '50' })).ms);
      const s = await infer(ports.throughput, { 'X-Request-Timeout-Ms': '50' });
      allSpilled &&= s.status === 200 && s.spilled && s.pool === 'latency';
      spilled.push(s.ms);
    }
    const r = (xs: number[], q: number) =>
      +percentile(
        [...xs].sort((a, b) => a - b),
        q,
      ).toFixed(3);
    return {
      directMedianMs: r(direct, 50),
      directP95Ms: r(direct, 95),
      spilledMedianMs: r(spilled, 50),
      spilledP95Ms: r(spilled, 95),
      allSpilled,
    };
  } finally {
    await stopAll();
  }
}

function section(off: BurstResult, on: BurstResult, h: HopResult, load: number): string {
  const row = (b: BurstResult) =>
    `| ${b.spill ? 'on' : 'off'} | ${b.withinDeadline}/${b.requests} (${((100 * b.withinDeadline) / b.requests).toFixed(1)} %) | ` +
    `${Object.entries(b.computedBy)
      .map(([p, n]) => `${p} ${n}`)
      .join(', ')} | ${Object.entries(b.byStatus)
      .map(([s, n]) => `${s}×${n}`)
      .join(', ')} | ${b.p95Ms} |`;
  return `## Spill-over

\`node bench/spillover.bench.ts\` (\`BENCH=spillover make bench\`): two servers on loopback, a
latency pool (batch 1, queue 128) and a throughput pool (batch ≤ 64, delay 5 ms), on the
ocr-models classifier, one CPU thread each. A burst of ${BURST} concurrent requests
(\`X-Serving-Priority: real-time\`, \`X-Request-Timeout-Ms: ${DEADLINE_MS}\`) on the latency pool:

| spill-over | answered within the deadline | computed by | statuses | p95 ms |
| --- | --- | --- | --- | --- |
${row(off)}
${row(on)}

Within the deadline, on / off: ${(on.withinDeadline / Math.max(1, off.withinDeadline)).toFixed(2)}×.
Why the others were refused (figures in the texts replaced by N):
${[off, on].map((b) => `- spill-over ${b.spill ? 'on' : 'off'}: ${reasons(b)}`).join('\n')}

The hop: ${HOPS} sequential requests at idle, each straight to the latency pool and through the
throughput pool (\`X-Request-Timeout-Ms: 50\`, which the contract gives to the latency pool, so
the throughput server forwards it once${h.allSpilled ? '; every one came back computed by the latency pool' : ''}):

| path | median ms | p95 ms |
| --- | --- | --- |
| straight to the latency pool | ${h.directMedianMs} | ${h.directP95Ms} |
| through the throughput pool (spilled) | ${h.spilledMedianMs} | ${h.spilledP95Ms} |

Added by the hop: median ${(h.spilledMedianMs - h.directMedianMs).toFixed(3)} ms
(${(h.spilledMedianMs / h.directMedianMs).toFixed(2)}× the direct request).
Figures from one run on a shared 2-core machine whose load average was ${load.toFixed(1)} at the end.
The deadline is counted here from when the client sent each request; a server counts it from
when the request reached it, so time in the accept backlog of ${BURST} connections opened at once
(and the client's own late loop) can make 200s late by this clock that were on time by the
server's.
`;
}

function reasons(b: BurstResult): string {
  const all = Object.entries(b.refusals).sort((x, y) => y[1] - x[1]);
  return all.length === 0 ? 'none refused' : all.map(([why, n]) => `${n} × ${why}`).join('; ');
}

const off = await burst(false);
const on = await burst(true);
const h = await hop();
const load = loadavg()[0]!;
const report = { burst: BURST, deadlineMs: DEADLINE_MS, loadAverage: load, off, on, hop: h };
console.log(JSON.stringify(report, null, 2));
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/spillover.json'), `${JSON.stringify(report, null, 2)}\n`);
writeDocsSection('## Spill-over', section(off, on, h, load));
agent.destroy();
