// Small ONNX models that test the batch contract and isolation, written with the project's own
// ONNX writer into a temporary model directory each:
//   - detection: scores [batch, 4] -> NonZero -> Transpose -> hits [K, 2], one row per non-zero
//     score (row index, column), not one per input row; `outputDim0` is what the graph declares;
//   - time-major: x [seq, batch, 4] -> CumSum over time -> y [seq, batch, 4];
//   - embedding: ids [batch, 3] (INT64) -> Gather from a 10-word table -> vectors [batch, 3, 4];
//     an id outside 0..9 makes onnxruntime fail the run.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElemType, encodeModel } from '../../src/models/onnx.ts';
import type { Graph } from '../../src/models/onnx.ts';

function write(graph: Graph): string {
  const dir = mkdtempSync(join(tmpdir(), `${graph.name}-`));
  writeFileSync(join(dir, 'model.onnx'), encodeModel(graph, 'servingstack-test'));
  return dir;
}

export function detectionModel(outputDim0: string): string {
  return write({
    name: 'detection',
    nodes: [
      { opType: 'NonZero', inputs: ['scores'], outputs: ['where'] },
      { opType: 'Transpose', inputs: ['where'], outputs: ['hits'] },
    ],
    initializers: [],
    inputs: [{ name: 'scores', elemType: ElemType.FLOAT, shape: ['batch', 4] }],
    outputs: [{ name: 'hits', elemType: ElemType.INT64, shape: [outputDim0, 2] }],
  });
}

export function timeMajorModel(): string {
  return write({
    name: 'time_major',
    nodes: [{ opType: 'CumSum', inputs: ['x', 'time_axis'], outputs: ['y'] }],
    initializers: [{ name: 'time_axis', elemType: ElemType.INT64, dims: [], raw: new Uint8Array(8) }],
    inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: ['seq', 'batch', 4] }],
    outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: ['seq', 'batch', 4] }],
  });
}

export const EMBEDDING_WORDS = 10;

export function embeddingModel(): string {
  const table = Float32Array.from({ length: EMBEDDING_WORDS * 4 }, (_, i) => i / 4);
  return write({
    name: 'embedding',
    nodes: [{ opType: 'Gather', inputs: ['table', 'ids'], outputs: ['vectors'] }],
    initializers: [
      {
        name: 'table',
        elemType: ElemType.FLOAT,
        dims: [EMBEDDING_WORDS, 4],
        raw: new Uint8Array(table.buffer),
      },
    ],
    inputs: [{ name: 'ids', elemType: ElemType.INT64, shape: ['batch', 3] }],
    outputs: [{ name: 'vectors', elemType: ElemType.FLOAT, shape: ['batch', 3, 4] }],
  });
}
