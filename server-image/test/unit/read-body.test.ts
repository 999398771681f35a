import { Readable } from 'node:stream';
import { MessageChannel, isMarkedAsUntransferable } from 'node:worker_threads';
import { describe, expect, it } from '@jest/globals';
import {
  BODY_REUSE_BYTES,
  PREALLOCATE_LIMIT,
  REUSED_BODY_MAX_BYTES,
  TENSOR_ALIGNMENT,
  alignmentPad,
  readBody,
  releaseBody,
} from '../../src/read-body.ts';
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

  describe('reuse of binary bodies', () => {
    // Sizes no other test reads, so that memory released elsewhere in this file plays no part.
    const readBinary = async (size: number, seed: number) => {
      const body = bytes(size, seed);
      const { err, body: got } = await read([body.subarray(0, 7), body.subarray(7)], {
        limit: 4 * REUSED_BODY_MAX_BYTES,
        contentLength: String(size),
        binaryOffset: '13',
      });
      expect(err).toBeNull();
      expect(got!.equals(body)).toBe(true);
      expect((got!.byteOffset + 13) % TENSOR_ALIGNMENT).toBe(0);
      return got!;
    };

    it('gives a released body its memory to the next body of its size, and never memory in use', async () => {
      const a = await readBinary(5000, 1);
      const b = await readBinary(5000, 2);
      expect(b.buffer).not.toBe(a.buffer);
      releaseBody(a);
      const c = await readBinary(5000, 3);
      expect(c.buffer).toBe(a.buffer);
      // Released twice, or released while another body holds it: handed out once only.
      releaseBody(a);
      const d = await readBinary(5000, 4);
      expect(d.buffer).not.toBe(c.buffer);
      expect(b.equals(bytes(5000, 2))).toBe(true);
      // A body of another size gets memory of its own.
      releaseBody(c);
      const e = await readBinary(5001, 5);
      expect(e.buffer).not.toBe(c.buffer);
    });

    it('leaves memory moved to the inference worker, and bodies over the limit, to the collector', async () => {
      const moved = await readBinary(6000, 1);
      const { port1, port2 } = new MessageChannel();
      port1.postMessage(moved, [moved.buffer as ArrayBuffer]);
      port1.close();
      port2.close();
      expect(moved.buffer.byteLength).toBe(0);
      releaseBody(moved);
      expect((await readBinary(6000, 2)).buffer.byteLength).toBe(6000 + alignmentPad('13'));
      const big = await readBinary(REUSED_BODY_MAX_BYTES + 8, 3);
      releaseBody(big);
      expect((await readBinary(REUSED_BODY_MAX_BYTES + 8, 4)).buffer).not.toBe(big.buffer);
    });

    it('keeps at most BODY_REUSE_BYTES of released memory', async () => {
      // Room to spare under the bound for the few KB the tests above left released.
      const size = REUSED_BODY_MAX_BYTES - 64 * 1024 - 3;
      const count = Math.floor(BODY_REUSE_BYTES / (size + alignmentPad('13'))) + 2;
      const bodies = [];
      for (let i = 0; i < count; i++) bodies.push(await readBinary(size, i));
      for (const b of bodies) releaseBody(b);
      const kept = new Set(bodies.map((b) => b.buffer));
      let reused = 0;
      for (let i = 0; i < count; i++) if (kept.has((await readBinary(size, i)).buffer)) reused++;
      expect(reused).toBe(count - 2);
    });

    it('reuses a body of REUSED_BODY_MAX_BYTES, whatever padding its binary part needed', async () => {
      // The limit is on the body the client sent; the few bytes in front that align its binary
      // part (binary offset 13: 3 bytes) are the server's own.
      const body = await readBinary(REUSED_BODY_MAX_BYTES, 1);
      releaseBody(body);
      expect((await readBinary(REUSED_BODY_MAX_BYTES, 2)).buffer === body.buffer).toBe(true);
    });

    it('makes room for the latest released body by forgetting the one released longest ago', async () => {
      // Bodies of sizes that never come again (clients that changed their inputs) must not hold
      // the room for good, or no body would be reused again.
      const size = (i: number) => REUSED_BODY_MAX_BYTES / 2 - 8 * (i + 1) - 3;
      const count = Math.ceil(BODY_REUSE_BYTES / (REUSED_BODY_MAX_BYTES / 2)) + 2;
      const stale = [];
      for (let i = 0; i < count; i++) stale.push(await readBinary(size(i), i));
      for (const b of stale) releaseBody(b);
      const latest = await readBinary(7003, 1);
      releaseBody(latest);
      expect((await readBinary(7003, 2)).buffer === latest.buffer).toBe(true);
      // Still at most BODY_REUSE_BYTES: the first released went to make room.
      expect((await readBinary(size(0), 3)).buffer === stale[0]!.buffer).toBe(false);
      expect((await readBinary(size(count - 1), 4)).buffer === stale[count - 1]!.buffer).toBe(true);
    });

    it('never reuses a JSON body (its memory may be a slice of Node’s shared pool)', async () => {
      const { body } = await read([Buffer.from('{"a":1}')], { contentLength: '7' });
      releaseBody(body);
      const { body: next } = await read([Buffer.from('{"b":2}')], { contentLength: '7' });
      expect(next!.toString()).toBe('{"b":2}');
      expect(body!.toString()).toBe('{"a":1}');
    });
  });
});
