/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// The model version identity on the real generated model files: what it is computed from, that
// both precisions of one pinned release report one version, that other weights are another
// version, and that it is on every answer about the model, in the metadata and in the metrics.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { MLP_SEED, mlpFiles } from '../../src/models/mlp.ts';
import { identifyModel, ModelVersionError, versionOf } from '../../src/model-version.ts';
import { parseConfig } from '../../src/config.ts';
import { externalDataModel } from '../support/fetch-fixtures.ts';
import { MLP_DIR, mlpRequest, testApp } from '../support/app.ts';
import type { TestApp } from '../support/app.ts';

/** sha256sum's answer, not this package's hashing. */
const sha256sum = (file: string) => execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]!;
const MLP_FILES = ['model.onnx', 'model.fp16.onnx', 'model.int8.onnx'];
const pinsOf = (dir: string) => Object.fromEntries(MLP_FILES.map((f) => [f, sha256sum(join(dir, f))]));

/** The MLP with weights from another seed: another version of the same model. */
function otherMlpDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlp-v2-'));
  for (const [name, bytes] of Object.entries(mlpFiles(MLP_SEED + 1))) writeFileSync(join(dir, name), bytes);
  return dir;
}

describe('versionOf', () => {
  it('is the sha256 of the sorted, distinct digests, one per line', () => {
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    // The operator's builder (operator/src/builders/model-version.ts) is tested on this same value.
    expect(versionOf([b, a, b])).toBe(
      'sha256:913f9338fb6c17253f3a14816fc08d52522454bfc19a8c99538a197cfb23fb41',
    );
    const shell = execFileSync('sha256sum', { input: `${a}\n${b}\n`, encoding: 'utf8' }).split(' ')[0]!;
    expect(versionOf([b, a, b])).toBe(`sha256:${shell}`);
    expect(versionOf([a, b])).toBe(versionOf([b, a]));
    expect(versionOf([a])).not.toBe(versionOf([a, b]));
  });
});

