// Server configuration from the environment (what the operator sets) with command-line
// twins (`--max-batch-size 8` or `--max-batch-size=8` for MAX_BATCH_SIZE). Everything is
// validated up front; a bad value stops the process with a message naming the setting.
import { BATCH_DIMENSIONS } from './batch-contract.ts';
import type { BatchDimension } from './batch-contract.ts';
import type { ExecutionProviderChoice, Precision } from './model.ts';
import { cpuFacts, intraOpThreadsFor } from './threads.ts';
import type { CpuFacts } from './threads.ts';

export type Pool = 'throughput' | 'latency';

export interface Config {
  modelName: string;
  modelDir: string;
  /**
   * SHA-256 per model file as the stack pins them (spec.model.digests and sha256), by path;
   * undefined when nothing is pinned. The loaded files are checked against them (model-version.ts).
   */
  modelDigests: Record<string, string> | undefined;
  pool: Pool;
  precision: Precision;
  maxBatchSize: number;
  maxDelayMs: number;
  /** Rows that may wait in the queue. */
  maxQueueSize: number;
  /** p95 the adaptive batch size aims for (queue wait + run), ms; undefined: static batching. */
  targetP95Ms: number | undefined;
  /** Whether dimension 0 is the batch dimension: from the model's names, or as set. */
  batchDimension: BatchDimension;
  /** Input shapes to warm up with where the model leaves non-batch dimensions open. */
  warmupShapes: WarmupShape[];
  /** The routing headers (the stack's routing settings): the deadline and the priority. */
  timeoutHeader: string;
  priorityHeader: string;
  /** Priority header values that go first and last in the queue. */
  realTimePriority: string;
  batchPriority: string;
  port: number;
  /** Where /metrics is served: a port of its own, which no Service routes to. */
  metricsPort: number;
  host: string;
  /** Set, or sized to the pod's CPUs (threads.ts); never 0 (onnxruntime's host-sized default). */
  intraOpThreads: number;
  interOpThreads: number;
  /** Whether onnxruntime's idle pool threads spin (they then compete with the event loop for CPU). */
  threadSpinning: boolean;
  /** Largest request body, binary tensor data included (decompressed size). */
  maxBodyBytes: number;
  /**
   * Largest JSON in a request (a JSON body, or the JSON header of a binary one), decompressed.
   * Lower than maxBodyBytes: JSON.parse runs on the event loop that also answers the probes.
   */
  maxJsonBodyBytes: number;
  executionProvider: ExecutionProviderChoice;
  /** At most this many distinct batch sizes are run during warm-up. */
  warmupBatchSizes: number;
  drainTimeoutMs: number;
  logLevel: string;
  /** Where session.run executes: the main thread, or a worker thread beside it. */
  inferenceThread: 'main' | 'worker';
}

/**
 * One warm-up case: a shape per input. For a model that batches, the shape of one row (without
 * the batch dimension), as Triton's model_warmup dims; otherwise the whole shape.
 */
export type WarmupShape = Record<string, number[]>;

export class ConfigError extends Error {
  constructor(setting: string, message: string) {
    super(`invalid configuration: ${setting} ${message}`);
    this.name = 'ConfigError';
  }
}

/**
 * Per-pool defaults: the latency pool runs each request alone, at once, on the main thread (no
 * hop); the throughput pool batches and computes on a worker thread so request handling
 * overlaps inference.
 */
const POOL_DEFAULTS: Record<
  Pool,
  { maxBatchSize: number; maxDelayMs: number; maxQueueSize: number; inferenceThread: 'main' | 'worker' }
> = {
  latency: { maxBatchSize: 1, maxDelayMs: 0, maxQueueSize: 128, inferenceThread: 'main' },
  throughput: { maxBatchSize: 32, maxDelayMs: 5, maxQueueSize: 1024, inferenceThread: 'worker' },
};

const SETTINGS = [
  'MODEL_NAME',
  'MODEL_DIR',
  'MODEL_DIGESTS',
  'POOL',
  'PRECISION',
  'MAX_BATCH_SIZE',
  'MAX_DELAY_MS',
  'MAX_QUEUE_SIZE',
  'TARGET_P95_MS',
  'BATCH_DIMENSION',
  'WARMUP_SHAPES',
  'TIMEOUT_HEADER',
  'PRIORITY_HEADER',
  'REAL_TIME_PRIORITY',
  'BATCH_PRIORITY',
  'PORT',
  'METRICS_PORT',
  'HOST',
  'INTRA_OP_THREADS',
  'INTER_OP_THREADS',
  'THREAD_SPINNING',
  'CPU_REQUEST_MILLICORES',
  'CPU_LIMIT_MILLICORES',
  'MAX_BODY_BYTES',
  'MAX_JSON_BODY_BYTES',
  'EXECUTION_PROVIDER',
  'WARMUP_BATCH_SIZES',
  'DRAIN_TIMEOUT_MS',
  'LOG_LEVEL',
  'INFERENCE_THREAD',
] as const;
type Setting = (typeof SETTINGS)[number];

