// The model version spec.model pins, computed as the server computes it (server-image/src/
// model-version.ts): `sha256:` + the SHA-256 of the pinned files' digests, sorted, deduplicated,
// each followed by a newline. Known only where spec.model pins digests; otherwise the servers
// alone know what they loaded. Each pod template carries the version it was made for, so its
// ReplicaSet says which version its ready replicas serve (status/model-version.ts).
import { createHash } from 'node:crypto';
import type { ModelSpecDefaulted } from '../api/servingstack.ts';

/** On a pool's pod template: the model version (pinned) its pods were made for. */
export const MODEL_VERSION_ANNOTATION = 'servingstack.dev/model-version';

/**
 * The pinned files by name: spec.model.digests, and spec.model.sha256 under the name of the file
 * the URI names. Keys sorted, so the same spec always gives the same pod template.
 */
export function modelPins(model: ModelSpecDefaulted): Record<string, string> | undefined {
  const pins: Record<string, string> = { ...model.digests };
  if (model.sha256) pins[model.uri.split('/').at(-1)!] = model.sha256;
  const names = Object.keys(pins).sort();
  if (names.length === 0) return undefined;
  return Object.fromEntries(names.map((n) => [n, pins[n]!]));
}

export function versionOf(digests: Iterable<string>): string {
  const lines = [...new Set(digests)].sort().map((d) => `${d}\n`);
  return `sha256:${createHash('sha256').update(lines.join('')).digest('hex')}`;
}

/**
 * The set the stack wants its pools served by: with switchStrategy Together, one named by the
 * pinned version (10 hex digits, a label value); with Rolling, '' (the one Deployment per pool).
 */
export function desiredSet(model: ModelSpecDefaulted): string {
  const version = desiredModelVersion(model);
  return model.switchStrategy === 'Together' && version
    ? version.slice('sha256:'.length, 'sha256:'.length + 10)
    : '';
}

/** The version spec.model pins; undefined when it pins nothing. */
export function desiredModelVersion(model: ModelSpecDefaulted): string | undefined {
  const pins = modelPins(model);
  return pins ? versionOf(Object.values(pins)) : undefined;
}
