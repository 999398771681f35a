// The one HTTP client a server uses to reach its sibling pool's Service: keep-alive connections
// (a spilled request must not pay a TCP handshake), a bounded pool of them, a connect timeout,
// and a short memory of a sibling that could not be reached, so that while it is down a request
// meets its original refusal at once instead of a connect attempt per request. The sibling's name
// is resolved in the background (a Service's ClusterIP does not change), so no request waits for
// a name lookup; until it resolves, the sibling counts as down.
import { lookup } from 'node:dns/promises';
import { Agent, request } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

export interface SiblingAnswer {
  ok: true;
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Why no answer came: not reachable (or known down, or it closed the connection before its answer
 * was whole), past the time given, or the caller left. The message says it of "it", the sibling.
 */
export interface SiblingFailure {
  ok: false;
  why: 'unreachable' | 'down' | 'timeout' | 'aborted';
  message: string;
}

export interface SiblingClientOptions {
  connections: number;
  connectTimeoutMs: number;
  downForMs: number;
  now?: () => number;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** How often the sibling's name is looked up again once it resolved, and retried while it does not. */
const RESOLVE_EVERY_MS = 30_000;
const RESOLVE_RETRY_MS = 1_000;
const TIMER_MAX_MS = 2 ** 31 - 1;

const gone: SiblingFailure = { ok: false, why: 'aborted', message: 'the client went away' };

class ConnectTimeout extends Error {
  readonly code = 'ECONNTIMEOUT';
}

export class SiblingClient {
  private readonly agent: Agent;
  private readonly now: () => number;
  private downUntil = -Infinity;
  private readonly base: URL;
  private readonly opts: SiblingClientOptions;
  /** The sibling's address, once its name resolved. */
  private address: string | undefined;
  private resolveTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(base: URL, opts: SiblingClientOptions) {
    this.base = base;
    this.opts = opts;
    this.agent = new Agent({ keepAlive: true, maxSockets: opts.connections, scheduling: 'lifo' });
    this.now = opts.now ?? (() => performance.now());
    void this.resolve();
  }

  /** Whether nothing should be sent to the sibling now: its name is unresolved, or it failed lately. */
  get down(): boolean {
    return this.address === undefined || this.now() < this.downUntil;
  }

  /** Looks the sibling's name up, and again later; a failure keeps the last address it had. */
  private async resolve(): Promise<void> {
    let next = RESOLVE_EVERY_MS;
    try {
      this.address = (await lookup(this.base.hostname)).address;
    } catch {
      if (this.address === undefined) next = RESOLVE_RETRY_MS;
    }
    if (this.closed) return;
    this.resolveTimer = setTimeout(() => void this.resolve(), next);
    this.resolveTimer.unref();
  }

  post(
    path: string,
    headers: OutgoingHttpHeaders,
    body: Buffer,
    opts: { timeoutMs: number; signal: AbortSignal },
  ): Promise<SiblingAnswer | SiblingFailure> {
    if (this.down) {
      return Promise.resolve({
        ok: false,
        why: 'down',
        message: 'not tried: it could not be reached lately',
      });
    }
    if (opts.signal.aborted) return Promise.resolve(gone);
    // Every forward ends by this time, answered or not: from sending the request to the last byte
    // of the answer, so a sibling that stalls in its body is bounded as one that never answers.
    // A timer holds at most 2^31-1 ms (about 24 days): a longer one fires at once (or, past 2^32,
    // throws), so a deadline further off than that waits that long.
    const timeoutMs = Math.min(TIMER_MAX_MS, Math.max(1, opts.timeoutMs));
    // A timer of its own rather than AbortSignal.timeout, so that it goes with the forward: one per
    // forward left for the whole bound would pile up at a high spill rate.
    const expiry = new AbortController();
    const signal = AbortSignal.any([opts.signal, expiry.signal]);
    return new Promise<SiblingAnswer | SiblingFailure>((settle) => {
      const timer = setTimeout(() => expiry.abort(), timeoutMs);
      const resolve = (result: SiblingAnswer | SiblingFailure) => {
        clearTimeout(timer);
        settle(result);
      };
      let connectTimer: NodeJS.Timeout | undefined;
      // Whether a connection was there (reused, or opened): a failure before it is the sibling's
      // address failing (name lookup, connect), whatever ended the wait.
      let connected = false;
      // Whether the agent gave it a socket at all: one still waiting for a free connection failed
      // for lack of connections here, not because the sibling is gone.
      let assigned = false;
      // Whether the answer's headers came: a timeout after them is a body that stalled.
      let answering = false;
      const fail = (err: Error) =>
        resolve(this.failure(err, signal, opts.signal, assigned && !connected, { timeoutMs, answering }));
      const req = request(
        {
          host: this.address,
          port: this.base.port || 80,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { ...headers, host: this.base.host, 'content-length': body.length },
          signal,
        },
        (res) => {
          answering = true;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              ok: true,
              status: res.statusCode ?? 502,
              headers: res.headers,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', fail);
          // Node destroys an answer cut short with an error; should one close without it, the
          // forward still ends (the first of these settles it).
          res.on('close', () => {
            if (!res.complete) fail(new Error('the answer ended before it was whole'));
          });
        },
      );
      req.on('socket', (socket) => {
        assigned = true;
        if (!socket.connecting) {
          connected = true;
          return;
        }
        connectTimer = setTimeout(
          () => socket.destroy(new ConnectTimeout(`no connection within ${this.opts.connectTimeoutMs} ms`)),
          this.opts.connectTimeoutMs,
        );
        socket.once('connect', () => {
          connected = true;
          clearTimeout(connectTimer);
        });
      });
      req.on('error', (err) => {
        clearTimeout(connectTimer);
        fail(err);
      });
      req.end(body);
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.resolveTimer);
    this.agent.destroy();
  }

  private failure(
    err: Error & { code?: string },
    signal: AbortSignal,
    caller: AbortSignal,
    neverConnected: boolean,
    progress: { timeoutMs: number; answering: boolean },
  ): SiblingFailure {
    if (caller.aborted) return gone;
    // A name that does not resolve in time (no cluster DNS, a resolver that drops queries) is a
    // sibling not reachable, not a slow answer: later requests must not wait for it too.
    if (neverConnected || err instanceof ConnectTimeout || UNREACHABLE.has(err.code ?? '')) {
      this.downUntil = this.now() + this.opts.downForMs;
      return { ok: false, why: 'unreachable', message: `it could not be reached: ${err.message}` };
    }
    if (signal.aborted) {
      const ms = progress.timeoutMs;
      return {
        ok: false,
        why: 'timeout',
        message: progress.answering
          ? `its answer stopped after the headers and was not whole within ${ms} ms`
          : `no answer within ${ms} ms`,
      };
    }
    // A connection the sibling closed (a draining pod, an idle keep-alive socket it had already
    // dropped): no answer, but no reason to think the pool is down.
    return {
      ok: false,
      why: 'unreachable',
      message: `it closed the connection ${progress.answering ? 'in the middle of its answer' : 'without answering'}: ${err.message}`,
    };
  }
}
