import type { TargetResult } from '../../../scripts/lib/dashboard-eval.ts';
import { loadDashboard } from '../../../scripts/lib/grafana-dashboard.ts';
import { PICTURE_PANELS } from '../../../scripts/lib/pool-picture.ts';
import { repoRoot } from './paths.ts';

// The labels a target's series carry: the spill-over panel's are the forwarding pool (`from`), the
// pool it spilled to and why; every other panel's are the pool.
function labelsOf(legendFormat: string, pool: string): Record<string, string> {
  if (!legendFormat.includes('{{from}}')) return { pool };
  const other = pool === 'latency' ? 'throughput' : 'latency';
  return { from: pool, to: other, ...(legendFormat.includes('{{reason}}') && { reason: 'deadline' }) };
}

/**
 * FAKE range results, shaped as Prometheus returns them, for every target of the picture's
 * dashboard panels: both pools, a NaN gap at the start (a quantile before any request), then waves.
 */
export function fakePoolResults(startS: number): TargetResult[] {
  const dashboard = loadDashboard(repoRoot);
  const wanted = new Set(PICTURE_PANELS.map((p) => p.title));
  return dashboard.panels
    .filter((p) => wanted.has(p.title))
    .flatMap((panel) =>
      (panel.targets ?? []).map((target, t) => ({
        panel,
        target,
        query: target.expr,
        series: ['latency', 'throughput'].map((pool, i) => ({
          metric: labelsOf(target.legendFormat ?? '', pool),
          values: Array.from({ length: 20 }, (_, k): [number, string] => [
            startS + 2 * k,
            String(
              k < 2
                ? Number.NaN
                : (1 + i * 3 + t) *
                    (1 + Math.sin(k / 3)) *
                    (panel.fieldConfig?.defaults?.unit === 's' ? 0.01 : 10),
            ),
          ]),
        })),
      })),
    );
}
