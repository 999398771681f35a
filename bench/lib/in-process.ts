// The server benchmark's in-process part: what the latency profile's code costs with no sockets.
import { buildApp } from '../../server-image/src/app.ts';
import { parseConfig } from '../../server-image/src/config.ts';
import { createMetrics } from '../../server-image/src/metrics.ts';
import { Model } from '../../server-image/src/model.ts';
import { identifyModel } from '../../server-image/src/model-version.ts';
import { createBatcher } from '../../server-image/src/pipeline.ts';
import { decodeRequest, encodeResponse } from '../../server-image/src/protocol.ts';
import type { InferRequest } from '../../server-image/src/protocol.ts';
import { bodyBuffer } from '../../server-image/src/read-body.ts';
import { splitBody } from '../../server-image/src/tensor/body.ts';
import { percentile } from './load.ts';
import type { Payload } from './load.ts';
import { TARGET } from './target.ts';

export interface InProcessModel {
  name: string;
  dir: string;
  payload: Payload;
}

export interface Overhead {
  variant: string;
  p50Ms: number;
  p99Ms: number;
  addedP50Ms: number;
}

/**
 * The latency profile's own cost, without sockets: one request at a time through (a) a bare
 * Model.run (new Tensor + session.run), (b) the batcher's fast path around it, (c) reading the
 * body as the server does + protocol decode + batcher + encode, (d) the whole fastify app via
 * inject. Interleaved rounds so drift in the machine's load hits every variant alike.
 */
export async function inProcess(model: InProcessModel): Promise<Overhead[]> {
  const config = parseConfig({
    POOL: 'latency',
    MODEL_NAME: model.name,
    MODEL_DIR: model.dir,
    INTRA_OP_THREADS: '1',
    PRECISION: TARGET.precision,
  });
  const m = await Model.load({
    name: model.name,
    dir: model.dir,
    precision: TARGET.precision,
    executionProvider: TARGET.executionProvider,
    intraOpThreads: 1,
    interOpThreads: 1,
  });
  const metrics = createMetrics();
  const batcher = createBatcher(config, m, metrics);
  const app = buildApp({
    config,
    model: m,
    identity: await identifyModel(m.file),
    batcher,
    metrics,
    state: { warm: true, draining: false },
    logger: false,
  });
  await app.ready();
  const headerLength = model.payload.headers['inference-header-content-length'];
  // The body as the server's reader leaves it (copied once, binary part aligned), then split.
  const split = () => {
    const body = bodyBuffer(model.payload.body.length, headerLength);
    model.payload.body.copy(body);
    return splitBody(body, headerLength);
  };
  const body = split();
  const decoded = decodeRequest(m, body.header as InferRequest, body.binary);
  const variants: [string, () => Promise<unknown>][] = [
    ['bare Model.run (session.run)', () => m.run(decoded.feeds)],
    ['batcher fast path + run', () => batcher.submit(decoded.feeds, { rows: 1, key: decoded.key })],
    [
      'read + decode + batcher + run + encode',
      async () => {
        const { header, binary } = split();
        const d = decodeRequest(m, header as InferRequest, binary);
        const { output } = await batcher.submit(d.feeds, { rows: d.rows, key: d.key });
        return JSON.stringify(encodeResponse(m, d, output).json);
      },
    ],
    [
      'whole app (fastify inject)',
      () =>
        app.inject({
          method: 'POST',
          url: `/v2/models/${model.name}/infer`,
          headers: model.payload.headers,
          payload: model.payload.body,
        }),
    ],
  ];
  const lat = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  for (let round = 0; round < 4; round++) {
    for (const [name, fn] of variants) {
      for (let i = 0; i < 20; i++) await fn();
      const end = performance.now() + 500;
      while (performance.now() < end) {
        const t0 = performance.now();
        await fn();
        lat.get(name)!.push(performance.now() - t0);
      }
    }
  }
  await app.close();
  await m.close();
  const stats = variants.map(([name]) => {
    const xs = lat.get(name)!.sort((a, b) => a - b);
    return { variant: name, p50Ms: percentile(xs, 50), p99Ms: percentile(xs, 99) };
  });
  const bare = stats[0]!.p50Ms;
  return stats.map((x) => ({
    variant: x.variant,
    p50Ms: +x.p50Ms.toFixed(4),
    p99Ms: +x.p99Ms.toFixed(4),
    addedP50Ms: +(x.p50Ms - bare).toFixed(4),
  }));
}
