// Spill-over: a request this pool would refuse, or one the router left on the wrong pool, is sent
// once to the sibling pool instead (DESIGN.md, Routing). The edge (app.ts) calls in at three
// points: admission (before the body is read), before decoding, and on a refusal from the batcher.
//
// How a server knows the sibling can meet a request: it tries once. The sibling's own admission
// (the queue, the deadline estimate, the cap on spilled-in requests below) runs on the headers
// alone, before it reads the body, and answers 503 or 504 at once when it cannot; this server then
// answers with its own original refusal. The cost is one round trip on a kept-alive connection
// inside the cluster per spilled request, paid only by requests that would have been refused,
// and no state to go stale (an advertised queue estimate is old by the time it is read, and a
// probe costs the same round trip without carrying the request).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import { cancelled, Refusal } from '../refusals.ts';
import type { HeaderSettings } from '../request-options.ts';
import { contractedPool } from './contract.ts';
import type { Config } from '../config.ts';
import { parseSpilloverConfig } from './config.ts';
import type { SpilloverConfig } from './config.ts';
import { SiblingClient } from './sibling-client.ts';
import type { SiblingAnswer, SiblingFailure } from './sibling-client.ts';

/** Request headers a spilled request carries: the hop (never forwarded again) and its reason. */
export const SPILLED_FROM = 'x-serving-spilled-from';
export const SPILL_REASON = 'x-serving-spill-reason';

export type SpillReason = 'route' | 'deadline' | 'queue-full';

/**
 * Sibling statuses that mean "cannot take it": the request gets this server's answer instead.
 * Any 5xx: a sibling that failed (a 500 from a broken run, a proxy's 502) must not turn a request
 * this server would have computed (misrouted) or refused with Retry-After into a bare 500.
 */
const siblingRefused = (status: number) => status === 429 || status >= 500;

// Headers that belong to one connection, or that the forward sets itself.
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'host',
  'content-length',
  'inference-header-content-length',
  // The body sent on is the one this server decoded (JSON re-serialized), never the bytes the
  // client compressed: the sibling would try to decompress plain JSON and answer 400.
  'content-encoding',
  SPILLED_FROM,
  SPILL_REASON,
]);
// Answer headers passed back to the caller from the sibling's response.
// The client's Accept-Encoding goes on, so the sibling compresses (once) and says so: its
// Content-Encoding and Vary must come back with the bytes, or a client reads gzip as JSON.
const ANSWER_HEADERS = [
  'content-type',
  'content-encoding',
  'vary',
  'inference-header-content-length',
  'retry-after',
  'x-model-version',
];

export interface SpilloverDeps {
  config: SpilloverConfig;
  headers: HeaderSettings;
  modelName: string;
  /** What this server holds at most: queue plus one batch; the cap is a share of it. */
  capacity: number;
  registry: Registry;
  now: () => number;
}

/** Per request: a refusal admission let through for spill-over, and whether it was forwarded. */
interface SpillState {
  refusal?: Refusal;
  /** Counted among the outgoing requests until its answer is sent, or its forward failed. */
  held?: boolean;
  /** Sent to the sibling once already (answered or not): never again. */
  tried?: boolean;
  forwarded?: boolean;
}

type AnyRequest = FastifyRequest<{ Body: unknown }>;

/** Why a forward brought no answer to pass on, for the counter and the client's message. */
type Unanswered = Pick<SiblingFailure, 'message'> & { why: SiblingFailure['why'] | 'refused' };

export class Spillover {
  private readonly cfg: SpilloverConfig;
  private readonly client: SiblingClient | undefined;
  private readonly maxSpilledIn: number;
  private spilledIn = 0;
  /** Requests let in to be forwarded, or being forwarded, now. */
  private forwarding = 0;
  private readonly states = new WeakMap<FastifyRequest, SpillState>();
  private readonly spilled: Counter<'model' | 'from' | 'to' | 'reason'>;
  private readonly failed: Counter<'model' | 'from' | 'to' | 'reason' | 'why'>;

  private readonly deps: SpilloverDeps;

  constructor(deps: SpilloverDeps) {
    this.deps = deps;
    this.cfg = deps.config;
    this.client = this.cfg.siblingUrl
      ? new SiblingClient(this.cfg.siblingUrl, {
          connections: this.cfg.connections,
          connectTimeoutMs: this.cfg.connectTimeoutMs,
          downForMs: this.cfg.downForMs,
          now: deps.now,
        })
      : undefined;
    this.maxSpilledIn = Math.floor((this.cfg.maxSharePercent * deps.capacity) / 100);
    this.spilled = new Counter({
      name: 'servingstack_spillover_total',
      help: 'Requests this pool forwarded once to its sibling pool and answered with the sibling’s answer, by reason.',
      labelNames: ['model', 'from', 'to', 'reason'],
      registers: [deps.registry],
    });
    this.failed = new Counter({
      name: 'servingstack_spillover_failed_total',
      help: 'Requests this pool tried to forward to its sibling that the sibling refused or did not answer; they got this pool’s own answer.',
      labelNames: ['model', 'from', 'to', 'reason', 'why'],
      registers: [deps.registry],
    });
  }

