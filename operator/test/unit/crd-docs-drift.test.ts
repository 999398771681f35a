import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { DOCS_PATH, generateDocs } from '../../scripts/gen-crd-docs.ts';
import { CRD_PATH } from '../../scripts/gen-types.ts';

describe('docs/crd-reference.md', () => {
  const crd = readFileSync(CRD_PATH, 'utf8');
  test('is what gen-crd-docs makes from crds/ (run node operator/scripts/gen-crd-docs.ts)', () => {
    expect(readFileSync(DOCS_PATH, 'utf8')).toBe(generateDocs(crd));
  });
  test('lists defaults and CEL messages', () => {
    const md = generateDocs(crd);
    expect(md).toContain('| `spec.throughput.batching.maxBatchSize` | integer | `64` |');
    expect(md).toContain('spec.routing.latencyBelowMs must be less than spec.routing.throughputAboveMs');
  });
});
