// Reusable memory for batches: every batch of several requests stacks their inputs into one
// tensor, and a fresh typed array for each (1.7 MB for 16 classifier images) costs the
// inference thread zero-filling and page faults on top of the copy, about 3% of its time in
// `make bench`. Buffers come back once the batch's session.run has finished with them.
import type { NumericData } from './tensor/datatypes.ts';

type TypedArrayClass = new (length: number) => NumericData;

/** Free buffers kept per input: the batch computing and the next one being stacked. */
const KEEP = 2;

export class BatchBuffers {
  private readonly free = new Map<string, NumericData[]>();

  /**
   * `length` elements for input `name`: a view on a free buffer of the same type that is big
   * enough, else a new one. Its contents are stale; the caller overwrites all of them.
   */
  take(name: string, type: TypedArrayClass, length: number): NumericData {
    const list = this.free.get(name) ?? [];
    const i = list.findIndex((b) => b.constructor === type && b.length >= length);
    if (i < 0) return new type(length);
    const [buffer] = list.splice(i, 1);
    return buffer!.length === length ? buffer! : buffer!.subarray(0, length);
  }

  /** Returns what `take` gave, once nothing reads it any more. */
  give(name: string, data: NumericData): void {
    const whole = wholeBuffer(data);
    const list = this.free.get(name) ?? [];
    list.push(whole);
    // Keep the largest: a later batch as big as the biggest seen then needs nothing new.
    list.sort((a, b) => b.length - a.length);
    this.free.set(name, list.slice(0, KEEP));
  }
}

/** The whole typed array a `take` view was cut from. */
function wholeBuffer(data: NumericData): NumericData {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data;
  const type = data.constructor as new (buffer: ArrayBufferLike) => NumericData;
  return new type(data.buffer);
}
