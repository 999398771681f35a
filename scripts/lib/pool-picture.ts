// The demo's picture of the two pools: some of the dashboard's panels, evaluated over the burst
// (dashboard-eval.ts), drawn by the project's one chart renderer (svg-chart.ts) with one colour
// per pool. Pure: evaluation results in, SVG panels out.
//
// To add a panel, add its dashboard title to PICTURE_PANELS.
import type { TargetResult } from './dashboard-eval.ts';
import { legendOf } from './grafana-dashboard.ts';
import type { Panel, Series } from './svg-chart.ts';

/** The dashboard panels in the picture, by title, with what their y axis counts. */
export const PICTURE_PANELS: readonly { title: string; y?: string }[] = [
  { title: 'Requests per second per pool' },
  { title: 'p95 and p50 latency per pool' },
  { title: 'Batch size per pool', y: 'rows per batch' },
  { title: 'Queue depth per pool', y: 'requests waiting' },
  { title: 'Spilled requests share', y: 'share of requests' },
];

// Grafana units of the dashboard's panels, as the picture shows them.
const UNITS: Record<string, { scale: number; label: string }> = {
  s: { scale: 1000, label: 'ms' },
  reqps: { scale: 1, label: 'requests/s' },
  percentunit: { scale: 100, label: '%' },
  percent: { scale: 1, label: '%' },
  short: { scale: 1, label: '' },
};

// One hue per pool; a panel's second target of a pool is dashed, its third a lighter shade.
const POOL_COLORS: Record<string, readonly [string, string]> = {
  latency: ['#1f77b4', '#6baed6'],
  throughput: ['#e6550d', '#fdae6b'],
};
const OTHER_COLORS = ['#555555', '#aaaaaa'] as const;

export function picturePanels(results: readonly TargetResult[], startS: number): Panel[] {
  return PICTURE_PANELS.map(({ title, y }) => {
    const targets = results.filter((r) => r.panel.title === title);
    if (targets.length === 0) throw new Error(`the dashboard has no panel titled ${JSON.stringify(title)}`);
    const unitName = targets[0]!.panel.fieldConfig?.defaults?.unit ?? 'short';
    const unit = UNITS[unitName] ?? { scale: 1, label: unitName };
    const series: Series[] = targets.flatMap((r, i) =>
      r.series.map((s) => {
        // The spill-over panel's series name their pool `from` (the pool that forwarded).
        const [strong, light] = POOL_COLORS[s.metric.pool ?? s.metric.from ?? ''] ?? OTHER_COLORS;
        return {
          label: legendOf(r.target.legendFormat, s.metric),
          color: i >= 2 ? light : strong,
          dashed: i === 1,
          points: s.values.map(([t, v]) => ({ x: t - startS, y: Number(v) * unit.scale })),
        };
      }),
    );
    // Same order in every panel: by pool, then by the panel's own target order.
    series.sort((a, b) => a.label.localeCompare(b.label));
    return {
      title: targets.some((r) => r.error !== undefined) ? `${title} (query failed)` : title,
      x: { label: `seconds since ${new Date(startS * 1000).toISOString().slice(11, 19)} UTC` },
      y: { label: y === undefined ? unit.label : unit.label === '' ? y : `${y} (${unit.label})` },
      series,
    };
  });
}
