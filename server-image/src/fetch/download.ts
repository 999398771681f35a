// One file from a source to disk: streamed (never held whole in memory), hashed on the way,
// counted against the model's size cap, written under a temporary name and renamed only once
// complete and verified, so a half-written or unverified file is never where the server looks.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FetchError } from './errors.ts';
import type { Opened } from './sources.ts';

/** What all the model's files together may take; shared by every file of one fetch. */
export class SizeCap {
  private used = 0;
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  take(bytes: number, name: string): void {
    this.used += bytes;
    if (this.used > this.maxBytes) throw this.exceeded(name);
  }

  /** Refuses up front a file whose declared size cannot fit. */
  check(declared: number | undefined, name: string): void {
    if (declared !== undefined && this.used + declared > this.maxBytes) throw this.exceeded(name, declared);
  }

  private exceeded(name: string, declared?: number): FetchError {
    const what = declared === undefined ? 'went past it' : `declares ${declared} bytes`;
    return new FetchError(
      `the model is larger than the size cap of ${formatBytes(this.maxBytes)} (--max-bytes ${this.maxBytes}, spec.model.maxSize): ${name} ${what}`,
    );
  }
}

export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1 && Number.isInteger(v / 1024)) {
    v /= 1024;
    i++;
  }
  return `${v} ${units[i]}`;
}

export interface Downloaded {
  bytes: number;
  sha256: string;
}

/**
 * Writes `opened` to `target`. With `expectedSha256`, a mismatch fails and nothing is left at
 * `target`. `name` is the file's name in messages.
 */
export async function download(
  opened: Opened,
  target: string,
  name: string,
  cap: SizeCap,
  expectedSha256: string | undefined,
): Promise<Downloaded> {
  try {
    cap.check(opened.size, name);
    await mkdir(dirname(target), { recursive: true });
  } catch (err) {
    opened.body.destroy();
    throw err;
  }
  const partial = `${target}.partial`;
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await pipeline(
      opened.body,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          cap.take(chunk.length, name);
          bytes += chunk.length;
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(partial, { mode: 0o644 }),
    );
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof FetchError) throw err;
    throw new FetchError(`reading ${opened.from} failed: ${(err as Error).cause ?? (err as Error).message}`);
  }
  const sha256 = hash.digest('hex');
  if (opened.size !== undefined && bytes !== opened.size) {
    await rm(partial, { force: true });
    throw new FetchError(`${name} ended after ${bytes} of the ${opened.size} bytes ${opened.from} declared`);
  }
  if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
    await rm(partial, { force: true });
    throw new FetchError(`checksum mismatch for ${name}: expected sha256 ${expectedSha256}, got ${sha256}`);
  }
  await rename(partial, target);
  return { bytes, sha256 };
}
