// The HTTP app: Open Inference Protocol v2 REST routes and /metrics. Built without listening
// so tests drive it with `inject`; server.ts adds the socket, signals and lifecycle.
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from './config.ts';
import { fromRefusal, RequestError } from './errors.ts';
import type { Metrics } from './metrics.ts';
import type { Model } from './model.ts';
import { placementParameters } from './placement.ts';
import type { ModelBatcher } from './pipeline.ts';
import { decodeRequest, encodeResponse } from './protocol.ts';
import type { InferRequest } from './protocol.ts';
import { deadlineUnmet, Refusal } from './refusals.ts';
import { deadlineOf, firstHeader, priorityOf } from './request-options.ts';
import * as schemas from './schemas.ts';
import { readBody } from './read-body.ts';
import { splitBody } from './tensor/body.ts';
import type { Spillover } from './spillover/spillover.ts';

export const SERVER_NAME = 'servingstack';
export const SERVER_VERSION = '0.1.0';
export const EXTENSIONS = ['binary_tensor_data', 'model_repository_metadata'] as const;

/** Lifecycle flags that server.ts flips: warm after warm-up, draining after SIGTERM. */
export interface ServerState {
  warm: boolean;
  draining: boolean;
}

export type ServedModel = Pick<
  Model,
  'name' | 'inputs' | 'outputs' | 'batched' | 'batching' | 'precision' | 'executionProvider' | 'placement'
>;

