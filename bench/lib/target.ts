// What the server benchmark runs on: the execution provider and the model variant, from the
// environment. `make bench` leaves both unset (CPU, fp32); bench/gpu.sh runs it on CUDA once per
// pool precision (fp16 for the throughput pool, int8 for the latency pool). Every part of the
// benchmark that opens a session or builds a request reads it here, so all compare like with like.
import { join } from 'node:path';
import { MODEL_FILES } from '../../server-image/src/model.ts';
import type { Precision } from '../../server-image/src/model.ts';
import { fromHalfBits, toHalfBits } from '../../server-image/src/tensor/codec.ts';

const ep = process.env.BENCH_EXECUTION_PROVIDER ?? 'cpu';
const precision = process.env.BENCH_PRECISION ?? 'fp32';
if (ep !== 'cpu' && ep !== 'cuda')
  throw new Error(`BENCH_EXECUTION_PROVIDER must be cpu or cuda, got '${ep}'`);
if (!(precision in MODEL_FILES))
  throw new Error(
    `BENCH_PRECISION must be one of ${Object.keys(MODEL_FILES).join(', ')}, got '${precision}'`,
  );

export const TARGET = {
  executionProvider: ep as 'cpu' | 'cuda',
  precision: precision as Precision,
  /** fp16 variants take and give float16 tensors; fp32 and int8 ones float32. */
  half: precision === 'fp16',
  /** What results are named by: `server` for the default CPU fp32 run. */
  name: ep === 'cpu' && precision === 'fp32' ? 'server' : `server-${ep}-${precision}`,
  /** Its section of docs/benchmarks.md. */
  heading: ep === 'cpu' && precision === 'fp32' ? '## Server' : `## ${ep.toUpperCase()} server, ${precision}`,
};

/** The model file of the benchmark's precision in a model directory. */
export const modelFile = (dir: string) => join(dir, MODEL_FILES[TARGET.precision]);

/** The input tensor's element type and protocol datatype. */
export const inputType = TARGET.half ? ('float16' as const) : ('float32' as const);
export const inputDatatype = TARGET.half ? 'FP16' : 'FP32';

/** Input values as the model takes them: float32, or float16 bits. */
export const asInput = (values: Float32Array): Float32Array | Uint16Array =>
  TARGET.half ? toHalfBits(values) : values;

/** Output values as numbers. */
export const outputNumbers = (data: unknown): number[] =>
  Array.from(TARGET.half ? fromHalfBits(data as Uint16Array) : (data as Float32Array));
