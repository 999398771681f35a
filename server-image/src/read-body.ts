// Reads a request body into one buffer of its own, placed so that binary tensor data can be
// used where it lies. With the binary tensor data extension the tensors start right after the
// JSON header, at whatever offset its length gives; the body is therefore written `pad` bytes
// into its buffer so that offset lands on an 8-byte boundary, and typed arrays (any element
// size) can view the tensors instead of copying them. A 110 KB image is then copied once, from
// the socket's chunks into this buffer, not again into a tensor.
import type { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { errorCodes } from 'fastify';
import { RequestError } from './errors.ts';
import { byteCount } from './tensor/body.ts';

/** The element size no typed array exceeds (Float64Array, BigInt64Array). */
export const TENSOR_ALIGNMENT = 8;

/**
 * Bodies up to this size get their buffer when the request starts, from its Content-Length.
 * Larger ones are gathered as they arrive and copied once at the end, so a client that
 * announces a huge body and sends little ties up no more memory than it sent.
 */
export const PREALLOCATE_LIMIT = 4 * 1024 * 1024;

export interface ReadBodyOptions {
  /** Largest body accepted, in bytes; a larger one fails with 413. */
  limit: number;
  /** The Content-Length header, if the request has one (chunked requests do not). */
  contentLength: string | undefined;
  /** Where the binary data starts within the body (Inference-Header-Content-Length), if any. */
  binaryOffset: string | undefined;
  /**
   * The request's Content-Encoding, when compressed: Content-Length then counts the compressed
   * bytes, and `limit` the decompressed ones, so that a small body that inflates to a huge one
   * (a zip bomb) is refused as it inflates, holding no more than `limit` bytes.
   */
  encoding?: ContentEncoding | undefined;
}

export type ContentEncoding = 'gzip' | 'deflate';

/**
 * The Content-Encoding of a request body, as Triton takes them: gzip, or deflate (zlib's format,
 * which is what HTTP's `deflate` and Triton's client send). Anything else is a 415.
 */
export function contentEncoding(header: string | string[] | undefined): ContentEncoding | undefined {
  const value = (Array.isArray(header) ? header.join(',') : (header ?? '')).trim().toLowerCase();
  if (value === '' || value === 'identity') return undefined;
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  throw new RequestError(
    415,
    `unsupported Content-Encoding '${value}': this server takes gzip, deflate or none`,
  );
}

/**
 * Bytes to leave in front of the body so that `binaryOffset` falls on an aligned address. A
 * malformed offset gets no padding: splitBody rejects it with a message of its own.
 */
export function alignmentPad(binaryOffset: string | undefined): number {
  const offset = byteCount(binaryOffset);
  if (offset === undefined) return 0;
  return (TENSOR_ALIGNMENT - (offset % TENSOR_ALIGNMENT)) % TENSOR_ALIGNMENT;
}

/**
 * Binary bodies up to this size are kept for reuse once their request is done with them
 * (releaseBody), up to BODY_REUSE_BYTES of the latest released at once. A fresh 110 KB body
 * per request is memory outside V8's heap that only a full collection frees, and V8 ran one
 * about every 200 requests for it, marking the server's whole heap each time: measured on the
 * classifier at one client (bench/latency-cpu.bench.ts), reusing the body cut the latency
 * pool's CPU per request by about a tenth (docs/benchmarks.md).
 */
export const REUSED_BODY_MAX_BYTES = 1024 * 1024;
export const BODY_REUSE_BYTES = 8 * 1024 * 1024;

/** Released bodies' memory, by size; within a size, the latest released last. */
const released = new Map<number, ArrayBuffer[]>();
/**
 * The same memory in the order it was released, oldest first: what goes when a released body
 * needs room. Kept instead, the memory of sizes that stopped coming (a client that changed its
 * inputs) would hold the room for good, and no body would be reused again.
 */
const releaseOrder = new Set<ArrayBuffer>();
let releasedBytes = 0;
/**
 * The body each reusable memory was handed to and not yet released: only that body gives it
 * back, once (a stale body released again cannot take memory from the one that has it now).
 */
const lent = new WeakMap<ArrayBuffer, Uint8Array>();

/** Stops counting released memory that `list` (its size's) no longer holds. */
function untrack(memory: ArrayBuffer, list: ArrayBuffer[]): void {
  if (list.length === 0) released.delete(memory.byteLength);
  releaseOrder.delete(memory);
  releasedBytes -= memory.byteLength;
}

/** Forgets released memory: the collector frees it. */
function forget(memory: ArrayBuffer): void {
  const list = released.get(memory.byteLength)!;
  list.splice(list.indexOf(memory), 1);
  untrack(memory, list);
}

/** A binary body of `length` bytes, `pad` bytes into memory a released body's of that size, or new. */
function binaryBody(pad: number, length: number): Buffer {
  const size = pad + length;
  const list = released.get(size);
  const reused = list?.pop();
  if (reused) untrack(reused, list!);
  const body = Buffer.from(reused ?? (Buffer.allocUnsafeSlow(size).buffer as ArrayBuffer), pad, length);
  // The limit is on the body the client sent, not on the pad in front of it.
  if (length <= REUSED_BODY_MAX_BYTES) lent.set(body.buffer, body);
  return body;
}

/**
 * Gives a body's memory back for the next body of its size, once nothing uses it any more: the
 * model has run on the tensors viewing it (or never will), and nothing else reads it. Only a
 * body bodyBuffer returned gives it back, once; memory moved to the inference worker (detached,
 * of length 0 here) is left to the garbage collector, and so is the memory released longest ago
 * when there is no room for this one under BODY_REUSE_BYTES.
 */
export function releaseBody(body: Uint8Array | null | undefined): void {
  const memory = body?.buffer;
  if (!(memory instanceof ArrayBuffer) || lent.get(memory) !== body) return;
  lent.delete(memory);
  const size = memory.byteLength;
  if (size === 0) return;
  for (const oldest of releaseOrder) {
    if (releasedBytes + size <= BODY_REUSE_BYTES) break;
    forget(oldest);
  }
  let list = released.get(size);
  if (!list) released.set(size, (list = []));
  list.push(memory);
  releaseOrder.add(memory);
  releasedBytes += size;
}

/**
 * Memory for a body of `length` bytes, placed so that its binary part (at `binaryOffset`)
 * starts aligned. A body with binary data gets memory of its own (never a slice of Node's
 * shared pool, nor of another body in use), so the tensors viewing it may later be handed to
 * the inference worker; a JSON body, whose tensors are always built anew, may share the pool.
 */
export function bodyBuffer(length: number, binaryOffset: string | undefined): Buffer {
  if (binaryOffset === undefined) return Buffer.allocUnsafe(length);
  return binaryBody(alignmentPad(binaryOffset), length);
}

/**
 * Collects `stream` into one bodyBuffer. The same errors as fastify's own body reader: 413 over
 * the limit, 400 when the body's size does not match its Content-Length or the stream fails.
 */
export function readBody(
  stream: Readable,
  opts: ReadBodyOptions,
  done: (err: Error | null, body?: Buffer) => void,
): void {
  // Node's parser has already refused a malformed Content-Length.
  const declared = byteCount(opts.contentLength);
  if (declared !== undefined && declared > opts.limit) {
    done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    return;
  }
  if (opts.encoding === undefined) collect(stream, opts, declared, done);
  else inflate(stream, opts.encoding, opts, declared, done);
}

/** A compressed body: Content-Length checked on what arrives, the limit on what it inflates to. */
function inflate(
  stream: Readable,
  encoding: ContentEncoding,
  opts: ReadBodyOptions,
  declared: number | undefined,
  done: (err: Error | null, body?: Buffer) => void,
): void {
  const inflater = encoding === 'gzip' ? createGunzip() : createInflate();
  let settled = false;
  const settle = (err: Error | null, body?: Buffer) => {
    if (settled) return;
    settled = true;
    stream.removeListener('data', onData);
    stream.removeListener('end', onEnd);
    if (err) {
      stream.unpipe(inflater);
      inflater.destroy();
    }
    done(err, body);
  };
  let received = 0;
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (declared !== undefined && received > declared)
      settle(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
  };
  const onEnd = () => {
    if (declared !== undefined && received !== declared)
      settle(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.once('error', (err: Error & { statusCode?: number }) => {
    if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
    settle(err);
  });
  stream.pipe(inflater);
  collect(
    inflater,
    {
      ...opts,
      onStreamError: (err) => new RequestError(400, `request body is not valid ${encoding}: ${err.message}`),
    },
    undefined,
    settle,
  );
}

interface CollectOptions extends ReadBodyOptions {
  /** The error for a failing stream (else the stream's own, as a 400). */
  onStreamError?: (err: Error) => Error;
}

function collect(
  stream: Readable,
  opts: CollectOptions,
  declared: number | undefined,
  done: (err: Error | null, body?: Buffer) => void,
): void {
  // With a Content-Length the buffer is made once and chunks are copied straight into it;
  // without one (chunked transfer), or past PREALLOCATE_LIMIT, they are kept and copied once
  // at the end.
  const sized =
    declared === undefined || declared > PREALLOCATE_LIMIT
      ? undefined
      : bodyBuffer(declared, opts.binaryOffset);
  const chunks: Buffer[] = [];
  let received = 0;

  const finish = (err: Error | null, body?: Buffer) => {
    stream.removeListener('data', onData);
    stream.removeListener('end', onEnd);
    stream.removeListener('error', onError);
    done(err, body);
  };
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (received + bytes.length > opts.limit) return finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    if (declared !== undefined && received + bytes.length > declared)
      return finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    if (sized) bytes.copy(sized, received);
    else chunks.push(bytes);
    received += bytes.length;
  };
  const onEnd = () => {
    if (declared !== undefined && received !== declared)
      return finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    if (sized) return finish(null, sized);
    const body = bodyBuffer(received, opts.binaryOffset);
    let at = 0;
    for (const c of chunks) at += c.copy(body, at);
    finish(null, body);
  };
  const onError = (err: Error & { statusCode?: number }) => {
    if (opts.onStreamError) return finish(opts.onStreamError(err));
    if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
    finish(err);
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
  stream.resume();
}
