// The HTTP app: Open Inference Protocol v2 REST routes; metrics are on a port of their own
// (metrics-server.ts). Built without listening so tests drive it with `inject`; server.ts adds
// the socket, signals and lifecycle.
import type { Socket } from 'node:net';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from './config.ts';
import { noteBody } from './body-memory.ts';
import { clientErrorHandler, expectationHandler } from './client-errors.ts';
import { fromRefusal, frameworkMessage, RequestError } from './errors.ts';
import type { Metrics } from './metrics.ts';
import type { Model } from './model.ts';
import type { ModelIdentity } from './model-version.ts';
import { placementParameters } from './placement.ts';
import type { ModelBatcher } from './pipeline.ts';
import { decodeRequest, encodeResponse } from './protocol.ts';
import type { InferRequest } from './protocol.ts';
import { deadlineUnmet, Refusal } from './refusals.ts';
import { deadlineOf, firstHeader, priorityOf } from './request-options.ts';
import * as schemas from './schemas.ts';
import { tritonModelConfig } from './triton/model-config.ts';
import type { RequestTimes } from './triton/model-stats.ts';
import { contentEncoding, readBody, releaseBody } from './read-body.ts';
import { compress, responseEncoding } from './response-encoding.ts';
import type { ContentEncoding } from './read-body.ts';
import { byteCount, splitBody } from './tensor/body.ts';
import type { Spillover } from './spillover/spillover.ts';

export const SERVER_NAME = 'servingstack';
export const SERVER_VERSION = '0.1.0';
/**
 * Triton's names for what this server implements beyond the core protocol: the repository
 * metadata is the index (POST /v2/repository/index); loading and unloading are not served.
 */
export const EXTENSIONS = [
  'binary_tensor_data',
  'model_configuration',
  'statistics',
  'model_repository_metadata',
] as const;

/** Requests taken on a connection and not yet answered (more than one when a client pipelines). */
const PENDING = Symbol('servingstack.pending');
type PipelinedSocket = Socket & { [PENDING]?: number };

/** Lifecycle flags that server.ts flips: warm after warm-up, draining after SIGTERM. */
export interface ServerState {
  warm: boolean;
  draining: boolean;
}

export type ServedModel = Pick<
  Model,
  | 'name'
  | 'file'
  | 'inputs'
  | 'outputs'
  | 'batched'
  | 'batching'
  | 'precision'
  | 'executionProvider'
  | 'placement'
>;

export interface AppDeps {
  config: Pick<
    Config,
    | 'modelName'
    | 'pool'
    | 'maxBodyBytes'
    | 'maxJsonBodyBytes'
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
  /** The version of the files the model was loaded from (model-version.ts). */
  identity: ModelIdentity;
  batcher: ModelBatcher;
  metrics: Metrics;
  state: ServerState;
  logger?: FastifyBaseLogger | boolean;
  /** Clock for request deadlines; must match the batcher's. */
  now?: () => number;
  /**
   * How long a request's headers and body may take to arrive (answered 408 after), and how often
   * Node checks; server.ts sets the first after building, tests set both small.
   */
  requestTimeouts?: { requestTimeoutMs: number; checkIntervalMs: number };
  /** Forwards to the sibling pool what this one would refuse or the router misrouted. */
  spillover?: Spillover;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Binary tensor data that followed the JSON header; null when there was none. */
    binaryData: Uint8Array | null;
    /** The whole body when it had binary data (its memory is reused once the model has run). */
    binaryBody: Buffer | null;
    /** What the infer route notes about the request for its onResponse; null before it runs. */
    inference: InferenceNotes | null;
  }
}

/**
 * One object per inference request, on the request itself: four WeakMaps keyed by the request
 * cost a hash insert each and ephemeron work in every garbage collection.
 */
