// The server image end to end: built with podman from the local base (or reused when present),
// run the way the operator runs it (non-root, read-only root filesystem, no capabilities) as the
// throughput pool (inference on a worker thread), published on a random loopback port; health,
// metadata, an inference, /metrics and drain through the container, and the fetch-model
// entrypoint. The containers are removed at the end.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureImage, HARDENED, PODMAN_FLAGS, podman, podmanResult, startServer } from './support/podman.ts';
import { waitFor } from './support/wait-for.ts';

const IMAGE = process.env.SERVER_IMAGE ?? 'localhost/servingstack/server:dev';

describe('server image', () => {
  let container = '';
  let base = '';
  let metricsBase = '';

  beforeAll(async () => {
    await ensureImage(IMAGE, 'server');
    ({ container, base, metricsBase } = await startServer(
      IMAGE,
      '-e',
      'MODEL_DIR=/opt/servingstack/models/mlp',
      '-e',
      'MODEL_NAME=mlp',
      '-e',
      'POOL=throughput',
      '-e',
      'PRECISION=int8',
    ));
  }, 900_000);

  afterAll(async () => {
    if (container) await podman('rm', '-f', '-t', '2', container).catch(() => '');
  });

  it('runs as uid 65532 with telemetry off, and becomes ready', async () => {
    const config = JSON.parse(await podman('image', 'inspect', '--format', '{{json .Config}}', IMAGE));
    expect(config.User).toBe('65532:65532');
    expect(config.Env).toContain('ORT_DISABLE_TELEMETRY=1');
    await waitFor(
      'the container to answer /v2/health/ready with 200',
      () => fetch(`${base}/v2/health/ready`).then((r) => r.status),
      {
        until: (s) => s === 200,
        timeoutMs: 90_000,
      },
    );
  });

  it('serves model metadata for the bundled MLP, int8 variant on CPU', async () => {
    const meta = (await (await fetch(`${base}/v2/models/mlp`)).json()) as {
      inputs: unknown;
      parameters: unknown;
    };
    expect(meta.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 16] }]);
    expect(meta.parameters).toMatchObject({
      precision: 'int8',
      execution_provider: 'cpu',
      pool: 'throughput',
    });
  });

  it('answers an inference, saying which pool served it, and counts it in /metrics', async () => {
    const res = await fetch(`${base}/v2/models/mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'e2e',
        inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(0.5) }],
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-serving-pool')).toBe('throughput');
    const body = (await res.json()) as { id: string; outputs: { shape: number[] }[] };
    expect(body.id).toBe('e2e');
    expect(body.outputs[0]!.shape).toEqual([1, 4]);
    // On the metrics port, not the inference port.
    const metrics = await (await fetch(`${metricsBase}/metrics`)).text();
    expect(metrics).toContain('servingstack_requests_total{model="mlp",pool="throughput",code="200"} 1');
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    await podman('stop', '-t', '20', container);
    expect(await podman('inspect', '--format', '{{.State.ExitCode}}', container)).toBe('0');
    const logs = await podmanResult('logs', container);
    expect(logs.stdout + logs.stderr).toContain('"inferenceThread":"worker"'); // compiled worker path ran
    expect(logs.stdout + logs.stderr).toContain('drained; exiting');
  });

  it('works as the model-fetch init container (fetch-model entrypoint)', async () => {
    const out = await podman(
      'run',
      '--rm',
      ...PODMAN_FLAGS,
      ...HARDENED,
      '--tmpfs',
      '/models:rw,mode=1777',
      IMAGE,
      'fetch-model',
      '--uri',
      'file:///opt/servingstack/models/mlp',
      '--dest',
      '/models',
    );
    expect(out).toMatch(/fetched model\.onnx \(\d+ bytes, sha256 [0-9a-f]{64}\)/);
    expect(out).toMatch(/fetched model\.int8\.onnx/);
  });

  it('refuses invalid configuration at start with a message naming the setting', async () => {
    const res = await podmanResult('run', '--rm', ...PODMAN_FLAGS, ...HARDENED, '-e', 'PRECISION=fp8', IMAGE);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      "invalid configuration: PRECISION must be one of fp32, fp16, int8, got 'fp8'",
    );
  });
});
