// Compressed inference responses, as Triton sends them: gzip or deflate when the request's
// Accept-Encoding asks for one (Triton's client sets it from `response_compression_algorithm`).
// Compression runs on libuv's thread pool, off the event loop.
import { promisify } from 'node:util';
import { deflate, gzip } from 'node:zlib';
import type { ContentEncoding } from './read-body.ts';

const COMPRESS: Record<ContentEncoding, (b: Buffer) => Promise<Buffer>> = {
  gzip: promisify(gzip),
  deflate: promisify(deflate),
};

/** The encoding to answer with: gzip before deflate, whichever the client accepts (q > 0). */
export function responseEncoding(header: string | string[] | undefined): ContentEncoding | undefined {
  if (header === undefined) return undefined;
  const accepted = new Map<string, number>();
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find(Boolean);
    if (name) accepted.set(name, q ? Number(q[1]) : 1);
  }
  for (const encoding of ['gzip', 'deflate'] as const) {
    if ((accepted.get(encoding) ?? 0) > 0) return encoding;
  }
  return undefined;
}

export const compress = (encoding: ContentEncoding, body: Buffer): Promise<Buffer> =>
  COMPRESS[encoding](body);
