// The baseline "what users write by hand": node:http, one request -> one session.run, no
// batching, no queue, no metrics. It speaks just enough of the Open Inference Protocol (JSON
// tensors or the binary extension, FP32 in, FP32 out as JSON) for the benchmark's requests.
// Usage: MODEL_FILE=... PORT=... INTRA_OP_THREADS=1 node bench/lib/plain-server.ts
import { createServer } from 'node:http';
import ort from '../../server-image/src/ort.ts';
import type { Tensor } from '../../server-image/src/ort.ts';

const session = await ort.InferenceSession.create(process.env.MODEL_FILE!, {
  intraOpNumThreads: Number(process.env.INTRA_OP_THREADS ?? 1),
  interOpNumThreads: 1,
  executionProviders: ['cpu'],
});

interface Input {
  name: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number };
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      try {
        const body = Buffer.concat(chunks);
        const headerLen = Number(req.headers['inference-header-content-length'] ?? body.length);
        const header = JSON.parse(body.subarray(0, headerLen).toString()) as { inputs: Input[] };
        const feeds: Record<string, Tensor> = {};
        let offset = headerLen;
        for (const input of header.inputs) {
          const size = input.parameters?.binary_data_size;
          const data =
            size !== undefined
              ? new Float32Array(
                  body.buffer.slice(body.byteOffset + offset, body.byteOffset + (offset += size)),
                )
              : Float32Array.from(input.data ?? []);
          feeds[input.name] = new ort.Tensor('float32', data, input.shape);
        }
        const out = await session.run(feeds);
        const outputs = Object.entries(out).map(([name, t]) => ({
          name,
          datatype: 'FP32',
          shape: t.dims,
          data: Array.from(t.data as Float32Array),
        }));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ outputs }));
      } catch (err) {
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: String(err) }));
      }
    })();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 8090), '127.0.0.1', () => console.log('plain server ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
