// Process entry for serving: load the model, listen, warm up, then report ready. On SIGTERM
// readiness turns false, in-flight and queued requests finish, and the process exits.
import { pino } from 'pino';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import type { ServerState } from './app.ts';
import type { Config } from './config.ts';
import { createMetrics } from './metrics.ts';
import { Model } from './model.ts';
import { createBatcher, observeRuns } from './pipeline.ts';
import { warmUp } from './warmup.ts';
import { WorkerModel } from './worker-model.ts';
import type { InferenceModel } from './worker-model.ts';

export async function serve(config: Config, log: Logger = pino({ level: config.logLevel })): Promise<void> {
  const metrics = createMetrics();
  const state: ServerState = { warm: false, draining: false };
  const options = {
    name: config.modelName,
    dir: config.modelDir,
    precision: config.precision,
    executionProvider: config.executionProvider,
    intraOpThreads: config.intraOpThreads,
    interOpThreads: config.interOpThreads,
    log: (msg: string) => log.warn(msg),
    onRun: observeRuns(config, metrics, () => state.warm),
  };
  // A dead inference worker cannot come back by itself: exit so the kubelet restarts the pod.
  const model: InferenceModel =
    config.inferenceThread === 'worker'
      ? await WorkerModel.load(options, (err) => {
          log.fatal({ err }, 'inference worker died; exiting');
          process.exit(1);
        })
      : await Model.load(options);
  log.info(
    {
      model: model.name,
      file: model.file,
      precision: model.precision,
      executionProvider: model.executionProvider,
      pool: config.pool,
      inferenceThread: config.inferenceThread,
      maxBatchSize: config.maxBatchSize,
      maxDelayMs: config.maxDelayMs,
      maxQueueSize: config.maxQueueSize,
      telemetry: process.env.ORT_DISABLE_TELEMETRY === '1' ? 'disabled' : 'enabled',
    },
    `model loaded on ${model.executionProvider.toUpperCase()} execution provider`,
  );

  const batcher = createBatcher(config, model, metrics);
  const app = buildApp({ config, model, batcher, metrics, state, logger: log });
  // Longer than common load-balancer idle timeouts, so they close idle connections first.
  app.server.keepAliveTimeout = 65_000;
  app.server.headersTimeout = 66_000;
  app.server.requestTimeout = 120_000;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    state.draining = true;
    log.info(
      { signal, queued: batcher.depth },
      'draining: readiness off, finishing in-flight and queued requests',
    );
    const force = setTimeout(() => {
      log.error({ timeoutMs: config.drainTimeoutMs }, 'drain timed out; exiting');
      process.exit(1);
    }, config.drainTimeoutMs);
    force.unref();
    // app.close stops accepting connections and waits for requests in flight, which includes
    // every request waiting in the batcher; the batcher then has nothing left.
    await app.close();
    await batcher.close();
    await model.close();
    log.info('drained; exiting');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  const sizes = await warmUp(model, model.batched ? config.maxBatchSize : 1, config.warmupBatchSizes);
  state.warm = true;
  log.info(
    { warmupBatchSizes: sizes.length, skipped: sizes.length === 0 },
    sizes.length > 0 ? 'warm-up done; ready' : 'warm-up skipped (open non-batch dimensions); ready',
  );
}