const flagOf = (s: Setting) => `--${s.toLowerCase().replaceAll('_', '-')}`;

/** Command-line flags override the environment. */
function collect(env: NodeJS.ProcessEnv, argv: readonly string[]): Partial<Record<Setting, string>> {
  const values: Partial<Record<Setting, string>> = {};
  for (const s of SETTINGS) if (env[s] !== undefined && env[s] !== '') values[s] = env[s];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const setting = SETTINGS.find((s) => flagOf(s) === flag);
    if (!setting) throw new ConfigError(arg, 'is not a known option');
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(flag, 'needs a value');
    values[setting] = value;
  }
  return values;
}

function int(
  values: Partial<Record<Setting, string>>,
  s: Setting,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = values[s];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(n))
    throw new ConfigError(s, `must be an integer, got '${raw}'`);
  if (n < min || n > max) throw new ConfigError(s, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function num(
  values: Partial<Record<Setting, string>>,
  s: Setting,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = values[s];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new ConfigError(s, `must be a number, got '${raw}'`);
  if (n < min || n > max) throw new ConfigError(s, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function oneOf<T extends string>(
  values: Partial<Record<Setting, string>>,
  s: Setting,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = values[s];
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(s, `must be one of ${allowed.join(', ')}, got '${raw}'`);
  }
  return raw as T;
}

/**
 * 4 MiB of JSON takes about 40 ms to parse (and a 30 MiB one 1.5 s with decoding), during which
 * the event loop answers nothing, probes included; big tensors go binary.
 */
export const DEFAULT_MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

const WARMUP_SHAPES_FORM = 'a JSON list of {"<input>": [<dims>]} objects, e.g. [{"x":[3,48,192]}]';

function warmupShapes(values: Partial<Record<Setting, string>>): WarmupShape[] {
  const raw = values.WARMUP_SHAPES;
  if (raw === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('WARMUP_SHAPES', `must be ${WARMUP_SHAPES_FORM}, got '${raw}'`);
  }
  const isCase = (c: unknown): c is WarmupShape =>
    typeof c === 'object' &&
    c !== null &&
    !Array.isArray(c) &&
    Object.keys(c).length > 0 &&
    Object.values(c).every(
      (dims) =>
        Array.isArray(dims) &&
        dims.length <= 16 &&
        dims.every((d) => Number.isSafeInteger(d) && (d as number) >= 1),
    );
  if (!Array.isArray(parsed) || parsed.length > 64 || !parsed.every(isCase)) {
    throw new ConfigError(
      'WARMUP_SHAPES',
      `must be ${WARMUP_SHAPES_FORM} (at most 64, dimensions >= 1), got '${raw}'`,
    );
  }
  return parsed;
}

const MODEL_DIGESTS_FORM = 'a JSON object of {"<file>": "<64 lowercase hex digits>"}';

function modelDigests(values: Partial<Record<Setting, string>>): Record<string, string> | undefined {
  const raw = values.MODEL_DIGESTS;
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('MODEL_DIGESTS', `must be ${MODEL_DIGESTS_FORM}, got '${raw}'`);
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    Object.keys(parsed).length === 0 ||
    !Object.entries(parsed).every(([k, d]) => k !== '' && typeof d === 'string' && /^[0-9a-f]{64}$/.test(d))
  ) {
    throw new ConfigError(
      'MODEL_DIGESTS',
      `must be ${MODEL_DIGESTS_FORM} with at least one entry, got '${raw}'`,
    );
  }
  return parsed as Record<string, string>;
}

/** An HTTP header name (RFC 9110 token). */
function headerName(values: Partial<Record<Setting, string>>, s: Setting, fallback: string): string {
  const raw = values[s] ?? fallback;
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(raw))
    throw new ConfigError(s, `must be an HTTP header name, got '${raw}'`);
  return raw;
}

