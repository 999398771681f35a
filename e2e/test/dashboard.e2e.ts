// The chart's Grafana dashboard on real data: a stack's two pools serve requests through the
// router, the local Prometheus scrapes them (e2e/cluster/metrics), and every panel's query runs
// against it as Grafana would send it (template variables and $__rate_interval substituted by
// scripts/lib/grafana-dashboard.ts, query_range over the traffic). A wrong label, a missing rate
// window or a variable that matches nothing shows up here as an error or an empty panel.
// The demo's picture of the pools is drawn from the same results and opened in Chromium.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CustomObjectsApi } from '@kubernetes/client-node';
import {
  defaultServiceAccount,
  ensureMetrics,
  ensureNodeAgent,
  ensureRouter,
} from '../agent/testing/cluster-parts.ts';
import { stackManifest, TEST_MODEL } from '../agent/testing/stack.ts';
import { burst, callRouter, type Outcome } from '../agent/testing/traffic.ts';
import {
  evaluatePanels,
  hasFiniteValue,
  variableOptions,
  type Evaluation,
} from '../../scripts/lib/dashboard-eval.ts';
import {
  loadDashboard,
  metricsOf,
  type Dashboard,
  type Selection,
} from '../../scripts/lib/grafana-dashboard.ts';
import { picturePanels } from '../../scripts/lib/pool-picture.ts';
import { queryRange } from '../../scripts/lib/prometheus-api.ts';
import { chart } from '../../scripts/lib/svg-chart.ts';
import { parseConfig } from '../../server-image/src/config.ts';
import { createMetrics } from '../../server-image/src/metrics.ts';
import { createSpillover } from '../../server-image/src/spillover/spillover.ts';
import { screenshot } from './support/chromium.ts';
import { colourCounts, decodePng } from './support/png.ts';
import { startLocalOperator, type LocalOperator } from './support/local-operator.ts';
import {
  kubeconfigPath,
  kubectl,
  loadKubeConfig,
  repoRoot,
  waitFor,
  withTestNamespace,
} from './support/index.ts';

const PROMETHEUS = `http://${process.env.PROMETHEUS_ADDR ?? '127.0.0.1:19090'}`;
const STACK = 'dash';
const POOLS = ['latency', 'throughput'] as const;
// Long enough for several scrapes (every 2 s) inside each rate window ($__rate_interval: 8 s).
const TRAFFIC_SECONDS = 24;

/**
 * Panels whose metric this test cannot produce, each with the reason. The test checks that the
 * list is exactly the panels reading a metric the server does not export, and that they are
 * empty here (so an entry that becomes testable fails until it is taken off).
 */
const UNEXERCISED: Record<string, string> = {
  'GPU utilisation per pool':
    "DCGM_FI_DEV_GPU_UTIL comes from NVIDIA's dcgm-exporter, which reads a real GPU through its driver; the local node's GPUs are the node agent's FAKE ones",
};

/** Every series name the inference server exports (a histogram as its _bucket, _sum and _count). */
async function serverSeriesNames(): Promise<Set<string>> {
  const { registry } = createMetrics();
  // The spill-over counters go on the same registry, from the server's spill-over.
  createSpillover(parseConfig({}), registry, {});
  const metrics = await registry.getMetricsAsJSON();
  return new Set(
    metrics.flatMap((m) =>
      String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => `${m.name}${s}`) : [m.name],
    ),
  );
}

const SPILL_PANEL = 'Spilled requests share';

/** The manifest with more routing settings. */
function withRouting<T extends { spec: Record<string, unknown> }>(
  stack: T,
  routing: Record<string, unknown>,
): T {
  return { ...stack, spec: { ...stack.spec, routing: { ...(stack.spec.routing as object), ...routing } } };
}

const poolsWithData = (series: { metric: Record<string, string>; values: [number, string][] }[]) =>
  [...new Set(series.filter(hasFiniteValue).map((s) => s.metric.pool ?? '(no pool label)'))].sort();

