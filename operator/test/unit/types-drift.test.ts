import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CRD_PATH, generate, OUTPUT_PATH } from '../../scripts/gen-types.ts';

const CRDS = fileURLToPath(new URL('../../../crds/', import.meta.url));
const CHART_CRDS = fileURLToPath(new URL('../../../charts/servingstack-operator/crds/', import.meta.url));

describe('one source of truth for the ServingStack API', () => {
  test('types.generated.ts is what gen-types makes from crds/ (run node operator/scripts/gen-types.ts)', async () => {
    const expected = await generate(readFileSync(CRD_PATH, 'utf8'));
    expect(readFileSync(OUTPUT_PATH, 'utf8')).toBe(expected);
  });

  test('a changed CRD changes the generated types', async () => {
    const crd = readFileSync(CRD_PATH, 'utf8').replace('default: fp16', 'default: fp32');
    const changed = await generate(crd);
    expect(changed).not.toBe(readFileSync(OUTPUT_PATH, 'utf8'));
  });

  test("the chart's crds/ is byte-identical to crds/", () => {
    const mine = readdirSync(CRDS).sort();
    expect(readdirSync(CHART_CRDS).sort()).toEqual(mine);
    for (const f of mine) {
      expect({ file: f, text: readFileSync(`${CHART_CRDS}${f}`, 'utf8') }).toEqual({
        file: f,
        text: readFileSync(`${CRDS}${f}`, 'utf8'),
      });
    }
  });
});
