import { Agent, request } from 'node:http';

// Requests through the router, as callers send them: the stack's host in the Host header, the
// routing headers, an Open Inference Protocol body. Shared by the e2e suites and the demo.

export const ROUTER_URL = process.env.SERVINGSTACK_ROUTER_URL ?? 'http://127.0.0.1:8088';

/** One input tensor of the model: name, datatype and features per row. */
export interface InputSpec {
  name: string;
  datatype: string;
  features: number;
}

/** The bundled test model's fp32 and int8 variants take a [batch, 16] FP32 tensor `input`. */
export const MLP_INPUT: InputSpec = { name: 'input', datatype: 'FP32', features: 16 };

export interface RouterCall {
  host: string;
  model: string;
  headers?: Record<string, string>;
  /** What the pool that answers takes; MLP_INPUT unless given (see modelInput). */
  input?: InputSpec;
  /** Rows in the request's tensor (1 unless given): more rows, more work per request. */
  rows?: number;
}

export interface Outcome {
  status: number;
  /** X-Serving-Pool of the answer; undefined when there was none. */
  pool: string | undefined;
  /** X-Serving-Spilled-From: the pool that forwarded it to the one that computed it (spill-over). */
  spilledFrom?: string;
  /** X-Model-Version: the version of the model files that computed the answer. */
  version?: string;
  ms: number;
  /** Set when no HTTP answer came back at all. */
  error?: string;
}

export function inferBody(seed = 0, input: InputSpec = MLP_INPUT, rows = 1): string {
  const data = Array.from({ length: rows * input.features }, (_, i) => Math.sin(seed + i) / 2);
  return JSON.stringify({
    inputs: [{ name: input.name, shape: [rows, input.features], datatype: input.datatype, data }],
  });
}

/**
 * The model's first input as the pool behind these headers declares it (GET /v2/models/<name>
 * through the router). A pool's precision decides its datatype (fp16 takes FP16), so callers
 * of one host ask before they send.
 */
export function modelInput(call: RouterCall, timeoutMs = 10_000): Promise<InputSpec> {
  const url = new URL(`/v2/models/${encodeURIComponent(call.model)}`, ROUTER_URL);
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs, headers: { host: call.host, ...call.headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
          const meta = JSON.parse(text) as { inputs?: { name: string; datatype: string; shape: number[] }[] };
          const first = meta.inputs?.[0];
          const features = first?.shape.at(-1);
          if (!first || features === undefined || features < 1)
            throw new Error(`no fixed-width input in ${text.slice(0, 200)}`);
          resolve({ name: first.name, datatype: first.datatype, features });
        } catch (err) {
          reject(new Error(`metadata of model ${call.model} at ${call.host}: ${(err as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (err) =>
      reject(new Error(`metadata of model ${call.model} at ${call.host}: ${err.message}`)),
    );
    req.end();
  });
}

/** One inference through the router; never throws (a refused connection is an Outcome too). */
export function callRouter(call: RouterCall, agent?: Agent, seed = 0, timeoutMs = 10_000): Promise<Outcome> {
  const url = new URL(`/v2/models/${encodeURIComponent(call.model)}/infer`, ROUTER_URL);
  const body = inferBody(seed, call.input, call.rows);
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        timeout: timeoutMs,
        headers: {
          host: call.host,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...call.headers,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const pool = res.headers['x-serving-pool'];
          const spilledFrom = res.headers['x-serving-spilled-from'];
          const version = res.headers['x-model-version'];
          resolve({
            status: res.statusCode ?? 0,
            pool: Array.isArray(pool) ? pool[0] : pool,
            ...(typeof spilledFrom === 'string' && { spilledFrom }),
            ...(typeof version === 'string' && { version }),
            ms: performance.now() - started,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (err) =>
      resolve({ status: 0, pool: undefined, ms: performance.now() - started, error: err.message }),
    );
    req.end(body);
  });
}

export interface BurstOptions {
  requests: number;
  concurrency: number;
  /** Called after each answer, e.g. for progress output. */
  onOutcome?: (done: number) => void;
}

/** A bounded burst: exactly `requests` calls, at most `concurrency` in flight, kept-alive connections. */
export async function burst(
  call: RouterCall,
  options: BurstOptions,
): Promise<{ outcomes: Outcome[]; wallMs: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const outcomes: Outcome[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < options.requests) {
      const seed = next++;
      outcomes.push(await callRouter(call, agent, seed));
      options.onOutcome?.(outcomes.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.requests) }, worker));
  agent.destroy();
  return { outcomes, wallMs: performance.now() - started };
}

export interface Summary {
  requests: number;
  ok: number;
  /** Answers per X-Serving-Pool value ('none' when the header was missing). */
  pools: Record<string, number>;
  /** Answers per HTTP status ('error' when no answer came back). */
  codes: Record<string, number>;
  p50Ms: number;
  p95Ms: number;
  /** Successful answers per second of wall time. */
  rps: number;
}

export function summarize(outcomes: readonly Outcome[], wallMs: number): Summary {
  const pools: Record<string, number> = {};
  const codes: Record<string, number> = {};
  for (const o of outcomes) {
    pools[o.pool ?? 'none'] = (pools[o.pool ?? 'none'] ?? 0) + 1;
    const code = o.error === undefined ? String(o.status) : 'error';
    codes[code] = (codes[code] ?? 0) + 1;
  }
  const ok = outcomes.filter((o) => o.status >= 200 && o.status < 300);
  const sorted = ok.map((o) => o.ms).sort((a, b) => a - b);
  return {
    requests: outcomes.length,
    ok: ok.length,
    pools,
    codes,
    p50Ms: percentile(sorted, 0.5),
    p95Ms: percentile(sorted, 0.95),
    rps: wallMs > 0 ? (ok.length * 1000) / wallMs : 0,
  };
}

/** Nearest-rank percentile of ascending values; NaN when there are none. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}
