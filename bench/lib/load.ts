// Closed-loop load: C clients, each sending its next request as soon as the previous answer
// arrives, for a fixed time, over keep-alive connections to a loopback address (raw-http.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { buildRequest, RawConnection } from './raw-http.ts';

export interface LoadResult {
  concurrency: number;
  /** Server process CPU time (user + system, all its threads) per answered request. */
  serverCpuMsPerRequest: number;
  /** The same split by thread role (see threadRole); where the server's CPU goes. */
  serverCpuMsPerRequestByThread: Record<string, number>;
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

export interface Payload {
  body: Buffer;
  headers: Record<string, string>;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface Samples {
  latencies: number[];
  errors: number;
  seconds: number;
  /** Server CPU seconds spent while these samples were taken (NaN where /proc is missing). */
  serverCpuSeconds?: number;
  serverCpuSecondsByThread?: Record<string, number>;
}

/**
 * The name and CPU seconds (user + system) in a /proc `stat` line of a process or thread. The
 * name is in parentheses and may hold spaces or parentheses itself, so fields count from the last ')'.
 */
function readStat(stat: string): { comm: string; cpuSeconds: number } {
  const end = stat.lastIndexOf(')');
  const fields = stat.slice(end + 2).split(' ');
  // utime + stime, in clock ticks of 1/100 s.
  return {
    comm: stat.slice(stat.indexOf('(') + 1, end),
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100,
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function processCpuSeconds(pid: number): number {
  try {
    return readStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuSeconds;
  } catch {
    return NaN;
  }
}

/**
 * Node names its threads: the event loop is MainThread, each worker_threads Worker is
 * WorkerThread (the inference thread here), V8Worker runs garbage collection and compilation;
 * the rest (libuv's pool, signal and inspector threads) is counted together.
 */
function threadRole(comm: string): string {
  return (
    { MainThread: 'main', WorkerThread: 'inference worker', V8Worker: 'V8 helpers (GC)' }[comm] ?? 'other'
  );
}

/** CPU seconds used so far by each thread role of a process, from /proc (Linux); {} elsewhere. */
export function threadCpuSeconds(pid: number): Record<string, number> {
  const byRole: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return byRole;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // a thread that exited after the listing: its time is lost from the split
    }
    const { comm, cpuSeconds } = readStat(stat);
    const role = threadRole(comm);
    byRole[role] = (byRole[role] ?? 0) + cpuSeconds;
  }
  return byRole;
}

/** Per-role differences between two threadCpuSeconds readings, added into `into`. */
export function addThreadCpu(
  into: Record<string, number>,
  before: Record<string, number>,
  after: Record<string, number>,
): void {
  for (const [role, seconds] of Object.entries(after)) {
    into[role] = (into[role] ?? 0) + seconds - (before[role] ?? 0);
  }
}

/** Summarises samples gathered (possibly over several interleaved runs) at one concurrency. */
export function summariseSamples(concurrency: number, s: Samples): LoadResult {
  const latencies = [...s.latencies].sort((a, b) => a - b);
  return {
    concurrency,
    requests: latencies.length,
    errors: s.errors,
    seconds: +s.seconds.toFixed(2),
    serverCpuMsPerRequest: +(((s.serverCpuSeconds ?? NaN) * 1000) / latencies.length).toFixed(4),
    serverCpuMsPerRequestByThread: Object.fromEntries(
      Object.entries(s.serverCpuSecondsByThread ?? {}).map(([role, seconds]) => [
        role,
        +((seconds * 1000) / latencies.length).toFixed(4),
      ]),
    ),
    rps: +(latencies.length / s.seconds).toFixed(1),
    p50Ms: +percentile(latencies, 50).toFixed(3),
    p99Ms: +percentile(latencies, 99).toFixed(3),
    meanMs: +(latencies.reduce((a, b) => a + b, 0) / latencies.length).toFixed(3),
  };
}

export async function closedLoop(
  url: string,
  payload: Payload,
  concurrency: number,
  seconds: number,
): Promise<Samples> {
  const target = new URL(url);
  const request = buildRequest(target, payload.headers, payload.body);
  const connections = await Promise.all(
    Array.from({ length: concurrency }, () => RawConnection.open(target)),
  );
  // Warm the connections and the server's paths before measuring.
  await Promise.all(connections.map((c) => c.send(request)));
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    connections.map(async (first) => {
      let connection = first;
      while (performance.now() < end) {
        const t0 = performance.now();
        const status = await connection.send(request).catch(() => 0);
        if (status === 200) latencies.push(performance.now() - t0);
        else errors++;
        if (status === 0) {
          // The connection failed: count it and go on with a fresh one.
          connection.close();
          connection = await RawConnection.open(target);
        }
      }
      connection.close();
    }),
  );
  return { latencies, errors, seconds: (performance.now() - start) / 1000 };
}
