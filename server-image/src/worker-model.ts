// A Model whose session lives on a worker thread (see model-worker.ts). Same surface as Model
// for the batcher, warm-up and app; inputs are transferred to the worker, not copied.
import { Worker, isMarkedAsUntransferable } from 'node:worker_threads';
import type { Feeds, Model, ModelOptions } from './model.ts';
import type { RunOutcome, RunRequest, WorkerMessage } from './model-worker.ts';
import type { Placement } from './placement.ts';
import { Refusal } from './refusals.ts';

export type InferenceModel = Pick<
  Model,
  | 'name'
  | 'precision'
  | 'file'
  | 'executionProvider'
  | 'inputs'
  | 'outputs'
  | 'batched'
  | 'batching'
  | 'placement'
  | 'runBatch'
  | 'close'
>;

// Running from sources (.ts) or from the compiled dist (.js): the worker file sits beside this one.
const WORKER_URL = new URL(
  `./model-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);

/**
 * The buffers under a batch's inputs, moved to the worker rather than copied. They may be
 * bigger than the tensors (a request body with the tensors viewed in place); whatever else
 * lies in them is the request's own and no longer needed. Node's shared Buffer pool is marked
 * untransferable and is cloned instead.
 */
function transferables(items: readonly Feeds[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const feeds of items) {
    for (const { data } of Object.values(feeds)) {
      if (
        !Array.isArray(data) &&
        data.buffer instanceof ArrayBuffer &&
        !isMarkedAsUntransferable(data.buffer)
      ) {
        buffers.add(data.buffer);
      }
    }
  }
  return [...buffers];
}

const fromOutcome = (o: RunOutcome): Feeds | Error =>
  'feeds' in o ? o.feeds : o.refusal ? new Refusal(o.refusal, o.error) : new Error(o.error);

export class WorkerModel implements InferenceModel {
  readonly name: string;
  readonly precision: Model['precision'];
  readonly file: string;
  readonly executionProvider: Model['executionProvider'];
  readonly inputs: Model['inputs'];
  readonly outputs: Model['outputs'];
  batched: boolean;
  batching: string;
  placement: Placement | undefined;
  private readonly worker: Worker;
  private readonly onRun: ((seconds: number) => void) | undefined;
  private readonly onWorkerQueue: ((seconds: number) => void) | undefined;
  private readonly onBatchingOff: ((reason: string) => void) | undefined;
  private readonly pending = new Map<
    number,
    { resolve: (f: Array<Feeds | Error>) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private dead: Error | undefined;

  private constructor(
    worker: Worker,
    meta: Extract<WorkerMessage, { type: 'ready' }>['meta'],
    onRun: ((seconds: number) => void) | undefined,
    onBatchingOff: ((reason: string) => void) | undefined,
    onWorkerQueue: ((seconds: number) => void) | undefined,
  ) {
    this.worker = worker;
    this.onRun = onRun;
    this.onWorkerQueue = onWorkerQueue;
    this.onBatchingOff = onBatchingOff;
    this.name = meta.name;
    this.precision = meta.precision;
    this.file = meta.file;
    this.executionProvider = meta.executionProvider;
    this.inputs = meta.inputs;
    this.outputs = meta.outputs;
    this.batched = meta.batched;
    this.batching = meta.batching;
  }

  /** Starts the worker and resolves once its model has loaded. `onExit` hears of a worker that dies. */
  static load(
    opts: ModelOptions & { onWorkerQueue?: (seconds: number) => void },
    onExit?: (err: Error) => void,
  ): Promise<WorkerModel> {
    // Functions stay on this thread; the worker reports back through messages.
    const { log, onRun, onBatchingOff, onPlacement, onWorkerQueue, ...data } = opts;
    const worker = new Worker(WORKER_URL, { workerData: data });
    return new Promise((resolve, reject) => {
      let model: WorkerModel | undefined;
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'log') log?.(m.message);
        else if (m.type === 'placement') {
          if (model) model.placement = m.placement;
          onPlacement?.(m.placement);
        } else if (m.type === 'failed') {
          reject(new Error(m.message));
          void worker.terminate();
        } else if (m.type === 'ready') {
          model = new WorkerModel(worker, m.meta, onRun, onBatchingOff, onWorkerQueue);
          resolve(model);
        } else model?.settle(m);
      });
      worker.on('error', (err) => (model ? model.fail(err) : reject(err)));
      worker.on('exit', (code) => {
        const err = new Error(`inference worker exited with code ${code}`);
        if (!model) return reject(err);
        if (!model.dead) {
          model.fail(err);
          onExit?.(err);
        }
      });
    });
  }

  private settle(m: WorkerMessage): void {
    if (m.type === 'batching-off') {
      this.batched = false;
      this.batching = m.reason;
      this.onBatchingOff?.(m.reason);
      return;
    }
    if (m.type !== 'result' && m.type !== 'error') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === 'result') {
      this.onRun?.(m.runSeconds);
      this.onWorkerQueue?.(m.queuedSeconds);
      p.resolve(m.outcomes.map(fromOutcome));
    } else p.reject(new Error(m.message));
  }

  private fail(err: Error): void {
    this.dead = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Takes the inputs' buffers: after this call they are detached on this thread. */
  runBatch(items: readonly Feeds[]): Promise<Array<Feeds | Error>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const req: RunRequest = { id, items: [...items] };
      this.worker.postMessage(req, transferables(items));
    });
  }

  async close(): Promise<void> {
    this.dead = new Error('model closed');
    await this.worker.terminate();
  }
}
