import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { chartDir } from '../support/helm.ts';
import { repoRoot } from '../support/paths.ts';

// docs/install.md's values table keeps up with values.yaml: a new value without a row fails here.

// Values that are Kubernetes objects or free-form maps: documented as one row, not field by field.
const OPAQUE = new Set([
  'podSecurityContext',
  'securityContext',
  'resources',
  'livenessProbe',
  'readinessProbe',
  'nodeSelector',
  'affinity',
  'podLabels',
  'podAnnotations',
  'annotations',
  'labels',
]);

function valuePaths(node: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(node).flatMap(([key, value]) => {
    const path = `${prefix}${key}`;
    const nested = value !== null && typeof value === 'object' && !Array.isArray(value) && !OPAQUE.has(key);
    return nested ? valuePaths(value as Record<string, unknown>, `${path}.`) : [path];
  });
}

describe('docs/install.md values table', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'install.md'), 'utf8');
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;

  // A row names a value in full (`metrics.port`) or after a sibling (`metrics.service.type` / `.annotations`).
  it.each(valuePaths(values))('documents %s', (path) => {
    const cut = path.lastIndexOf('.');
    const row = doc.split('\n').find((line) => {
      if (!line.startsWith('| `')) return false;
      if (line.includes(`\`${path}\``)) return true;
      return (
        cut > 0 &&
        line.includes(`\`${path.slice(0, cut + 1)}`) &&
        line.includes(`\`.${path.slice(cut + 1)}\``)
      );
    });
    expect(row).toBeDefined();
  });
});
