// One ONNX model loaded in onnxruntime: picks the file for the configured precision and the
// execution provider, describes its tensors in protocol terms, and runs batches by stacking
// requests along the first (batch) dimension and splitting the outputs back in order, under the
// model's batch contract (batch-contract.ts). A failed batch is rerun in halves so that only the
// request that caused it fails (isolate.ts); that happens here, where the inputs are, because
// they were moved to this thread and no longer exist where the batch was formed.
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchBuffers } from './batch-buffers.ts';
import { batchContract, checkRows } from './batch-contract.ts';
import type { BatchDimension } from './batch-contract.ts';
import { cudaProviderPresent, explainCudaFailure } from './cuda-provider.ts';
import { runIsolated } from './isolate.ts';
import ort from './ort.ts';
import { Refusal } from './refusals.ts';
import type { InferenceSession, Tensor } from './ort.ts';
import { profileFolder, readPlacement } from './placement.ts';
import type { Placement } from './placement.ts';
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
  /** Whether idle pool threads spin; off unless asked for, so they leave the CPU to the event loop. */
  threadSpinning?: boolean;
  /** Whether dimension 0 is the batch: from the model's dimension names (default), or as set. */
  batchDimension?: BatchDimension;
  log?: (msg: string) => void;
  /** Hears how long each session.run took, in seconds (the model's own time, nothing else). */
  onRun?: (seconds: number) => void;
  /** Hears that a batch's outputs did not split into its requests: batching is off from then on. */
  onBatchingOff?: (reason: string) => void;
  /** Hears which execution provider got how many nodes, once the first run has shown it. */
  onPlacement?: (placement: Placement) => void;
}

/** Runs log nothing themselves: a bad input is answered (and logged when it is a 500) by the server. */
const RUN_OPTIONS: InferenceSession.RunOptions = { logSeverityLevel: 4 };

/**
 * onnxruntime's message for a kernel that failed on the input it was given (a shape it cannot
 * take, a zero-size dimension, an index out of range), as opposed to one that could not run
 * at all (memory, the device). Its status code is not exposed to JavaScript; the message is.
 */
const KERNEL_FAILED =
  /^Non-zero status code returned while running (\S+) node\. Name:'([^']*)' Status Message: ([\s\S]*)$/;
const RESOURCE_FAILURE = /out of memory|alloc|CUDA|cuDNN|CUBLAS|device/i;

/** The runtime's error as the caller's fault (a Refusal) when it is one; unchanged otherwise. */
export function classifyRunError(err: unknown): Error {
  // The binding's errors may come from another realm (tests): not `instanceof Error` here.
  const message = (err as { message?: unknown } | null)?.message;
  const e = err instanceof Error ? err : new Error(typeof message === 'string' ? message : String(err));
  if (/^Got invalid dimensions for input/.test(e.message)) {
    return new Refusal('bad-input', `the model rejected this input: ${e.message}`);
  }
  const m = KERNEL_FAILED.exec(e.message);
  if (!m || RESOURCE_FAILURE.test(m[3]!)) return e;
  // Drop the C++ source location and signature some messages start with.
  const detail = m[3]!.replace(/^\/\S+:\d+ [^(]*\([^)]*\)\s*/, '').trim();
  return new Refusal('bad-input', `the model rejected this input: ${detail} (${m[1]} node '${m[2]}')`);
}

function specs(meta: readonly InferenceSession.ValueMetadata[], kind: string): TensorSpec[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new Error(`${kind} '${m.name}' is not a tensor; only tensor models are served`);
    const datatype = datatypeOfOrt(m.type);
    if (!datatype) throw new Error(`${kind} '${m.name}' has type ${m.type}, which the protocol cannot carry`);
    return { name: m.name, datatype, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
  });
}

export class Model {
  readonly name: string;
  readonly precision: Precision;
  readonly file: string;
  readonly executionProvider: 'cuda' | 'cpu';
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  /** Requests may be stacked along dimension 0 (the batch contract holds). */
  batched: boolean;
  /** Why batching is on or off, for the log and the metadata. */
  batching: string;
  /** Nodes per execution provider; known after the first run. */
  placement: Placement | undefined;
  private readonly session: InferenceSession;
  private readonly onRun: ((seconds: number) => void) | undefined;
  private readonly onBatchingOff: ((reason: string) => void) | undefined;
  private readonly onPlacement: ((placement: Placement) => void) | undefined;
  private readonly log: ((msg: string) => void) | undefined;
  /** Where the first run's profile goes; undefined once read (or when it cannot be written). */
  private profile: string | undefined;
  /** Stacked batch inputs, reused from batch to batch. */
  private readonly batchBuffers = new BatchBuffers();
  /**
   * When the last session.run ended. Runs asked for together (the worker holds several batches)
   * wait for one another: onnxruntime-node runs each synchronously in a setImmediate, so a run's
   * own time starts when the one before it ended, not when it was asked for.
   */
  private lastRunEnd = -Infinity;