  /** Spilled-in requests in flight here now. */
  get spilledInFlight(): number {
    return this.spilledIn;
  }

  /**
   * Admission, on the headers alone. A request spilled here by the sibling counts against the cap
   * on this pool's capacity (requests the router sent elsewhere by mistake do not: they are this
   * pool's own by contract). A refusal this server could avoid by forwarding is kept for later and
   * the request let in, so that its body is read; any other refusal is returned to answer at once.
   */
  admit(request: FastifyRequest, reply: FastifyReply, refusal: Refusal | undefined): Refusal | undefined {
    const from = request.headers[SPILLED_FROM];
    if (from !== undefined) {
      if (request.headers[SPILL_REASON] === 'route') return refusal;
      if (refusal) return refusal;
      if (this.spilledIn >= this.maxSpilledIn) {
        return new Refusal(
          'queue-full',
          `server busy: requests spilled from the ${String(from)} pool may hold ${this.cfg.maxSharePercent}% ` +
            `of this server (${this.maxSpilledIn} at once), and do`,
          1,
        );
      }
      this.spilledIn++;
      reply.raw.once('close', () => this.spilledIn--);
      return undefined;
    }
    if (refusal && this.mayForward(request, reasonOf(refusal))) {
      this.states.set(request, { refusal });
      this.hold(request, reply);
      return undefined;
    }
    return refusal;
  }

  /**
   * Before the request is decoded: forwards one whose admission was refused here, or one the
   * contract gives to the sibling. True when the sibling's answer was sent. A refused request
   * whose forward failed throws its original refusal, saying what became of the forward; a
   * misrouted one is computed here instead. One whose client left during the forward throws
   * `cancelled` (nothing is computed for it here).
   */
  async first(request: AnyRequest, reply: FastifyReply, deadline: number | undefined): Promise<boolean> {
    const state = this.states.get(request);
    if (state?.refusal) {
      const failure = await this.forward(request, reply, reasonOf(state.refusal)!, deadline);
      if (failure === undefined) return true;
      throw this.unanswered(state.refusal, failure);
    }
    const contracted = contractedPool(request.headers, { ...this.deps.headers, ...this.cfg });
    if (!this.cfg.route || contracted !== this.cfg.sibling || !this.reachable(request)) return false;
    // Past the connections to the sibling, a misrouted request is computed where it landed.
    if (this.forwarding >= this.cfg.connections) return false;
    const failure = await this.forward(request, reply, 'route', deadline);
    if (failure?.why === 'aborted') throw cancelled();
    return failure === undefined;
  }

  /**
   * On a refusal from the batcher: true when the sibling's answer was sent instead, false when
   * the request was not forwarded. A forward that failed throws the refusal, saying why.
   */
  async instead(
    request: AnyRequest,
    reply: FastifyReply,
    refusal: Refusal,
    deadline: number | undefined,
  ): Promise<boolean> {
    const reason = reasonOf(refusal);
    if (reason === undefined || !this.mayForward(request, reason)) return false;
    const failure = await this.forward(request, reply, reason, deadline);
    if (failure === undefined) return true;
    throw this.unanswered(refusal, failure);
  }

  /** Whether the request's answer came from the sibling (it is counted there, not here). */
  forwarded(request: FastifyRequest): boolean {
    return this.states.get(request)?.forwarded === true;
  }

  close(): void {
    this.client?.close();
  }

  /**
   * Counts the request among the outgoing ones until its answer has been sent, or its forward
   * ended without an answer (a misrouted request then computed here is no longer outgoing).
   */
  private hold(request: FastifyRequest, reply: FastifyReply): SpillState {
    const state = this.states.get(request) ?? {};
    this.states.set(request, state);
    if (state.held) return state;
    state.held = true;
    this.forwarding++;
    reply.raw.once('close', () => this.release(state));
    return state;
  }

  private release(state: SpillState): void {
    if (!state.held) return;
    state.held = false;
    this.forwarding--;
  }

  /** A refusal this server answers after its forward failed: the same, saying what became of it. */
  private unanswered(refusal: Refusal, failure: Unanswered): Refusal {
    if (failure.why === 'aborted') return cancelled();
    return new Refusal(
      refusal.kind,
      `${refusal.message}; spilled to the ${this.cfg.sibling} pool: ${failure.message}`,
      refusal.retryAfterSeconds,
    );
  }

  private reachable(request: FastifyRequest): boolean {
    return this.client !== undefined && !this.client.down && request.headers[SPILLED_FROM] === undefined;
  }

