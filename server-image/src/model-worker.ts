// Worker-thread side of WorkerModel: owns the onnxruntime session. onnxruntime-node 1.30 runs
// session.run synchronously on the calling JS thread, so running it here leaves the main thread
// free to read, decode and answer requests while a batch computes.
import { parentPort, workerData } from 'node:worker_threads';
import { Model } from './model.ts';
import type { Feeds, ModelOptions } from './model.ts';
import type { Placement } from './placement.ts';
import { Refusal } from './refusals.ts';
import type { RefusalKind } from './refusals.ts';

export interface RunRequest {
  id: number;
  items: Feeds[];
}

/** One request's outcome, as it crosses threads (an Error does not keep its class). */
export type RunOutcome = { feeds: Feeds } | { error: string; refusal?: RefusalKind };

export type WorkerMessage =
  | {
      type: 'ready';
      meta: Pick<
        Model,
        'name' | 'precision' | 'file' | 'executionProvider' | 'inputs' | 'outputs' | 'batched' | 'batching'
      >;
    }
  | { type: 'log'; message: string }
  | { type: 'placement'; placement: Placement }
  | { type: 'failed'; message: string }
  | { type: 'batching-off'; reason: string }
  | { type: 'result'; id: number; outcomes: RunOutcome[]; runSeconds: number; queuedSeconds: number }
  | { type: 'error'; id: number; message: string };

const outcome = (r: Feeds | Error): RunOutcome =>
  r instanceof Error
    ? { error: r.message, ...(r instanceof Refusal ? { refusal: r.kind } : {}) }
    : { feeds: r };

const port = parentPort!;
const send = (m: WorkerMessage) => port.postMessage(m);

try {
  const opts = workerData as Omit<ModelOptions, 'log' | 'onRun' | 'onBatchingOff' | 'onPlacement'>;
  // The session.run time of the batch running now (several runs when a failed batch is bisected).
  let runSeconds = 0;
  const model = await Model.load({
    ...opts,
    log: (message) => send({ type: 'log', message }),
    onRun: (seconds) => (runSeconds += seconds),
    onBatchingOff: (reason) => send({ type: 'batching-off', reason }),
    onPlacement: (placement) => send({ type: 'placement', placement }),
  });
  const { name, precision, file, executionProvider, inputs, outputs, batched, batching } = model;
  // Batches run one after another, in the order they came: the main thread sends the next ones
  // while one runs (pipelining), and they wait here. Each batch's wait and its own run time go
  // back with its outputs, so neither counts the other.
  const waiting: Array<{ req: RunRequest; at: number }> = [];
  let running = false;
  const next = () => {
    const head = waiting.shift();
    if (!head) {
      running = false;
      return;
    }
    running = true;
    const { req, at } = head;
    const queuedSeconds = (performance.now() - at) / 1000;
    runSeconds = 0;
    model
      .runBatch(req.items)
      .then(
        (out) => send({ type: 'result', id: req.id, outcomes: out.map(outcome), runSeconds, queuedSeconds }),
        (err: unknown) =>
          send({ type: 'error', id: req.id, message: err instanceof Error ? err.message : String(err) }),
      )
      .finally(next);
  };
  port.on('message', (req: RunRequest) => {
    waiting.push({ req, at: performance.now() });
    if (!running) next();
  });
  send({
    type: 'ready',
    meta: { name, precision, file, executionProvider, inputs, outputs, batched, batching },
  });
} catch (err) {
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
}
