// Where the model's files come from, by URI scheme: each source opens one file by its path
// relative to the model's folder and hands back a stream, never the whole file.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FetchError } from './errors.ts';
import { encodePath, s3Get } from './s3.ts';

export interface Opened {
  body: Readable;
  /** The size the source declares (Content-Length), when it does. */
  size: number | undefined;
  /** Where the bytes came from in the end (after redirects), for messages. */
  from: string;
}

export interface Source {
  /** The file at `path` (relative to the model folder, '/'-separated), or null when it does not exist. */
  open(path: string): Promise<Opened | null>;
  /** How a path reads in messages. */
  describe(path: string): string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** A URL as messages show it: without its query, which may hold a signature or a token. */
const shown = (u: URL | string) => {
  const v = new URL(u);
  return `${v.origin}${v.pathname}${v.search ? '?…' : ''}`;
};
const MAX_REDIRECTS = 5;
/** A transfer that stalls this long fails; a slow one that keeps moving may take as long as it needs. */
export const IDLE_TIMEOUT_MS = 60_000;

/**
 * GET with redirects followed by hand: one that leaves https is refused (a downgrade would let
 * anyone on the path swap the model), and credentials never follow a redirect to another origin.
 */
async function httpOpen(url: string, headers: Record<string, string>): Promise<Opened | null> {
  let current = new URL(url);
  let sent = headers;
  for (let hop = 0; ; hop++) {
    // One timer for the wait for headers and then for every stall between chunks.
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(new Error(`no data for ${IDLE_TIMEOUT_MS} ms`)), IDLE_TIMEOUT_MS);
    const rearm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new Error(`no data for ${IDLE_TIMEOUT_MS} ms`)), IDLE_TIMEOUT_MS);
    };
    let res: Response;
    try {
      // identity: the bytes hashed and counted are the file's, and Content-Length is their number.
      res = await fetch(current, {
        headers: { ...sent, 'accept-encoding': 'identity' },
        redirect: 'manual',
        signal: idle.signal,
      });
    } catch (err) {
      clearTimeout(timer);
      throw new FetchError(`GET ${shown(current)} failed: ${(err as Error).cause ?? (err as Error).message}`);
    }
    if (!res.ok || !res.body) clearTimeout(timer);
    if (REDIRECTS.has(res.status)) {
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (!location)
        throw new FetchError(`GET ${shown(current)} answered HTTP ${res.status} without a Location`);
      const next = new URL(location, current);
      if (current.protocol === 'https:' && next.protocol !== 'https:') {
        throw new FetchError(
          `GET ${shown(current)} redirected to ${shown(next)}: refusing to follow a redirect from https to ${next.protocol.slice(0, -1)} (the model would travel unprotected)`,
        );
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new FetchError(`GET ${shown(current)} redirected to ${shown(next)}: not an http(s) URL`);
      }
      if (hop >= MAX_REDIRECTS)
        throw new FetchError(`GET ${shown(url)} redirected more than ${MAX_REDIRECTS} times`);
      if (next.origin !== current.origin) sent = {};
      current = next;
      continue;
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new FetchError(`GET ${shown(current)} answered HTTP ${res.status} ${res.statusText}`);
    }
    // A body sent encoded anyway (an object stored with Content-Encoding) is decoded by fetch, and
    // its Content-Length then counts the encoded bytes, not the file's.
    const encoding = res.headers.get('content-encoding');
    const length = encoding && encoding !== 'identity' ? null : res.headers.get('content-length');
    const web = res.body;
    // Rearmed per chunk inside the stream itself: a 'data' listener would start the flow early.
    const watched = async function* () {
      try {
        for await (const chunk of web) {
          rearm();
          yield chunk;
        }
      } finally {
        clearTimeout(timer);
      }
    };
    const body = Readable.from(watched(), { objectMode: false });
    // A body dropped before it was read (a file refused up front) stops the timer and the transfer.
    body.once('close', () => {
      clearTimeout(timer);
      if (!web.locked) web.cancel().catch(() => {});
    });
    return {
      body,
      size: length !== null && /^\d+$/.test(length) ? Number(length) : undefined,
      from: shown(current),
    };
  }
}

/** A directory URI's path with one trailing '/', or a single file's folder. */
const folderOf = (p: string) => (p.endsWith('/') ? p : `${p.slice(0, p.lastIndexOf('/') + 1)}`);

/**
 * The source for a model URI, and the path of the file a single-file URI names (undefined for a
 * folder). The URI is a URI: percent-escapes in its path are decoded once (`my%20model` is the
 * key `my model`), and every request encodes the key once again.
 */
export function sourceOf(
  uri: string,
  env: NodeJS.ProcessEnv,
): { source: Source; single: string | undefined } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new FetchError(`'${uri}' is not a URI`);
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new FetchError(`'${uri}' has a malformed percent-escape`);
  }
  const single = path.endsWith('.onnx') ? path.slice(path.lastIndexOf('/') + 1) : undefined;
  const folder = single ? folderOf(path) : path.endsWith('/') ? path : `${path}/`;
  switch (url.protocol) {
    case 'https:':
    case 'http:': {
      const at = (p: string) => new URL(encodePath(`${folder}${p}`), url.origin);
      // The URI's query goes with every request (a presigned URL's signature, a token) as given,
      // and stays out of messages, where it would leak into the init container's log.
      const get = (p: string) => {
        const u = at(p);
        u.search = url.search;
        return u.href;
      };
      return { single, source: { describe: (p) => at(p).href, open: (p) => httpOpen(get(p), {}) } };
    }
    case 's3:': {
      const bucket = url.hostname;
      if (!bucket) throw new FetchError(`'${uri}' names no bucket`);
      const prefix = folder.replace(/^\//, '');
      return {
        single,
        source: {
          describe: (p) => `s3://${bucket}/${prefix}${p}`,
          open: (p) => {
            const req = s3Get(bucket, `${prefix}${p}`, env);
            return httpOpen(req.url, req.headers);
          },
        },
      };
    }
    case 'file:': {
      const dir = folder;
      return {
        single,
        source: {
          describe: (p) => join(dir, p),
          open: async (p) => {
            const file = join(dir, p);
            const s = await stat(file).catch(() => undefined);
            if (!s?.isFile()) return null;
            return { body: createReadStream(file), size: s.size, from: file };
          },
        },
      };
    }
    default:
      throw new FetchError(
        `unsupported scheme '${url.protocol}' in '${uri}' (use https://, http://, s3:// or file://)`,
      );
  }
}
