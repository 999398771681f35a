/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FetchError, fetchModel, parseFetchArgs } from '../../src/fetch/fetch-model.ts';
import ort from '../../src/ort.ts';
import { externalDataModel, makeTestCa, MLP_DIR, mlp, sha, tmp } from '../support/fetch-fixtures.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const ext = externalDataModel('weights/w.bin');
const files: Record<string, Buffer> = {
  '/models/demo/model.onnx': mlp('model.onnx'),
  '/models/demo/model.fp16.onnx': mlp('model.fp16.onnx'),
  '/single/resnet.onnx': mlp('model.int8.onnx'),
  '/ext/model.onnx': ext.model,
  '/ext/weights/w.bin': ext.weights,
  '/ext-short/model.onnx': ext.model,
  '/ext-short/weights/w.bin': ext.weights.subarray(0, 20),
  '/ext-escape/model.onnx': externalDataModel('../w.bin').model,
  '/my%20models/%C3%BC%20v1.onnx': mlp('model.onnx'),
  '/signed/resnet.onnx?X-Amz-Signature=ab%2Bcd&X-Amz-Expires=60': mlp('model.onnx'),
};
const listing = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

/** Runs the fetch-model command as the init container does; asynchronous, as the servers it calls are here. */
function cli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [MAIN, 'fetch-model', ...args],
      { env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout: 30_000 },
      (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

describe('fetch-model over http', () => {
  let server: Server;
  let base: string;
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      const url = req.url ?? '';
      if (url === '/broken/model.onnx') return void res.writeHead(500).end('boom');
      // No Content-Length: the cap must hold while streaming, not only on a declared size.
      if (url.startsWith('/chunked/')) {
        res.writeHead(200, { 'transfer-encoding': 'chunked' });
        for (let i = 0; i < 64; i++) res.write(Buffer.alloc(1024, 1));
        return void res.end();
      }
      const body = files[url];
      if (!body) return void res.writeHead(404).end();
      res
        .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
        .end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });

  it('a folder without --precision: model.onnx and the variants that exist', async () => {
    const dest = tmp();
    const written = await fetchModel({ uri: `${base}/models/demo`, dest });
    expect(written.map((f) => f.slice(dest.length + 1))).toEqual(['model.onnx', 'model.fp16.onnx']);
    expect(sha(readFileSync(join(dest, 'model.fp16.onnx')))).toBe(sha(mlp('model.fp16.onnx')));
  });

  it('a folder with --precision: only the file that precision loads, verified by its own digest', async () => {
    const dest = tmp();
    await fetchModel({
      uri: `${base}/models/demo/`,
      dest,
      precision: 'fp16',
      digests: { 'model.fp16.onnx': sha(mlp('model.fp16.onnx')) },
    });
    expect(listing(dest)).toEqual(['model.fp16.onnx']);
  });

  it('a variant without a digest is refused once any file has one, before a byte of it is written', async () => {
    const dest = tmp();
    await expect(
      fetchModel({ uri: `${base}/models/demo/`, dest, sha256: sha(mlp('model.onnx')) }),
    ).rejects.toThrow(/no digest for model\.fp16\.onnx: once one file is verified every file is/);
    expect(listing(dest)).toEqual(['model.onnx']);
  });

  it('a variant whose digest does not match is refused and nothing is left of it', async () => {
    const dest = tmp();
    await expect(
      fetchModel({
        uri: `${base}/models/demo/`,
        dest,
        precision: 'fp16',
        digests: { 'model.fp16.onnx': '0'.repeat(64) },
      }),
    ).rejects.toThrow(/checksum mismatch for model\.fp16\.onnx: expected sha256 0{64}, got [0-9a-f]{64}/);
    expect(listing(dest)).toEqual([]);
  });

  it('a single-file URI lands under the name the server loads for the precision', async () => {
    const fp32 = tmp();
    await fetchModel({ uri: `${base}/single/resnet.onnx`, dest: fp32, sha256: sha(mlp('model.int8.onnx')) });
    expect(listing(fp32)).toEqual(['model.onnx']);
    const int8 = tmp();
    await fetchModel({ uri: `${base}/single/resnet.onnx`, dest: int8, precision: 'int8' });
    expect(listing(int8)).toEqual(['model.int8.onnx']);
    expect(sha(readFileSync(join(int8, 'model.int8.onnx')))).toBe(sha(mlp('model.int8.onnx')));
  });

  it('encodes each path segment once: spaces and non-ASCII names', async () => {
    const dest = tmp();
    await fetchModel({ uri: `${base}/my%20models/%C3%BC%20v1.onnx`, dest });
    expect(listing(dest)).toEqual(['model.onnx']);
    expect(seen.map((s) => s.url)).toContain('/my%20models/%C3%BC%20v1.onnx');
  });

  it("keeps a presigned URL's query on its request, and out of what it logs", async () => {
    const dest = tmp();
    const logged: string[] = [];
    const query = '?X-Amz-Signature=ab%2Bcd&X-Amz-Expires=60';
    await fetchModel({ uri: `${base}/signed/resnet.onnx${query}`, dest, log: (m) => logged.push(m) });
    expect(listing(dest)).toEqual(['model.onnx']);
    expect(seen.map((s) => s.url)).toContain(`/signed/resnet.onnx${query}`);
    const refused = await fetchModel({ uri: `${base}/signed/other.onnx${query}`, dest: tmp() }).catch(
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/other\.onnx not found/);
    expect(`${logged.join('\n')}\n${String(refused)}`).not.toContain('Signature');
  });

  it('fetches the external data a model names beside it, verified, and onnxruntime loads the result', async () => {
    const dest = tmp();
    await fetchModel({
      uri: `${base}/ext/`,
      dest,
      precision: 'fp32',
      digests: { 'model.onnx': sha(ext.model), 'weights/w.bin': sha(ext.weights) },
    });
    expect(listing(dest)).toEqual(['model.onnx', 'weights', 'weights/w.bin']);
    const session = await ort.InferenceSession.create(join(dest, 'model.onnx'));
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 1]), [1, 2]) });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([4, 6]);
  });

  it('refuses external data without a digest, a short external file, and a location outside the folder', async () => {
    await expect(
      fetchModel({
        uri: `${base}/ext/`,
        dest: tmp(),
        precision: 'fp32',
        digests: { 'model.onnx': sha(ext.model) },
      }),
    ).rejects.toThrow(/no digest for weights\/w\.bin \(external data of model\.onnx\)/);
    await expect(fetchModel({ uri: `${base}/ext-short/`, dest: tmp(), precision: 'fp32' })).rejects.toThrow(
      /weights\/w\.bin holds 20 bytes, but tensor 'W' of model\.onnx needs bytes 16 to 32/,
    );
    await expect(fetchModel({ uri: `${base}/ext-escape/`, dest: tmp(), precision: 'fp32' })).rejects.toThrow(
      /model\.onnx names external data at '\.\.\/w\.bin': only a relative path inside the model's folder/,
    );
  });

  it('stops at the size cap, declared or streamed, naming the cap', async () => {
    const dest = tmp();
    await expect(fetchModel({ uri: `${base}/models/demo/`, dest, maxBytes: 100 })).rejects.toThrow(
      'the model is larger than the size cap of 100 bytes (--max-bytes 100, spec.model.maxSize): model.onnx declares',
    );
    await expect(fetchModel({ uri: `${base}/chunked/big.onnx`, dest, maxBytes: 16 * 1024 })).rejects.toThrow(
      'the model is larger than the size cap of 16 KiB (--max-bytes 16384, spec.model.maxSize): big.onnx went past it',
    );
    expect(listing(dest)).toEqual([]);
  });

  it('names the HTTP status and the missing file', async () => {
    await expect(fetchModel({ uri: `${base}/broken/`, dest: tmp() })).rejects.toThrow(/answered HTTP 500/);
    await expect(fetchModel({ uri: `${base}/nothing/`, dest: tmp(), precision: 'int8' })).rejects.toThrow(
      /model\.int8\.onnx not found at http:\/\/127\.0\.0\.1:\d+\/nothing\/model\.int8\.onnx/,
    );
  });

  it('copies file:// model folders (the image-bundled test model)', async () => {
    const dest = tmp();
    await fetchModel({ uri: `file://${MLP_DIR}`, dest });
    expect(listing(dest)).toEqual(['model.fp16.onnx', 'model.int8.onnx', 'model.onnx']);
  });

  it('exits 2 with a clear message from the command line', async () => {
    const run = await cli(['--uri', `${base}/nothing/`, '--dest', tmp()]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^fetch-model: model\.onnx not found at/);
  });

  describe('behind an https server whose CA the test made', () => {
    let https: Server;
    let secure: string;
    beforeAll(async () => {
      const ca = makeTestCa();
      https = createHttpsServer({ key: ca.key, cert: ca.cert }, (req, res) => {
        const url = req.url ?? '';
        if (url === '/down/model.onnx')
          return void res.writeHead(302, { location: `${base}/models/demo/model.onnx` }).end();
        if (url === '/up/model.onnx')
          return void res.writeHead(301, { location: `${secure}/ok/model.onnx` }).end();
        if (url === '/ok/model.onnx') return void res.end(mlp('model.onnx'));
        res.writeHead(404).end();
      });
      await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
      secure = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
      process.env.TEST_CA_FILE = ca.caFile;
    });
    afterAll(() => {
      https.closeAllConnections();
      return new Promise<void>((r) => https.close(() => r()));
    });
    const trust = () => ({ NODE_EXTRA_CA_CERTS: process.env.TEST_CA_FILE! });

    it('follows a redirect that stays on https', async () => {
      const dest = tmp();
      const run = await cli(['--uri', `${secure}/up/`, '--dest', dest, '--precision', 'fp32'], trust());
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(sha(readFileSync(join(dest, 'model.onnx')))).toBe(sha(mlp('model.onnx')));
    });

    it('refuses a redirect from https to http, with a message that says so', async () => {
      const dest = tmp();
      const before = seen.length;
      const run = await cli(['--uri', `${secure}/down/`, '--dest', dest, '--precision', 'fp32'], trust());
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(
        `fetch-model: GET ${secure}/down/model.onnx redirected to ${base}/models/demo/model.onnx: refusing to follow a redirect from https to http`,
      );
      expect(seen.length).toBe(before);
      expect(listing(dest)).toEqual([]);
    });
  });
});