export interface AppDeps {
  config: Pick<
    Config,
    | 'modelName'
    | 'pool'
    | 'maxBodyBytes'
    | 'maxBatchSize'
    | 'maxDelayMs'
    | 'maxQueueSize'
    | 'targetP95Ms'
    | 'timeoutHeader'
    | 'priorityHeader'
    | 'realTimePriority'
    | 'batchPriority'
  >;
  model: ServedModel;
  batcher: ModelBatcher;
  metrics: Metrics;
  state: ServerState;
  logger?: FastifyBaseLogger | boolean;
  /** Clock for request deadlines; must match the batcher's. */
  now?: () => number;
  /** Forwards to the sibling pool what this one would refuse or the router misrouted. */
  spillover?: Spillover;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Binary tensor data that followed the JSON header; null when there was none. */
    binaryData: Uint8Array | null;
  }
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { config, model, batcher, metrics, state, spillover } = deps;
  const now = deps.now ?? (() => performance.now());
  const labels = { model: config.modelName, pool: config.pool };
  // Children bound once: label hashing per observation is measurable at small-model rates.
  const queueDuration = metrics.queueDuration.labels(labels);
  const requestDuration = metrics.requestDuration.labels(labels);
  const requestsByCode = new Map<number, { inc(): void }>();
  const countRequest = (code: number) => {
    let child = requestsByCode.get(code);
    if (!child) {
      child = metrics.requests.labels({ ...labels, code: String(code) });
      requestsByCode.set(code, child);
    }
    child.inc();
  };
  const app = Fastify({
    loggerInstance: typeof deps.logger === 'object' ? deps.logger : undefined,
    logger: typeof deps.logger === 'boolean' ? deps.logger : undefined,
    bodyLimit: config.maxBodyBytes,
    // Per-request access logs would cost more than a small model's inference; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  app.decorateRequest('binaryData', null);

  // Every body goes through one parser: JSON alone, or a JSON header followed by binary tensor
  // data when Inference-Header-Content-Length is present (clients send that with any type).
  // readBody, not fastify's reader, so that binary tensors land aligned and need no copy.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    const binaryOffset = firstHeader(request.headers['inference-header-content-length']);
    readBody(
      payload,
      { limit: config.maxBodyBytes, contentLength: request.headers['content-length'], binaryOffset },
      (err, body) => {
        if (err) return done(err, undefined);
        try {
          const { header, binary } = splitBody(body!, binaryOffset);
          request.binaryData = binary;
          done(null, header);
        } catch (parseErr) {
          done(parseErr as Error, undefined);
        }
      },
    );
  });

  // Hooks on every request take callbacks rather than being async: no promise per hook.
  app.addHook('onSend', (_request, reply, payload, done) => {
    // A spilled request's answer names the sibling pool that computed it.
    if (!reply.hasHeader('x-serving-pool')) reply.header('x-serving-pool', config.pool);
    done(null, payload);
  });

  app.setErrorHandler((thrown: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    const err = thrown instanceof Refusal ? fromRefusal(thrown) : thrown;
    if (err instanceof RequestError) {
      return reply.code(err.statusCode).headers(err.headers).send({ error: err.message });
    }
    if (err.validation) return reply.code(400).send({ error: `invalid request: ${err.message}` });
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ error: err.message });
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal server error' });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  const ready = () => state.warm && !state.draining;

  app.get('/v2/health/live', { schema: schemas.health }, async () => ({ live: true }));

  app.get('/v2/health/ready', { schema: schemas.health }, async (_request, reply) =>
    reply.code(ready() ? 200 : 503).send({ ready: ready() }),
  );

  app.get('/v2', { schema: schemas.serverMetadata }, async () => ({
    name: SERVER_NAME,
    version: SERVER_VERSION,
    extensions: [...EXTENSIONS],
  }));

  const findModel = (name: string, version?: string): ServedModel => {
    if (name !== model.name || (version !== undefined && version !== '1')) {
      throw new RequestError(
        404,
        `model '${name}'${version ? ` version '${version}'` : ''} is not served here; this server serves '${model.name}'`,
      );
    }
    return model;
  };

  type ModelParams = { Params: { name: string; version?: string } };

  const metadata = async (request: FastifyRequest<ModelParams>) => {
    const m = findModel(request.params.name, request.params.version);
    return {
      name: m.name,
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: m.inputs,
      outputs: m.outputs,
      parameters: {
        execution_provider: m.executionProvider,
        precision: m.precision,
        pool: config.pool,
        max_batch_size: m.batched ? config.maxBatchSize : 0,
        max_delay_ms: config.maxDelayMs,
        max_queue_size: config.maxQueueSize,
        batching: m.batching,
        // What the batcher works with now (the adaptive batch size, when a target is set).
        batch_size_limit: batcher.limits.batchSize,
        batch_delay_ms: +batcher.limits.delayMs.toFixed(3),
        ...(config.targetP95Ms !== undefined ? { target_p95_ms: config.targetP95Ms } : {}),
        ...(m.placement ? placementParameters(m.executionProvider, m.placement) : {}),
      },
    };
  };

  const modelReady = async (request: FastifyRequest<ModelParams>, reply: FastifyReply) => {
    findModel(request.params.name, request.params.version);
    return reply.code(ready() ? 200 : 503).send({ name: model.name, ready: ready() });
  };

  /** Requests whose client went away before the answer was sent. */
  const clientsGone = new WeakSet<FastifyRequest>();
  /**
   * When each request reached the batcher and when the batcher answered it (result or refusal),
   * in the request's elapsed time: the server's own time before and after, which deadlines
   * must leave room for.
   */
  const handoffs = new WeakMap<FastifyRequest, { submittedAt: number; answeredAt: number }>();
  /** Each request's deadline, to count the answers sent after it. */
  const deadlines = new WeakMap<FastifyRequest, number>();

  const infer = async (
    request: FastifyRequest<ModelParams & { Body: InferRequest }>,
    reply: FastifyReply,
  ) => {
    const m = findModel(request.params.name, request.params.version);
    if (!state.warm)
      throw new RequestError(503, 'model is warming up; retry shortly', { 'retry-after': '1' });
    const deadline = deadlineOf(request.headers, config, now() - reply.elapsedTime);
    if (deadline !== undefined) deadlines.set(request, deadline);
    if (spillover && (await spillover.first(request, reply, deadline))) return reply;
    const decoded = decodeRequest(m, request.body, request.binaryData ?? new Uint8Array(0));
    // A client that goes away takes its request out of the queue (work not yet dispatched).
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished) return;
      clientsGone.add(request);
      gone.abort();
      countRequest(499);
    });
    const submittedAt = reply.elapsedTime;
    let result: Awaited<ReturnType<ModelBatcher['submit']>>;
    try {
      result = await batcher
        .submit(decoded.feeds, {
          rows: decoded.rows,
          work: decoded.work,
          key: decoded.key,
          priority: priorityOf(request.headers, config),
          signal: gone.signal,
          ...(deadline !== undefined ? { deadline } : {}),
        })
        .finally(() => handoffs.set(request, { submittedAt, answeredAt: reply.elapsedTime }));
    } catch (err) {
      if (spillover && err instanceof Refusal && (await spillover.instead(request, reply, err, deadline))) {
        return reply;
      }
      throw err;
    }
    const { output, queuedMs } = result;
    queueDuration.observe(queuedMs / 1000);
    const { json, binary } = encodeResponse(m, decoded, output);
    const text = JSON.stringify(json);
    // The batcher answered in time by its clock; a loop that ran late since then must not turn
    // that into a success sent after the deadline.
    if (deadline !== undefined && now() >= deadline) {
      throw deadlineUnmet(`its answer was ready ${(now() - deadline).toFixed(1)} ms after the deadline`);
    }
    if (binary.length === 0) return reply.type('application/json').send(text);
    const head = Buffer.from(text);
    return reply
      .type('application/octet-stream')
      .header('inference-header-content-length', head.length)
      .send(Buffer.concat([head, ...binary]));
  };

  const inferOptions = {
    schema: schemas.infer,
    // A full queue, or a deadline not even a one-row request could meet, refuses before the body
    // is read: reading and decoding it would be wasted.
    onRequest: (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      try {
        const refusal = batcher.refusalBefore(
          priorityOf(request.headers, config),
          deadlineOf(request.headers, config, now()),
        );
        done(spillover ? spillover.admit(request, reply, refusal) : refusal);
      } catch (err) {
        done(err as Error);
      }
    },
    onResponse: (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      // An answer the sibling computed is counted there (and here as servingstack_spillover_total).
      if (spillover?.forwarded(request)) return done();
      // A client that went away was counted (499) when it did.
      if (!clientsGone.has(request)) countRequest(reply.statusCode);
      // The server's own time around the batcher, which deadline admission must leave room for.
      const handoff = handoffs.get(request);
      if (handoff) batcher.observeOverhead(handoff.submittedAt, reply.elapsedTime - handoff.answeredAt);
      requestDuration.observe(reply.elapsedTime / 1000);
      const deadline = deadlines.get(request);
      if (deadline !== undefined && now() > deadline && !clientsGone.has(request)) {
        metrics.deadlineMissed.labels({ ...labels, code: String(reply.statusCode) }).inc();
      }
      done();
    },
  };

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<ModelParams>(prefix, { schema: schemas.modelMetadata }, metadata);
    app.get<ModelParams>(`${prefix}/ready`, { schema: schemas.modelReady }, modelReady);
    app.post<ModelParams & { Body: InferRequest }>(`${prefix}/infer`, inferOptions, infer);
  }

  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  return app;
}