interface InferenceNotes {
  /** The client went away before the answer was sent. */
  clientGone: boolean;
  /** The request's deadline, to count the answers sent after it. */
  deadline: number | undefined;
  /**
   * When the request reached the batcher and when the batcher answered it (result or refusal),
   * in the request's elapsed time: the server's own time before and after, which deadlines
   * must leave room for. NaN until the batcher has answered.
   */
  submittedAt: number;
  answeredAt: number;
  /** The answered request's phases, for Triton's statistics. */
  phases: Omit<RequestTimes, 'totalMs'> | undefined;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { config, model, identity, batcher, metrics, state, spillover } = deps;
  const now = deps.now ?? (() => performance.now());
  const labels = { model: config.modelName, pool: config.pool };
  metrics.modelInfo.labels({ ...labels, version: identity.version, precision: model.precision }).set(1);
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
    ...(deps.requestTimeouts ? { requestTimeout: deps.requestTimeouts.requestTimeoutMs } : {}),
    http: {
      // Node would answer an HTTP/1.1 request without Host with a bare 400 before the app sees
      // it; the onRequest hook below refuses it in the protocol's shape instead.
      requireHostHeader: false,
      ...(deps.requestTimeouts
        ? {
            // Node checks the request deadline only where the headers' one is no longer.
            connectionsCheckingInterval: deps.requestTimeouts.checkIntervalMs,
            headersTimeout: deps.requestTimeouts.requestTimeoutMs,
          }
        : {}),
    },
    // Per-request access logs would cost more than a small model's inference; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    // A request that reaches a draining server on a connection a router still holds is served
    // (and its connection closed after it), not refused: refusing it would lose it.
    return503OnClosing: false,
    clientErrorHandler: clientErrorHandler(config.pool),
    // A URL fastify cannot decode is answered in the protocol's shape too.
    // fastify answers these without running the app's hooks, so the pool and the type are set
    // here; a Buffer, because fastify appends a charset to a JSON type given with a string.
    frameworkErrors: (err: Error, _request: FastifyRequest, reply: FastifyReply) =>
      reply
        .code(400)
        .header('x-serving-pool', config.pool)
        .header('content-type', 'application/json')
        .send(Buffer.from(JSON.stringify({ error: `malformed request URL: ${err.message}` }))),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  // An unmet Expect gets the protocol's 417, not Node's bare one (client-errors.ts).
  app.server.on('checkExpectation', expectationHandler(config.pool));

  app.decorateRequest('binaryData', null);
  app.decorateRequest('binaryBody', null);
  app.decorateRequest('inference', null);

