// The external-data files an ONNX model names: tensors whose bytes live beside the model
// (TensorProto.data_location = EXTERNAL, with `location`, `offset`, `length` entries) rather than
// inside it. The model is walked from disk with positional reads, skipping every field it does not
// need, so a large model with inline weights costs a few reads, never its size in memory.
// Field numbers are onnx/onnx.proto's.
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

export interface ExternalTensor {
  tensor: string;
  location: string;
  offset: number;
  /** Undefined: to the end of the file. */
  length: number | undefined;
}

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;
const EXTERNAL = 1;

/** Which length-delimited fields of which message hold what: the path from ModelProto to TensorProto. */
type Kind = 'model' | 'graph' | 'node' | 'attribute' | 'sparse' | 'tensor';
const CHILDREN: Record<Exclude<Kind, 'tensor'>, Record<number, Kind>> = {
  model: { 7: 'graph' },
  // node, initializer, sparse_initializer
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  // attribute
  node: { 5: 'attribute' },
  // t, g, tensors, graphs, sparse_tensor, sparse_tensors
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  // values, indices
  sparse: { 1: 'tensor', 2: 'tensor' },
};
/** Subgraphs nest (If, Loop, Scan); a file nesting deeper than this is not a model. */
const MAX_DEPTH = 64;

class ModelFormatError extends Error {}

/** Positional reads through a small window, so tags and lengths cost no system call each. */
class Bytes {
  private window = Buffer.alloc(0);
  private windowAt = 0;
  private readonly fh: FileHandle;
  readonly size: number;
  constructor(fh: FileHandle, size: number) {
    this.fh = fh;
    this.size = size;
  }

  async byte(pos: number): Promise<number> {
    if (pos < this.windowAt || pos >= this.windowAt + this.window.length) {
      if (pos >= this.size) throw new ModelFormatError('truncated');
      const buf = Buffer.alloc(Math.min(64 * 1024, this.size - pos));
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, pos);
      this.window = buf.subarray(0, bytesRead);
      this.windowAt = pos;
    }
    return this.window[pos - this.windowAt]!;
  }

  async slice(pos: number, len: number): Promise<Buffer> {
    if (pos + len > this.size) throw new ModelFormatError('truncated');
    const buf = Buffer.alloc(len);
    await this.fh.read(buf, 0, len, pos);
    return buf;
  }

  async varint(pos: number): Promise<[value: number, next: number]> {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = await this.byte(pos + i);
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return [value, pos + i + 1];
    }
    throw new ModelFormatError('bad varint');
  }
}

interface Field {
  field: number;
  wire: number;
  /** A varint's value, or a length-delimited field's length. */
  value: number;
  /** Where a length-delimited field's bytes start. */
  at: number;
}

async function* fields(b: Bytes, start: number, end: number): AsyncGenerator<Field> {
  let pos = start;
  while (pos < end) {
    const [tag, afterTag] = await b.varint(pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let value = 0;
    let next: number;
    if (wire === VARINT) [value, next] = await b.varint(afterTag);
    else if (wire === LEN) {
      const [len, at] = await b.varint(afterTag);
      value = len;
      next = at + len;
    } else if (wire === FIXED64) next = afterTag + 8;
    else if (wire === FIXED32) next = afterTag + 4;
    else throw new ModelFormatError(`wire type ${wire}`);
    if (next > end) throw new ModelFormatError('truncated');
    yield { field, wire, value, at: wire === LEN ? next - value : afterTag };
    pos = next;
  }
}

async function tensor(b: Bytes, start: number, end: number): Promise<ExternalTensor | undefined> {
  let name = '';
  let external = false;
  const entries: Record<string, string> = {};
  for await (const f of fields(b, start, end)) {
    if (f.field === 8 && f.wire === LEN) name = (await b.slice(f.at, f.value)).toString('utf8');
    else if (f.field === 14 && f.wire === VARINT) external = f.value === EXTERNAL;
    else if (f.field === 13 && f.wire === LEN) {
      let key = '';
      let value = '';
      for await (const e of fields(b, f.at, f.at + f.value)) {
        if (e.wire !== LEN) continue;
        const s = (await b.slice(e.at, e.value)).toString('utf8');
        if (e.field === 1) key = s;
        else if (e.field === 2) value = s;
      }
      entries[key] = value;
    }
  }
  if (!external) return undefined;
  const location = entries.location;
  if (!location) throw new ModelFormatError(`tensor '${name}' is external but names no location`);
  const int = (key: string) => {
    const raw = entries[key];
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw)) throw new ModelFormatError(`tensor '${name}' has ${key} '${raw}'`);
    return Number(raw);
  };
  return { tensor: name, location, offset: int('offset') ?? 0, length: int('length') };
}

async function walk(
  b: Bytes,
  kind: Exclude<Kind, 'tensor'>,
  start: number,
  end: number,
  depth: number,
  out: ExternalTensor[],
): Promise<void> {
  if (depth > MAX_DEPTH) throw new ModelFormatError('graphs nest too deep');
  const children = CHILDREN[kind];
  for await (const f of fields(b, start, end)) {
    const child = f.wire === LEN ? children[f.field] : undefined;
    if (!child) continue;
    if (child === 'tensor') {
      const t = await tensor(b, f.at, f.at + f.value);
      if (t) out.push(t);
    } else await walk(b, child, f.at, f.at + f.value, depth + 1, out);
  }
}

/** The model's external tensors, in file order; a file that is not an ONNX model throws, naming it. */
export async function externalTensors(file: string): Promise<ExternalTensor[]> {
  const fh = await open(file, 'r');
  try {
    const b = new Bytes(fh, (await fh.stat()).size);
    const out: ExternalTensor[] = [];
    await walk(b, 'model', 0, b.size, 0, out);
    return out;
  } catch (err) {
    if (err instanceof ModelFormatError)
      throw new Error(`${file} is not a readable ONNX model (${err.message})`, { cause: err });
    throw err;
  } finally {
    await fh.close();
  }
}
