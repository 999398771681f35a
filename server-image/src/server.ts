// Process entry for serving: load the model, listen, warm up, then report ready. On SIGTERM
// readiness turns false, in-flight and queued requests finish, and the process exits.
import { pino } from 'pino';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import type { ServerState } from './app.ts';
import type { Config } from './config.ts';
import { drain } from './drain.ts';
import { createMetricsServer } from './metrics-server.ts';
import { createMetrics } from './metrics.ts';
import { Model } from './model.ts';
import { identifyModel } from './model-version.ts';
import { createBatcher, observeRuns, observeWorkerQueue, OwnRunTime } from './pipeline.ts';
import { describePlacement, mostlyOnCpu } from './placement.ts';
import { createSpillover } from './spillover/spillover.ts';
import type { Placement } from './placement.ts';
import { warmupCases, warmUp } from './warmup.ts';
import { WorkerModel } from './worker-model.ts';
import type { InferenceModel } from './worker-model.ts';

export async function serve(config: Config, log: Logger = pino({ level: config.logLevel })): Promise<void> {
  const metrics = createMetrics();
  const state: ServerState = { warm: false, draining: false };
  const spillover = createSpillover(config, metrics.registry, process.env);
  // The model's own run times, for the batcher's cost model: not the time until this thread saw
  // the answer, which a burst of I/O on it stretches.
  const ownRunTime = new OwnRunTime();
  const options = {
    name: config.modelName,
    dir: config.modelDir,
    precision: config.precision,
    executionProvider: config.executionProvider,
    intraOpThreads: config.intraOpThreads,
    interOpThreads: config.interOpThreads,
    threadSpinning: config.threadSpinning,
    batchDimension: config.batchDimension,
    log: (msg: string) => log.warn(msg),
    onRun: observeRuns(config, metrics, () => state.warm, ownRunTime),
    onPlacement: (placement: Placement) => logPlacement(log, model.executionProvider, placement),
  };
  // A dead inference worker cannot come back by itself: exit so the kubelet restarts the pod.
  const model: InferenceModel =
    config.inferenceThread === 'worker'
      ? await WorkerModel.load(
          { ...options, onWorkerQueue: observeWorkerQueue(config, metrics, () => state.warm) },
          (err) => {
            log.fatal({ err }, 'inference worker died; exiting');
            process.exit(1);
          },
        )
      : await Model.load(options);
  // Before listening: a pod holding other files than the stack pins never reports ready.
  const identity = await identifyModel(model.file, config.modelDigests);
  log.info(
    {
      model: model.name,
      file: model.file,
      version: identity.version,
      versionPinned: identity.pinned,
      precision: model.precision,
      executionProvider: model.executionProvider,
      pool: config.pool,
      inferenceThread: config.inferenceThread,
      intraOpThreads: config.intraOpThreads,
      threadSpinning: config.threadSpinning,
      maxBatchSize: config.maxBatchSize,
      maxDelayMs: config.maxDelayMs,
      maxQueueSize: config.maxQueueSize,
      targetP95Ms: config.targetP95Ms,
      batched: model.batched,
      telemetry: process.env.ORT_DISABLE_TELEMETRY === '1' ? 'disabled' : 'enabled',
    },
    `model loaded on ${model.executionProvider.toUpperCase()} execution provider`,
  );
  // Said once, with the reason, so that a model served one request at a time is no mystery.
  if (!model.batched) log.warn({ reason: model.batching }, 'batching is off: requests run one at a time');
  const warmup = warmupCases(model, config.warmupShapes);

  const batcher = createBatcher(config, model, metrics, undefined, ownRunTime);
  const app = buildApp({ config, model, identity, batcher, metrics, state, logger: log, spillover });
  // Longer than common load-balancer idle timeouts, so they close idle connections first.
  app.server.keepAliveTimeout = 65_000;
  app.server.headersTimeout = 66_000;
  app.server.requestTimeout = 120_000;

  const metricsServer = createMetricsServer(metrics.registry, config.pool);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(
      { signal, queued: batcher.depth, budgetMs: config.drainTimeoutMs },
      'draining: readiness off, finishing in-flight and queued requests, closing connections',
    );
    const outcome = await drain({ app, batcher, state, budgetMs: config.drainTimeoutMs });
    // Scraped to the end, so the drain's last requests are counted.
    metricsServer.close();
    if (outcome === 'timed-out') {
      log.error({ timeoutMs: config.drainTimeoutMs, queued: batcher.depth }, 'drain timed out; exiting');
      process.exit(1);
    }
    // Nothing runs any more, so no request of this pool waits on its sibling.
    spillover.close();
    await model.close();
    log.info('drained; exiting');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await new Promise<void>((resolve, reject) => {
    metricsServer.once('error', reject);
    metricsServer.listen(config.metricsPort, config.host, () => resolve());
  });
  await app.listen({ port: config.port, host: config.host });
  if ('cases' in warmup) {
    const runs = await warmUp(model, warmup.cases, config.maxBatchSize, config.warmupBatchSizes);
    batcher.seed(runs);
    state.warm = true;
    log.info({ warmupRuns: runs.length, shapes: warmup.cases.length }, 'warm-up done; ready');
  } else {
    state.warm = true;
    log.warn(
      { openInputs: warmup.open },
      'warm-up skipped: inputs have open dimensions besides the batch; set WARMUP_SHAPES ' +
        '(spec.model.warmupShapes) to warm up with declared shapes; ready',
    );
  }
}

/**
 * Where the model's nodes run, once the first run (warm-up's, or the first request's) showed it.
 * A GPU session that left most nodes to the CPU (an int8 model on the CUDA provider) is a warning.
 */
function logPlacement(log: Logger, ep: 'cuda' | 'cpu', placement: Placement): void {
  const message = `nodes per execution provider: ${describePlacement(placement)}`;
  if (mostlyOnCpu(ep, placement)) {
    log.warn(
      { nodes: placement.nodes, cpuOps: placement.cpuOps, copies: placement.copies },
      `${message}; most of the model runs on the CPU`,
    );
  } else {
    log.info({ nodes: placement.nodes }, message);
  }
}
