// The baseline "what users write by hand": one request -> one session.run, no batching, no
// queue, no metrics. It speaks just enough of the Open Inference Protocol (JSON tensors or the
// binary extension in, JSON out, FP32 or the benchmark's FP16) for the benchmark's requests,
// on the benchmark's execution provider (lib/target.ts). FRAMEWORK=fastify
// serves the same handler through a bare fastify route instead of node:http, to separate the
// framework's cost from the server's own.
// Usage: MODEL_FILE=... PORT=... INTRA_OP_THREADS=1 [FRAMEWORK=fastify] node bench/lib/plain-server.ts
import { createServer } from 'node:http';
import Fastify from 'fastify';
import ort from '../../server-image/src/ort.ts';
import type { Tensor } from '../../server-image/src/ort.ts';
import { asInput, inputDatatype, inputType, outputNumbers, TARGET } from './target.ts';

const session = await ort.InferenceSession.create(process.env.MODEL_FILE!, {
  intraOpNumThreads: Number(process.env.INTRA_OP_THREADS ?? 1),
  interOpNumThreads: 1,
  executionProviders: [TARGET.executionProvider],
});
const port = Number(process.env.PORT ?? 8090);

interface Input {
  name: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number };
}

/** Body (JSON, or JSON header + binary) -> JSON answer. */
async function handle(body: Buffer, headerLength: string | string[] | undefined): Promise<string> {
  const n = Number(headerLength ?? body.length);
  const header = JSON.parse(body.subarray(0, n).toString()) as { inputs: Input[] };
  const feeds: Record<string, Tensor> = {};
  let offset = n;
  for (const input of header.inputs) {
    const size = input.parameters?.binary_data_size;
    const bytes = () => body.buffer.slice(body.byteOffset + offset, body.byteOffset + (offset += size!));
    const data =
      size === undefined
        ? asInput(Float32Array.from(input.data ?? []))
        : TARGET.half
          ? new Uint16Array(bytes())
          : new Float32Array(bytes());
    feeds[input.name] = new ort.Tensor(inputType, data, input.shape);
  }
  const out = await session.run(feeds);
  const outputs = Object.entries(out).map(([name, t]) => ({
    name,
    datatype: inputDatatype,
    shape: t.dims,
    data: outputNumbers(t.data),
  }));
  return JSON.stringify({ outputs });
}

if (process.env.FRAMEWORK === 'fastify') {
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/v2/models/:name/infer', async (req, reply) =>
    reply
      .type('application/json')
      .send(await handle(req.body as Buffer, req.headers['inference-header-content-length'])),
  );
  await app.listen({ port, host: '127.0.0.1' });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
} else {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(Buffer.concat(chunks), req.headers['inference-header-content-length']).then(
        (text) => res.writeHead(200, { 'content-type': 'application/json' }).end(text),
        (err: unknown) =>
          res
            .writeHead(400, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: String(err) })),
      );
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
