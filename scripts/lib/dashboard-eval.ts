// The dashboard evaluated against a real Prometheus, as Grafana would evaluate it: each `query`
// template variable's label values, then every target of every panel as a range query with the
// variables and intervals substituted. Errors are collected per target, not thrown, so one bad
// query does not hide the others. Used by e2e/test/dashboard.e2e.ts and scripts/demo-picture.ts.
import {
  grafanaIntervals,
  interpolate,
  labelValuesQuery,
  queryVariables,
  unmodelledSettings,
  type Dashboard,
  type DashboardPanel,
  type DashboardTarget,
  type Intervals,
  type Selection,
  type TimeRange,
} from './grafana-dashboard.ts';
import { labelValues, queryRange, scrapeIntervalS, type RangeSeries } from './prometheus-api.ts';

export interface TargetResult {
  panel: DashboardPanel;
  target: DashboardTarget;
  /** The query as sent, every variable substituted. */
  query: string;
  series: RangeSeries[];
  error?: string;
}

export interface Evaluation {
  range: TimeRange;
  intervals: Intervals;
  results: TargetResult[];
}

/** The options each `query` variable offers under `selection` (the earlier variables' values). */
export async function variableOptions(
  prometheus: string,
  dashboard: Dashboard,
  selection: Selection,
  range: TimeRange,
): Promise<Record<string, string[]>> {
  const options: Record<string, string[]> = {};
  const span = { startS: Math.floor(range.fromMs / 1000), endS: Math.ceil(range.toMs / 1000) };
  for (const v of queryVariables(dashboard)) {
    const { match, label } = labelValuesQuery(v);
    const selector = match === undefined ? undefined : interpolate(match, dashboard, selection);
    options[v.name] = (await labelValues(prometheus, label, selector, span)).sort();
  }
  return options;
}

export async function evaluatePanels(
  prometheus: string,
  dashboard: Dashboard,
  selection: Selection,
  range: TimeRange,
  { maxDataPoints = 1000 }: { maxDataPoints?: number } = {},
): Promise<Evaluation> {
  const intervals = grafanaIntervals(range, {
    scrapeIntervalS: await scrapeIntervalS(prometheus),
    maxDataPoints,
  });
  const results: TargetResult[] = [];
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      const query = interpolate(target.expr, dashboard, selection, { range, intervals });
      const unmodelled = unmodelledSettings(panel, target);
      if (unmodelled.length > 0) {
        const error = `${unmodelled.join(', ')}: Grafana would send this query otherwise; not evaluated`;
        results.push({ panel, target, query, series: [], error });
        continue;
      }
      try {
        const series = await queryRange(prometheus, query, {
          startS: intervals.startS,
          endS: intervals.endS,
          stepS: intervals.intervalS,
        });
        results.push({ panel, target, query, series });
      } catch (err) {
        results.push({ panel, target, query, series: [], error: (err as Error).message });
      }
    }
  }
  return { range, intervals, results };
}

/** Whether a series has a value Grafana would draw (a quantile of no requests is NaN: a gap). */
export const hasFiniteValue = (s: RangeSeries): boolean =>
  s.values.some(([, v]) => Number.isFinite(Number(v)));
