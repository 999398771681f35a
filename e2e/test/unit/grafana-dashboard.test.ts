import { describe, expect, it } from '@jest/globals';
import {
  grafanaIntervals,
  interpolate,
  labelValuesQuery,
  legendOf,
  loadDashboard,
  metricsOf,
  queryVariables,
  roundInterval,
  unmodelledSettings,
  type Dashboard,
} from '../../../scripts/lib/grafana-dashboard.ts';
import { durationS } from '../../../scripts/lib/prometheus-api.ts';
import { repoRoot } from '../support/paths.ts';

// The substitution helper the dashboard's e2e test and the demo's picture send queries through:
// it must turn a panel's query into what Grafana itself would send to Prometheus.

const dashboard: Dashboard = {
  uid: 't',
  title: 't',
  panels: [],
  templating: {
    list: [
      { name: 'datasource', type: 'datasource' },
      {
        name: 'namespace',
        type: 'query',
        query: 'label_values(m, namespace)',
        multi: true,
        includeAll: true,
        allValue: '.*',
      },
      { name: 'single', type: 'custom' },
      { name: 'noall', type: 'query', query: { query: 'label_values(pool)' }, multi: true },
    ],
  },
};
const range = { fromMs: 1_700_000_000_000, toMs: 1_700_000_120_000 };

describe('interpolate', () => {
  it('replaces $var, ${var}, ${var:format} and [[var]] alike', () => {
    const s = { namespace: ['ml'] };
    expect(
      interpolate(
        'a=~"$namespace" b=~"${namespace}" c=~"${namespace:regex}" d=~"[[namespace]]"',
        dashboard,
        s,
      ),
    ).toBe('a=~"ml" b=~"ml" c=~"ml" d=~"ml"');
  });

  it('joins several values of a multi-value variable into one regex group, escaping regex characters', () => {
    expect(interpolate('x=~"$namespace"', dashboard, { namespace: ['ml', 'a.b'] })).toBe('x=~"(ml|a\\\\.b)"');
  });

  it("applies Grafana's own formats instead of the data source's escaping, and refuses one it does not know", () => {
    const two = { namespace: ['a.b', 'c'] };
    expect(interpolate('x=~"${namespace:regex}"', dashboard, two)).toBe('x=~"(a\\.b|c)"');
    expect(interpolate('x=~"${namespace:pipe}"', dashboard, two)).toBe('x=~"a.b|c"');
    expect(interpolate('x="${namespace:raw}" y="[[namespace:csv]]"', dashboard, two)).toBe(
      'x="a.b,c" y="a.b,c"',
    );
    expect(interpolate('x=~"${namespace:regex}"', dashboard, { namespace: 'All' })).toBe('x=~".*"');
    expect(() => interpolate('x="${namespace:json}"', dashboard, two)).toThrow(/format json/);
  });

  it('gives "All" as the variable\'s allValue', () => {
    expect(interpolate('x=~"$namespace"', dashboard, { namespace: 'All' })).toBe('x=~".*"');
  });

  it('escapes only quotes and backslashes in a single-value variable', () => {
    expect(interpolate("x='$single'", dashboard, { single: ["it's a.b"] })).toBe("x='it\\\\'s a.b'");
  });

  it('refuses what Grafana could not send: an unknown variable, "All" without an allValue, no value', () => {
    expect(() => interpolate('x=~"$nope"', dashboard, {})).toThrow(/no value for template variable nope/);
    expect(() => interpolate('x=~"$namespace"', dashboard, {})).toThrow(/namespace/);
    expect(() => interpolate('x=~"$noall"', dashboard, { noall: 'All' })).toThrow(/no "All" option/);
    expect(() => interpolate('x=~"$namespace"', dashboard, { namespace: [] })).toThrow(/no value selected/);
    expect(() => interpolate('x=~"$single"', dashboard, { single: ['a', 'b'] })).toThrow(/takes one value/);
  });

  it('fills the built-in intervals and range only when given a time range', () => {
    const intervals = grafanaIntervals(range, { scrapeIntervalS: 2 });
    const text = 'rate(m[$__rate_interval]) $__interval $__interval_ms $__range $__range_s $__range_ms';
    expect(interpolate(text, dashboard, {}, { range, intervals })).toBe(
      'rate(m[8s]) 2s 2000 120s 120 120000',
    );
    expect(() => interpolate('rate(m[$__rate_interval])', dashboard, {})).toThrow(/__rate_interval/);
  });
});

