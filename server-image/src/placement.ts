// Which execution provider runs each of the model's nodes. onnxruntime-node 1.30 has no API for
// it; its session profile does: every node's event of a run names the provider whose kernel ran
// it. Profiling is on for the session's first run only, so the report costs one run's events.
// A CUDA session still places some nodes on the CPU (shape arithmetic by design, and every
// operator the CUDA provider has no kernel for, e.g. most int8 ones), which this makes visible.
// Where CPU and GPU nodes meet, onnxruntime adds copy nodes of its own (MemcpyFromHost,
// MemcpyToHost), assigned to the GPU provider: they are counted apart, not as the model's nodes,
// or a model that mostly runs on the CPU would look as if the GPU had most of it.
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Nodes per execution provider, by onnxruntime's short name ('cpu', 'cuda'), plus CPU op types. */
export interface Placement {
  nodes: Record<string, number>;
  /** Operator types of the nodes on the CPU provider, with their counts, most frequent first. */
  cpuOps: Record<string, number>;
  /** onnxruntime's copy nodes between the CPU and a device (not in `nodes`). */
  copies: number;
}

const COPY_OPS = new Set(['MemcpyFromHost', 'MemcpyToHost']);

interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: { provider?: string; op_name?: string; node_index?: string };
}

/** 'CUDAExecutionProvider' → 'cuda', as the server's EXECUTION_PROVIDER names it. */
export const shortProvider = (name: string) => name.replace(/ExecutionProvider$/, '').toLowerCase();

/** Counts the distinct nodes of the profiled runs per provider. */
export function placementOf(events: readonly ProfileEvent[]): Placement {
  const seen = new Map<string, { provider: string; op: string }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.provider) continue;
    seen.set(e.args.node_index ?? e.name, { provider: e.args.provider, op: e.args.op_name ?? '?' });
  }
  const nodes: Record<string, number> = {};
  const cpuOps: Record<string, number> = {};
  let copies = 0;
  for (const { provider, op } of seen.values()) {
    if (COPY_OPS.has(op)) {
      copies++;
      continue;
    }
    const p = shortProvider(provider);
    nodes[p] = (nodes[p] ?? 0) + 1;
    if (p === 'cpu') cpuOps[op] = (cpuOps[op] ?? 0) + 1;
  }
  const byCount = (r: Record<string, number>) =>
    Object.fromEntries(Object.entries(r).sort(([a, x], [b, y]) => y - x || a.localeCompare(b)));
  return { nodes: byCount(nodes), cpuOps: byCount(cpuOps), copies };
}

/** One line for the log: "cuda 12, cpu 3 of 15 nodes (cpu: Shape ×2, Gather); 2 copies between CPU and GPU". */
export function describePlacement(p: Placement): string {
  const total = Object.values(p.nodes).reduce((a, b) => a + b, 0);
  const counts = Object.entries(p.nodes)
    .map(([ep, n]) => `${ep} ${n}`)
    .join(', ');
  const ops = Object.entries(p.cpuOps)
    .map(([op, n]) => (n > 1 ? `${op} ×${n}` : op))
    .join(', ');
  const copies = p.copies > 0 ? `; ${p.copies} copies between CPU and GPU` : '';
  return `${counts} of ${total} nodes${Object.keys(p.nodes).length > 1 && ops ? ` (cpu: ${ops})` : ''}${copies}`;
}

/** A session on another provider than the CPU that left more than half its nodes to the CPU. */
export function mostlyOnCpu(ep: string, p: Placement): boolean {
  const total = Object.values(p.nodes).reduce((a, b) => a + b, 0);
  return ep !== 'cpu' && (p.nodes.cpu ?? 0) * 2 > total;
}

/**
 * For the model metadata, whose parameters are flat scalars in the protocol: `nodes_<provider>`
 * per provider (the session's own and the CPU always present), the CPU nodes' operator types
 * when another provider has the rest, and `memcpy_nodes` when onnxruntime added copies.
 */
export function placementParameters(ep: string, placement: Placement): Record<string, number | string> {
  const params: Record<string, number | string> = { [`nodes_${ep}`]: 0, nodes_cpu: 0 };
  for (const [provider, n] of Object.entries(placement.nodes)) params[`nodes_${provider}`] = n;
  const ops = Object.entries(placement.cpuOps);
  if (ep !== 'cpu' && ops.length > 0) params.cpu_node_ops = ops.map(([op, n]) => `${op}:${n}`).join(',');
  if (placement.copies > 0) params.memcpy_nodes = placement.copies;
  return params;
}

/**
 * A private folder for one session's profile, or undefined where the temporary folder cannot
 * be written (the placement then stays unknown; serving does not depend on it).
 */
export function profileFolder(): string | undefined {
  try {
    accessSync(tmpdir(), constants.W_OK);
    return mkdtempSync(join(tmpdir(), 'servingstack-placement-'));
  } catch {
    return undefined;
  }
}

/** Reads the profile onnxruntime wrote into `folder`, then removes the folder. */
export function readPlacement(folder: string): Placement {
  try {
    const file = readdirSync(folder).find((f) => f.endsWith('.json'));
    if (!file) throw new Error(`onnxruntime wrote no profile into ${folder}`);
    return placementOf(JSON.parse(readFileSync(join(folder, file), 'utf8')) as ProfileEvent[]);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
