// `fetch-model --uri URI --dest DIR [--precision P] [--sha256 HEX] [--digest NAME=HEX]...
// [--max-bytes N]`: the model-fetch init container. A URI ending in `.onnx` names one file, which
// lands under the name the server loads for the precision (model.onnx for fp32, model.fp16.onnx,
// model.int8.onnx), whatever it was called at the source. Any other URI names a folder: the
// precision's file is fetched from it (without --precision: model.onnx, required, and the variants
// that exist). The external-data files each model names are fetched beside it.
//
// Verification is all or nothing: once any digest is given, every file written needs one (keyed
// by its path at the source; --sha256 is the digest of the file the URI names, or of model.onnx),
// and a file without one is refused before a byte of it is written.
import { rm, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { MODEL_FILES } from '../model.ts';
import type { Precision } from '../model.ts';
import { download, SizeCap } from './download.ts';
import { FetchError } from './errors.ts';
import { externalTensors } from './external-data.ts';
import { sourceOf } from './sources.ts';
import type { Source } from './sources.ts';

export { FetchError } from './errors.ts';

/** What the model's files may take together unless told otherwise (the CRD's default maxSize). */
export const DEFAULT_MAX_BYTES = 16 * 1024 ** 3;
const PRECISIONS = Object.keys(MODEL_FILES) as Precision[];
const HEX64 = /^[0-9a-f]{64}$/;

export interface FetchOptions {
  uri: string;
  dest: string;
  precision?: Precision;
  /** The digest of the file the URI names (a single file), or of model.onnx (a folder). */
  sha256?: string;
  /** sha256 per file, by its path relative to the model's folder at the source. */
  digests?: Record<string, string>;
  maxBytes?: number;
  env?: NodeJS.ProcessEnv;
  log?: (msg: string) => void;
}

export function parseFetchArgs(argv: readonly string[]): FetchOptions {
  const opts: FetchOptions = { uri: '', dest: '' };
  const flags = ['--uri', '--dest', '--precision', '--sha256', '--digest', '--max-bytes'];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (!flags.includes(flag)) throw new FetchError(`unknown option '${flag}'`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new FetchError(`${flag} needs a value`);
    if (flag === '--uri') opts.uri = value;
    else if (flag === '--dest') opts.dest = value;
    else if (flag === '--precision') {
      if (!(PRECISIONS as string[]).includes(value))
        throw new FetchError(`--precision must be one of ${PRECISIONS.join(', ')}, got '${value}'`);
      opts.precision = value as Precision;
    } else if (flag === '--sha256') {
      if (!HEX64.test(value))
        throw new FetchError(`--sha256 must be 64 lowercase hex digits, got '${value}'`);
      opts.sha256 = value;
    } else if (flag === '--digest') {
      const eq = value.lastIndexOf('=');
      const [name, hex] = [value.slice(0, eq), value.slice(eq + 1)];
      if (eq <= 0 || !HEX64.test(hex))
        throw new FetchError(`--digest must be <file>=<64 lowercase hex digits>, got '${value}'`);
      opts.digests = { ...opts.digests, [name]: hex };
    } else {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < 1)
        throw new FetchError(`--max-bytes must be a positive whole number of bytes, got '${value}'`);
      opts.maxBytes = Number(value);
    }
  }
  if (!opts.uri) throw new FetchError('--uri is required (https://, http://, s3:// or file://)');
  if (!opts.dest) throw new FetchError('--dest is required');
  return opts;
}

/** One file to fetch: its path at the source, where it lands, and whether it must exist. */
interface Planned {
  from: string;
  as: string;
  required: boolean;
}

function plan(single: string | undefined, precision: Precision | undefined): Planned[] {
  if (single) return [{ from: single, as: MODEL_FILES[precision ?? 'fp32'], required: true }];
  if (precision) return [{ from: MODEL_FILES[precision], as: MODEL_FILES[precision], required: true }];
  return PRECISIONS.map((p) => ({ from: MODEL_FILES[p], as: MODEL_FILES[p], required: p === 'fp32' }));
}

