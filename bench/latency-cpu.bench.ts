// Latency pool CPU per request, A/B (figures, not a test): `node bench/latency-cpu.bench.ts
// [label=root ...]`. Serves the ocr-models classifier (110 KB binary requests, one intra-op thread;
// BENCH_MODEL=mlp: the generated MLP with JSON requests, where HTTP handling is all there is)
// from the latency pool of each source tree given (`root`/server-image/src: this checkout, or
// `git archive <rev> package.json server-image | tar -x -C <root>` with a node_modules link to a
// checkout's) beside the plain hand-written
// one-request-one-run server, and measures them in interleaved rounds (the order rotates each
// round) at one closed-loop client: server CPU per request (user + system, all threads, from
// /proc), its split by thread, and latency. On a shared machine a round's absolute figures drift
// with the background load; the ratios within a round (to the plain server, to the first tree)
// are what to compare, as medians over the rounds with their range; each tree is also compared
// with the one before it (a series of cuts, in order).
// BENCH_ROUNDS (default 9), BENCH_SECONDS per round and server (default 2), BENCH_CLIENTS (1);
// BENCH_PROFILE=<dir> runs every server under `node --cpu-prof` into <dir>/<label>.
// Without arguments: this checkout, labelled "latency".
process.env.ORT_DISABLE_TELEMETRY = '1';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryPayload, clsDir, jsonPayload, MLP_DIR } from './lib/bench-models.ts';
import { addThreadCpu, closedLoop, percentile, processCpuSeconds, threadCpuSeconds } from './lib/load.ts';
import { freePort, stop, track, waitReady } from './lib/servers.ts';
import { modelFile } from './lib/target.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1);
const PROFILE = process.env.BENCH_PROFILE;
const PLAIN = 'plain';

const MLP = process.env.BENCH_MODEL === 'mlp';
const MODEL = MLP ? 'mlp' : 'cls';
const dir = MLP ? MLP_DIR : clsDir();
const payload = MLP ? jsonPayload('input', [1, 16]) : binaryPayload('x', [1, 3, 48, 192]);
const baseEnv = (port: number) => ({
  ...process.env,
  NODE_OPTIONS: '',
  ORT_DISABLE_TELEMETRY: '1',
  MODEL_DIR: dir,
  MODEL_NAME: MODEL,
  PORT: String(port),
  METRICS_PORT: String(port + 1),
  HOST: '127.0.0.1',
  INTRA_OP_THREADS: '1',
  INTER_OP_THREADS: '1',
  LOG_LEVEL: 'warn',
  // paddle2onnx names the classifier's batch dimension apart on the input and the output.
  ...(MLP ? {} : { BATCH_DIMENSION: 'first' }),
  POOL: 'latency',
});

interface Server {
  label: string;
  port: number;
  child: ChildProcess;
  readyPath: string;
}

