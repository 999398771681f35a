import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FetchError, fetchModel, parseFetchArgs } from '../../src/fetch-model.ts';

const MLP_DIR = fileURLToPath(new URL('../../models/mlp', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const files: Record<string, Buffer> = {
  '/models/demo/model.onnx': Buffer.from('fp32-bytes'),
  '/models/demo/model.fp16.onnx': Buffer.from('fp16-bytes'),
  '/bucket/prefix/model.onnx': Buffer.from('from-s3'),
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const tmp = () => mkdtempSync(join(tmpdir(), 'fetch-model-'));

describe('fetch-model against a loopback HTTP server', () => {
  let server: Server;
  let base: string;
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      if (req.url === '/broken/model.onnx') return void res.writeHead(500).end('boom');
      const body = files[req.url ?? ''];
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('fetches a directory: model.onnx and the variants that exist, checksum verified', async () => {
    const dest = tmp();
    const written = await fetchModel({
      uri: `${base}/models/demo`,
      dest,
      sha256: sha(files['/models/demo/model.onnx']!),
    });
    expect(written.map((f) => f.slice(dest.length + 1))).toEqual(['model.onnx', 'model.fp16.onnx']);
    expect(readFileSync(join(dest, 'model.fp16.onnx'), 'utf8')).toBe('fp16-bytes');
    expect(readdirSync(dest).sort()).toEqual(['model.fp16.onnx', 'model.onnx']);
  });

  it('fetches a single .onnx file', async () => {
    const dest = tmp();
    await fetchModel({ uri: `${base}/models/demo/model.fp16.onnx`, dest });
    expect(readdirSync(dest)).toEqual(['model.fp16.onnx']);
  });

  it('refuses a checksum mismatch and leaves nothing behind', async () => {
    const dest = tmp();
    await expect(fetchModel({ uri: `${base}/models/demo/`, dest, sha256: '0'.repeat(64) })).rejects.toThrow(
      /checksum mismatch for model\.onnx: expected sha256 0{64}, got [0-9a-f]{64}/,
    );
    expect(readdirSync(dest)).toEqual([]);
  });

  it('names the HTTP status and the missing file', async () => {
    await expect(fetchModel({ uri: `${base}/broken/`, dest: tmp() })).rejects.toThrow(/answered HTTP 500/);
    await expect(fetchModel({ uri: `${base}/nothing/`, dest: tmp() })).rejects.toThrow(
      /model\.onnx not found at/,
    );
  });

  it('GETs s3:// objects path-style from the configured endpoint, signed with SigV4', async () => {
    const dest = tmp();
    const env = {
      AWS_ENDPOINT_URL: base,
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_REGION: 'eu-west-1',
    };
    await fetchModel({ uri: 's3://bucket/prefix/', dest, env });
    expect(readFileSync(join(dest, 'model.onnx'), 'utf8')).toBe('from-s3');
    const req = seen.find((s) => s.url === '/bucket/prefix/model.onnx')!;
    expect(req.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    expect(req.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
  });

  it('copies file:// model directories (the image-bundled test model)', async () => {
    const dest = tmp();
    await fetchModel({ uri: `file://${MLP_DIR}`, dest });
    expect(readdirSync(dest).sort()).toEqual(['model.fp16.onnx', 'model.int8.onnx', 'model.onnx']);
  });

  it('exits non-zero with a clear message from the command line', async () => {
    // Asynchronous on purpose: the server answering the child runs in this process.
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [MAIN, 'fetch-model', '--uri', `${base}/nothing/`, '--dest', tmp()],
        { env: { ...process.env, NODE_OPTIONS: '' }, timeout: 30_000 },
        (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^fetch-model: model\.onnx not found at/);
  });
});

describe('parseFetchArgs', () => {
  it('reads both flag spellings', () => {
    expect(parseFetchArgs(['--uri=s3://b/k/', '--dest', '/d'])).toEqual({ uri: 's3://b/k/', dest: '/d' });
  });

  it.each([
    [['--dest', '/d'], '--uri is required'],
    [['--uri', 'https://x/'], '--dest is required'],
    [['--uri', 'https://x/', '--dest', '/d', '--sha256', 'abc'], '--sha256 must be 64 hex digits'],
    [['--url', 'x'], "unknown option '--url'"],
  ])('rejects %j', (argv, message) => {
    expect(() => parseFetchArgs(argv)).toThrow(FetchError);
    expect(() => parseFetchArgs(argv)).toThrow(message);
  });

  it('rejects unsupported schemes when fetching', async () => {
    await expect(fetchModel({ uri: 'ftp://host/m/', dest: tmp() })).rejects.toThrow(
      "unsupported scheme 'ftp:'",
    );
  });
});
