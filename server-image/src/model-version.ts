// The model's version identity: a digest of the files' contents, so that two pools (or two
// replicas) that answer with the same version computed with the same bytes, whatever their names.
//
// The version is `sha256:` + the SHA-256 of the files' SHA-256 digests (lowercase hex), sorted,
// deduplicated, each followed by a newline. Which files: those the stack pins (MODEL_DIGESTS,
// from spec.model.digests and spec.model.sha256), when it pins any, so that both pools report
// the release's one version although each loads only its precision's file; otherwise the files
// this server loaded. Either way the files loaded are hashed here, at load: a pinned release is
// claimed only by a server whose loaded files are in it. The operator computes the same version
// from the spec (operator/src/builders/model-version.ts); a test on each side checks the formula.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { externalTensors } from './fetch/external-data.ts';

export interface ModelIdentity {
  /** `sha256:<64 hex>`: what X-Model-Version, the metadata and the info metric report. */
  version: string;
  /** SHA-256 of each file loaded, by its path relative to the model's folder. */
  files: Record<string, string>;
  /** Whether the version is the pinned release's (else the loaded files'). */
  pinned: boolean;
}

/** The version of a set of files, from their SHA-256 digests (names play no part). */
export function versionOf(digests: Iterable<string>): string {
  const lines = [...new Set(digests)].sort().map((d) => `${d}\n`);
  return `sha256:${createHash('sha256').update(lines.join('')).digest('hex')}`;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** A loaded file whose content the pins do not name: the pod holds another model than the spec. */
export class ModelVersionError extends Error {
  override readonly name = 'ModelVersionError';
}

/**
 * Hashes the model file and the external-data files it names, and checks them against `pins`
 * when given: a file pinned under its own name must match that digest, any other must be one of
 * the pinned digests (a single fetched file is pinned under its name at the source).
 */
export async function identifyModel(
  modelFile: string,
  pins?: Record<string, string>,
): Promise<ModelIdentity> {
  const dir = dirname(modelFile);
  const names = [basename(modelFile), ...new Set((await externalTensors(modelFile)).map((t) => t.location))];
  const files: Record<string, string> = {};
  for (const name of names) files[name] = await sha256File(join(dir, name));
  if (!pins || Object.keys(pins).length === 0) {
    return { version: versionOf(Object.values(files)), files, pinned: false };
  }
  const pinned = new Set(Object.values(pins));
  for (const [name, digest] of Object.entries(files)) {
    const own = pins[name];
    if (own !== undefined ? own !== digest : !pinned.has(digest)) {
      throw new ModelVersionError(
        `${join(dir, name)} has sha256 ${digest}, ` +
          (own !== undefined
            ? `but MODEL_DIGESTS (spec.model.digests) pins ${name} to ${own}`
            : 'which no digest in MODEL_DIGESTS (spec.model.digests, spec.model.sha256) names') +
          ': the files are not the model version the stack asks for',
      );
    }
  }
  return { version: versionOf(pinned), files, pinned: true };
}
