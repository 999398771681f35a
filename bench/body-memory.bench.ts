// Body memory benchmark (figures, not a test): `node bench/body-memory.bench.ts`. The server's
// resident memory (VmRSS) before, at its peak during, and 5 s after rounds of large request
// bodies: three 30 MiB binary bodies at once, then three JSON bodies at the JSON cap at once
// (both read whole, then refused for not fitting the MLP, which is what a large body costs
// whatever its fate), and the slowest answer to a liveness probe meanwhile, from a process of
// its own (the senders' own work would otherwise count). Results: bench/results/body-memory.json.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, stop, track, waitReady } from './lib/servers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MIB = 1024 * 1024;
const ROUNDS = 5;

const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

function binaryBody(bytes: number) {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'input', shape: [bytes / 64, 16], datatype: 'FP32', parameters: { binary_data_size: bytes } },
      ],
    }),
  );
  return { header: header.length, body: Buffer.concat([header, Buffer.alloc(bytes, 1)]) };
}

function jsonBody(bytes: number): string {
  const n = Math.floor(bytes / 20);
  return JSON.stringify({
    inputs: [
      { name: 'input', shape: [n], datatype: 'FP32', data: Array.from({ length: n }, (_, i) => Math.sin(i)) },
    ],
  });
}

async function variant(label: string, env: Record<string, string>) {
  const port = await freePort();
  const child = track(
    spawn(process.execPath, [join(ROOT, 'server-image/src/main.ts')], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        ORT_DISABLE_TELEMETRY: '1',
        MODEL_DIR: join(ROOT, 'server-image/models/mlp'),
        MODEL_NAME: 'mlp',
        PORT: String(port),
        METRICS_PORT: String(port + 1),
        HOST: '127.0.0.1',
        INTRA_OP_THREADS: '1',
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: 'inherit',
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  await waitReady(`${base}/v2/health/ready`, child, false);
  const pid = child.pid!;
  await new Promise((r) => setTimeout(r, 1000));
  const before = rssMiB(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
  // A probe every 20 ms from another process; it prints its slowest answer when stopped.
  const prober = spawn(
    process.execPath,
    [
      '-e',
      `let max = 0; let on = true; process.on('SIGTERM', () => (on = false));
       (async () => { while (on) { const t = performance.now(); await fetch('${base}/v2/health/live');
         max = Math.max(max, performance.now() - t); await new Promise((r) => setTimeout(r, 20)); }
         console.log(max.toFixed(0)); })();`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } },
  );
  let proberOut = '';
  prober.stdout.on('data', (d) => (proberOut += d));
  const proberDone = new Promise((r) => prober.once('exit', r));
  const url = `${base}/v2/models/mlp/infer`;
  const bin = binaryBody(30 * MIB);
  const json = jsonBody(4 * MIB - 1024);
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(
      [0, 1, 2].map(() =>
        fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/octet-stream',
            'inference-header-content-length': String(bin.header),
          },
          body: bin.body,
        }).then((r) => r.arrayBuffer()),
      ),
    );
    await Promise.all(
      [0, 1, 2].map(() =>
        fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json }).then(
          (r) => r.arrayBuffer(),
        ),
      ),
    );
  }
  prober.kill('SIGTERM');
  await proberDone;
  const probeMaxMs = Number(proberOut.trim());
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 5000));
  const after = rssMiB(pid);
  await stop(child);
  const r = {
    label,
    env,
    beforeMiB: +before.toFixed(0),
    peakMiB: +peak.toFixed(0),
    afterMiB: +after.toFixed(0),
    probeMaxMs: +probeMaxMs.toFixed(0),
  };
  console.log(JSON.stringify(r));
  return r;
}

// A fixed MALLOC_MMAP_THRESHOLD_ (1 MiB) was tried too and changed nothing measurable.
const results = [await variant("glibc's defaults", {})];
writeFileSync(
  join(ROOT, 'bench/results/body-memory.json'),
  `${JSON.stringify({ rounds: ROUNDS, results }, null, 2)}\n`,
);
