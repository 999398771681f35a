// The "## Batching" section of docs/benchmarks.md, written from the batching benchmark's results.

export interface StepResult {
  clients: number;
  rps: number;
  p50Ms: number;
  p95Ms: number;
  /** Share of the step's requests answered 200 within the target. */
  withinTarget: number;
  errors: number;
  /** The batch size the server worked with at the end of the step. */
  batchSizeLimit: number;
}

export interface DeadlineClass {
  deadlineMs: number | null;
  sent: number;
  answeredInTime: number;
  answeredLate: number;
  refusedDeadline: number;
  /** How long before the deadline the 504s arrived: median and least. */
  refusedEarlyMedianMs: number | null;
  refusedEarlyMinMs: number | null;
  /** 504s that arrived after the deadline (the server's loop or the machine fell behind). */
  refusedLate: number;
  refusedQueueFull: number;
  failed: number;
  p95OkMs: number | null;
}

export interface OverloadResult {
  /** What the pool answered with 64 closed-loop clients just before. */
  capacityRps: number;
  offeredRps: number;
  /** How late the load generator wrote requests (it shares the CPUs), median and p95. */
  sendLagP50Ms: number;
  sendLagP95Ms: number;
  /** How late the load generator's event loop ran during the overload (p99, max), ms. */
  generatorLoopLagP99Ms?: number;
  generatorLoopLagMaxMs?: number;
  /** Answers the server sent after their deadline by its own clock, by status (deadline_missed_total). */
  lateByServerClock?: Record<string, number>;
  seconds: number;
  classes: DeadlineClass[];
}

export interface BatchingReport {
  date: string;
  node: string;
  cpus: number;
  cpuModel: string | undefined;
  targetP95Ms: number;
  stepSeconds: number;
  /** The machine's 1-minute load average when each variant started and when the run ended. */
  loadAverage?: { variant: string; at: number }[];
  variants: { name: string; label: string; steps: StepResult[]; overload: OverloadResult }[];
}

const lateByCode = (byCode: Record<string, number>) => {
  const parts = Object.entries(byCode)
    .filter(([, n]) => n > 0)
    .map(([code, n]) => `${n} × ${code}`);
  return parts.length === 0 ? 'no answer' : parts.join(', ');
};
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const orDash = (x: number | null) => (x === null ? '–' : String(x));

export function batchingSection(r: BatchingReport): string {
  const lines = [
    '## Batching',
    '',
    `Measured by \`bench/batching.bench.ts\` (\`BENCH=batching make bench\`) on ${r.date.slice(0, 10)}: Node ${r.node},`,
    `${r.cpus} CPUs (${String(r.cpuModel)}) shared by the load generator and the server, CPU execution provider, one`,
    'intra-op thread. The ocr-models text direction classifier (binary requests, one image each), whose runs cost',
    "about a millisecond a row, so that batching decides throughput, served with the throughput pool's settings as",
    'the CRD defaults them: batches of up to 64, delay 50 ms. These are figures from one development machine, not',
    'guarantees; rerun the benchmark to reproduce.' +
      (r.loadAverage?.length
        ? ` Load average (1 min) of the shared machine: ${r.loadAverage.map((l) => `${l.at.toFixed(1)} at ${l.variant}`).join(', ')}.`
        : ''),
    '',
    `### Step load: 1 → 64 → 1 closed-loop clients, ${r.stepSeconds} s each, target p95 ${r.targetP95Ms} ms`,
    '',
    '| variant | clients | req/s | p50 ms | p95 ms | within target | batch size limit |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const v of r.variants) {
    for (const s of v.steps) {
      lines.push(
        `| ${v.label} | ${s.clients} | ${s.rps} | ${s.p50Ms} | ${s.p95Ms} | ${pct(s.withinTarget)} | ${s.batchSizeLimit} |`,
      );
    }
  }
  lines.push(
    '',
    'With a closed loop of 64 clients every request waits for the 63 others in front of it: the p95 is at least',
    '64 ÷ req/s, so no batch size meets a target below that. The adaptive size then grows while batches leave a',
    'backlog (full, with rows left behind), up to what serves the most rows per second, and serves as well as static',
    'batching; it shrinks only on a p95 over the target without a backlog. At one client both run each request at',
    'once: an idle model does not wait out the delay.',
    '',
    '### 2× overload with mixed deadlines',
    '',
    'Requests arrive at random (Poisson) at twice the rate the pool answered with 64 clients just before, each',
    'with a deadline of 50, 200 or 1000 ms or none (`X-Request-Timeout-Ms`), timed by the client from when it sent',
    'each (how late the generator itself sent them is listed apart: it shares the CPUs). A deadline the pool',
    'cannot meet is answered 504 as soon as it knows, a full queue 503.',
    '',
    '| variant | capacity req/s | offered req/s | send lag p50 / p95 ms | deadline ms | sent | 200 in time | 200 late | 504 | 504 before the deadline, median / least ms | 503 | other | p95 of 200s ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const v of r.variants) {
    const o = v.overload;
    for (const c of o.classes) {
      lines.push(
        `| ${v.label} | ${o.capacityRps} | ${o.offeredRps} | ${o.sendLagP50Ms} / ${o.sendLagP95Ms} | ${c.deadlineMs ?? 'none'} | ${c.sent} | ${c.answeredInTime} | ${c.answeredLate} | ${c.refusedDeadline} | ${orDash(c.refusedEarlyMedianMs)} / ${orDash(c.refusedEarlyMinMs)} | ${c.refusedQueueFull} | ${c.failed} | ${orDash(c.p95OkMs)} |`,
      );
    }
  }
  lines.push('');
  for (const v of r.variants) {
    const withDeadline = v.overload.classes.filter((c) => c.deadlineMs !== null);
    const sent = withDeadline.reduce((n, c) => n + c.sent, 0);
    const late = withDeadline.reduce((n, c) => n + c.answeredLate, 0);
    const refused = withDeadline.reduce((n, c) => n + c.refusedDeadline, 0);
    const refusedLate = withDeadline.reduce((n, c) => n + c.refusedLate, 0);
    const o = v.overload;
    const server =
      o.lateByServerClock === undefined
        ? ''
        : ` By the server's own clock ${lateByCode(o.lateByServerClock)} left after their deadline; the generator's loop ran up to ${o.generatorLoopLagP99Ms} ms late (p99; max ${o.generatorLoopLagMaxMs} ms), and an answer it reads late counts as late.`;
    lines.push(
      `- ${v.label}: of ${sent} requests with a deadline, **${late} answered after it** (aim: 0), ${pct(refused / sent)} refused with 504, ${refusedLate} of those after the deadline.${server}`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
