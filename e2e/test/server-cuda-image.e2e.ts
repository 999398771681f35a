// The CUDA server image on this machine, which has no GPU and no NVIDIA driver: built by
// `make images` from the CPU image plus PyPI wheels (or reused when present), then checked for
// what can be checked without a GPU. Its layout is onnxruntime-node's own cuda12 layout; the
// dynamic linker resolves every library of the CUDA provider, and of the CUDA libraries it loads,
// except the driver's libcuda.so.1; the server says at start that the driver is missing when told
// to use CUDA, and serves on the CPU when told to (or when left to choose). A FAKE driver (no
// device) shows the provider and the CUDA runtime load in onnxruntime-node and reach the driver.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot } from './support/paths.ts';
import { ensureImage, HARDENED, PODMAN_FLAGS, podman, podmanResult, startServer } from './support/podman.ts';
import { waitFor } from './support/wait-for.ts';

const IMAGE = process.env.SERVER_CUDA_IMAGE ?? 'localhost/servingstack/server:dev-cuda13';
const ORT_NODE = '/opt/servingstack/server/node_modules/onnxruntime-node';
const PROVIDER = `${ORT_NODE}/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so`;
const CUDA_LIBS = '/usr/local/cuda/lib64';
const MODEL = ['-e', 'MODEL_DIR=/opt/servingstack/models/mlp', '-e', 'MODEL_NAME=mlp'];

/** `podman run --rm` of the image as the operator runs it, with a command of our choice. */
const inImage = (entrypoint: string, ...args: string[]) =>
  podman('run', '--rm', ...PODMAN_FLAGS, ...HARDENED, '--entrypoint', entrypoint, IMAGE, ...args);

/** Lines `name => not found` of `ldd` output, by the file ldd was run on. */
function unresolved(lddOutput: string): Map<string, string[]> {
  const missing = new Map<string, string[]>();
  let file = '';
  for (const line of lddOutput.split('\n')) {
    const header = /^== (.+)$/.exec(line);
    if (header) file = header[1]!;
    const m = /^\s*(\S+) => not found/.exec(line);
    if (m) missing.set(file, [...(missing.get(file) ?? []), m[1]!]);
  }
  return missing;
}

