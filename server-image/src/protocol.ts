// Open Inference Protocol (KServe v2) inference requests and responses, checked against the
// model's tensors. The body has already passed the route's JSON schema (types of fields);
// this adds what a schema cannot say: names, shapes and sizes that the model dictates.
import { badRequest } from './errors.ts';
import type { Feeds, TensorSpec } from './model.ts';
import {
  convertFloat,
  decodeBinary,
  decodeJson,
  encodeBinary,
  encodeJson,
  floatConvertible,
} from './tensor/codec.ts';
import type { Datatype, TensorData } from './tensor/datatypes.ts';

export interface InputTensor {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: Record<string, unknown>;
  data?: unknown;
}

export interface RequestedOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

export interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: InputTensor[];
  outputs?: RequestedOutput[];
}

export interface ModelView {
  name: string;
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
  batched: boolean;
}

export interface DecodedRequest {
  id: string | undefined;
  feeds: Feeds;
  /** Rows along dimension 0 (1 for models without a batch dimension). */
  rows: number;
  /** Input elements, all inputs together: what this request adds to a run's cost. */
  work: number;
  /** Requests with equal keys have equal non-batch shapes and can share a batch. */
  key: string;
  outputs: { name: string; binary: boolean }[];
}

const flag = (p: Record<string, unknown> | undefined, name: string): boolean => p?.[name] === true;

export function decodeRequest(model: ModelView, req: InferRequest, binary: Uint8Array): DecodedRequest {
  const feeds: Feeds = {};
  let offset = 0;
  for (const input of req.inputs) {
    const spec = model.inputs.find((s) => s.name === input.name);
    if (!spec) {
      throw badRequest(
        `unknown input '${input.name}'; model '${model.name}' takes ${model.inputs.map((s) => `'${s.name}'`).join(', ')}`,
      );
    }
    if (feeds[input.name]) throw badRequest(`input '${input.name}' is given more than once`);
    if (input.datatype !== spec.datatype && !floatConvertible(input.datatype, spec.datatype)) {
      throw badRequest(
        `input '${input.name}': datatype ${input.datatype} does not match the model's ${spec.datatype}`,
      );
    }
    const shapeOk =
      input.shape.length === spec.shape.length &&
      input.shape.every((d, i) => spec.shape[i] === -1 || spec.shape[i] === d);
    if (!shapeOk) {
      throw badRequest(
        `input '${input.name}': shape [${input.shape.join(',')}] does not fit the model's [${spec.shape.join(',')}] (-1 = any)`,
      );
    }
    const size = input.parameters?.binary_data_size;
    let data: TensorData;
    if (size !== undefined) {
      if (input.data !== undefined)
        throw badRequest(`input '${input.name}' has both binary_data_size and data`);
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
        throw badRequest(`input '${input.name}': binary_data_size must be a non-negative integer`);
      }
      if (offset + size > binary.length) {
        throw badRequest(
          `input '${input.name}': binary_data_size ${size} runs past the end of the binary data`,
        );
      }
      data = decodeBinary(input.name, input.datatype, input.shape, binary.subarray(offset, offset + size));
      offset += size;
    } else {
      if (input.data === undefined)
        throw badRequest(`input '${input.name}' has no data (and no binary_data_size)`);
      data = decodeJson(input.name, input.datatype, input.shape, input.data);
    }
    feeds[input.name] = { data: convertFloat(data, input.datatype, spec.datatype), shape: input.shape };
  }
  if (offset !== binary.length) {
    throw badRequest(
      `${binary.length - offset} bytes of binary data are not claimed by any input's binary_data_size`,
    );
  }
  const missing = model.inputs.filter((s) => !feeds[s.name]);
  if (missing.length > 0)
    throw badRequest(`missing input(s) ${missing.map((s) => `'${s.name}'`).join(', ')}`);

  let rows = 1;
  if (model.batched) {
    const counts = new Set(Object.values(feeds).map((f) => f.shape[0]));
    if (counts.size !== 1) throw badRequest('all inputs must have the same size in dimension 0 (the batch)');
    rows = [...counts][0]!;
    if (rows < 1) throw badRequest('the batch dimension must be at least 1');
  }
  const key = model.inputs.map((s) => feeds[s.name]!.shape.slice(model.batched ? 1 : 0).join('x')).join('|');
  let work = 0;
  for (const f of Object.values(feeds)) work += f.data.length;

  const allBinary = flag(req.parameters, 'binary_data_output');
  const requested: RequestedOutput[] = req.outputs ?? model.outputs.map((o) => ({ name: o.name }));
  const outputs = requested.map((o) => {
    if (!model.outputs.some((s) => s.name === o.name)) {
      throw badRequest(
        `unknown output '${o.name}'; model '${model.name}' has ${model.outputs.map((s) => `'${s.name}'`).join(', ')}`,
      );
    }
    const own = o.parameters?.binary_data;
    return { name: o.name, binary: typeof own === 'boolean' ? own : allBinary };
  });
  return { id: req.id, feeds, rows, key, work, outputs };
}

export interface EncodedResponse {
  json: Record<string, unknown>;
  /** Binary output chunks, in the order of the outputs that carry binary_data_size. */
  binary: Uint8Array[];
}

export function encodeResponse(model: ModelView, req: DecodedRequest, results: Feeds): EncodedResponse {
  const binary: Uint8Array[] = [];
  const outputs = req.outputs.map(({ name, binary: asBinary }) => {
    const spec = model.outputs.find((s) => s.name === name)!;
    const result = results[name];
    if (!result) throw new Error(`output '${name}' missing from the run's results`);
    const base = { name, datatype: spec.datatype, shape: result.shape };
    if (!asBinary) return { ...base, data: encodeJson(spec.datatype, result.data) };
    const bytes = encodeBinary(spec.datatype, result.data);
    binary.push(bytes);
    return { ...base, parameters: { binary_data_size: bytes.length } };
  });
  const json: Record<string, unknown> = { model_name: model.name, model_version: '1' };
  if (req.id !== undefined) json.id = req.id;
  json.outputs = outputs;
  return { json, binary };
}
