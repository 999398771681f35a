// The demo's last picture: the two pools over the burst it sent, from Prometheus, as the chart's
// Grafana dashboard shows them (the same queries, variables substituted as Grafana does), drawn
// into one SVG file by the project's chart renderer.
//   node scripts/demo-picture.ts --stack <name> --namespace <ns> --from <unix s> --to <unix s>
//                                --out <file.svg> [--prometheus http://127.0.0.1:19090]
// Prints the file's path, and names any panel whose query failed or found nothing.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { evaluatePanels, hasFiniteValue } from './lib/dashboard-eval.ts';
import { loadDashboard } from './lib/grafana-dashboard.ts';
import { PICTURE_PANELS, picturePanels } from './lib/pool-picture.ts';
import { chart } from './lib/svg-chart.ts';

const { values } = parseArgs({
  options: {
    prometheus: { type: 'string', default: 'http://127.0.0.1:19090' },
    namespace: { type: 'string' },
    stack: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    out: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(`demo-picture: ${message}`);
  process.exit(1);
}

const { namespace, stack, out } = values;
const from = Number(values.from);
const to = Number(values.to);
if (!namespace || !stack || !out) fail('--namespace, --stack and --out are required');
if (!(Number.isInteger(from) && Number.isInteger(to) && to > from)) {
  fail('--from and --to must be unix seconds, --from before --to');
}

const dashboard = loadDashboard(fileURLToPath(new URL('..', import.meta.url)));
const titles = new Set(PICTURE_PANELS.map((p) => p.title));
const { results, intervals } = await evaluatePanels(
  values.prometheus,
  { ...dashboard, panels: dashboard.panels.filter((p) => titles.has(p.title)) },
  { namespace: [namespace], stack: [stack], model: 'All', pool: 'All' },
  { fromMs: from * 1000, toMs: to * 1000 },
).catch((err: unknown) => fail((err as Error).message));
const svg = chart(picturePanels(results, intervals.startS), {
  columns: 2,
  title: `ServingStack ${stack} (namespace ${namespace}): both pools over the demo's burst, from Prometheus`,
});
writeFileSync(out, svg);
for (const r of results) {
  if (r.error !== undefined) console.log(`  ${r.panel.title} (${r.target.refId}): ${r.error}`);
  else if (!r.series.some(hasFiniteValue)) console.log(`  ${r.panel.title} (${r.target.refId}): no data`);
}
console.log(
  `The two pools over the burst (${to - from}s, a point every ${intervals.intervalS}s): ${resolve(out)}`,
);