  app.addHook('onRequest', (request, _reply, done) => {
    // Counted per connection, so that a drain closes it after its last pipelined answer (onSend).
    const socket = request.raw.socket as PipelinedSocket;
    socket[PENDING] = (socket[PENDING] ?? 0) + 1;
    // HTTP/1.1 requires Host (RFC 9112 3.2); Node's own check is off so that this answer has the
    // protocol's shape and the pool.
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      return done(
        new RequestError(
          400,
          'malformed HTTP request: HTTP/1.1 needs a Host header and this one has no Host header',
        ),
      );
    }
    done();
  });

  // Every body goes through one parser: JSON alone, or a JSON header followed by binary tensor
  // data when Inference-Header-Content-Length is present (clients send that with any type).
  // readBody, not fastify's reader, so that binary tensors land aligned and need no copy.
  app.removeAllContentTypeParsers();
  // JSON is capped lower than binary (MAX_JSON_BODY_BYTES): it is parsed on the event loop that
  // answers the probes. Compressed bodies are capped on their decompressed size.
  app.addContentTypeParser('*', (request, payload, done) => {
    const binaryOffset = firstHeader(request.headers['inference-header-content-length']);
    const json = binaryOffset === undefined;
    let encoding: ContentEncoding | undefined;
    try {
      encoding = contentEncoding(request.headers['content-encoding']);
    } catch (err) {
      return done(err as Error, undefined);
    }
    const tooLarge = (what: 'json' | 'body') =>
      new RequestError(
        413,
        what === 'json'
          ? `request JSON too large: this server takes at most ${config.maxJsonBodyBytes} bytes of JSON` +
              `${encoding ? ' (decompressed)' : ''}; send large tensors as binary data ` +
              `(the binary tensor data extension), up to ${config.maxBodyBytes} bytes`
          : `request body too large: this server takes at most ${config.maxBodyBytes} bytes` +
              `${encoding ? ' (decompressed)' : ''}`,
      );
    if (!json && (byteCount(binaryOffset) ?? 0) > config.maxJsonBodyBytes)
      return done(tooLarge('json'), undefined);
    readBody(
      payload,
      {
        limit: json ? config.maxJsonBodyBytes : config.maxBodyBytes,
        contentLength: request.headers['content-length'],
        binaryOffset,
        encoding,
      },
      (err, body) => {
        if ((err as { code?: string } | null)?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
          return done(tooLarge(json ? 'json' : 'body'), undefined);
        }
        if (err) return done(err, undefined);
        noteBody(body!.length);
        // An empty body (Triton's client posts one to the repository index) is no body.
        if (body!.length === 0 && json) return done(null, undefined);
        try {
          const { header, binary } = splitBody(body!, binaryOffset);
          request.binaryData = binary;
          if (!json) request.binaryBody = body!;
          done(null, header);
        } catch (parseErr) {
          done(parseErr as Error, undefined);
        }
      },
    );
  });

  // Hooks on every request take callbacks rather than being async: no promise per hook.
  app.addHook('onSend', (request, reply, payload, done) => {
    // A spilled request's answer names the sibling pool that computed it.
    if (!reply.hasHeader('x-serving-pool')) reply.header('x-serving-pool', config.pool);
    // Every answer about the served model says which version of it answered, refusals included;
    // a spilled one carries the sibling's (or none, from a sibling that sent none).
    if (servesModel(request) && !spillover?.forwarded(request))
      reply.header('x-model-version', identity.version);
    // Exactly `application/json`, as Triton sends it: KServe's Python client reads an error's
    // message only for that type, and fastify's serializer adds a charset.
    if (reply.getHeader('content-type') === 'application/json; charset=utf-8') {
      reply.header('content-type', 'application/json');
    }
    // While draining, each connection closes after its last answer, so none is left idle behind
    // a router's pool to hold the drain open (drain.ts). Its last: requests a client pipelined
    // behind this one are already taken, and a close now would drop their answers.
    if (state.draining && ((request.raw.socket as PipelinedSocket)[PENDING] ?? 1) <= 1) {
      reply.header('connection', 'close');
    }
    done(null, payload);
  });

  app.addHook('onResponse', (request, _reply, done) => {
    const socket = request.raw.socket as PipelinedSocket;
    socket[PENDING] = Math.max(0, (socket[PENDING] ?? 1) - 1);
    // Pipelined answers can be ready out of order, so the one that went out last may not have
    // said close: once nothing is pending, a connection left idle is closed here.
    if (state.draining && socket[PENDING] === 0) setImmediate(() => app.server.closeIdleConnections());
    done();
  });

  app.setErrorHandler((thrown: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    const err = thrown instanceof Refusal ? fromRefusal(thrown) : thrown;
    if (err instanceof RequestError) {
      return reply.code(err.statusCode).headers(err.headers).send({ error: err.message });
    }
    if (err.validation) return reply.code(400).send({ error: `invalid request: ${err.message}` });
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: frameworkMessage(err, config.maxBodyBytes) });
    }
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

  /** Whether the request names the model served here (a route under /v2/models/{name}). */
  const servesModel = (request: FastifyRequest): boolean => {
    const { name, version } = (request.params ?? {}) as ModelParams['Params'];
    return name === model.name && (version === undefined || version === '1');
  };

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
        // The protocol's version stays '1' (clients put it in URLs); this is the content's identity.
        model_version: identity.version,
        model_version_pinned: identity.pinned,
        model_files: identity.files,
      },
    };
  };

  const modelReady = async (request: FastifyRequest<ModelParams>, reply: FastifyReply) => {
    findModel(request.params.name, request.params.version);
    return reply.code(ready() ? 200 : 503).send({ name: model.name, ready: ready() });
  };

  const infer = async (
    request: FastifyRequest<ModelParams & { Body: InferRequest }>,
    reply: FastifyReply,
  ) => {
    const m = findModel(request.params.name, request.params.version);
    if (!state.warm)
      throw new RequestError(503, 'model is warming up; retry shortly', { 'retry-after': '1' });
    const deadline = deadlineOf(request.headers, config, now() - reply.elapsedTime);
    const notes: InferenceNotes = {
      clientGone: false,
      deadline,
      submittedAt: NaN,
      answeredAt: NaN,
      phases: undefined,
    };
    request.inference = notes;
    if (spillover && (await spillover.first(request, reply, deadline))) return reply;
    const decodeStart = performance.now();
    const decoded = decodeRequest(m, request.body, request.binaryData ?? new Uint8Array(0));
    const inputMs = performance.now() - decodeStart;
    // A client that goes away takes its request out of the queue (work not yet dispatched).
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished) return;
      notes.clientGone = true;
      gone.abort();
      countRequest(499);
    });
    notes.submittedAt = reply.elapsedTime;
    let result: Awaited<ReturnType<ModelBatcher['submit']>>;
    try {
      try {
        result = await batcher.submit(decoded.feeds, {
          rows: decoded.rows,
          work: decoded.work,
          key: decoded.key,
          priority: priorityOf(request.headers, config),
          signal: gone.signal,
          ...(deadline !== undefined ? { deadline } : {}),
        });
      } finally {
        notes.answeredAt = reply.elapsedTime;
      }
    } catch (err) {
      if (spillover && err instanceof Refusal && (await spillover.instead(request, reply, err, deadline))) {
        return reply;
      }
      throw err;
    }
    // The model has run on the request's tensors: their body's memory can serve the next request.
    releaseBody(request.binaryBody);
    request.binaryData = request.binaryBody = null;
    const { output, queuedMs, ranMs } = result;
    queueDuration.observe(queuedMs / 1000);
    const encodeStart = performance.now();
    const { json, binary } = encodeResponse(m, decoded, output);
    const text = JSON.stringify(json);
    notes.phases = {
      queueMs: queuedMs,
      inputMs,
      inferMs: ranMs,
      outputMs: performance.now() - encodeStart,
      rows: decoded.rows,
    };
    // The batcher answered in time by its clock; a loop that ran late since then must not turn
    // that into a success sent after the deadline.
    if (deadline !== undefined && now() >= deadline) {
      throw deadlineUnmet(`its answer was ready ${(now() - deadline).toFixed(1)} ms after the deadline`);
    }
    const encoding = responseEncoding(request.headers['accept-encoding']);
    if (binary.length === 0 && !encoding) return reply.type('application/json').send(text);
    const head = Buffer.from(text);
    const body = binary.length === 0 ? head : Buffer.concat([head, ...binary]);
    if (binary.length > 0) {
      // The header's length is of the uncompressed body, as Triton's clients read it.
      reply.type('application/octet-stream').header('inference-header-content-length', head.length);
    } else reply.type('application/json');
    if (!encoding) return reply.send(body);
    return reply
      .header('content-encoding', encoding)
      .header('vary', 'accept-encoding')
      .send(await compress(encoding, body));
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
      const notes = request.inference;
      const gone = notes?.clientGone === true;
      // A client that went away was counted (499) when it did.
      if (!gone) countRequest(reply.statusCode);
      // The server's own time around the batcher, which deadline admission must leave room for.
      if (notes && !Number.isNaN(notes.answeredAt))
        batcher.observeOverhead(notes.submittedAt, reply.elapsedTime - notes.answeredAt);
      requestDuration.observe(reply.elapsedTime / 1000);
      const deadline = notes?.deadline;
      if (deadline !== undefined && now() > deadline && !gone) {
        metrics.deadlineMissed.labels({ ...labels, code: String(reply.statusCode) }).inc();
      }
      const times = notes?.phases;
      if (times && reply.statusCode < 400) metrics.stats.succeeded({ ...times, totalMs: reply.elapsedTime });
      else if (!gone) metrics.stats.failed(reply.elapsedTime);
      done();
    },
  };

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<ModelParams>(prefix, { schema: schemas.modelMetadata }, metadata);
    app.get<ModelParams>(`${prefix}/ready`, { schema: schemas.modelReady }, modelReady);
    app.post<ModelParams & { Body: InferRequest }>(`${prefix}/infer`, inferOptions, infer);
    app.get<ModelParams>(`${prefix}/config`, { schema: schemas.modelConfig }, async (request) =>
      tritonModelConfig(
        findModel(request.params.name, request.params.version),
        {
          maxBatchSize: config.maxBatchSize,
          maxDelayMs: config.maxDelayMs,
          maxQueueSize: config.maxQueueSize,
        },
        identity.version,
      ),
    );
    app.get<ModelParams>(`${prefix}/stats`, { schema: schemas.modelStats }, async (request) => {
      const served = findModel(request.params.name, request.params.version);
      return { model_stats: [metrics.stats.report(served.name, '1')] };
    });
  }

  // Triton's statistics for every model (the one served here).
  app.get('/v2/models/stats', { schema: schemas.modelStats }, async () => ({
    model_stats: [metrics.stats.report(model.name, '1')],
  }));

  // The repository index of Triton's model repository extension: the one model, and its state.
  app.post('/v2/repository/index', { schema: schemas.repositoryIndex }, async (request) => {
    const onlyReady = (request.body as { ready?: boolean } | undefined)?.ready === true;
    if (onlyReady && !ready()) return [];
    return [
      {
        name: model.name,
        version: '1',
        state: ready() ? 'READY' : 'UNAVAILABLE',
        ...(ready() ? {} : { reason: state.draining ? 'draining' : 'warming up' }),
      },
    ];
  });

  return app;
}
