// The project's own test model: a two-layer MLP classifier (16 features -> 32 hidden, ReLU
// -> 4 classes, softmax) in three precisions, so that switching PRECISION changes the graph
// the runtime executes, not just a label. Weights come from a seeded generator: the same
// bytes every time, which a unit test checks against the files in models/mlp/.
import { ElemType, encodeModel } from './onnx.ts';
import type { Graph, Initializer, Node } from './onnx.ts';

export const MLP_INPUTS = 16;
export const MLP_HIDDEN = 32;
export const MLP_CLASSES = 4;
export const MLP_INPUT_NAME = 'input';
export const MLP_OUTPUT_NAME = 'probabilities';
/** The seed of the bundled model's weights; another seed makes another version of the model. */
export const MLP_SEED = 20260401;
const PRODUCER = 'servingstack-mlp';

/** mulberry32: a tiny deterministic PRNG, good enough for weights (and load schedules). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Weights {
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

export function mlpWeights(seed = MLP_SEED): Weights {
  const rnd = prng(seed);
  // Uniform Xavier-style init keeps activations in range so the softmax is not flat.
  const fill = (n: number, fanIn: number, fanOut: number) => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    return Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * limit);
  };
  return {
    w1: fill(MLP_INPUTS * MLP_HIDDEN, MLP_INPUTS, MLP_HIDDEN),
    b1: fill(MLP_HIDDEN, 1, MLP_HIDDEN),
    w2: fill(MLP_HIDDEN * MLP_CLASSES, MLP_HIDDEN, MLP_CLASSES),
    b2: fill(MLP_CLASSES, 1, MLP_CLASSES),
  };
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function f32(name: string, dims: number[], data: Float32Array): Initializer {
  return { name, elemType: ElemType.FLOAT, dims, raw: bytesOf(data) };
}

function f16(name: string, dims: number[], data: Float32Array): Initializer {
  return { name, elemType: ElemType.FLOAT16, dims, raw: bytesOf(new Float16Array(data)) };
}

const denseNodes = (input: string, out: string): Node[] => [
  { opType: 'MatMul', inputs: [input, 'w1'], outputs: ['h_mm'] },
  { opType: 'Add', inputs: ['h_mm', 'b1'], outputs: ['h_pre'] },
  { opType: 'Relu', inputs: ['h_pre'], outputs: ['h'] },
  { opType: 'MatMul', inputs: ['h', 'w2'], outputs: ['o_mm'] },
  { opType: 'Add', inputs: ['o_mm', 'b2'], outputs: ['logits'] },
  { opType: 'Softmax', inputs: ['logits'], outputs: [out], attributes: [{ name: 'axis', int: -1 }] },
];

function io(elemType: ElemType): Pick<Graph, 'inputs' | 'outputs'> {
  return {
    inputs: [{ name: MLP_INPUT_NAME, elemType, shape: ['batch', MLP_INPUTS] }],
    outputs: [{ name: MLP_OUTPUT_NAME, elemType, shape: ['batch', MLP_CLASSES] }],
  };
}

export function mlpFp32(w = mlpWeights()): Graph {
  return {
    name: 'mlp_fp32',
    nodes: denseNodes(MLP_INPUT_NAME, MLP_OUTPUT_NAME),
    initializers: [
      f32('w1', [MLP_INPUTS, MLP_HIDDEN], w.w1),
      f32('b1', [MLP_HIDDEN], w.b1),
      f32('w2', [MLP_HIDDEN, MLP_CLASSES], w.w2),
      f32('b2', [MLP_CLASSES], w.b2),
    ],
    ...io(ElemType.FLOAT),
  };
}

/** Float16 weights and float16 inputs/outputs, computed in float16 end to end. */
export function mlpFp16(w = mlpWeights()): Graph {
  return {
    name: 'mlp_fp16',
    nodes: denseNodes(MLP_INPUT_NAME, MLP_OUTPUT_NAME),
    initializers: [
      f16('w1', [MLP_INPUTS, MLP_HIDDEN], w.w1),
      f16('b1', [MLP_HIDDEN], w.b1),
      f16('w2', [MLP_HIDDEN, MLP_CLASSES], w.w2),
      f16('b2', [MLP_CLASSES], w.b2),
    ],
    ...io(ElemType.FLOAT16),
  };
}

