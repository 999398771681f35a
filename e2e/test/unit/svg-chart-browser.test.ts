import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { picturePanels } from '../../../scripts/lib/pool-picture.ts';
import { chart } from '../../../scripts/lib/svg-chart.ts';
import { screenshot } from '../support/chromium.ts';
import { fakePoolResults } from '../support/fake-pool-results.ts';
import { colourCounts, decodePng } from '../support/png.ts';

// The demo's picture as a person sees it: the SVG opened in Debian's Chromium, headless, and its
// screenshot looked at. A picture that renders as one colour (a broken file, everything
// clipped away) fails; so does one where either pool's colour is missing.

const dir = mkdtempSync(join(tmpdir(), 'servingstack-picture-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function render(svg: string): Promise<Map<string, number>> {
  const [, width, height] = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg) ?? [];
  const file = join(dir, `${Math.random().toString(36).slice(2)}.svg`);
  writeFileSync(file, svg);
  const image = decodePng(await screenshot(file, { width: Number(width), height: Number(height) }));
  expect([image.width, image.height]).toEqual([Number(width), Number(height)]);
  return colourCounts(image);
}

/** Blank: one colour covers (nearly) the whole screenshot. */
function blank(counts: Map<string, number>): boolean {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return Math.max(...counts.values()) > 0.995 * total;
}

describe('the pools picture in a headless browser', () => {
  it('renders non-blank, with both pools drawn in their colours', async () => {
    const startS = 1_700_000_000;
    const svg = chart(picturePanels(fakePoolResults(startS), startS), { columns: 2, title: 'both pools' });
    const counts = await render(svg);
    expect(blank(counts)).toBe(false);
    // 2-pixel lines in each pool's colour, in four panels: hundreds of pixels each.
    expect(counts.get('#1f77b4') ?? 0).toBeGreaterThan(200);
    expect(counts.get('#e6550d') ?? 0).toBeGreaterThan(200);
  }, 90_000);

  it('tells a blank picture apart (the check can fail)', async () => {
    const counts = await render(
      '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"><rect width="400" height="300" fill="white"/></svg>',
    );
    expect(blank(counts)).toBe(true);
  }, 90_000);
});