  private constructor(
    opts: ModelOptions,
    file: string,
    ep: 'cuda' | 'cpu',
    session: InferenceSession,
    profile: string | undefined,
  ) {
    this.name = opts.name;
    this.precision = opts.precision;
    this.file = file;
    this.executionProvider = ep;
    this.session = session;
    this.profile = profile;
    this.onRun = opts.onRun;
    this.onBatchingOff = opts.onBatchingOff;
    this.onPlacement = opts.onPlacement;
    this.log = opts.log;
    if (!profile)
      this.log?.(
        `node placement unknown: no writable temporary folder (${tmpdir()}) for onnxruntime's profile`,
      );
    this.inputs = specs(session.inputMetadata, 'input');
    this.outputs = specs(session.outputMetadata, 'output');
    const declared = (meta: readonly InferenceSession.ValueMetadata[]) =>
      meta.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] }));
    const contract = batchContract(
      declared(session.inputMetadata),
      declared(session.outputMetadata),
      opts.batchDimension ?? 'auto',
    );
    this.batched = contract.batched;
    this.batching = contract.reason;
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
      // onnxruntime_session_options_config_keys.h; the Node binding takes string values only.
      extra: {
        session: {
          intra_op: { allow_spinning: opts.threadSpinning ? '1' : '0' },
          inter_op: { allow_spinning: opts.threadSpinning ? '1' : '0' },
        },
      },
    };
    const create = async (ep: 'cuda' | 'cpu') => {
      const profile = profileFolder();
      const profiling = profile ? { enableProfiling: true, profileFilePrefix: join(profile, 'profile') } : {};
      try {
        const session = await ort.InferenceSession.create(file, {
          ...base,
          ...profiling,
          executionProviders: [ep],
        });
        return new Model(opts, file, ep, session, profile);
      } catch (err) {
        if (profile) rmSync(profile, { recursive: true, force: true });
        throw err;
      }
    };
    const wantCuda =
      opts.executionProvider === 'cuda' || (opts.executionProvider === 'auto' && cudaProviderPresent());
    if (wantCuda) {
      try {
        return await create('cuda');
      } catch (err) {
        const message = explainCudaFailure((err as Error).message);
        if (opts.executionProvider === 'cuda') throw new Error(message, { cause: err });
        opts.log?.(`${message}; using CPU`);
      }
    }
    return create('cpu');
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
    // onnxruntime-node defers the native run to a setImmediate. An immediate queued first runs
    // right before it, so the clock starts when the run does: not before the deferral, which
    // would count whatever the loop does first (a burst of I/O). Runs asked for together queue
    // their immediates together; lastRunEnd keeps each from counting the ones ahead of it.
    let started = performance.now();
    setImmediate(() => (started = performance.now()));
    let result: InferenceSession.ReturnType;
    try {
      result = await this.session.run(tensors, outputNames, RUN_OPTIONS);
    } catch (err) {
      throw classifyRunError(err);
    }
    const ended = performance.now();
    this.onRun?.((ended - Math.max(started, this.lastRunEnd)) / 1000);
    this.lastRunEnd = ended;
    if (this.profile) this.notePlacement(this.profile);
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
   * cut back into the requests' row counts, in order. Each request gets its outputs or the error
   * it alone caused. Without a batch contract, or once a batch's outputs did not split into its
   * requests, each request runs by itself.
   */
  async runBatch(items: readonly Feeds[]): Promise<Array<Feeds | Error>> {
    if (!this.batched || items.length === 1) return runIsolated(items, (one) => this.runEach(one));
    const results = await runIsolated(
      items,
      (some) => this.runStacked(some),
      (err) => !(err instanceof ContractBroken),
    );
    const broken = results.find((r): r is ContractBroken => r instanceof ContractBroken);
    if (!broken) return results;
    this.batched = false;
    this.batching = `batching turned off: ${broken.message}`;
    this.log?.(`${this.batching}; requests run one at a time from now on`);
    this.onBatchingOff?.(this.batching);
    return runIsolated(items, (one) => this.runEach(one));
  }

  /** Requests run one after the other (no stacking). */
  private async runEach(items: readonly Feeds[]): Promise<Feeds[]> {
    const out: Feeds[] = [];
    for (const feeds of items) out.push(await this.run(feeds));
    return out;
  }

  private async runStacked(items: readonly Feeds[]): Promise<Feeds[]> {
    if (items.length === 1) return [await this.run(items[0]!)];
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
    const total = rows.reduce((a, b) => a + b, 0);
    const mismatch = checkRows(out, total);
    if (mismatch) throw new ContractBroken(mismatch);
    const results: Feeds[] = items.map(() => ({}));
    for (const [name, feed] of Object.entries(out)) {
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

  /** Ends profiling after the first run and reads from its profile where each node ran. */
  private notePlacement(profile: string): void {
    this.profile = undefined;
    try {
      this.session.endProfiling();
      this.placement = readPlacement(profile);
      this.onPlacement?.(this.placement);
    } catch (err) {
      rmSync(profile, { recursive: true, force: true });
      this.log?.(`node placement unknown: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    if (this.profile) {
      // Ended here, the profile is written now rather than into a removed folder at release.
      this.session.endProfiling();
      rmSync(this.profile, { recursive: true, force: true });
    }
    await this.session.release();
  }
}

/** A stacked run whose outputs do not have one row per input row; never a request's fault. */
class ContractBroken extends Error {}

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
