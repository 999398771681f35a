// `.ci/run`'s check after `make test`: reads the records e2e/jest-results-reporter.ts wrote for
// each Jest run and fails when a project expected to run did not, when a test failed, or when a
// test was skipped, unless its name says it needs a GPU ("... (needs a GPU)"): those are the only
// skips a machine without one may have.
//   node scripts/check-test-results.ts RESULTS_DIR PROJECT...
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunRecord } from '../e2e/jest-results-reporter.ts';

export const GPU_SKIP = /\(needs a GPU\)/;

export function checkResults(
  records: readonly RunRecord[],
  expected: readonly string[],
): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  let ok = true;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const project of expected) {
    const runs = records.filter((r) => r.projects.includes(project));
    if (runs.length === 0) {
      lines.push(`${project}: no run recorded`);
      ok = false;
      continue;
    }
    const skips = runs.flatMap((r) => r.skipped.filter((s) => s.project === project));
    const p = runs.reduce((n, r) => n + r.passed, 0);
    const f = runs.reduce((n, r) => n + r.failed, 0);
    lines.push(`${project}: ${p} passed, ${f} failed, ${skips.length} skipped`);
    passed += p;
    failed += f;
    skipped += skips.length;
    if (f > 0) ok = false;
    for (const s of skips) {
      const allowed = GPU_SKIP.test(s.name);
      lines.push(`  skipped${allowed ? ' (needs a GPU, allowed)' : ''}: ${s.file}: ${s.name}`);
      if (!allowed) ok = false;
    }
  }
  lines.push(`ci: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  return { lines, ok };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, ...expected] = process.argv.slice(2);
  if (dir === undefined || expected.length === 0) {
    console.error('usage: node scripts/check-test-results.ts RESULTS_DIR PROJECT...');
    process.exit(2);
  }
  const records = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as RunRecord);
  const { lines, ok } = checkResults(records, expected);
  for (const line of lines) console.log(line);
  if (!ok) {
    console.error(
      'ci: failed: a test failed, a project did not run, or a test was skipped without needing a GPU',
    );
    process.exit(1);
  }
}
