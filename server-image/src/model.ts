// One ONNX model loaded in onnxruntime: picks the file for the configured precision and the
// execution provider, describes its tensors in protocol terms, and runs batches by stacking
// requests along the first (batch) dimension and splitting the outputs back in order.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BatchBuffers } from './batch-buffers.ts';
import ort from './ort.ts';
import type { InferenceSession, Tensor } from './ort.ts';
import { DATATYPES, datatypeOfOrt } from './tensor/datatypes.ts';
import type { Datatype, NumericData, TensorData } from './tensor/datatypes.ts';

export type Precision = 'fp32' | 'fp16' | 'int8';
export type ExecutionProviderChoice = 'auto' | 'cuda' | 'cpu';

export const MODEL_FILES: Record<Precision, string> = {
  fp32: 'model.onnx',
  fp16: 'model.fp16.onnx',
  int8: 'model.int8.onnx',
};

export interface TensorSpec {
  name: string;
  datatype: Datatype;
  /** -1 marks a dimension the model leaves open (the batch, a variable length). */
  shape: number[];
}

export interface Feed {
  data: TensorData;
  shape: number[];
}
export type Feeds = Record<string, Feed>;

export interface ModelOptions {
  name: string;
  dir: string;
  precision: Precision;
  executionProvider: ExecutionProviderChoice;
  intraOpThreads: number;
  interOpThreads: number;
  log?: (msg: string) => void;
  /** Hears how long each session.run took, in seconds (the model's own time, nothing else). */
  onRun?: (seconds: number) => void;
}

function specs(meta: readonly InferenceSession.ValueMetadata[], kind: string): TensorSpec[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new Error(`${kind} '${m.name}' is not a tensor; only tensor models are served`);
    const datatype = datatypeOfOrt(m.type);
    if (!datatype) throw new Error(`${kind} '${m.name}' has type ${m.type}, which the protocol cannot carry`);
    return { name: m.name, datatype, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
  });
}

/** The CUDA provider ships as a separate library that only a cuda12 install brings. */
function cudaLibraryPresent(): boolean {
  const binding = createRequire(import.meta.url).resolve('onnxruntime-node');
  const binDir = join(dirname(binding), '..', 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(join(binDir, 'libonnxruntime_providers_cuda.so'));
}

export class Model {
  readonly name: string;
  readonly precision: Precision;
  readonly file: string;
  readonly executionProvider: 'cuda' | 'cpu';
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  /** Every input and output has an open first dimension, so requests can be stacked. */
  readonly batched: boolean;
  private readonly session: InferenceSession;
  private readonly onRun: ((seconds: number) => void) | undefined;
  /** Stacked batch inputs, reused from batch to batch. */
  private readonly batchBuffers = new BatchBuffers();

  private constructor(opts: ModelOptions, file: string, ep: 'cuda' | 'cpu', session: InferenceSession) {
    this.name = opts.name;
    this.precision = opts.precision;
    this.file = file;
    this.executionProvider = ep;
    this.session = session;
    this.onRun = opts.onRun;
    this.inputs = specs(session.inputMetadata, 'input');
    this.outputs = specs(session.outputMetadata, 'output');
    this.batched = [...this.inputs, ...this.outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
  }

  static async load(opts: ModelOptions): Promise<Model> {
    const file = join(opts.dir, MODEL_FILES[opts.precision]);
    if (!existsSync(file)) {
      throw new Error(
        `model file ${file} not found (PRECISION=${opts.precision} reads ${MODEL_FILES[opts.precision]})`,
      );
    }
    const base: InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.intraOpThreads,
      interOpNumThreads: opts.interOpThreads,
      graphOptimizationLevel: 'all',
    };
    const create = (ep: 'cuda' | 'cpu') =>
      ort.InferenceSession.create(file, { ...base, executionProviders: [ep] });
    const wantCuda =
      opts.executionProvider === 'cuda' || (opts.executionProvider === 'auto' && cudaLibraryPresent());
    if (wantCuda) {
      try {
        return new Model(opts, file, 'cuda', await create('cuda'));
      } catch (err) {
        if (opts.executionProvider === 'cuda') throw err;
        opts.log?.(`CUDA execution provider unavailable (${(err as Error).message}); using CPU`);
      }
    }
    return new Model(opts, file, 'cpu', await create('cpu'));
  }

  async run(feeds: Feeds, outputNames: readonly string[] = this.outputs.map((o) => o.name)): Promise<Feeds> {
    const tensors: Record<string, Tensor> = {};
    for (const spec of this.inputs) {
      const f = feeds[spec.name];
      if (!f) throw new Error(`missing input '${spec.name}'`);
      // The element type comes from the model; the codec built `f.data` for exactly that type.
      tensors[spec.name] = new ort.Tensor(
        DATATYPES[spec.datatype].ort as 'float32',
        f.data as Float32Array,
        f.shape,
      );
    }
    const started = performance.now();
    const result = await this.session.run(tensors, outputNames);
    this.onRun?.((performance.now() - started) / 1000);
    const out: Feeds = {};
    for (const name of outputNames) {
      const t = result[name];
      if (!t) throw new Error(`runtime returned no output '${name}'`);
      out[name] = { data: t.data as TensorData, shape: t.dims.map(Number) };
    }
    return out;
  }

  /**
   * Runs several requests as one: inputs are concatenated along dimension 0 and each output is
   * cut back into the requests' row counts, in order.
   */
  async runBatch(items: readonly Feeds[]): Promise<Feeds[]> {
    const first = items[0];
    if (!first) return [];
    if (items.length === 1) return [await this.run(first)];
    const rows = items.map((f) => f[this.inputs[0]!.name]!.shape[0]!);
    const feeds: Feeds = {};
    for (const spec of this.inputs) {
      feeds[spec.name] = stack(
        items.map((f) => f[spec.name]!),
        (type, length) => this.batchBuffers.take(spec.name, type, length),
      );
    }
    let out: Feeds;
    try {
      out = await this.run(feeds);
    } finally {
      for (const [name, { data }] of Object.entries(feeds))
        if (!Array.isArray(data)) this.batchBuffers.give(name, data);
    }
    const results: Feeds[] = items.map(() => ({}));
    for (const [name, feed] of Object.entries(out)) {
      const total = feed.shape[0] ?? 0;
      const perRow = total === 0 ? 0 : feed.data.length / total;
      let row = 0;
      rows.forEach((r, i) => {
        results[i]![name] = {
          data: feed.data.slice(row * perRow, (row + r) * perRow) as TensorData,
          shape: [r, ...feed.shape.slice(1)],
        };
        row += r;
      });
    }
    return results;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Parts stacked along dimension 0, into storage from `allocate`. */
function stack(
  parts: readonly Feed[],
  allocate: (type: new (length: number) => NumericData, length: number) => NumericData,
): Feed {
  const rows = parts.reduce((n, p) => n + p.shape[0]!, 0);
  const shape = [rows, ...parts[0]!.shape.slice(1)];
  const firstData = parts[0]!.data;
  if (Array.isArray(firstData)) return { data: parts.flatMap((p) => p.data as string[]), shape };
  const length = parts.reduce((n, p) => n + p.data.length, 0);
  const data = allocate(firstData.constructor as new (length: number) => NumericData, length);
  let offset = 0;
  for (const p of parts) {
    (data as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return { data, shape };
}
