// Triton's statistics extension (GET /v2/models/{m}/stats): cumulative counts and nanoseconds
// per phase of a request, and per batch size, in Triton's JSON shape. perf_analyzer reads them
// to report the server's side of each measurement (queue, compute input/infer/output).
//
// Phases as Triton defines them: queue is the time in the batcher before the request's batch
// ran; compute_input decoding the request into tensors; compute_infer the batch's run (each
// request of a batch is charged the whole run, as in Triton); compute_output encoding the answer.

interface Duration {
  count: number;
  ns: number;
}

const zero = (): Duration => ({ count: 0, ns: 0 });
const add = (d: Duration, ms: number) => {
  d.count++;
  d.ns += Math.round(ms * 1e6);
};

export interface RequestTimes {
  totalMs: number;
  queueMs: number;
  inputMs: number;
  inferMs: number;
  outputMs: number;
  rows: number;
}

export class ModelStats {
  private readonly success = zero();
  private readonly fail = zero();
  private readonly queue = zero();
  private readonly computeInput = zero();
  private readonly computeInfer = zero();
  private readonly computeOutput = zero();
  private inferenceCount = 0;
  private executionCount = 0;
  private lastInference = 0;
  private readonly batches = new Map<number, Duration>();

  /** An inference request answered with its outputs. */
  succeeded(t: RequestTimes): void {
    add(this.success, t.totalMs);
    add(this.queue, t.queueMs);
    add(this.computeInput, t.inputMs);
    add(this.computeInfer, t.inferMs);
    add(this.computeOutput, t.outputMs);
    this.inferenceCount += t.rows;
    this.lastInference = Date.now();
  }

  /** An inference request answered with an error. */
  failed(totalMs: number): void {
    add(this.fail, totalMs);
  }

  /** One run of the model on a batch of `rows` rows. */
  ran(rows: number, ms: number): void {
    this.executionCount++;
    let d = this.batches.get(rows);
    if (!d) {
      d = zero();
      this.batches.set(rows, d);
    }
    add(d, ms);
  }

  /** One model's entry of Triton's `model_stats`. */
  report(name: string, version: string) {
    return {
      name,
      version,
      last_inference: this.lastInference,
      inference_count: this.inferenceCount,
      execution_count: this.executionCount,
      inference_stats: {
        success: { ...this.success },
        fail: { ...this.fail },
        queue: { ...this.queue },
        compute_input: { ...this.computeInput },
        compute_infer: { ...this.computeInfer },
        compute_output: { ...this.computeOutput },
        cache_hit: zero(),
        cache_miss: zero(),
      },
      batch_stats: [...this.batches.entries()]
        .sort(([a], [b]) => a - b)
        .map(([batchSize, d]) => ({
          batch_size: batchSize,
          compute_input: zero(),
          compute_infer: { ...d },
          compute_output: zero(),
        })),
      memory_usage: [],
    };
  }
}