  /**
   * Whether a refusal may be avoided by the sibling: only the kinds spill-over is for, never twice,
   * in the directions allowed, and towards the latency pool only with a deadline (work without
   * one is the throughput pool's and would crowd out the latency pool's callers).
   */
  private mayForward(request: FastifyRequest, reason: SpillReason | undefined): boolean {
    if (reason === undefined || !this.cfg.toSibling || !this.reachable(request)) return false;
    if (this.states.get(request)?.tried) return false;
    // Binary tensor data moved to the inference worker (its batch ran past the deadline there) is
    // no longer here to send: forwarded without it, the request would be a bad one.
    const memory = request.binaryData?.buffer;
    if (memory instanceof ArrayBuffer && memory.detached) return false;
    // A refusing server takes on each spilled request's body and a round trip: no more of them at
    // once than it has connections to the sibling, or a burst it cannot serve would also cost it
    // the time to serve its own queue (beyond that, the original refusal at once, as without).
    if (this.forwarding >= this.cfg.connections) return false;
    if (
      this.cfg.sibling === 'latency' &&
      request.headers[this.deps.headers.timeoutHeader.toLowerCase()] === undefined
    ) {
      return false;
    }
    return true;
  }

  /**
   * Sends the request to the sibling once and its answer to the client; undefined when it was
   * sent, else why not. Every forward is bounded: by what is left of the request's deadline, or
   * without one by SPILLOVER_FORWARD_TIMEOUT_MS, after which the connection to the sibling is
   * destroyed (the sibling sees its client leave and lets the request go).
   */
  private async forward(
    request: AnyRequest,
    reply: FastifyReply,
    reason: SpillReason,
    deadline: number | undefined,
  ): Promise<Unanswered | undefined> {
    const labels = { model: this.deps.modelName, from: this.cfg.pool, to: this.cfg.sibling, reason };
    const state = this.hold(request, reply);
    state.tried = true;
    const answer = await this.exchange(request, reply, reason, deadline);
    if (!answer.ok || siblingRefused(answer.status)) {
      this.release(state);
      const failure: Unanswered = answer.ok
        ? { why: 'refused', message: `it could not take it either (${answer.status})` }
        : answer;
      this.failed.inc({ ...labels, why: failure.why });
      return failure;
    }
    state.forwarded = true;
    this.spilled.inc(labels);
    this.send(reply, answer);
    return undefined;
  }

  /** The sibling's answer, or why none came, within the time the request may take. */
  private async exchange(
    request: AnyRequest,
    reply: FastifyReply,
    reason: SpillReason,
    deadline: number | undefined,
  ): Promise<SiblingAnswer | SiblingFailure> {
    const left = deadline === undefined ? undefined : Math.floor(deadline - this.deps.now());
    if (left !== undefined && left <= 0) {
      return { ok: false, why: 'timeout', message: 'not tried: the deadline had passed' };
    }
    const { headers, body } = this.outgoing(request, reason, left);
    const gone = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) gone.abort();
    };
    // A client that left while its body was read or parsed: its close has been and gone.
    if (reply.raw.destroyed && !reply.raw.writableFinished) gone.abort();
    reply.raw.once('close', onClose);
    try {
      return await this.client!.post(request.url, headers, body, {
        timeoutMs: left ?? this.cfg.forwardTimeoutMs,
        signal: gone.signal,
      });
    } finally {
      reply.raw.off('close', onClose);
    }
  }

  /** The request as the sibling gets it: the remaining deadline, the hop and its reason. */
  private outgoing(
    request: AnyRequest,
    reason: SpillReason,
    leftMs: number | undefined,
  ): { headers: OutgoingHttpHeaders; body: Buffer } {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && !NOT_FORWARDED.has(name)) headers[name] = value;
    }
    if (leftMs !== undefined) headers[this.deps.headers.timeoutHeader.toLowerCase()] = String(leftMs);
    headers[SPILLED_FROM] = this.cfg.pool;
    headers[SPILL_REASON] = reason;
    // The body as parsed (the JSON header, then any binary tensor data): the raw bytes are gone.
    const json = Buffer.from(JSON.stringify(request.body));
    if (!request.binaryData?.length) return { headers, body: json };
    headers['inference-header-content-length'] = String(json.length);
    return { headers, body: Buffer.concat([json, request.binaryData]) };
  }

  private send(reply: FastifyReply, answer: SiblingAnswer): void {
    for (const name of ANSWER_HEADERS) {
      const value = answer.headers[name];
      if (value !== undefined) reply.header(name, value);
    }
    reply.header('x-serving-pool', answer.headers['x-serving-pool'] ?? this.cfg.sibling);
    reply.header(SPILLED_FROM, this.cfg.pool);
    reply.code(answer.status).send(answer.body);
  }
}

function reasonOf(refusal: Refusal): SpillReason | undefined {
  if (refusal.kind === 'deadline') return 'deadline';
  if (refusal.kind === 'queue-full') return 'queue-full';
  return undefined;
}

/** The server's spill-over from its configuration and the environment the operator set. */
export function createSpillover(
  config: Pick<Config, 'pool' | 'modelName' | 'maxQueueSize' | 'maxBatchSize'> & HeaderSettings,
  registry: Registry,
  env: NodeJS.ProcessEnv,
  now: () => number = () => performance.now(),
): Spillover {
  return new Spillover({
    config: parseSpilloverConfig(env, config.pool),
    headers: config,
    modelName: config.modelName,
    capacity: config.maxQueueSize + config.maxBatchSize,
    registry,
    now,
  });
}
