// Just enough of the ONNX schema (onnx/onnx.proto, IR version 8) to write small graphs:
// field numbers below are the ones that file assigns.
import { ProtoWriter } from './protobuf.ts';

export const ElemType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  UINT32: 12,
} as const;
export type ElemType = (typeof ElemType)[keyof typeof ElemType];

export interface Initializer {
  name: string;
  elemType: ElemType;
  dims: number[];
  /** Little-endian element bytes (TensorProto.raw_data). */
  raw: Uint8Array;
  /** Where the bytes live instead, beside the model (data_location EXTERNAL); `raw` is then not written. */
  external?: { location: string; offset: number; length: number };
}

export type Attribute = { name: string; int: number } | { name: string; float: number };

export interface Node {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes?: Attribute[];
}

export interface ValueInfo {
  name: string;
  elemType: ElemType;
  /** A string is a symbolic dimension (e.g. the batch), a number a fixed one. */
  shape: (number | string)[];
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Initializer[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

const IR_VERSION = 8;
const OPSET = 17;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const DATA_LOCATION_EXTERNAL = 1;

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name).message(2, (type) =>
    type.message(1, (tensor) =>
      tensor.int(1, v.elemType).message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      }),
    ),
  );
}

function writeNode(w: ProtoWriter, n: Node, index: number): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.opType.toLowerCase()}_${index}`).string(4, n.opType);
  for (const a of n.attributes ?? []) {
    w.message(5, (attr) => {
      attr.string(1, a.name);
      if ('int' in a) attr.int(3, a.int).int(20, ATTR_INT);
      else attr.float(2, a.float).int(20, ATTR_FLOAT);
    });
  }
}

export function encodeModel(graph: Graph, producer: string): Uint8Array {
  return new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, producer)
    .message(7, (g) => {
      graph.nodes.forEach((n, i) => g.message(1, (w) => writeNode(w, n, i)));
      g.string(2, graph.name);
      for (const t of graph.initializers) {
        g.message(5, (w) => {
          for (const d of t.dims) w.int(1, d);
          w.int(2, t.elemType).string(8, t.name);
          if (!t.external) w.bytes(9, t.raw);
          else {
            const { location, offset, length } = t.external;
            for (const [key, value] of Object.entries({ location, offset, length }))
              w.message(13, (e) => e.string(1, key).string(2, String(value)));
            w.int(14, DATA_LOCATION_EXTERNAL);
          }
        });
      }
      for (const v of graph.inputs) g.message(11, (w) => writeValueInfo(w, v));
      for (const v of graph.outputs) g.message(12, (w) => writeValueInfo(w, v));
    })
    .message(8, (op) => op.string(1, '').int(2, OPSET))
    .finish();
}
