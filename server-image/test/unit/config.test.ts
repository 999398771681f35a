import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseConfig, warmupSizes } from '../../src/config.ts';

describe('parseConfig', () => {
  it('applies the pool defaults: the latency pool runs each request alone, at once', () => {
    const latency = parseConfig({ POOL: 'latency' });
    expect(latency).toMatchObject({
      pool: 'latency',
      maxBatchSize: 1,
      maxDelayMs: 0,
      precision: 'fp32',
      port: 8080,
    });
    const throughput = parseConfig({});
    expect(throughput).toMatchObject({
      pool: 'throughput',
      maxBatchSize: 32,
      maxDelayMs: 5,
      modelDir: '/mnt/models',
    });
  });

  it('reads the operator contract from the environment', () => {
    const c = parseConfig({
      MODEL_NAME: 'sentiment',
      MODEL_DIR: '/m',
      POOL: 'throughput',
      PRECISION: 'fp16',
      MAX_BATCH_SIZE: '64',
      MAX_DELAY_MS: '2.5',
      MAX_QUEUE_SIZE: '10',
      PORT: '9000',
      INTRA_OP_THREADS: '2',
      INTER_OP_THREADS: '1',
      EXECUTION_PROVIDER: 'cpu',
    });
    expect(c).toMatchObject({
      modelName: 'sentiment',
      modelDir: '/m',
      precision: 'fp16',
      maxBatchSize: 64,
      maxDelayMs: 2.5,
      maxQueueSize: 10,
      port: 9000,
      intraOpThreads: 2,
      interOpThreads: 1,
      executionProvider: 'cpu',
    });
  });

  it('reads the batching settings: batch dimension, warm-up shapes, latency target, routing headers', () => {
    expect(parseConfig({})).toMatchObject({
      batchDimension: 'auto',
      warmupShapes: [],
      targetP95Ms: undefined,
      timeoutHeader: 'X-Request-Timeout-Ms',
      priorityHeader: 'X-Serving-Priority',
      realTimePriority: 'real-time',
      batchPriority: 'batch',
    });
    const c = parseConfig({
      BATCH_DIMENSION: 'first',
      WARMUP_SHAPES: '[{"x":[3,48,192]},{"x":[3,48,320]}]',
      TARGET_P95_MS: '250',
      PRIORITY_HEADER: 'X-Lane',
      REAL_TIME_PRIORITY: 'fast',
      BATCH_PRIORITY: 'slow',
      TIMEOUT_HEADER: 'X-Budget',
    });
    expect(c).toMatchObject({
      batchDimension: 'first',
      warmupShapes: [{ x: [3, 48, 192] }, { x: [3, 48, 320] }],
      targetP95Ms: 250,
      priorityHeader: 'X-Lane',
      realTimePriority: 'fast',
      batchPriority: 'slow',
      timeoutHeader: 'X-Budget',
    });
  });

  it('lets flags override the environment, in both spellings', () => {
    const c = parseConfig({ PORT: '1' }, ['--port', '2', '--precision=int8']);
    expect(c.port).toBe(2);
    expect(c.precision).toBe('int8');
  });

  it.each([
    [{ PRECISION: 'fp8' }, 'PRECISION must be one of fp32, fp16, int8'],
    [{ POOL: 'batch' }, 'POOL must be one of throughput, latency'],
    [{ MAX_BATCH_SIZE: '0' }, 'MAX_BATCH_SIZE must be between 1 and'],
    [{ MAX_BATCH_SIZE: '2.5' }, "MAX_BATCH_SIZE must be an integer, got '2.5'"],
    [{ MAX_DELAY_MS: 'soon' }, "MAX_DELAY_MS must be a number, got 'soon'"],
    [{ PORT: '70000' }, 'PORT must be between 0 and 65535'],
    [{ EXECUTION_PROVIDER: 'tpu' }, 'EXECUTION_PROVIDER must be one of auto, cuda, cpu'],
    [{ MODEL_NAME: '../etc' }, 'MODEL_NAME must be'],
    [{ MAX_QUEUE_SIZE: '-1' }, 'MAX_QUEUE_SIZE must be between 1'],
    [{ INFERENCE_THREAD: 'gpu' }, 'INFERENCE_THREAD must be one of main, worker'],
    [{ BATCH_DIMENSION: 'last' }, 'BATCH_DIMENSION must be one of auto, first, none'],
    [{ TARGET_P95_MS: '0' }, 'TARGET_P95_MS must be between 0.1 and'],
    [{ WARMUP_SHAPES: 'x:3x48' }, 'WARMUP_SHAPES must be a JSON list of {"<input>": [<dims>]} objects'],
    [{ WARMUP_SHAPES: '[{"x":[3,0]}]' }, 'dimensions >= 1'],
    [{ WARMUP_SHAPES: '[{}]' }, 'WARMUP_SHAPES must be'],
    [{ PRIORITY_HEADER: 'X Priority' }, "PRIORITY_HEADER must be an HTTP header name, got 'X Priority'"],
  ])('rejects %j naming the setting', (env, message) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(message);
  });

  it('rejects unknown flags and flags without values', () => {
    expect(() => parseConfig({}, ['--colour', 'red'])).toThrow('--colour is not a known option');
    expect(() => parseConfig({}, ['--port'])).toThrow('--port needs a value');
  });
});

describe('warmupSizes', () => {
  it('covers every batch size when there are few', () => {
    expect(warmupSizes(4, 64)).toEqual([1, 2, 3, 4]);
  });

  it('spreads a bounded number of sizes over large maxima, both ends included', () => {
    const sizes = warmupSizes(1000, 5);
    expect(sizes).toEqual([1, 251, 501, 750, 1000]);
  });
});
