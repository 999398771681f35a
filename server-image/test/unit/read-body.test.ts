import { Readable } from 'node:stream';
import { isMarkedAsUntransferable } from 'node:worker_threads';
import { describe, expect, it } from '@jest/globals';
import { PREALLOCATE_LIMIT, TENSOR_ALIGNMENT, alignmentPad, readBody } from '../../src/read-body.ts';
import type { ReadBodyOptions } from '../../src/read-body.ts';

type Outcome = { err: (Error & { statusCode?: number; code?: string }) | null; body?: Buffer };

function read(chunks: (Buffer | Error)[], opts: Partial<ReadBodyOptions>): Promise<Outcome> {
  const stream = new Readable({ read() {} });
  for (const c of chunks) {
    if (c instanceof Error) {
      setImmediate(() => stream.destroy(c));
      break;
    }
    stream.push(c);
  }
  if (!chunks.some((c) => c instanceof Error)) stream.push(null);
  return new Promise((resolve) =>
    readBody(
      stream,
      { limit: 1 << 20, contentLength: undefined, binaryOffset: undefined, ...opts },
      (err, body) => resolve({ err: err as Outcome['err'], ...(body ? { body } : {}) }),
    ),
  );
}

const bytes = (n: number, seed = 0) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

describe('readBody', () => {
  it('places the binary part on an 8-byte boundary whatever the JSON header length', async () => {
    for (let header = 0; header < 2 * TENSOR_ALIGNMENT; header++) {
      const body = bytes(header + 40, header);
      for (const contentLength of [String(body.length), undefined]) {
        const { err, body: got } = await read([body.subarray(0, 5), body.subarray(5)], {
          contentLength,
          binaryOffset: String(header),
        });
        expect(err).toBeNull();
        expect(got!.equals(body)).toBe(true);
        expect((got!.byteOffset + header) % TENSOR_ALIGNMENT).toBe(0);
      }
    }
  });

  it('gives a body with binary data memory of its own, which may be moved to a worker', async () => {
    const body = bytes(100);
    const { body: got } = await read([body], { contentLength: '100', binaryOffset: '13' });
    expect(got!.buffer.byteLength).toBe(100 + alignmentPad('13'));
    expect(isMarkedAsUntransferable(got!.buffer)).toBe(false);
  });

  it('gathers a body over PREALLOCATE_LIMIT as it arrives, still aligned and whole', async () => {
    const size = PREALLOCATE_LIMIT + 1000;
    const body = bytes(size, 3);
    const pieces = [0, 1, 2, 3].map((i) => body.subarray((i * size) / 4, ((i + 1) * size) / 4));
    const { err, body: got } = await read(pieces, {
      limit: 2 * size,
      contentLength: String(size),
      binaryOffset: '5',
    });
    expect(err).toBeNull();
    expect(got!.equals(body)).toBe(true);
    expect((got!.byteOffset + 5) % TENSOR_ALIGNMENT).toBe(0);
    // A client that announces that much and sends less is refused, as with a small body.
    const short = await read([bytes(10)], { limit: 2 * size, contentLength: String(size) });
    expect(short.err?.code).toBe('FST_ERR_CTP_INVALID_CONTENT_LENGTH');
  });

  it('reads a JSON body as sent', async () => {
    const json = Buffer.from('{"inputs":[]}');
    const { err, body } = await read([json], { contentLength: String(json.length) });
    expect(err).toBeNull();
    expect(body!.toString()).toBe('{"inputs":[]}');
  });

  it('answers 413 at once for a Content-Length over the limit, and for a chunked body that grows past it', async () => {
    for (const outcome of [
      await read([bytes(10)], { limit: 64, contentLength: '65' }),
      await read([bytes(40), bytes(40)], { limit: 64 }),
    ]) {
      expect(outcome.err?.statusCode).toBe(413);
      expect(outcome.err?.code).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
    }
  });

  it('answers 400 when the body is shorter or longer than its Content-Length', async () => {
    for (const outcome of [
      await read([bytes(10)], { contentLength: '11' }),
      await read([bytes(10), bytes(5)], { contentLength: '12', binaryOffset: '3' }),
    ]) {
      expect(outcome.err?.statusCode).toBe(400);
      expect(outcome.err?.code).toBe('FST_ERR_CTP_INVALID_CONTENT_LENGTH');
    }
  });

  it('fails with a 400 when the stream fails part way', async () => {
    const { err, body } = await read([bytes(10), new Error('socket hang up')], { contentLength: '20' });
    expect(err?.message).toBe('socket hang up');
    expect(err?.statusCode).toBe(400);
    expect(body).toBeUndefined();
  });

  it('pads only for a well-formed header length (splitBody rejects the rest)', () => {
    expect([0, 1, 7, 8, 13].map((n) => alignmentPad(String(n)))).toEqual([0, 7, 1, 0, 3]);
    expect(alignmentPad(undefined)).toBe(0);
    expect(alignmentPad('-3')).toBe(0);
    expect(alignmentPad('abc')).toBe(0);
  });
});
