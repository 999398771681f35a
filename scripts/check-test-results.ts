// `.ci/run`'s check after `make test`: reads the records e2e/jest-results-reporter.ts wrote for
// each Jest run and fails when a project expected to run did not, when one of its test files (as
// its testMatch in jest.config.js finds them on disk) did not run, when a test failed, or when a
// test was skipped, unless its name says it needs a GPU ("... (needs a GPU)"): those are the only
// skips a machine without one may have.
//   node scripts/check-test-results.ts RESULTS_DIR PROJECT...
import { globSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RunRecord } from '../e2e/jest-results-reporter.ts';

export const GPU_SKIP = /\(needs a GPU\)/;

interface JestProject {
  displayName?: string;
  testMatch?: string[];
}

/**
 * Each project's test files on disk, by its testMatch, relative to ROOT. Its ignore patterns
 * are not applied on purpose: a test file left out of a run is a skipped test too.
 */
export function testFiles(config: { projects?: JestProject[] }, root: string): Map<string, string[]> {
  const files = new Map<string, string[]>();
  for (const project of config.projects ?? []) {
    if (!project.displayName) continue;
    const patterns = (project.testMatch ?? []).map((p) => p.replace(/^<rootDir>\//, ''));
    const found = globSync(patterns, { cwd: root, exclude: (f) => f.split('/').includes('node_modules') });
    files.set(project.displayName, [...new Set(found)].sort());
  }
  return files;
}

/** testFiles of the repository's own jest.config.js. */
export async function projectTestFiles(root: string): Promise<Map<string, string[]>> {
  const config = (await import(pathToFileURL(join(root, 'jest.config.js')).href)) as {
    default: { projects?: JestProject[] };
  };
  return testFiles(config.default, root);
}

export function checkResults(
  records: readonly RunRecord[],
  expected: readonly string[],
  files: ReadonlyMap<string, readonly string[]> = new Map(),
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
    const ran = new Set(runs.flatMap((r) => r.ran.filter((f) => f.project === project).map((f) => f.file)));
    for (const file of files.get(project) ?? []) {
      if (ran.has(file)) continue;
      lines.push(`  not run: ${file}`);
      ok = false;
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
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { lines, ok } = checkResults(records, expected, await projectTestFiles(root));
  for (const line of lines) console.log(line);
  if (!ok) {
    console.error(
      'ci: failed: a test failed, a project or a test file did not run, or a test was skipped without needing a GPU',
    );
    process.exit(1);
  }
}