describe('the Grafana dashboard against the e2e Prometheus, after traffic through the router', () => {
  const ns = withTestNamespace('e2e-dashboard');
  const host = () => `${ns.name}.dashboard.e2e.test`;
  const custom = loadKubeConfig().makeApiClient(CustomObjectsApi);
  const dashboard: Dashboard = loadDashboard(repoRoot);
  const selection = (): Selection => ({
    namespace: [ns.name],
    stack: [STACK],
    model: 'All',
    pool: [...POOLS],
  });
  let operator: LocalOperator | undefined;
  let evaluation: Evaluation;
  const outcomes: Outcome[] = [];

  beforeAll(async () => {
    await ensureNodeAgent();
    await ensureRouter();
    await ensureMetrics();
    await defaultServiceAccount(ns.name, kubectl);
    await kubectl(['apply', '--server-side', '-f', `${repoRoot}crds/`]);
    operator = await startLocalOperator({
      kubeconfig: kubeconfigPath,
      watchNamespaces: [ns.name],
      identity: 'e2e-dashboard',
    });
    await custom.createNamespacedCustomObject({
      group: 'servingstack.dev',
      version: 'v1alpha1',
      namespace: ns.name,
      plural: 'servingstacks',
      body: withRouting(
        stackManifest({ name: STACK, namespace: ns.name, host: host(), provider: 'ingress-nginx' }),
        {
          latencyBelowMs: 2000,
          throughputAboveMs: 5000,
        },
      ),
    });
    await waitFor(
      `ServingStack ${STACK} to be Ready`,
      async () =>
        JSON.parse(await kubectl(['get', 'servingstack', STACK, '-n', ns.name, '-o', 'json'])) as {
          status?: { conditions?: { type: string; status: string }[] };
        },
      {
        timeoutMs: 300_000,
        intervalMs: 2_000,
        until: (s) => s.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      },
    );
    const calls: { host: string; model: string; headers: Record<string, string>; pool: string }[] = [
      ...POOLS.map((pool) => ({
        host: host(),
        model: TEST_MODEL.name,
        headers: { 'X-Serving-Priority': pool === 'latency' ? 'real-time' : 'batch' },
        pool,
      })),
      // The stack's contract gives a deadline under latencyBelowMs (2000 ms here, so that every
      // such request can be met) to the latency pool; ingress-nginx's one canary header per host
      // leaves it on the throughput pool, which spills it there (the spill-over panel).
      { host: host(), model: TEST_MODEL.name, headers: { 'X-Request-Timeout-Ms': '1500' }, pool: 'latency' },
    ];
    for (const call of calls) {
      await waitFor(
        `the router to send ${JSON.stringify(call.headers)} requests to the ${call.pool} pool`,
        () => callRouter(call),
        {
          until: (o) => o.status === 200 && o.pool === call.pool,
          timeoutMs: 60_000,
          intervalMs: 2_000,
        },
      );
    }

    // Both pools at once, in bursts, for TRAFFIC_SECONDS: the throughput pool gets enough at a
    // time to form batches.
    const fromMs = Date.now();
    await Promise.all(
      calls.map(async (call) => {
        while (Date.now() - fromMs < TRAFFIC_SECONDS * 1000) {
          const { outcomes: some } = await burst(call, {
            requests: 24,
            concurrency: call.pool === 'latency' ? 1 : 8,
          });
          outcomes.push(...some);
        }
      }),
    );
    const trafficEndS = Date.now() / 1000;
    // Prometheus has the end of the traffic once both pools' counters carry a sample after it.
    await waitFor(
      'Prometheus to scrape both pools after the traffic',
      async () => {
        const last = await queryRange(
          PROMETHEUS,
          `max by (pool) (timestamp(servingstack_requests_total{namespace="${ns.name}"}))`,
          { startS: Math.floor(trafficEndS), endS: Math.ceil(Date.now() / 1000), stepS: 1 },
        );
        return poolsWithData(last.filter((s) => s.values.some(([, v]) => Number(v) > trafficEndS)));
      },
      { until: (pools) => pools.length === POOLS.length, timeoutMs: 60_000, intervalMs: 1_000 },
    );
    evaluation = await evaluatePanels(PROMETHEUS, dashboard, selection(), {
      fromMs: fromMs - 20_000,
      toMs: Date.now(),
    });
    console.log(
      `dashboard: ${evaluation.results.length} queries over ${Math.round(evaluation.intervals.endS - evaluation.intervals.startS)}s, ` +
        `step ${evaluation.intervals.intervalS}s, $__rate_interval ${evaluation.intervals.rateIntervalS}s; ` +
        `${outcomes.length} requests sent, answers ${JSON.stringify(Object.fromEntries(POOLS.map((p) => [p, outcomes.filter((o) => o.pool === p && o.status === 200).length])))}`,
    );
  }, 720_000);

  afterAll(async () => {
    await operator?.stop();
  }, 60_000);

  it('sent real traffic to both pools (over 50 answers from each), every answer a 200', () => {
    for (const pool of POOLS) expect(outcomes.filter((o) => o.pool === pool).length).toBeGreaterThan(50);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
  });

  it('the template variables offer the namespace, the stack, its model and both pools', async () => {
    const options = await variableOptions(PROMETHEUS, dashboard, selection(), evaluation.range);
    expect(options.namespace).toContain(ns.name);
    expect(options.stack).toEqual([STACK]);
    expect(options.model).toEqual([TEST_MODEL.name]);
    expect(options.pool).toEqual([...POOLS]);
    // With one pool picked, the list still offers both (a variable filtered by itself would not).
    const picked = await variableOptions(
      PROMETHEUS,
      dashboard,
      { ...selection(), pool: [POOLS[0]] },
      evaluation.range,
    );
    expect(picked.pool).toEqual([...POOLS]);
  });

  it('every query of every panel runs without an error', () => {
    expect(
      evaluation.results
        .filter((r) => r.error !== undefined)
        .map((r) => `${r.panel.title} ${r.target.refId}: ${r.error}`),
    ).toEqual([]);
  });

  it('every panel whose metrics the pools export shows both pools', () => {
    const shown = evaluation.results
      .filter((r) => !(r.panel.title in UNEXERCISED) && r.panel.title !== SPILL_PANEL)
      .map((r) => [`${r.panel.title} ${r.target.refId}`, poolsWithData(r.series)]);
    expect(shown.length).toBeGreaterThan(0);
    expect(shown).toEqual(shown.map(([name]) => [name, [...POOLS]]));
  });

  it('shows the requests the throughput pool spilled to the latency pool, and no failed spill', () => {
    const series = (refId: string) =>
      evaluation.results
        .find((r) => r.panel.title === SPILL_PANEL && r.target.refId === refId)
        ?.series.filter(hasFiniteValue)
        .map((s) => {
          const { from, to, reason } = s.metric as Record<string, string | undefined>;
          return {
            from,
            to,
            reason,
            max: Math.max(...s.values.map(([, v]) => Number(v)).filter(Number.isFinite)),
          };
        }) ?? [];
    // Misrouted by the router (reason route); a deadline the throughput pool cannot meet on a
    // loaded machine may spill too (reason deadline). Nothing goes the other way.
    const spilled = series('A');
    expect(spilled.filter((s) => s.from !== 'throughput' || s.to !== 'latency')).toEqual([]);
    expect(spilled.find((s) => s.reason === 'route')?.max).toBeGreaterThan(0);
    for (const s of spilled) expect(s.max).toBeLessThanOrEqual(1);
    expect(series('B')).toEqual([{ from: 'throughput', to: 'latency', max: 0 }]);
  });

  it('leaves out exactly the panels reading metrics the server does not export, and those are empty here', async () => {
    const exported = await serverSeriesNames();
    const foreign = dashboard.panels
      .filter((p) => (p.targets ?? []).some((t) => metricsOf(t.expr).some((m) => !exported.has(m))))
      .map((p) => p.title);
    expect(foreign.sort()).toEqual(Object.keys(UNEXERCISED).sort());
    const unexercised = evaluation.results.filter((r) => r.panel.title in UNEXERCISED);
    expect(unexercised.map((r) => [r.panel.title, r.series.length])).toEqual(
      unexercised.map((r) => [r.panel.title, 0]),
    );
  });

  it('shows the pools as they behave: the latency pool runs batches of one, neither pool answers errors', () => {
    const values = (title: string, refId: string, pool: string) =>
      evaluation.results
        .find((r) => r.panel.title === title && r.target.refId === refId)
        ?.series.find((s) => s.metric.pool === pool)
        ?.values.map(([, v]) => Number(v))
        .filter(Number.isFinite) ?? [];
    // Mean and p95 both: the p95 read 0.95 before it was rounded up to a whole row.
    for (const refId of ['A', 'B']) {
      const latencyBatches = values('Batch size per pool', refId, 'latency');
      expect(latencyBatches.length).toBeGreaterThan(0);
      expect([refId, new Set(latencyBatches)]).toEqual([refId, new Set([1])]);
    }
    for (const pool of POOLS) {
      const errors = values('Error ratio per pool', 'A', pool);
      expect(errors.length).toBeGreaterThan(0);
      expect(new Set(errors)).toEqual(new Set([0]));
    }
  });

  it('finds nothing for a stack that does not exist (the empty check can fail)', async () => {
    const other = await evaluatePanels(
      PROMETHEUS,
      dashboard,
      { ...selection(), stack: ['no-such-stack'] },
      evaluation.range,
    );
    expect(other.results.filter((r) => r.series.some(hasFiniteValue))).toEqual([]);
  });

  it("draws the demo's picture from these results, and Chromium renders it with both pools", async () => {
    const svg = chart(picturePanels(evaluation.results, evaluation.intervals.startS), {
      columns: 2,
      title: `ServingStack ${STACK}`,
    });
    for (const pool of POOLS) expect(svg).toContain(`>${pool}</text>`);
    const dir = mkdtempSync(join(tmpdir(), 'servingstack-dashboard-'));
    try {
      const file = join(dir, 'pools.svg');
      writeFileSync(file, svg);
      const [, width, height] = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg) ?? [];
      const counts = colourCounts(
        decodePng(await screenshot(file, { width: Number(width), height: Number(height) })),
      );
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      expect(Math.max(...counts.values())).toBeLessThan(0.995 * total);
      expect(counts.get('#1f77b4') ?? 0).toBeGreaterThan(100);
      expect(counts.get('#e6550d') ?? 0).toBeGreaterThan(100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