describe('identifyModel', () => {
  it('hashes the file the pool loads; unpinned, the version is of that file alone', async () => {
    const file = join(MLP_DIR, 'model.fp16.onnx');
    const id = await identifyModel(file);
    expect(id.files).toEqual({ 'model.fp16.onnx': sha256sum(file) });
    expect(id.pinned).toBe(false);
    expect(id.version).toBe(versionOf([sha256sum(file)]));
    expect(id.version).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('pinned, every precision of the release reports the release version', async () => {
    const pins = pinsOf(MLP_DIR);
    const versions = await Promise.all(
      MLP_FILES.map(async (f) => (await identifyModel(join(MLP_DIR, f), pins)).version),
    );
    expect(new Set(versions).size).toBe(1);
    expect(versions[0]).toBe(versionOf(Object.values(pins)));
    expect((await identifyModel(join(MLP_DIR, 'model.int8.onnx'), pins)).pinned).toBe(true);
  });

  it('other weights are another version, and a pin of the old release refuses them', async () => {
    const v2 = otherMlpDir();
    const old = await identifyModel(join(MLP_DIR, 'model.onnx'));
    const next = await identifyModel(join(v2, 'model.onnx'));
    expect(next.version).not.toBe(old.version);
    const refused = identifyModel(join(v2, 'model.onnx'), pinsOf(MLP_DIR));
    await expect(refused).rejects.toThrow(ModelVersionError);
    await expect(refused).rejects.toThrow(
      /model\.onnx has sha256 [0-9a-f]{64}, but MODEL_DIGESTS .* pins model\.onnx/,
    );
  });

  it('takes a file pinned under another name (a single fetched file) by its digest, and refuses one no pin names', async () => {
    const file = join(MLP_DIR, 'model.onnx');
    const source = { 'sentiment-v1.onnx': sha256sum(file) };
    expect((await identifyModel(file, source)).version).toBe(versionOf([sha256sum(file)]));
    await expect(identifyModel(join(MLP_DIR, 'model.fp16.onnx'), source)).rejects.toThrow(
      /which no digest in MODEL_DIGESTS/,
    );
  });

  it('counts the external-data files the model names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'external-'));
    const { model, weights } = externalDataModel('weights.bin');
    writeFileSync(join(dir, 'model.onnx'), model);
    writeFileSync(join(dir, 'weights.bin'), weights);
    const id = await identifyModel(join(dir, 'model.onnx'));
    expect(id.files).toEqual({
      'model.onnx': sha256sum(join(dir, 'model.onnx')),
      'weights.bin': sha256sum(join(dir, 'weights.bin')),
    });
    const before = id.version;
    writeFileSync(join(dir, 'weights.bin'), Buffer.concat([weights.subarray(0, -1), Buffer.from([7])]));
    expect((await identifyModel(join(dir, 'model.onnx'))).version).not.toBe(before);
  });
});

describe('MODEL_DIGESTS', () => {
  it('is a JSON object of file to sha256, or refused naming the setting', () => {
    const pins = pinsOf(MLP_DIR);
    expect(parseConfig({ MODEL_DIGESTS: JSON.stringify(pins) }).modelDigests).toEqual(pins);
    expect(parseConfig({}).modelDigests).toBeUndefined();
    for (const bad of ['{}', '[]', 'x', '{"model.onnx":"ABC"}', '{"":"' + 'a'.repeat(64) + '"}'])
      expect(() => parseConfig({ MODEL_DIGESTS: bad })).toThrow(/MODEL_DIGESTS must be a JSON object/);
  });
});

describe('the version in answers, metadata and metrics', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('is on inference answers, refusals of the served model included, and nowhere else', async () => {
    t = await testApp({ MODEL_DIGESTS: JSON.stringify(pinsOf(MLP_DIR)) });
    const version = versionOf(Object.values(pinsOf(MLP_DIR)));
    const ok = await t.app.inject({ method: 'POST', url: '/v2/models/mlp/infer', payload: mlpRequest(2) });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['x-model-version']).toBe(version);
    const versioned = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/versions/1/infer',
      payload: mlpRequest(1),
    });
    expect(versioned.headers['x-model-version']).toBe(version);
    const bad = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      payload: { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['x-model-version']).toBe(version);
    t.state.warm = false;
    const warming = await t.app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      payload: mlpRequest(1),
    });
    expect(warming.statusCode).toBe(503);
    expect(warming.headers['x-model-version']).toBe(version);
    t.state.warm = true;
    const other = await t.app.inject({
      method: 'POST',
      url: '/v2/models/other/infer',
      payload: mlpRequest(1),
    });
    expect(other.statusCode).toBe(404);
    expect(other.headers['x-model-version']).toBeUndefined();
    const health = await t.app.inject({ url: '/v2/health/ready' });
    expect(health.headers['x-model-version']).toBeUndefined();
  });

  it('is on refusals made before the handler runs: a body that is not JSON, too large, or of another type (each a 4xx)', async () => {
    t = await testApp({ MODEL_DIGESTS: JSON.stringify(pinsOf(MLP_DIR)), MAX_BODY_BYTES: '1024' });
    const version = versionOf(Object.values(pinsOf(MLP_DIR)));
    const url = '/v2/models/mlp/infer';
    const json = { 'content-type': 'application/json' };
    const answers = [
      await t.app.inject({ method: 'POST', url, headers: json, payload: '{"inputs": [' }),
      await t.app.inject({ method: 'POST', url, headers: json, payload: `{"x":"${'a'.repeat(2048)}"}` }),
      await t.app.inject({ method: 'POST', url, headers: { 'content-type': 'text/plain' }, payload: 'hi' }),
    ];
    expect(answers.map((r) => r.statusCode)).toEqual([400, 413, 400]);
    for (const r of answers) expect(r.headers['x-model-version']).toBe(version);
  });

  it('is in the model metadata, the Triton config and servingstack_model_info', async () => {
    t = await testApp({ PRECISION: 'int8', POOL: 'latency' });
    const { version, files } = await identifyModel(join(MLP_DIR, 'model.int8.onnx'));
    const meta = (await t.app.inject({ url: '/v2/models/mlp' })).json();
    expect(meta.versions).toEqual(['1']);
    expect(meta.parameters).toMatchObject({
      model_version: version,
      model_version_pinned: false,
      model_files: files,
    });
    const metaRes = await t.app.inject({ url: '/v2/models/mlp' });
    expect(metaRes.headers['x-model-version']).toBe(version);
    const config = (await t.app.inject({ url: '/v2/models/mlp/config' })).json();
    expect(config.parameters).toEqual({ model_version: { string_value: version } });
    const text = await t.metrics.registry.metrics();
    expect(text).toContain(
      `servingstack_model_info{model="mlp",pool="latency",version="${version}",precision="int8"} 1`,
    );
  });

  it('of another release is another header on the same request', async () => {
    const v2 = otherMlpDir();
    const a = await testApp();
    const b = await testApp({ MODEL_DIR: v2 });
    try {
      const [ra, rb] = await Promise.all(
        [a, b].map((x) =>
          x.app.inject({ method: 'POST', url: '/v2/models/mlp/infer', payload: mlpRequest(1) }),
        ),
      );
      expect(ra!.headers['x-model-version']).not.toBe(rb!.headers['x-model-version']);
      // Other weights, other answers: the header tells a caller which one it got.
      expect(ra!.json().outputs[0].data).not.toEqual(rb!.json().outputs[0].data);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
