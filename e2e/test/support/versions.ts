import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

/** The pinned tool versions the local cluster is built from (e2e/cluster/versions.env). */
export function pinnedVersions(
  file = join(repoRoot, 'e2e', 'cluster', 'versions.env'),
): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(\S+)\s*$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) versions[match[1]] = match[2];
  }
  return versions;
}

export function pinnedVersion(name: string): string {
  const version = pinnedVersions()[name];
  if (version === undefined) throw new Error(`e2e/cluster/versions.env does not pin ${name}`);
  return version;
}
