// The model the Open Inference Protocol's own examples talk to (KServe v2 REST spec and the
// binary tensor data extension): inputs input0 UINT32 [2,2] and input1 BOOL [3]; outputs
// output0 FP16 [3,2] and output1 UINT32 [2,2]. Built with the project's ONNX writer so the
// spec's requests can be sent unmodified: output1 echoes input0, output0 repeats input1 as
// halves in two columns.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElemType, encodeModel } from '../../src/models/onnx.ts';

const int64 = (...v: bigint[]) => new Uint8Array(BigInt64Array.from(v).buffer);

export function writeSpecModel(): string {
  const dir = mkdtempSync(join(tmpdir(), 'oip-spec-model-'));
  const bytes = encodeModel(
    {
      name: 'spec_example',
      nodes: [
        { opType: 'Identity', inputs: ['input0'], outputs: ['output1'] },
        {
          opType: 'Cast',
          inputs: ['input1'],
          outputs: ['halves'],
          attributes: [{ name: 'to', int: ElemType.FLOAT16 }],
        },
        { opType: 'Reshape', inputs: ['halves', 'column'], outputs: ['col'] },
        { opType: 'Expand', inputs: ['col', 'out_shape'], outputs: ['output0'] },
      ],
      initializers: [
        { name: 'column', elemType: ElemType.INT64, dims: [2], raw: int64(3n, 1n) },
        { name: 'out_shape', elemType: ElemType.INT64, dims: [2], raw: int64(3n, 2n) },
      ],
      inputs: [
        { name: 'input0', elemType: ElemType.UINT32, shape: [2, 2] },
        { name: 'input1', elemType: ElemType.BOOL, shape: [3] },
      ],
      outputs: [
        { name: 'output0', elemType: ElemType.FLOAT16, shape: [3, 2] },
        { name: 'output1', elemType: ElemType.UINT32, shape: [2, 2] },
      ],
    },
    'servingstack-test',
  );
  writeFileSync(join(dir, 'model.onnx'), bytes);
  return dir;
}
