// The "## Server" section of docs/benchmarks.md, written from the server benchmark's results.
import type { Overhead } from './in-process.ts';
import type { LoadResult } from './load.ts';
import type { RawResult } from './raw-session.ts';

export interface Ratios {
  throughputProfileVsRawBest: number;
  throughputProfileVsPlain: number;
  throughputProfileMainThreadVsRawBest: number;
  /** Server CPU per request by thread role at the throughput profile's best point. */
  throughputProfileCpuMsPerRequestByThread: Record<string, number>;
  /** The throughput profile's p50 at one client minus the latency profile's (its defaults). */
  throughputProfileAddedP50MsAt1ClientVsLatencyProfile: number;
  latencyProfileAddedP50MsVsRawRun: number;
  latencyProfileAddedP99MsVsRawRun: number;
  transportP50Ms: number;
  idleRunPenaltyP50Ms: number;
  latencyProfileMeanMs: number;
  transportMeanMs: number;
  /** session.run inside the latency server, from servingstack_inference_duration_seconds. */
  latencyProfileRunMeanMs: number;
  rawOneMeanMs: number;
  rawOneIdleMeanMs: number;
  /** Mean latency minus the no-op server's round trip minus the server's own session.run time. */
  latencyProfileOwnMeanMs: number;
  latencyProfileAddedP50MsVsPlainServer: number;
  latencyProfileAddedP99MsVsPlainServer: number;
  latencyProfileAddedServerCpuMsPerRequestVsPlain: number;
  bareFastifyAddedServerCpuMsPerRequestVsPlain: number;
  latencyProfileAddedP50MsInProcessApp: number;
  batcherFastPathAddedP50Ms: number;
  /** Reading the body, decode, batcher and encode, without fastify or sockets. */
  ownPipelineAddedP50Ms: number;
}

export interface ModelReport {
  model: string;
  title: string;
  /** The sweep over batch sizes, measured once before the servers. */
  raw: RawResult[];
  bestRawBatch: number;
  /** Raw runs measured in slices between the servers' rounds, which the ratios use. */
  rawInterleaved: { best: RawResult; one: RawResult; oneIdle: RawResult };
  /** Nodes per execution provider in the latency server (its model metadata). */
  placement: Record<string, number>;
  inProcess: Overhead[];
  variants: { label: string; color: string; results: LoadResult[] }[];
  ratios: Ratios;
}

export interface RunMeta {
  date: string;
  node: string;
  onnxruntime: string;
  executionProvider: 'cpu' | 'cuda';
  precision: string;
  /** The GPU's name and driver version (bench/gpu.sh), on a GPU run. */
  gpu?: string;
  cpus: number;
  cpuModel: string | undefined;
  secondsPerPoint: number;
  rounds: number;
  concurrency: number[];
}

const INTRO = [
  'How to read these figures:',
  '',
  '- The MLP needs about 0.02 ms of compute per call, so over HTTP every server is bound by request handling, not',
  '  by the model: its ratio to raw in-process throughput is tiny for any server. What the MLP shows is the',
  "  server's own cost: the in-process rows (no sockets) and the comparison with the plain server.",
  '- The classifier needs about a millisecond per row: there the throughput ratio to raw `session.run` is the',
  '  meaningful one.',
  '- onnxruntime-node 1.30 runs `session.run` synchronously on the calling JS thread. The throughput profile therefore',
  '  runs it on a worker thread (`INFERENCE_THREAD=worker`, its default) so the main thread keeps reading and',
  '  decoding requests while a batch computes, and hands the worker up to three full batches ahead of the one it',
  '  runs, so the worker goes from batch to batch without waiting for the main thread (not even through a garbage',
  '  collection there); the main-thread variant shows the difference.',
  "- Raw figures for the ratios are measured in slices between the servers' rounds, so both see the same",
  '  background load; the sweep table comes from one pass before the servers start.',
  '- At one client a server idles between requests, and on this virtual machine a `session.run` that follows an',
  '  idle pause, or other work that evicted the model from the CPU caches, takes longer than one in a tight loop',
  '  (the "idle run penalty"). The latency target is therefore reported two ways: literally (server p50 minus',
  '  tight-loop raw p50, which includes the HTTP round trip and that penalty), and as a sum of means: the',
  '  loopback round trip of a no-op server, `session.run` as timed inside the server',
  "  (`servingstack_inference_duration_seconds`), and what is left, the server's own code.",
  "- The classifier's requests carry 110 KB of binary data. The server reads each body into memory placed so",
  '  the tensor is used where it lies, gives that memory to the next body once the model has run on it (unless',
  '  it moved to the inference worker), and stacks batches into memory it reuses. A fresh 110 KB typed array per',
  '  request instead makes V8 run a major garbage collection every few dozen requests, each marking the',
  "  server's whole heap: in 4 s at one client, 17–23 of them with a copy per request against none without, and",
  "  the p99 halved. What remains of the server's own share is mostly Node's HTTP handling of a 110 KB body,",
  '  which the plain server pays too: compare the two, and see "Latency pool CPU per request" for where the',
  "  latency pool's CPU goes.",
  '',
];