/** An external-data location that stays inside the model's folder, or a FetchError naming it. */
function checkedLocation(model: string, location: string): string {
  const parts = location.split('/');
  if (
    isAbsolute(location) ||
    location.includes('\\') ||
    parts.some((p) => p === '..' || p === '' || p === '.')
  ) {
    throw new FetchError(
      `${model} names external data at '${location}': only a relative path inside the model's folder is fetched`,
    );
  }
  return location;
}

class Fetch {
  private readonly opts: FetchOptions;
  private readonly source: Source;
  private readonly digests: Map<string, string>;
  private readonly cap: SizeCap;
  readonly written: string[] = [];

  constructor(opts: FetchOptions, source: Source, mainFile: string) {
    this.opts = opts;
    this.source = source;
    this.digests = new Map(Object.entries(opts.digests ?? {}));
    if (opts.sha256) {
      const had = this.digests.get(mainFile);
      if (had !== undefined && had !== opts.sha256)
        throw new FetchError(`--sha256 and --digest ${mainFile}= disagree`);
      this.digests.set(mainFile, opts.sha256);
    }
    this.cap = new SizeCap(opts.maxBytes ?? DEFAULT_MAX_BYTES);
  }

  private get verifying(): boolean {
    return this.digests.size > 0;
  }

  private digestOf(from: string, what: string): string | undefined {
    const d = this.digests.get(from);
    if (this.verifying && d === undefined) {
      throw new FetchError(
        `no digest for ${what}: once one file is verified every file is (add ${from} to spec.model.digests, or --digest ${from}=<sha256>)`,
      );
    }
    return d;
  }

  /** Fetches one file; false when it does not exist at the source. */
  async file(from: string, as: string, what: string, required: boolean): Promise<boolean> {
    const opened = await this.source.open(from);
    if (!opened) {
      if (required) throw new FetchError(`${what} not found at ${this.source.describe(from)}`);
      return false;
    }
    let expected: string | undefined;
    try {
      expected = this.digestOf(from, what);
    } catch (err) {
      opened.body.destroy();
      throw err;
    }
    const target = join(this.opts.dest, as);
    // A file from an earlier attempt goes first, so the folder never holds two copies at once.
    await rm(target, { force: true });
    const got = await download(opened, target, from, this.cap, expected);
    this.written.push(target);
    this.opts.log?.(
      `fetched ${from}${from === as ? '' : ` as ${as}`} (${got.bytes} bytes, sha256 ${got.sha256}${expected ? ', verified' : ''})`,
    );
    return true;
  }

  /**
   * The external-data files a fetched model names, fetched beside it (model files sit at the top
   * of the folder, at the source and here) and checked to hold the bytes its tensors point at.
   */
  async externalData(modelFrom: string, modelAt: string): Promise<void> {
    let tensors;
    try {
      tensors = await externalTensors(modelAt);
    } catch (err) {
      throw new FetchError((err as Error).message, { cause: err });
    }
    for (const location of new Set(tensors.map((t) => checkedLocation(modelFrom, t.location)))) {
      const at = join(this.opts.dest, location);
      if (!this.written.includes(at))
        await this.file(location, location, `${location} (external data of ${modelFrom})`, true);
      const size = (await stat(at)).size;
      for (const t of tensors.filter((x) => x.location === location)) {
        const end = t.length === undefined ? t.offset : t.offset + t.length;
        if (end > size) {
          throw new FetchError(
            `${location} holds ${size} bytes, but tensor '${t.tensor}' of ${modelFrom} needs bytes ${t.offset} to ${end}`,
          );
        }
      }
    }
  }
}

/** Fetches the model into opts.dest; returns the paths written. */
export async function fetchModel(opts: FetchOptions): Promise<string[]> {
  const { source, single } = sourceOf(opts.uri, opts.env ?? process.env);
  const files = plan(single, opts.precision);
  const job = new Fetch(opts, source, files[0]!.from);
  for (const f of files) {
    if (await job.file(f.from, f.as, f.from, f.required))
      await job.externalData(f.from, join(opts.dest, f.as));
  }
  return job.written;
}

export async function fetchModelMain(argv: readonly string[]): Promise<void> {
  await fetchModel({ ...parseFetchArgs(argv), log: (m) => console.log(m) });
}