/**
 * Symmetric per-tensor quantisation of a weight matrix to 7 bits ([-63, 63]), as onnxruntime's
 * quantize_dynamic does with reduce_range: x86 AVX2 u8*s8 kernels add pairs of products in
 * 16 bits, which saturates with full 8-bit weights and visibly corrupts results.
 */
const WEIGHT_LEVELS = 63;
function quantize(data: Float32Array): { q: Int8Array; scale: number } {
  const max = data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const scale = max / WEIGHT_LEVELS;
  const q = Int8Array.from(data, (v) =>
    Math.max(-WEIGHT_LEVELS, Math.min(WEIGHT_LEVELS, Math.round(v / scale))),
  );
  return { q, scale };
}

/**
 * Dynamic int8 quantisation, the way onnxruntime's quantize_dynamic lays it out: activations
 * are quantised at run time (DynamicQuantizeLinear), the matmuls run on integers
 * (MatMulInteger), and results are rescaled to float. Inputs and outputs stay float32.
 */
export function mlpInt8(w = mlpWeights()): Graph {
  const q1 = quantize(w.w1);
  const q2 = quantize(w.w2);
  const layer = (n: number, input: string, weight: string, out: string): Node[] => [
    { opType: 'DynamicQuantizeLinear', inputs: [input], outputs: [`x${n}_q`, `x${n}_s`, `x${n}_zp`] },
    { opType: 'MatMulInteger', inputs: [`x${n}_q`, weight, `x${n}_zp`], outputs: [`m${n}_i`] },
    {
      opType: 'Cast',
      inputs: [`m${n}_i`],
      outputs: [`m${n}_f`],
      attributes: [{ name: 'to', int: ElemType.FLOAT }],
    },
    { opType: 'Mul', inputs: [`x${n}_s`, `${weight}_s`], outputs: [`s${n}`] },
    { opType: 'Mul', inputs: [`m${n}_f`, `s${n}`], outputs: [`m${n}`] },
    { opType: 'Add', inputs: [`m${n}`, `b${n}`], outputs: [out] },
  ];
  return {
    name: 'mlp_int8',
    nodes: [
      ...layer(1, MLP_INPUT_NAME, 'w1q', 'h_pre'),
      { opType: 'Relu', inputs: ['h_pre'], outputs: ['h'] },
      ...layer(2, 'h', 'w2q', 'logits'),
      {
        opType: 'Softmax',
        inputs: ['logits'],
        outputs: [MLP_OUTPUT_NAME],
        attributes: [{ name: 'axis', int: -1 }],
      },
    ],
    initializers: [
      { name: 'w1q', elemType: ElemType.INT8, dims: [MLP_INPUTS, MLP_HIDDEN], raw: bytesOf(q1.q) },
      f32('w1q_s', [], Float32Array.of(q1.scale)),
      f32('b1', [MLP_HIDDEN], w.b1),
      { name: 'w2q', elemType: ElemType.INT8, dims: [MLP_HIDDEN, MLP_CLASSES], raw: bytesOf(q2.q) },
      f32('w2q_s', [], Float32Array.of(q2.scale)),
      f32('b2', [MLP_CLASSES], w.b2),
    ],
    ...io(ElemType.FLOAT),
  };
}

/** File name in a model directory -> encoded model, per precision; weights from `seed`. */
export function mlpFiles(seed = MLP_SEED): Record<string, Uint8Array> {
  const w = mlpWeights(seed);
  return {
    'model.onnx': encodeModel(mlpFp32(w), PRODUCER),
    'model.fp16.onnx': encodeModel(mlpFp16(w), PRODUCER),
    'model.int8.onnx': encodeModel(mlpInt8(w), PRODUCER),
  };
}
