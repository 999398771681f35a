// The demo's traffic step: a short bounded burst of each kind of request through the router,
// then a table of where each kind landed and how fast it was answered.
//   node scripts/demo-traffic.ts --host <stack host> [--provider gateway-api|ingress-nginx]
//                                [--model mlp] [--requests 100] [--concurrency 4]
// Exits non-zero, naming the request kind, when any answer comes from another pool than the
// routing contract says (for ingress-nginx: the default pool where one canary header cannot
// express the rule, as the stack's RoutingReady condition reports) or from no pool at all (a
// router error). A pool that refuses a deadline it cannot meet (504, as soon as it knows) still
// answered: the table shows it.
import { parseArgs } from 'node:util';
import { ROUTING_CASES } from '../e2e/agent/testing/routing-cases.ts';
import { ROUTER_URL, burst, modelInput, summarize, type Summary } from '../e2e/agent/testing/traffic.ts';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    provider: { type: 'string', default: 'gateway-api' },
    model: { type: 'string', default: 'mlp' },
    requests: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '4' },
  },
});
const host = values.host;
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
if (!host) fail('--host <the stack host> is required');
if (values.provider !== 'gateway-api' && values.provider !== 'ingress-nginx') {
  fail(`--provider must be gateway-api or ingress-nginx, not ${JSON.stringify(values.provider)}`);
}
const partial = values.provider === 'ingress-nginx';
if (!Number.isInteger(requests) || requests < 1 || requests > 10_000)
  fail('--requests must be an integer in 1..10000');
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
  fail('--concurrency must be an integer in 1..64');

function fail(message: string): never {
  console.error(`demo-traffic: ${message}`);
  process.exit(1);
}

// Each pool declares its own input datatype (fp16 takes FP16): ask through the same headers.
const inputs = [];
for (const c of ROUTING_CASES) {
  try {
    inputs.push(await modelInput({ host, model: values.model, headers: c.headers }));
  } catch (err) {
    fail(
      `the router at ${ROUTER_URL} does not serve ${host} yet (${(err as Error).message}); is the stack Ready?`,
    );
  }
}

const rows: { label: string; expected: string; summary: Summary }[] = [];
for (const [i, c] of ROUTING_CASES.entries()) {
  process.stdout.write(`  ${c.label.padEnd(32)} `);
  let shown = 0;
  const { outcomes, wallMs } = await burst(
    { host, model: values.model, headers: c.headers, ...(inputs[i] && { input: inputs[i] }) },
    {
      requests,
      concurrency,
      onOutcome: (done) => {
        // A dot per tenth of the burst, so a slow pool shows progress.
        while (shown < Math.floor((done * 10) / requests)) {
          process.stdout.write('.');
          shown++;
        }
      },
    },
  );
  const summary = summarize(outcomes, wallMs);
  process.stdout.write(` ${summary.ok}/${summary.requests} 2xx\n`);
  // What the router cannot express reaches the default pool, throughput, which spills it to the
  // contracted pool (spec.routing.spillover, on by default).
  const expected = partial && !c.ingressNginx ? `${c.pool}*` : c.pool;
  rows.push({ label: c.label, expected, summary });
}

const served = (s: Summary) =>
  Object.entries(s.pools)
    .map(([pool, n]) => (n === s.requests ? pool : `${pool} ${n}`))
    .join(', ');
const answers = (s: Summary) =>
  Object.entries(s.codes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, n]) => `${code} x${n}`)
    .join(', ');
const table = [
  ['request header', 'expected pool', 'served by (X-Serving-Pool)', 'answers', 'p50 ms', 'p95 ms', 'req/s'],
  ...rows.map((r) => [
    r.label,
    r.expected,
    served(r.summary),
    answers(r.summary),
    r.summary.p50Ms.toFixed(1),
    r.summary.p95Ms.toFixed(1),
    r.summary.rps.toFixed(0),
  ]),
];
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
const line = (row: string[]) => `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`;
console.log(
  `\nThrough ${ROUTER_URL} (Host: ${host}), ${requests} requests per kind, ${concurrency} at a time:\n`,
);
console.log('  (p50/p95 and req/s count 2xx answers; 504 is a pool refusing a deadline it cannot meet)\n');
console.log(line(table[0]!));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of table.slice(1)) console.log(line(row));

if (partial)
  console.log(
    '\n  * ingress-nginx allows one canary header per host: this rule reaches the default pool, which spills it to this one.',
  );

const wrong = rows.filter((r) => r.summary.pools[r.expected.replace('*', '')] !== r.summary.requests);
if (wrong.length > 0) {
  fail(`not served as the routing contract says: ${wrong.map((r) => r.label).join('; ')}`);
}