export function parseConfig(
  env: NodeJS.ProcessEnv,
  argv: readonly string[] = [],
  facts: (request: number | undefined, limit: number | undefined) => CpuFacts = cpuFacts,
): Config {
  const v = collect(env, argv);
  const pool = oneOf(v, 'POOL', ['throughput', 'latency'] as const, 'throughput');
  const d = POOL_DEFAULTS[pool];
  const modelName = v.MODEL_NAME ?? 'mlp';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(modelName)) {
    throw new ConfigError('MODEL_NAME', `must be 1-128 letters, digits, '_', '.', '-', got '${modelName}'`);
  }
  const port = int(v, 'PORT', 8080, 0, 65535);
  const metricsPort = int(v, 'METRICS_PORT', 9090, 0, 65535);
  if (metricsPort === port && port !== 0) {
    throw new ConfigError(
      'METRICS_PORT',
      `must differ from PORT (${port}): metrics are served apart from inference`,
    );
  }
  const maxBodyBytes = int(v, 'MAX_BODY_BYTES', 32 * 1024 * 1024, 1024, 2 ** 31 - 1);
  const maxJsonBodyBytes = int(
    v,
    'MAX_JSON_BODY_BYTES',
    Math.min(DEFAULT_MAX_JSON_BODY_BYTES, maxBodyBytes),
    1024,
    maxBodyBytes,
  );
  return {
    modelName,
    modelDir: v.MODEL_DIR ?? '/mnt/models',
    modelDigests: modelDigests(v),
    pool,
    precision: oneOf(v, 'PRECISION', ['fp32', 'fp16', 'int8'] as const, 'fp32'),
    maxBatchSize: int(v, 'MAX_BATCH_SIZE', d.maxBatchSize, 1, 4096),
    maxDelayMs: num(v, 'MAX_DELAY_MS', d.maxDelayMs, 0, 60_000),
    maxQueueSize: int(v, 'MAX_QUEUE_SIZE', d.maxQueueSize, 1, 1_000_000),
    targetP95Ms: v.TARGET_P95_MS === undefined ? undefined : num(v, 'TARGET_P95_MS', 0, 0.1, 600_000),
    batchDimension: oneOf(v, 'BATCH_DIMENSION', BATCH_DIMENSIONS, 'auto'),
    warmupShapes: warmupShapes(v),
    timeoutHeader: headerName(v, 'TIMEOUT_HEADER', 'X-Request-Timeout-Ms'),
    priorityHeader: headerName(v, 'PRIORITY_HEADER', 'X-Serving-Priority'),
    realTimePriority: v.REAL_TIME_PRIORITY ?? 'real-time',
    batchPriority: v.BATCH_PRIORITY ?? 'batch',
    port,
    metricsPort,
    host: v.HOST ?? '0.0.0.0',
    intraOpThreads:
      v.INTRA_OP_THREADS !== undefined && v.INTRA_OP_THREADS !== '0'
        ? int(v, 'INTRA_OP_THREADS', 0, 1, 1024)
        : intraOpThreadsFor(
            facts(
              v.CPU_REQUEST_MILLICORES === undefined
                ? undefined
                : int(v, 'CPU_REQUEST_MILLICORES', 0, 0, 10_000_000),
              v.CPU_LIMIT_MILLICORES === undefined
                ? undefined
                : int(v, 'CPU_LIMIT_MILLICORES', 0, 0, 10_000_000),
            ),
          ),
    interOpThreads: int(v, 'INTER_OP_THREADS', 0, 0, 1024),
    threadSpinning: oneOf(v, 'THREAD_SPINNING', ['0', '1'] as const, '0') === '1',
    maxBodyBytes,
    maxJsonBodyBytes,
    executionProvider: oneOf(v, 'EXECUTION_PROVIDER', ['auto', 'cuda', 'cpu'] as const, 'auto'),
    warmupBatchSizes: int(v, 'WARMUP_BATCH_SIZES', 64, 1, 4096),
    drainTimeoutMs: int(v, 'DRAIN_TIMEOUT_MS', 25_000, 0, 600_000),
    inferenceThread: oneOf(v, 'INFERENCE_THREAD', ['main', 'worker'] as const, d.inferenceThread),
    logLevel: oneOf(
      v,
      'LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'info',
    ),
  };
}

/**
 * The batch sizes warm-up runs: every size the batcher can form when there are few, otherwise
 * `limit` sizes spread from 1 to the maximum (both ends included), so start-up stays bounded.
 */
export function warmupSizes(maxBatchSize: number, limit: number): number[] {
  if (maxBatchSize <= limit) return Array.from({ length: maxBatchSize }, (_, i) => i + 1);
  if (limit === 1) return [maxBatchSize];
  const sizes = new Set<number>();
  for (let i = 0; i < limit; i++) sizes.add(Math.round(1 + ((maxBatchSize - 1) * i) / (limit - 1)));
  return [...sizes];
}
