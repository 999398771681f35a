// The limit on this machine: the model's own onnxruntime session with no server around it
// (raw-process.ts runs it in a process of its own). Measured in short slices so the benchmark
// can interleave it with the servers' rounds and every figure sees the same background load.
import ort from '../../server-image/src/ort.ts';
import type { InferenceSession } from '../../server-image/src/ort.ts';
import { percentile } from './load.ts';
import { asInput, inputType, TARGET } from './target.ts';

export interface RawSlice {
  rows: number;
  seconds: number;
  /** Wall time of each session.run call, ms. */
  latencies: number[];
  /** CPU seconds this process used meanwhile (with `between`, that includes its work). */
  cpuSeconds: number;
}

export interface RawResult {
  batch: number;
  rowsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** CPU time per row, all of this process's threads. */
  cpuMsPerRow: number;
}

/** The benchmark's input values: `n` floats, deterministic, not all alike. */
export const rowData = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i / 7));

export class RawSession {
  private readonly session: InferenceSession;
  private readonly input: string;
  private readonly rowShape: number[];

  private constructor(session: InferenceSession, rowShape: number[]) {
    this.session = session;
    this.input = session.inputNames[0]!;
    this.rowShape = rowShape;
  }

  /** One intra-op thread, as every server in the benchmark runs, on the benchmark's provider. */
  static async open(file: string, rowShape: number[]): Promise<RawSession> {
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionProviders: [TARGET.executionProvider],
    });
    return new RawSession(session, rowShape);
  }

  /**
   * Runs batches of `batch` rows back to back for `seconds`. With `between`, awaits it after
   * every run: the thread then idles between runs the way a server's does at low load.
   */
  async measure(batch: number, seconds: number, between?: () => Promise<unknown>): Promise<RawSlice> {
    const data = asInput(rowData(batch * this.rowShape.reduce((x, y) => x * y, 1)));
    const run = () =>
      this.session.run({ [this.input]: new ort.Tensor(inputType, data, [batch, ...this.rowShape]) });
    for (let i = 0; i < 3; i++) await run();
    const latencies: number[] = [];
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      const t0 = performance.now();
      await run();
      latencies.push(performance.now() - t0);
      if (between) await between();
    }
    const elapsed = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    // With pauses between runs, rows per second counts only the time spent running.
    const busy = between ? latencies.reduce((a, b) => a + b, 0) / 1000 : elapsed;
    return {
      rows: latencies.length * batch,
      seconds: busy,
      latencies,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Slices of one batch size, measured at different times, as one result. */
export function summariseRaw(batch: number, slices: readonly RawSlice[]): RawResult {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const rows = slices.reduce((n, s) => n + s.rows, 0);
  const seconds = slices.reduce((n, s) => n + s.seconds, 0);
  const cpuSeconds = slices.reduce((n, s) => n + s.cpuSeconds, 0);
  return {
    batch,
    rowsPerSecond: +(rows / seconds).toFixed(1),
    p50Ms: +percentile(latencies, 50).toFixed(3),
    p99Ms: +percentile(latencies, 99).toFixed(3),
    meanMs: +(latencies.reduce((a, b) => a + b, 0) / latencies.length).toFixed(3),
    cpuMsPerRow: +((cpuSeconds * 1000) / rows).toFixed(4),
  };
}