async function start(label: string, root: string | undefined): Promise<Server> {
  const port = await freePort();
  const flags = PROFILE
    ? ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${join(PROFILE, label)}`]
    : [];
  if (flags.length) mkdirSync(join(PROFILE!, label), { recursive: true });
  const child = root
    ? spawn(process.execPath, [...flags, join(root, 'server-image/src/main.ts')], {
        env: baseEnv(port),
        stdio: 'inherit',
      })
    : spawn(process.execPath, [...flags, join(ROOT, 'bench/lib/plain-server.ts')], {
        env: { ...baseEnv(port), MODEL_FILE: modelFile(dir) },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
  track(child);
  return { label, port, child, readyPath: root ? '/v2/health/ready' : '/' };
}

interface Round {
  cpuMs: number;
  byThread: Record<string, number>;
  p50: number;
  p95: number;
  rps: number;
  requests: number;
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const range = (xs: number[], digits: number) =>
  `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`;

async function main(): Promise<void> {
  const trees = process.argv.slice(2).map((a) => {
    const [label, root] = a.split('=') as [string, string];
    return { label, root: resolve(root) };
  });
  if (trees.length === 0) trees.push({ label: 'latency', root: ROOT });
  const servers = [await start(PLAIN, undefined)];
  for (const t of trees) servers.push(await start(t.label, t.root));
  const rounds = new Map<string, Round[]>(servers.map((s) => [s.label, []]));
  try {
    await Promise.all(
      servers.map((s) => waitReady(`http://127.0.0.1:${s.port}${s.readyPath}`, s.child, s.readyPath === '/')),
    );
    for (let r = 0; r < ROUNDS; r++) {
      const order = servers.map((_, i) => servers[(i + r) % servers.length]!);
      for (const s of order) {
        const url = `http://127.0.0.1:${s.port}/v2/models/${MODEL}/infer`;
        const pid = s.child.pid!;
        const cpu0 = processCpuSeconds(pid);
        const threads0 = threadCpuSeconds(pid);
        const got = await closedLoop(url, payload, CLIENTS, SECONDS);
        const cpu = processCpuSeconds(pid) - cpu0;
        const byThread: Record<string, number> = {};
        addThreadCpu(byThread, threads0, threadCpuSeconds(pid));
        const n = got.latencies.length;
        if (got.errors > 0) console.log(`  ${s.label}: ${got.errors} errors`);
        const sorted = got.latencies.sort((a, b) => a - b);
        rounds.get(s.label)!.push({
          cpuMs: (cpu * 1000) / n,
          byThread: Object.fromEntries(Object.entries(byThread).map(([k, v]) => [k, (v * 1000) / n])),
          p50: percentile(sorted, 50),
          p95: percentile(sorted, 95),
          rps: n / got.seconds,
          requests: n,
        });
      }
      console.log(
        `round ${r + 1}: ` +
          servers.map((s) => `${s.label} ${rounds.get(s.label)!.at(-1)!.cpuMs.toFixed(3)}`).join(', ') +
          ' ms CPU/req',
      );
    }
  } finally {
    await Promise.all(servers.map((s) => stop(s.child)));
  }
  const plain = rounds.get(PLAIN)!;
  const first = rounds.get(trees[0]!.label)!;
  console.log(
    `\n${MODEL}, ${ROUNDS} rounds × ${SECONDS} s per server, ${CLIENTS} client(s); median [min–max] over rounds`,
  );
  for (const s of servers) {
    const rs = rounds.get(s.label)!;
    const roles = [...new Set(rs.flatMap((x) => Object.keys(x.byThread)))].sort();
    const line = [
      `${s.label}:`,
      `CPU ${range(
        rs.map((x) => x.cpuMs),
        3,
      )} ms/req`,
      `(${roles.map((k) => `${k} ${median(rs.map((x) => x.byThread[k] ?? 0)).toFixed(3)}`).join(', ')})`,
      `p50 ${median(rs.map((x) => x.p50)).toFixed(3)} ms, p95 ${median(rs.map((x) => x.p95)).toFixed(3)} ms,`,
      `${median(rs.map((x) => x.rps)).toFixed(0)} req/s,`,
      `${rs.reduce((n, x) => n + x.requests, 0)} requests`,
    ];
    if (s.label !== PLAIN) {
      line.push(
        `| CPU over plain ${range(
          rs.map((x, i) => x.cpuMs / plain[i]!.cpuMs),
          3,
        )}×, +${median(rs.map((x, i) => x.cpuMs - plain[i]!.cpuMs)).toFixed(3)} ms`,
      );
      const previous = servers[servers.indexOf(s) - 1]!;
      if (previous.label !== PLAIN && previous.label !== trees[0]!.label) {
        const before = rounds.get(previous.label)!;
        line.push(
          `| over ${previous.label} ${range(
            rs.map((x, i) => x.cpuMs / before[i]!.cpuMs),
            3,
          )}×, ${median(rs.map((x, i) => x.cpuMs - before[i]!.cpuMs)).toFixed(3)} ms`,
        );
      }
      if (rs !== first)
        line.push(
          `| over ${trees[0]!.label} ${range(
            rs.map((x, i) => x.cpuMs / first[i]!.cpuMs),
            3,
          )}×, ${median(rs.map((x, i) => x.cpuMs - first[i]!.cpuMs)).toFixed(3)} ms`,
        );
    }
    console.log(line.join(' '));
  }
}

await main();
