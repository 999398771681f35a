// fetch-model against a real S3-compatible server that checks every request's SigV4 signature:
// moto's server mode, from PyPI in a venv of its own (scripts/ensure-moto.sh), started here.
// Keys with spaces and non-ASCII characters must be asked for encoded once and signed as sent.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fetchModel } from '../../src/fetch/fetch-model.ts';
import { externalDataModel, mlp, sha, tmp } from '../support/fetch-fixtures.ts';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SETUP = fileURLToPath(new URL('../support/moto-s3.py', import.meta.url));
const BUCKET = 'servingstack-models';
const ext = externalDataModel('poids ü/w 1.bin');
const OBJECTS: Record<string, Buffer> = {
  'sentiment v1/model.onnx': mlp('model.onnx'),
  'sentiment v1/model.int8.onnx': mlp('model.int8.onnx'),
  'modèles/résumé.onnx': mlp('model.fp16.onnx'),
  'ext/model.onnx': ext.model,
  'ext/poids ü/w 1.bin': ext.weights,
};
const listing = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('fetch-model from S3 (moto, SigV4 checked)', () => {
  let moto: ChildProcess;
  let endpoint: string;
  let creds: { id: string; secret: string };
  const env = () => ({
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: creds.id,
    AWS_SECRET_ACCESS_KEY: creds.secret,
    AWS_REGION: 'us-east-1',
  });

  beforeAll(async () => {
    const python = (await exec(join(ROOT, 'scripts/ensure-moto.sh'), { timeout: 600_000 })).stdout.trim();
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    moto = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: '50' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    moto.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 60_000;
    while (
      !(await fetch(`${endpoint}/moto-api/`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline || moto.exitCode !== null) throw new Error(`moto did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const dir = tmp();
    const files = Object.fromEntries(
      Object.entries(OBJECTS).map(([key, body], i) => {
        writeFileSync(join(dir, String(i)), body);
        return [key, join(dir, String(i))];
      }),
    );
    const setup = await exec(python, [SETUP, endpoint, BUCKET, JSON.stringify(files)], { timeout: 120_000 });
    creds = JSON.parse(setup.stdout) as { id: string; secret: string };
  }, 660_000);

  afterAll(async () => {
    if (!moto || moto.exitCode !== null) return;
    const exited = new Promise((r) => moto.once('exit', r));
    moto.kill();
    await exited;
  });

  it('a folder whose key has a space: the precision file, signed, verified', async () => {
    const dest = tmp();
    await fetchModel({
      uri: `s3://${BUCKET}/sentiment%20v1/`,
      dest,
      precision: 'int8',
      digests: { 'model.int8.onnx': sha(mlp('model.int8.onnx')) },
      env: env(),
    });
    expect(listing(dest)).toEqual(['model.int8.onnx']);
    expect(sha(readFileSync(join(dest, 'model.int8.onnx')))).toBe(sha(mlp('model.int8.onnx')));
  });

  it('the same key written with a literal space reads the same object', async () => {
    const dest = tmp();
    await fetchModel({ uri: `s3://${BUCKET}/sentiment v1/`, dest, precision: 'fp32', env: env() });
    expect(sha(readFileSync(join(dest, 'model.onnx')))).toBe(sha(mlp('model.onnx')));
  });

  it('a single file with a non-ASCII key lands as the file the pool loads', async () => {
    const dest = tmp();
    await fetchModel({
      uri: `s3://${BUCKET}/modèles/résumé.onnx`,
      dest,
      precision: 'fp16',
      sha256: sha(mlp('model.fp16.onnx')),
      env: env(),
    });
    expect(listing(dest)).toEqual(['model.fp16.onnx']);
  });

  it('external data under a key with a space and a non-ASCII character, verified', async () => {
    const dest = tmp();
    await fetchModel({
      uri: `s3://${BUCKET}/ext/`,
      dest,
      precision: 'fp32',
      digests: { 'model.onnx': sha(ext.model), 'poids ü/w 1.bin': sha(ext.weights) },
      env: env(),
    });
    expect(listing(dest)).toEqual(['model.onnx', 'poids ü', 'poids ü/w 1.bin']);
  });

  it('a wrong secret is refused by the server: the signature is checked', async () => {
    await expect(
      fetchModel({
        uri: `s3://${BUCKET}/sentiment%20v1/`,
        dest: tmp(),
        precision: 'int8',
        env: { ...env(), AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
      }),
    ).rejects.toThrow(/answered HTTP 403/);
  });

  it('a key that does not exist is named', async () => {
    await expect(
      fetchModel({ uri: `s3://${BUCKET}/nothing here/`, dest: tmp(), precision: 'fp32', env: env() }),
    ).rejects.toThrow(`model.onnx not found at s3://${BUCKET}/nothing here/model.onnx`);
  });
});
