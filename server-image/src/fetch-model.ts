// `fetch-model --uri URI --dest DIR [--sha256 HEX]`: the model-fetch init container. A URI
// ending in `.onnx` names one file; any other URI names a directory, from which model.onnx
// (required) and its precision variants (when present) are fetched. Files land under a
// temporary name and are renamed only once complete (and verified), so a half-written model
// is never picked up.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_FILES } from './model.ts';
import { s3Get } from './s3.ts';

export class FetchError extends Error {
  constructor(message: string) {
    super(`fetch-model: ${message}`);
    this.name = 'FetchError';
  }
}

export interface FetchOptions {
  uri: string;
  dest: string;
  sha256?: string;
  env?: NodeJS.ProcessEnv;
  log?: (msg: string) => void;
}

export function parseFetchArgs(argv: readonly string[]): FetchOptions {
  const opts: Partial<FetchOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (!['--uri', '--dest', '--sha256'].includes(flag)) throw new FetchError(`unknown option '${flag}'`);
    if (value === undefined) throw new FetchError(`${flag} needs a value`);
    opts[flag.slice(2) as 'uri' | 'dest' | 'sha256'] = value;
  }
  if (!opts.uri) throw new FetchError('--uri is required (https://, http://, s3:// or file://)');
  if (!opts.dest) throw new FetchError('--dest is required');
  if (opts.sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(opts.sha256)) {
    throw new FetchError(`--sha256 must be 64 hex digits, got '${opts.sha256}'`);
  }
  return opts as FetchOptions;
}

interface Source {
  /** Fetches one file by name, or returns null when it does not exist. */
  get(name: string): Promise<Uint8Array | null>;
  names: string[];
}

const VARIANTS = Object.values(MODEL_FILES);

async function httpGet(url: string, headers: Record<string, string> = {}): Promise<Uint8Array | null> {
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(600_000) });
  } catch (err) {
    throw new FetchError(`GET ${url} failed: ${(err as Error).cause ?? (err as Error).message}`);
  }
  if (res.status === 404) return null;
  if (!res.ok) throw new FetchError(`GET ${url} answered HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

function source(uri: string, env: NodeJS.ProcessEnv): Source {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new FetchError(`'${uri}' is not a URI`);
  }
  const single = url.pathname.endsWith('.onnx');
  const names = single ? [basename(url.pathname)] : VARIANTS;
  const dirOf = (p: string) =>
    single ? p.slice(0, p.length - names[0]!.length) : p.endsWith('/') ? p : `${p}/`;
  switch (url.protocol) {
    case 'https:':
    case 'http:': {
      const dir = new URL(dirOf(url.pathname), url);
      return { names, get: (name) => httpGet(new URL(name, dir).toString()) };
    }
    case 's3:': {
      const bucket = url.hostname;
      if (!bucket) throw new FetchError(`'${uri}' names no bucket`);
      const prefix = dirOf(url.pathname).replace(/^\//, '');
      return {
        names,
        get: (name) => {
          const req = s3Get(bucket, `${prefix}${name}`, env);
          return httpGet(req.url, req.headers);
        },
      };
    }
    case 'file:': {
      const dir = dirOf(fileURLToPath(url));
      return {
        names,
        get: async (name) => {
          const file = join(dir, name);
          if (
            !(await stat(file).then(
              (s) => s.isFile(),
              () => false,
            ))
          )
            return null;
          return new Uint8Array(await readFile(file));
        },
      };
    }
    default:
      throw new FetchError(
        `unsupported scheme '${url.protocol}' in '${uri}' (use https://, http://, s3:// or file://)`,
      );
  }
}

export async function fetchModel(opts: FetchOptions): Promise<string[]> {
  const log = opts.log ?? (() => {});
  const src = source(opts.uri, opts.env ?? process.env);
  await mkdir(opts.dest, { recursive: true });
  const written: string[] = [];
  for (const [i, name] of src.names.entries()) {
    const bytes = await src.get(name);
    const required = i === 0;
    if (!bytes) {
      if (required) throw new FetchError(`${name} not found at ${opts.uri}`);
      continue;
    }
    // The checksum covers the named file, or model.onnx when a directory is fetched.
    if (required && opts.sha256) {
      const got = createHash('sha256').update(bytes).digest('hex');
      if (got !== opts.sha256.toLowerCase()) {
        throw new FetchError(
          `checksum mismatch for ${name}: expected sha256 ${opts.sha256.toLowerCase()}, got ${got}`,
        );
      }
    }
    const target = join(opts.dest, name);
    const tmp = `${target}.partial`;
    await writeFile(tmp, bytes);
    await rename(tmp, target);
    written.push(target);
    log(`fetched ${name} (${bytes.length} bytes) into ${opts.dest}`);
  }
  return written;
}

export async function fetchModelMain(argv: readonly string[]): Promise<void> {
  const opts = parseFetchArgs(argv);
  try {
    await fetchModel({ ...opts, log: (m) => console.log(m) });
  } catch (err) {
    await Promise.all(VARIANTS.map((n) => rm(join(opts.dest, `${n}.partial`), { force: true })));
    throw err;
  }
}
