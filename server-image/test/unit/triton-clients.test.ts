/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
// Triton's own clients against the server, unmodified: tritonclient[http] (metadata, the model
// configuration and statistics extensions, the repository index, JSON and binary tensors,
// gzip and deflate both ways, error messages) and perf_analyzer, Triton's load generator, which
// stops at start without the configuration and statistics extensions. Both come from PyPI into
// a cached venv (scripts/ensure-triton-tools.sh; the first run downloads them).
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { testApp } from '../support/app.ts';
import type { TestApp } from '../support/app.ts';

const run = promisify(execFile);
const ENSURE = fileURLToPath(new URL('../../../scripts/ensure-triton-tools.sh', import.meta.url));
const CLIENT_CHECK = fileURLToPath(new URL('../support/triton/client-check.py', import.meta.url));

let t: TestApp;
let url: string;
let tools: string;

beforeAll(async () => {
  tools = (await run(ENSURE, [], { maxBuffer: 1 << 24 })).stdout.trim();
  t = await testApp({ POOL: 'throughput' });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
}, 600_000);

afterAll(() => t?.close());

describe("Triton's clients", () => {
  it('tritonclient[http]: metadata, config, stats, index, inference in every encoding, error messages', async () => {
    const { stdout } = await run(`${tools}/bin/python`, [CLIENT_CHECK, url, 'mlp']);
    const seen = JSON.parse(stdout) as Record<string, unknown>;
    expect(seen).toMatchObject({
      live: true,
      ready: true,
      max_batch_size: 32,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [16] }],
      index: [{ name: 'mlp', version: '1', state: 'READY' }],
      answers_agree: true,
      answer_shape: [2, 4],
      error: expect.stringMatching(/shape \[2,15\] does not fit/),
      missing_model_error: expect.stringMatching(/model 'nope' is not served here/),
    });
    expect(seen.extensions).toEqual(expect.arrayContaining(['model_configuration', 'statistics']));
    const stats = seen.stats as Record<string, number>;
    // Four inferences of two rows each (the bad one is no success).
    expect(stats.success).toBe(4);
    expect(stats.inference_count).toBe(8);
    expect(stats.execution_count).toBeGreaterThanOrEqual(1);
    expect(stats.compute_infer_ns).toBeGreaterThan(0);
  }, 120_000);

  it("perf_analyzer drives the server and reads the server's side of each measurement", async () => {
    const { stdout } = await run(
      `${tools}/bin/perf_analyzer`,
      [
        ...['-m', 'mlp', '-u', url, '-i', 'http', '--input-data', 'zero', '--shape', 'input:16'],
        ...['-b', '2', '--concurrency-range', '2:2'],
        ...['--measurement-mode', 'count_windows', '--measurement-request-count', '200'],
        // What is tested is that it runs against this server, not how steady a shared machine is.
        ...['--max-trials', '3', '--stability-percentage', '1000'],
      ],
      { maxBuffer: 1 << 24 },
    );
    expect(stdout).toMatch(/Server:\s+Inference count: \d+/);
    const served = Number(/Successful request count: (\d+)/.exec(stdout)?.[1]);
    expect(served).toBeGreaterThanOrEqual(200);
    expect(stdout).toMatch(/compute infer \d+ usec/);
  }, 180_000);
});
