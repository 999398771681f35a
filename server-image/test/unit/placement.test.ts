/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { Model } from '../../src/model.ts';
import { describePlacement, mostlyOnCpu, placementOf, placementParameters } from '../../src/placement.ts';
import type { Placement } from '../../src/placement.ts';
import { WorkerModel } from '../../src/worker-model.ts';
import { clsModelDir, MLP_DIR, modelOptions } from '../support/app.ts';

const run = promisify(execFile);

const node = (index: number, provider: string, op: string) => ({
  cat: 'Node',
  name: `n${index}_kernel_time`,
  args: { node_index: String(index), provider, op_name: op },
});

describe('placementOf (nodes per provider from a session profile)', () => {
  it('counts each node once across runs, by provider, and names the CPU ones by operator', () => {
    const run1 = [
      node(0, 'CPUExecutionProvider', 'Shape'),
      node(1, 'CUDAExecutionProvider', 'MatMul'),
      node(2, 'CPUExecutionProvider', 'DynamicQuantizeLinear'),
      node(3, 'CPUExecutionProvider', 'DynamicQuantizeLinear'),
      node(4, 'CUDAExecutionProvider', 'Softmax'),
    ];
    const events = [
      { cat: 'Session', name: 'session_initialization', args: {} },
      ...run1,
      { cat: 'Node', name: 'n1_fence_before', args: { provider: 'CUDAExecutionProvider' } },
      ...run1,
    ];
    const p = placementOf(events);
    expect(p).toEqual({
      nodes: { cpu: 3, cuda: 2 },
      cpuOps: { DynamicQuantizeLinear: 2, Shape: 1 },
      copies: 0,
    });
    expect(describePlacement(p)).toBe('cpu 3, cuda 2 of 5 nodes (cpu: DynamicQuantizeLinear ×2, Shape)');
  });

  it("counts onnxruntime's copies between CPU and GPU apart, not as nodes of the GPU provider", () => {
    // An int8 model on CUDA: the quantised operators stay on the CPU, and onnxruntime puts a
    // MemcpyFromHost/MemcpyToHost node, assigned to the CUDA provider, at every crossing.
    const events = [
      node(0, 'CPUExecutionProvider', 'DynamicQuantizeLinear'),
      node(1, 'CPUExecutionProvider', 'MatMulInteger'),
      node(2, 'CUDAExecutionProvider', 'MemcpyFromHost'),
      node(3, 'CUDAExecutionProvider', 'Relu'),
      node(4, 'CUDAExecutionProvider', 'MemcpyToHost'),
      node(5, 'CPUExecutionProvider', 'DynamicQuantizeLinear'),
      node(6, 'CPUExecutionProvider', 'MatMulInteger'),
      node(7, 'CUDAExecutionProvider', 'MemcpyFromHost'),
      node(8, 'CUDAExecutionProvider', 'Add'),
    ];
    const p = placementOf(events);
    expect(p.nodes).toEqual({ cpu: 4, cuda: 2 });
    expect(p.copies).toBe(3);
    expect(describePlacement(p)).toBe(
      'cpu 4, cuda 2 of 6 nodes (cpu: DynamicQuantizeLinear ×2, MatMulInteger ×2); 3 copies between CPU and GPU',
    );
    expect(placementParameters('cuda', p)).toEqual({
      nodes_cuda: 2,
      nodes_cpu: 4,
      cpu_node_ops: 'DynamicQuantizeLinear:2,MatMulInteger:2',
      memcpy_nodes: 3,
    });
    // Counted as GPU nodes, the copies would hide that most of the model runs on the CPU.
    expect(mostlyOnCpu('cuda', p)).toBe(true);
  });

  it('mostly on the CPU: only a GPU session that left more than half its nodes there', () => {
    const p = (cpu: number, cuda: number) => ({ nodes: { cpu, cuda }, cpuOps: {}, copies: 0 });
    expect(mostlyOnCpu('cuda', p(3, 2))).toBe(true);
    expect(mostlyOnCpu('cuda', p(2, 2))).toBe(false);
    expect(mostlyOnCpu('cuda', p(1, 9))).toBe(false);
    expect(mostlyOnCpu('cpu', { nodes: { cpu: 5 }, cpuOps: {}, copies: 0 })).toBe(false);
  });

  it('says nothing about operators when one provider has every node', () => {
    const p = placementOf([node(0, 'CPUExecutionProvider', 'Relu'), node(1, 'CPUExecutionProvider', 'Gemm')]);
    expect(describePlacement(p)).toBe('cpu 2 of 2 nodes');
    expect(placementParameters('cpu', p)).toEqual({ nodes_cpu: 2 });
  });

  it('gives the metadata flat counts, the CPU always among them, and the CPU operators of a GPU session', () => {
    expect(
      placementParameters('cuda', {
        nodes: { cuda: 2, cpu: 3 },
        cpuOps: { DynamicQuantizeLinear: 2, Shape: 1 },
        copies: 0,
      }),
    ).toEqual({
      nodes_cuda: 2,
      nodes_cpu: 3,
      cpu_node_ops: 'DynamicQuantizeLinear:2,Shape:1',
    });
    expect(placementParameters('cuda', { nodes: { cuda: 5 }, cpuOps: {}, copies: 0 })).toEqual({
      nodes_cuda: 5,
      nodes_cpu: 0,
    });
    // A CUDA session can end up with every node on the CPU; that too is shown as it is.
    expect(
      placementParameters('cuda', { nodes: { cpu: 4 }, cpuOps: { MatMulInteger: 4 }, copies: 0 }),
    ).toEqual({
      nodes_cuda: 0,
      nodes_cpu: 4,
      cpu_node_ops: 'MatMulInteger:4',
    });
  });
});