/** The CPU run's section (`## Server`, `make bench`), or a GPU run's (bench/gpu.sh). */
export function serverSection(
  heading: string,
  plot: string,
  meta: RunMeta,
  report: readonly ModelReport[],
): string {
  const gpu = meta.executionProvider !== 'cpu';
  const lines = [
    heading,
    '',
    `Measured by \`bench/server.bench.ts\` (${gpu ? '`bench/gpu.sh`' : '`make bench`'}) on ${meta.date.slice(0, 10)}: Node ${meta.node},`,
    `onnxruntime-node ${meta.onnxruntime}, ${meta.executionProvider.toUpperCase()} execution provider${meta.gpu ? ` (${meta.gpu})` : ''}, ${meta.precision} model files, ${meta.cpus} CPUs (${String(meta.cpuModel)}) shared by`,
    'the load generator and the server, one intra-op thread everywhere. Closed-loop clients over loopback keep-alive',
    `connections (a lean raw-socket client, \`bench/lib/raw-http.ts\`), one row per request, ${meta.secondsPerPoint} s per point in`,
    `${meta.rounds} rounds interleaved across the variants. Raw = \`session.run\` in a process of its own (no server, no load generator), one call at a time.`,
    `These are figures from one ${gpu ? 'GPU' : 'development'} machine, not guarantees; rerun ${gpu ? '`bench/gpu.sh`' : '`make bench`'} to reproduce.`,
    '',
    `![throughput versus p99 latency](../bench/results/${plot})`,
    '',
    ...(gpu ? [] : INTRO),
  ];
  for (const m of report) lines.push(...modelSection(m));
  return lines.join('\n');
}

function modelSection(m: ModelReport): string[] {
  const r = m.ratios;
  const { best, one, oneIdle } = m.rawInterleaved;
  const nodes = Object.entries(m.placement)
    .map(([ep, n]) => `${ep} ${n}`)
    .join(', ');
  const lines = [`### ${m.title}`, '', `Nodes per execution provider in the server: ${nodes}.`, ''];
  lines.push('| raw batch | rows/s | p50 ms | p99 ms | CPU ms/row |', '| --- | --- | --- | --- | --- |');
  for (const x of m.raw)
    lines.push(`| ${x.batch} | ${x.rowsPerSecond} | ${x.p50Ms} | ${x.p99Ms} | ${x.cpuMsPerRow} |`);
  lines.push(
    '',
    "Raw, measured between the servers' rounds:",
    '',
    `- batch ${best.batch} back to back: ${best.rowsPerSecond} rows/s`,
    `- batch 1 back to back: p50 ${one.p50Ms} ms, p99 ${one.p99Ms} ms`,
    `- batch 1 with the thread idle for one loopback round trip between runs: p50 ${oneIdle.p50Ms} ms, p99 ${oneIdle.p99Ms} ms`,
    '',
    '| variant | clients | req/s | p50 ms | p99 ms | server CPU ms/req | errors |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const v of m.variants) {
    for (const x of v.results)
      lines.push(
        `| ${v.label} | ${x.concurrency} | ${x.rps} | ${x.p50Ms} | ${x.p99Ms} | ${x.serverCpuMsPerRequest} | ${x.errors} |`,
      );
  }
  lines.push(
    '',
    `- throughput profile / raw \`session.run\` at its best batch size (${m.bestRawBatch}): **${r.throughputProfileVsRawBest}×** (target ≥ 0.9×)`,
    `- throughput profile / plain one-request-one-run server: **${r.throughputProfileVsPlain}×**`,
    `- throughput profile at 1 client, p50 over the latency profile's: **${r.throughputProfileAddedP50MsAt1ClientVsLatencyProfile} ms** (target ≤ 0.2 ms: an idle model runs a request at once, whatever the delay)`,
    `- the same with \`session.run\` on the main thread (\`INFERENCE_THREAD=main\`) / raw: ${r.throughputProfileMainThreadVsRawBest}×`,
    `- where the throughput profile's CPU goes at its best point, per request: ${Object.entries(
      r.throughputProfileCpuMsPerRequestByThread,
    )
      .map(([role, ms]) => `${role} ${ms} ms`)
      .join(', ')}; raw \`session.run\` (batch ${best.batch}) takes ${best.cpuMsPerRow} ms of CPU per row`,
    `- latency profile at 1 client, p50 over tight-loop raw \`session.run\` (batch 1): **${r.latencyProfileAddedP50MsVsRawRun} ms**, p99 ${r.latencyProfileAddedP99MsVsRawRun} ms. Of that, the loopback round trip of a no-op server is ${r.transportP50Ms} ms and the idle run penalty ${r.idleRunPenaltyP50Ms} ms`,
    `- latency profile at 1 client, mean ${r.latencyProfileMeanMs} ms = loopback round trip of a no-op server ${r.transportMeanMs} ms + \`session.run\` inside the server ${r.latencyProfileRunMeanMs} ms (raw: ${r.rawOneMeanMs} ms back to back, ${r.rawOneIdleMeanMs} ms after an idle round trip) + **${r.latencyProfileOwnMeanMs} ms of the server's own code** (target ≤ 0.3 ms)`,
    `- latency profile at 1 client, added over the plain server (same HTTP round trip): p50 **${r.latencyProfileAddedP50MsVsPlainServer} ms**, p99 ${r.latencyProfileAddedP99MsVsPlainServer} ms`,
    `- latency profile at 1 client, server CPU per request over the plain server's: **${r.latencyProfileAddedServerCpuMsPerRequestVsPlain} ms** (CPU time is what other processes on a shared machine disturb least); a bare fastify route with the plain handler: ${r.bareFastifyAddedServerCpuMsPerRequestVsPlain} ms`,
    `- latency profile in process (no sockets), added over a bare \`session.run\`: whole app through fastify's \`inject\` p50 **${r.latencyProfileAddedP50MsInProcessApp} ms**, the server's own path without fastify (read the body, decode, batcher, encode) p50 **${r.ownPipelineAddedP50Ms} ms**, batcher fast path alone p50 **${r.batcherFastPathAddedP50Ms} ms** (target ≤ 0.3 ms)`,
    '',
  );
  return lines;
}
