import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { chartDir } from '../support/helm.ts';

// The monitoring files the chart ships: the prometheus-adapter rules the operator's HPAs depend on
// and the per-pool Grafana dashboard. Names here are contracts (DESIGN.md, Metrics).

interface AdapterRule {
  seriesQuery: string;
  resources: { overrides: Record<string, { resource: string }> };
  name: { matches: string; as: string };
  metricsQuery: string;
}

const adapter = parse(readFileSync(join(chartDir, 'files', 'adapter-rules.yaml'), 'utf8')) as {
  rules: AdapterRule[];
};

function ruleFor(metric: string): AdapterRule {
  const rule = adapter.rules.find((r) => r.name.as === metric);
  if (rule === undefined) throw new Error(`files/adapter-rules.yaml has no rule producing ${metric}`);
  return rule;
}

describe('prometheus-adapter rules', () => {
  it.each(['servingstack_requests_per_second', 'servingstack_request_duration_p95_seconds'])(
    '%s is a per-pod metric (namespace and pod labels map to their resources)',
    (metric) => {
      expect(ruleFor(metric).resources.overrides).toEqual({
        namespace: { resource: 'namespace' },
        pod: { resource: 'pod' },
      });
    },
  );

  it('requests per second is the rate of the request counter, summed per pod', () => {
    const rule = ruleFor('servingstack_requests_per_second');
    expect(rule.seriesQuery).toMatch(/^servingstack_requests_total\{/);
    expect(rule.metricsQuery.replace(/\s+/g, ' ')).toBe(
      'sum by (<<.GroupBy>>) (rate(<<.Series>>{<<.LabelMatchers>>}[1m]))',
    );
  });

  it('p95 is histogram_quantile over the summed bucket rates, grouped by le and pod', () => {
    const rule = ruleFor('servingstack_request_duration_p95_seconds');
    expect(rule.seriesQuery).toMatch(/^servingstack_request_duration_seconds_bucket\{/);
    expect(rule.metricsQuery.replace(/\s+/g, ' ')).toBe(
      'histogram_quantile(0.95, sum by (le, <<.GroupBy>>) (rate(<<.Series>>{<<.LabelMatchers>>}[1m])))',
    );
  });

  it('the pool p95 is a metric of the pool Service over the buckets of all its pods', () => {
    const rule = ruleFor('servingstack_pool_request_duration_p95_seconds');
    expect(rule.resources.overrides).toEqual({
      namespace: { resource: 'namespace' },
      service: { resource: 'service' },
    });
    expect(rule.seriesQuery).toMatch(/^servingstack_request_duration_seconds_bucket\{.*service!=""/);
    // Grouped by le and the Service only: every pod's buckets summed before the one quantile.
    expect(rule.metricsQuery.replace(/\s+/g, ' ')).toBe(
      'histogram_quantile(0.95, sum by (le, <<.GroupBy>>) (rate(<<.Series>>{<<.LabelMatchers>>}[1m])))',
    );
  });

  it('each rule renames exactly the series it selects', () => {
    for (const rule of adapter.rules) {
      const series = /^([a-z_]+)\{/.exec(rule.seriesQuery)?.[1];
      expect(rule.name.matches).toBe(`^${series}$`);
    }
  });
});

interface Panel {
  title: string;
  targets: { expr: string }[];
}

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(join(chartDir, 'files', 'grafana-dashboard.json'), 'utf8')) as {
    uid: string;
    panels: Panel[];
  };
  const exprs = (p: Panel): string => p.targets.map((t) => t.expr).join('\n');

  it.each([
    [
      'p95 latency',
      /histogram_quantile\(0\.95, sum by \(le, pool\) \(rate\(servingstack_request_duration_seconds_bucket/,
    ],
    ['RPS', /sum by \(pool\) \(rate\(servingstack_requests_total/],
    ['batch size', /servingstack_batch_size_(sum|bucket)/],
    ['queue depth', /sum by \(pool\) \(servingstack_queue_depth/],
    [
      'inference time',
      /histogram_quantile\(0\.95, sum by \(le, pool\) \(rate\(servingstack_inference_duration_seconds_bucket/,
    ],
    ['GPU utilisation', /avg by \(pool\) \(DCGM_FI_DEV_GPU_UTIL .*group_left \(pool\)/],
  ])('has a per-pool %s panel', (_what, query) => {
    expect(dashboard.panels.some((p) => query.test(exprs(p)))).toBe(true);
  });

  it('reads a zero error ratio, not "No data", for a pool that answered no errors', () => {
    const expr = exprs(dashboard.panels.find((p) => p.title === 'Error ratio per pool')!);
    // Without the `or 0 *` term the numerator has no series for such a pool, and neither has the ratio.
    expect(expr).toMatch(
      /^\(sum by \(pool\) \(rate\(servingstack_requests_total\{[^}]*code!~"2\.\."\}\[\$__rate_interval\]\)\) or 0 \* sum by \(pool\) /,
    );
  });

  it('rounds the batch size p95 up to a whole row (the first bucket starts at 0: batches of one would read 0.95)', () => {
    const batch = dashboard.panels.find((p) => p.title === 'Batch size per pool')!;
    expect(batch.targets.find((t) => t.expr.includes('histogram_quantile'))?.expr).toMatch(
      /^ceil\(histogram_quantile\(0\.95, /,
    );
  });

  it('shows the share of spilled requests per direction and reason, over the requests that reached the selected pools', () => {
    const panel = dashboard.panels.find((p) => p.title === 'Spilled requests share');
    expect(panel).toBeDefined();
    const [spilled] = panel!.targets.map((t) => t.expr.replace(/\{[^}]*\}/g, ''));
    // A request is counted where it was answered: the sibling counts a spilled request (and its
    // refusal of one), the pool that forwarded it does not. The requests that reached the selected
    // pools are their answers, plus what they spilled out, less what was spilled in to them (answered
    // or refused). Over every answer instead, one pool picked: 3 spilled of 8 arrivals read 3/5.
    expect(spilled).toBe(
      'sum by (from, to, reason) (rate(servingstack_spillover_total[$__rate_interval])) / ' +
        'scalar(sum(rate(servingstack_requests_total[$__rate_interval])) + ' +
        '(sum(rate(servingstack_spillover_total[$__rate_interval])) or vector(0)) - ' +
        '(sum(rate(servingstack_spillover_total[$__rate_interval])) or vector(0)) - ' +
        '(sum(rate(servingstack_spillover_failed_total[$__rate_interval])) or vector(0)))',
    );
    const terms = panel!.targets[0]!.expr.match(/\{[^}]*\}/g)!;
    expect(terms.map((t) => /(from|to|pool)=~"\$pool"/.exec(t)?.[1])).toEqual([
      'from',
      'pool',
      'from',
      'to',
      'to',
    ]);
    expect(terms[4]).toContain('why="refused"');
  });

  it('has a stable uid and unique panel ids', () => {
    expect(dashboard.uid).toBe('servingstack-pools');
    const ids = dashboard.panels.map((p) => (p as unknown as { id: number }).id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('reads only ServingStack metrics and DCGM GPU utilisation', () => {
    const names = dashboard.panels.flatMap(
      (p) => exprs(p).match(/\b(servingstack_[a-z_]+|DCGM_[A-Z_]+)\b/g) ?? [],
    );
    const known = [
      /^servingstack_requests_total$/,
      /^servingstack_(request|queue|inference)_duration_seconds_(bucket|sum|count)$/,
      /^servingstack_batch_size_(bucket|sum|count|limit)$/,
      /^servingstack_queue_depth$/,
      /^servingstack_spillover(_failed)?_total$/,
      /^DCGM_FI_DEV_GPU_UTIL$/,
    ];
    expect(names.filter((n) => !known.some((k) => k.test(n)))).toEqual([]);
  });
});