describe('parseFetchArgs', () => {
  it('reads both flag spellings, digests and the cap', () => {
    const hex = 'a'.repeat(64);
    expect(
      parseFetchArgs([
        '--uri=s3://b/k/',
        '--dest',
        '/d',
        '--precision',
        'int8',
        '--digest',
        `model.int8.onnx=${hex}`,
        '--digest=w/x=y.bin=' + hex,
        '--max-bytes',
        '1024',
      ]),
    ).toEqual({
      uri: 's3://b/k/',
      dest: '/d',
      precision: 'int8',
      digests: { 'model.int8.onnx': hex, 'w/x=y.bin': hex },
      maxBytes: 1024,
    });
  });

  it.each([
    [['--dest', '/d'], '--uri is required'],
    [['--uri', 'https://x/'], '--dest is required'],
    [['--uri', 'https://x/', '--dest', '/d', '--sha256', 'abc'], '--sha256 must be 64 lowercase hex digits'],
    [['--uri', 'https://x/', '--dest', '/d', '--digest', 'model.onnx'], '--digest must be <file>=<64'],
    [
      ['--uri', 'https://x/', '--dest', '/d', '--precision', 'bf16'],
      '--precision must be one of fp32, fp16, int8',
    ],
    [
      ['--uri', 'https://x/', '--dest', '/d', '--max-bytes', '10G'],
      '--max-bytes must be a positive whole number',
    ],
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