describe('grafanaIntervals', () => {
  it('rounds the range over the data points as Grafana does', () => {
    expect(roundInterval(120)).toBe(100);
    expect(roundInterval(4_000)).toBe(5_000);
    expect(roundInterval(50_000)).toBe(60_000);
  });

  it('never goes below the scrape interval, and keeps four scrapes in every rate window', () => {
    const short = grafanaIntervals(range, { scrapeIntervalS: 2 });
    expect(short).toMatchObject({ intervalS: 2, rateIntervalS: 8 });
    // A day over 1000 points: 86.4 s rounds to 1m, above the 15 s scrape interval.
    const day = grafanaIntervals({ fromMs: 0, toMs: 86_400_000 }, { scrapeIntervalS: 15 });
    expect(day).toMatchObject({ intervalS: 60, rateIntervalS: 75 });
  });

  it('aligns the range to the step and refuses an empty range', () => {
    const i = grafanaIntervals({ fromMs: 1_001_500, toMs: 1_100_900 }, { scrapeIntervalS: 2 });
    expect([i.startS, i.endS]).toEqual([1000, 1100]);
    expect(() => grafanaIntervals({ fromMs: 5, toMs: 5 }, { scrapeIntervalS: 2 })).toThrow(
      /empty time range/,
    );
  });
});

describe('labelValuesQuery, metricsOf, legendOf', () => {
  it('reads label_values() with and without a series selector', () => {
    expect(labelValuesQuery(dashboard.templating.list[1]!)).toEqual({ match: 'm', label: 'namespace' });
    expect(labelValuesQuery(dashboard.templating.list[3]!)).toEqual({ match: undefined, label: 'pool' });
    expect(() => labelValuesQuery({ name: 'q', type: 'query', query: 'up' })).toThrow(/not a label_values/);
  });

  it('finds the metrics of an expression, not its functions, labels or keywords', () => {
    expect(
      metricsOf(
        'avg by (pool) (DCGM_FI_DEV_GPU_UTIL * on (namespace, pod) group_left (pool) group by (namespace, pod, pool) (q{a="b(c)"}))',
      ),
    ).toEqual(['DCGM_FI_DEV_GPU_UTIL', 'q']);
    expect(metricsOf('(sum(rate(a{x!~"2.."}[1m])) or 0 * sum(rate(b[1m]))) / c')).toEqual(['a', 'b', 'c']);
  });

  it("names a series from the legend format and the series' labels", () => {
    expect(legendOf('{{pool}} p95', { pool: 'latency' })).toBe('latency p95');
    expect(legendOf(undefined, { pool: 'latency' })).toBe('{"pool":"latency"}');
  });
});

describe('unmodelledSettings', () => {
  const panel = { id: 1, type: 'timeseries', title: 'p' };
  const target = { refId: 'A', expr: 'up' };
  it('names the panel and target settings that would make Grafana send a different query', () => {
    expect(
      unmodelledSettings(panel, { ...target, range: true, format: 'time_series', instant: false }),
    ).toEqual([]);
    expect(
      unmodelledSettings(
        { ...panel, interval: '1m' },
        { ...target, instant: true, hide: true, intervalFactor: 2 },
      ),
    ).toEqual(['panel.interval', 'target.intervalFactor', 'target.instant', 'target.hide']);
  });

  it("finds none in the chart's dashboard (its every query is evaluated as Grafana sends it)", () => {
    const real = loadDashboard(repoRoot);
    expect(real.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => unmodelledSettings(p, t)))).toEqual(
      [],
    );
  });
});

describe('the chart dashboard', () => {
  const real = loadDashboard(repoRoot);
  const selection = {
    namespace: ['ml'],
    stack: ['sentiment'],
    model: 'All',
    pool: ['latency', 'throughput'],
  } as const;

  it('has namespace, stack, model and pool variables, each a label_values() query of the server metrics', () => {
    expect(queryVariables(real).map((v) => v.name)).toEqual(['namespace', 'stack', 'model', 'pool']);
    for (const v of queryVariables(real)) {
      expect(labelValuesQuery(v).match).toMatch(/^servingstack_requests_total/);
      expect(interpolate(labelValuesQuery(v).match!, real, selection)).not.toContain('$');
    }
  });

  it("each variable's options depend only on the variables before it, never on its own value", () => {
    // A variable filtered by itself offers only what is selected: pick one pool and, at the next
    // refresh, the other pool is gone from the list.
    const names = queryVariables(real).map((v) => v.name);
    names.forEach((name, i) => {
      const match = labelValuesQuery(queryVariables(real)[i]!).match ?? '';
      const used = [...match.matchAll(/\$\{?(\w+)/g)].map((m) => m[1]);
      expect([name, used.filter((u) => !names.slice(0, i).includes(u!))]).toEqual([name, []]);
    });
  });

  it('every panel query filters on every variable and leaves nothing unsubstituted', () => {
    const intervals = grafanaIntervals(range, { scrapeIntervalS: 2 });
    for (const panel of real.panels) {
      for (const t of panel.targets ?? []) {
        for (const v of ['namespace', 'stack', 'model', 'pool'])
          expect([panel.title, t.expr]).toEqual([panel.title, expect.stringContaining(`"$${v}"`)]);
        expect(interpolate(t.expr, real, selection, { range, intervals })).not.toMatch(/\$|\[\[/);
      }
    }
  });
});

describe('durationS', () => {
  it('reads the durations Prometheus writes in its configuration', () => {
    expect(durationS('2s')).toBe(2);
    expect(durationS('1m30s')).toBe(90);
    expect(durationS('500ms')).toBe(0.5);
    expect(durationS('2 s')).toBeUndefined();
    expect(durationS('')).toBeUndefined();
  });
});