describe('CUDA server image (no GPU here)', () => {
  const containers: string[] = [];
  let stubDir = '';

  beforeAll(async () => {
    await ensureImage(IMAGE, 'server-cuda');
  }, 1_800_000);

  afterAll(async () => {
    for (const c of containers) await podman('rm', '-f', '-t', '2', c).catch(() => '');
    if (stubDir) rmSync(stubDir, { recursive: true, force: true });
  });

  /** Starts the server with the bundled model and `env`; resolves once it is ready. */
  async function serve(...env: string[]): Promise<{ container: string; base: string }> {
    const { container, base } = await startServer(IMAGE, ...MODEL, ...env);
    containers.push(container);
    await waitFor(
      'the CUDA image container to answer /v2/health/ready with 200',
      () => fetch(`${base}/v2/health/ready`).then((r) => r.status),
      { until: (s) => s === 200, timeoutMs: 90_000 },
    );
    return { container, base };
  }

  it('runs as the CPU image does (uid 65532, telemetry off), with the env of a CUDA base image', async () => {
    const config = JSON.parse(await podman('image', 'inspect', '--format', '{{json .Config}}', IMAGE)) as {
      User: string;
      Env: string[];
    };
    expect(config.User).toBe('65532:65532');
    expect(config.Env).toEqual(
      expect.arrayContaining([
        'ORT_DISABLE_TELEMETRY=1',
        'NVIDIA_DRIVER_CAPABILITIES=compute,utility',
        'LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64',
      ]),
    );
    expect(config.Env.some((e) => e.startsWith('NVIDIA_VISIBLE_DEVICES='))).toBe(false);
  });

  it("holds the provider exactly where onnxruntime-node's cuda12 install puts it, without TensorRT's", async () => {
    // The install script's own manifest, read inside the image, says which files it writes where.
    const script = `
      const path = require('node:path'), fs = require('node:fs');
      const meta = require('${ORT_NODE}/script/install-metadata.js');
      const bin = path.join('${ORT_NODE}/script', '..', 'bin/napi-v6', 'linux/x64');
      const files = Object.keys(meta.manifests['linux/x64:cuda12']).map((f) => path.join(bin, f));
      console.log(JSON.stringify(files.map((f) => [path.basename(f), fs.existsSync(f)])));`;
    const present = Object.fromEntries(
      JSON.parse(await inImage('node', '-e', script)) as [string, boolean][],
    );
    expect(present).toEqual({
      'libonnxruntime_providers_cuda.so': true,
      'libonnxruntime_providers_shared.so': true,
      'libonnxruntime_providers_tensorrt.so': false,
    });
  });

  it('ldd: the provider and every CUDA library resolve all they link, except the driver (libcuda.so.1)', async () => {
    const out = await inImage(
      'bash',
      '-c',
      `for f in ${PROVIDER} ${CUDA_LIBS}/*.so*; do echo "== $f"; ldd "$f"; done`,
    );
    const missing = unresolved(out);
    expect([...new Set([...missing.values()].flat())]).toEqual(['libcuda.so.1']);
    // The provider links the driver directly: on a GPU node the container toolkit provides it.
    expect(missing.get(PROVIDER)).toEqual(['libcuda.so.1']);
    const provider = out.slice(out.indexOf(`== ${PROVIDER}`)).split('\n== ')[0]!;
    for (const lib of ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10'])
      expect(provider).toContain(`${lib} => ${CUDA_LIBS}/${lib}`);
  });

  it("the libraries the provider and cuDNN load at run time are in the dynamic linker's cache", async () => {
    // cuDNN 9 comes in parts that libcudnn.so.9 and libcudnn_graph.so.9 open by name when an
    // operation needs them (no ldd sees those, and nothing fails until a GPU runs a convolution):
    // their names are read out of those two libraries, so a part left out of the image fails here.
    const script = `
      const fs = require('node:fs');
      const names = new Set();
      for (const lib of ['libcudnn.so.9', 'libcudnn_graph.so.9'])
        for (const m of fs.readFileSync('${CUDA_LIBS}/' + lib, 'latin1').matchAll(/libcudnn_[a-z_]+\\.so(?![.\\w])/g))
          names.add(m[0] + '.9');
      console.log(JSON.stringify([...names].sort()));`;
    const cudnnParts = JSON.parse(await inImage('node', '-e', script)) as string[];
    // The parts named in cuDNN 9's documentation, so the reading above cannot come back short.
    expect(cudnnParts).toEqual(
      expect.arrayContaining([
        'libcudnn_adv.so.9',
        'libcudnn_cnn.so.9',
        'libcudnn_engines_precompiled.so.9',
        'libcudnn_engines_runtime_compiled.so.9',
        'libcudnn_graph.so.9',
        'libcudnn_heuristic.so.9',
        'libcudnn_ops.so.9',
      ]),
    );
    const cache = await inImage('ldconfig', '-p');
    // What the provider opens by name (cuDNN, cuFFT, NVRTC), and what NVRTC and cuFFT open.
    const loaded = [
      'libcudnn.so.9',
      'libcufft.so.12',
      'libnvrtc.so.13',
      'libnvrtc-builtins.so.13.0',
      'libnvJitLink.so.13',
      ...cudnnParts,
    ];
    const missing = loaded.filter((lib) => !cache.includes(`${lib} (libc6,x86-64) => ${CUDA_LIBS}/${lib}`));
    expect(missing).toEqual([]);
  });

  it('EXECUTION_PROVIDER=cuda: exits at start with a message naming the missing NVIDIA driver', async () => {
    const res = await podmanResult(
      'run',
      '--rm',
      ...PODMAN_FLAGS,
      ...HARDENED,
      ...MODEL,
      '-e',
      'EXECUTION_PROVIDER=cuda',
      IMAGE,
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      'fatal: CUDA execution provider unavailable: libonnxruntime_providers_cuda.so cannot load the NVIDIA driver ' +
        '(libcuda.so.1: cannot open shared object file: No such file or directory)',
    );
  });

  it('EXECUTION_PROVIDER=cpu: serves, and the metadata says where the nodes ran', async () => {
    const { base } = await serve(
      '-e',
      'EXECUTION_PROVIDER=cpu',
      '-e',
      'PRECISION=int8',
      '-e',
      'POOL=latency',
    );
    const meta = (await (await fetch(`${base}/v2/models/mlp`)).json()) as {
      parameters: Record<string, unknown>;
    };
    expect(meta.parameters).toMatchObject({ execution_provider: 'cpu', precision: 'int8', pool: 'latency' });
    expect(meta.parameters.nodes_cpu).toEqual(expect.any(Number));
    expect(meta.parameters.nodes_cpu).toBeGreaterThan(0);
    const res = await fetch(`${base}/v2/models/mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(0.5) }],
      }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { outputs: { shape: number[] }[] }).outputs[0]!.shape).toEqual([1, 4]);
  });

  it('EXECUTION_PROVIDER=auto (the default): serves on the CPU, warning that the driver is missing', async () => {
    const { container, base } = await serve();
    const meta = (await (await fetch(`${base}/v2/models/mlp`)).json()) as {
      parameters: Record<string, unknown>;
    };
    expect(meta.parameters.execution_provider).toBe('cpu');
    const logs = await podmanResult('logs', container);
    expect(logs.stdout + logs.stderr).toMatch(
      /"level":40,.*cannot load the NVIDIA driver \(libcuda\.so\.1: .*; using CPU"/,
    );
  });

  it('with a FAKE driver that has no GPU, the provider and CUDA runtime load in onnxruntime-node and ask it for a device', async () => {
    stubDir = mkdtempSync(join(tmpdir(), 'fake-libcuda-'));
    chmodSync(stubDir, 0o755); // the server runs as uid 65532
    execFileSync('gcc', [
      '-shared',
      '-fPIC',
      '-Wl,-soname,libcuda.so.1',
      '-o',
      join(stubDir, 'libcuda.so.1'),
      join(repoRoot, 'e2e/fixtures/fake-libcuda.c'),
    ]);
    // Where some GPU nodes mount the driver; on the image's LD_LIBRARY_PATH.
    const res = await podmanResult(
      'run',
      '--rm',
      ...PODMAN_FLAGS,
      ...HARDENED,
      '-v',
      `${stubDir}:/usr/local/nvidia/lib64:ro`,
      ...MODEL,
      '-e',
      'EXECUTION_PROVIDER=cuda',
      IMAGE,
    );
    expect(res.code).toBe(1);
    expect(res.stderr).not.toContain('cannot open shared object file');
    // The CUDA provider was created inside onnxruntime-node and called the runtime, which asked
    // the (fake) driver for a device: everything but the driver worked.
    expect(res.stderr).toMatch(
      /fatal: CUDA execution provider unavailable: .*CUDA failure \d+: .*cudaSetDevice/,
    );
  });
});
