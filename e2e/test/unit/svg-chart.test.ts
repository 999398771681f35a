import { describe, expect, it } from '@jest/globals';
import { PICTURE_PANELS, picturePanels } from '../../../scripts/lib/pool-picture.ts';
import { chart, ticks, type Panel } from '../../../scripts/lib/svg-chart.ts';
import { fakePoolResults } from '../support/fake-pool-results.ts';

// The project's one chart renderer (bench plots, the demo's picture of the pools), and the
// picture's mapping of dashboard results onto it.

const paths = (svg: string) => [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]!);
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

const linear = (series: Panel['series'], title = 'p'): Panel => ({
  title,
  x: { label: 'seconds' },
  y: { label: 'requests/s' },
  series,
});

describe('chart', () => {
  it('lays panels out in a grid under an optional title', () => {
    const panel = linear([
      {
        label: 'a',
        color: '#000',
        points: [
          { x: 0, y: 1 },
          { x: 1, y: 2 },
        ],
      },
    ]);
    const one = chart([panel, panel, panel]);
    expect(one).toMatch(/^<svg [^>]*width="1560" height="360"/);
    const grid = chart([panel, panel, panel], { columns: 2, title: 'T' });
    expect(grid).toMatch(/^<svg [^>]*width="1040" height="748"/);
    expect(texts(grid)[0]).toBe('T');
  });

  it('draws one stroke per run of finite values: NaN leaves a gap', () => {
    const svg = chart([
      linear([
        {
          label: 'latency p95',
          color: '#1f77b4',
          points: [0, 1, 2, 3, 4].map((x) => ({ x, y: x === 2 ? Number.NaN : x + 1 })),
        },
      ]),
    ]);
    const [d] = paths(svg);
    expect(d?.match(/M/g)).toHaveLength(2);
    expect(d?.match(/L/g)).toHaveLength(2);
    expect(svg).not.toContain('NaN');
  });

  it('leaves out values a log axis cannot show, and labels it in decades', () => {
    const svg = chart([
      {
        title: 'bench',
        x: { label: 'throughput (requests/s)' },
        y: { label: 'p99 latency (ms, log)', log: true },
        series: [
          {
            label: 's',
            color: '#000',
            dots: true,
            points: [
              { x: 1, y: 0 },
              { x: 2, y: 3, note: 'c4' },
              { x: 3, y: 40 },
            ],
          },
        ],
      },
    ]);
    expect(svg.match(/<circle/g)).toHaveLength(2);
    expect(texts(svg)).toEqual(expect.arrayContaining(['2', '5', '10', '20', '50', 'c4']));
    expect(svg).not.toMatch(/Infinity|NaN/);
  });

  it('keeps every point of a log axis inside the plot, however small', () => {
    const svg = chart([
      {
        title: 'tiny',
        x: { label: 'x' },
        y: { label: 'y', log: true },
        series: [
          {
            label: 's',
            color: '#000',
            points: [
              { x: 0, y: 1e-9 },
              { x: 1, y: 1 },
            ],
          },
        ],
      },
    ]);
    // The plot's frame: y from 36 (top margin) to 312 (height 360 less the bottom margin 48).
    const ys = [...paths(svg)[0]!.matchAll(/[ML][\d.]+,([-\d.]+)/g)].map((m) => Number(m[1]));
    expect(ys).toHaveLength(2);
    for (const y of ys) expect(y >= 36 && y <= 312).toBe(true);
  });

  it('says "no data" in a panel with nothing to draw, and escapes text', () => {
    const svg = chart([
      linear([{ label: 'a<b & "c"', color: '#000', points: [{ x: 0, y: Number.NaN }] }], 'q<1'),
    ]);
    expect(texts(svg)).toEqual(expect.arrayContaining(['no data', 'q&lt;1']));
    expect(svg).not.toContain('a<b');
  });

  it('keeps a flat line of zeros (an idle queue) on the axis', () => {
    const svg = chart([
      linear([
        {
          label: 'q',
          color: '#000',
          points: [
            { x: 0, y: 0 },
            { x: 10, y: 0 },
          ],
        },
      ]),
    ]);
    expect(paths(svg)).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it('ticks are round numbers within the range', () => {
    expect(ticks(0, 11)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(ticks(0, 0.011)).toEqual([0, 0.002, 0.004, 0.006, 0.008, 0.01]);
    expect(ticks(3, 3)).toEqual([3]);
  });
});

describe('picturePanels', () => {
  const startS = 1_700_000_000;

  it('draws each picture panel of the dashboard, one colour per pool, second targets dashed', () => {
    const panels = picturePanels(fakePoolResults(startS), startS);
    expect(panels.map((p) => p.title)).toEqual(PICTURE_PANELS.map((p) => p.title));
    const latency = panels.find((p) => p.title.startsWith('p95 and p50'))!;
    expect(latency.y.label).toBe('ms');
    expect(latency.series.map((s) => [s.label, s.color, s.dashed])).toEqual([
      ['latency p50', '#1f77b4', true],
      ['latency p95', '#1f77b4', false],
      ['throughput p50', '#e6550d', true],
      ['throughput p95', '#e6550d', false],
    ]);
    // Seconds become milliseconds, times become seconds since the start.
    expect(latency.series[1]!.points[2]).toEqual({ x: 4, y: expect.closeTo(10 * (1 + Math.sin(2 / 3)), 6) });
    expect(panels.find((p) => p.title.startsWith('Queue depth'))!.y.label).toBe('requests waiting');
    // The spill-over panel's series carry the forwarding pool as `from`, not `pool`: its colour all the same.
    const spill = panels.find((p) => p.title.startsWith('Spilled'))!;
    expect(spill.series.map((s) => [s.label, s.color])).toEqual([
      ['latency → throughput (deadline)', '#1f77b4'],
      ['latency → throughput refused by the sibling or not reached', '#1f77b4'],
      ['throughput → latency (deadline)', '#e6550d'],
      ['throughput → latency refused by the sibling or not reached', '#e6550d'],
    ]);
    expect(panels[0]!.x.label).toBe('seconds since 22:13:20 UTC');
  });

  it('names a panel the dashboard lacks, and marks a panel whose query failed', () => {
    const results = fakePoolResults(startS);
    expect(() =>
      picturePanels(
        results.filter((r) => !r.panel.title.startsWith('Queue')),
        startS,
      ),
    ).toThrow(/no panel titled "Queue depth per pool"/);
    results.find((r) => r.panel.title === 'Batch size per pool')!.error = 'bad_data: parse error';
    expect(picturePanels(results, startS).map((p) => p.title)).toContain(
      'Batch size per pool (query failed)',
    );
  });
});