/** onnxruntime's own count, from its verbose log of the session's node placement. */
async function ortReportedNodes(file: string): Promise<Record<string, number>> {
  const script = `
    import ort from 'onnxruntime-node';
    await ort.InferenceSession.create(${JSON.stringify(file)}, {
      executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 0,
    });`;
  const { stderr, stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, NODE_OPTIONS: '' },
    maxBuffer: 64 * 2 ** 20,
  });
  const counts: Record<string, number> = {};
  for (const m of (stdout + stderr).matchAll(
    /placed on \[(\w+)ExecutionProvider\]\. Number of nodes: (\d+)/g,
  )) {
    counts[m[1]!.toLowerCase()] = Number(m[2]);
  }
  return counts;
}

const profileFolders = () => readdirSync(tmpdir()).filter((f) => f.startsWith('servingstack-placement-'));

describe('Model placement (onnxruntime profile of the first run)', () => {
  it.each(['fp32', 'int8'] as const)(
    'MLP %s: unknown before the first run, then the count onnxruntime itself logs',
    async (precision) => {
      const heard: Placement[] = [];
      const before = profileFolders();
      const model = await Model.load(modelOptions(MLP_DIR, precision, { onPlacement: (p) => heard.push(p) }));
      expect(model.placement).toBeUndefined();
      await model.run({ input: { data: new Float32Array(32), shape: [2, 16] } });
      const expected = await ortReportedNodes(join(MLP_DIR, model.file.split('/').pop()!));
      expect(Object.keys(expected)).toEqual(['cpu']);
      expect(model.placement?.nodes).toEqual(expected);
      expect(heard).toEqual([model.placement]);
      // Read once: a second run neither profiles nor reports again, and the profile is gone.
      await model.run({ input: { data: new Float32Array(16), shape: [1, 16] } });
      expect(heard).toHaveLength(1);
      expect(profileFolders()).toEqual(before);
      await model.close();
    },
  );

  it('the classifier (a real model with fused Conv nodes): the same count as onnxruntime logs', async () => {
    const dir = clsModelDir();
    const model = await Model.load(modelOptions(dir));
    await model.run({ x: { data: new Float32Array(3 * 48 * 192), shape: [1, 3, 48, 192] } });
    expect(model.placement?.nodes).toEqual(await ortReportedNodes(join(dir, 'model.onnx')));
    expect(model.placement!.nodes.cpu).toBeGreaterThan(10);
    await model.close();
  });

  it('reaches the main thread from a worker-thread session', async () => {
    const heard: Placement[] = [];
    const model = await WorkerModel.load(
      modelOptions(MLP_DIR, 'int8', { onPlacement: (p) => heard.push(p) }),
    );
    await model.runBatch([{ input: { data: new Float32Array(16), shape: [1, 16] } }]);
    expect(heard).toHaveLength(1);
    expect(model.placement).toEqual(heard[0]);
    expect(model.placement?.nodes.cpu).toBeGreaterThan(0);
    await model.close();
  });

  it('without a writable temporary folder (a read-only root, no /tmp volume): serves, and says placement is unknown', async () => {
    // In a process of its own: os.tmpdir() reads the real environment, not this test's.
    const script = `
      import { Model } from ${JSON.stringify(join(import.meta.dirname, '../../src/model.ts'))};
      const heard = [];
      const model = await Model.load({ name: 'm', dir: ${JSON.stringify(MLP_DIR)}, precision: 'fp32',
        executionProvider: 'cpu', intraOpThreads: 1, interOpThreads: 1, log: (m) => heard.push(m) });
      const out = await model.run({ input: { data: new Float32Array(16), shape: [1, 16] } });
      console.log(JSON.stringify({ shape: out.probabilities.shape, placement: model.placement ?? null, heard }));
      await model.close();`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, NODE_OPTIONS: '', TMPDIR: '/nonexistent/tmp' },
    });
    expect(JSON.parse(stdout)).toEqual({
      shape: [1, 4],
      placement: null,
      heard: [
        "node placement unknown: no writable temporary folder (/nonexistent/tmp) for onnxruntime's profile",
      ],
    });
  });

  it('a model closed before any run leaves no profile behind', async () => {
    const before = profileFolders();
    const model = await Model.load(modelOptions(MLP_DIR));
    await model.close();
    expect(profileFolders()).toEqual(before);
  });
});
