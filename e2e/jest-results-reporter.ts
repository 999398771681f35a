import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where .ci/run asks each Jest run to write what it ran (unset: nothing is written). */
export const RESULTS_DIR_ENV = 'SERVINGSTACK_TEST_RESULTS';

// The slice of Jest's reporter API this uses; @jest/reporters is not a direct dependency.
interface AssertionResult {
  fullName: string;
  status: string; // passed | failed | pending | todo | skipped | disabled
}
interface SuiteResult {
  displayName?: { name: string };
  testFilePath: string;
  testResults: AssertionResult[];
  testExecError?: unknown;
}
interface RunResults {
  testResults: SuiteResult[];
}

/** One Jest run's outcome, as scripts/check-test-results.ts reads it. */
export interface RunRecord {
  projects: string[];
  passed: number;
  failed: number;
  /** Every test file the run ran, by project (relative to the repository root). */
  ran: { project: string; file: string }[];
  /** Every test that did not run (skipped, todo), by project, file and full name. */
  skipped: { project: string; file: string; name: string }[];
}

export function recordRun(results: RunResults, root: string): RunRecord {
  const record: RunRecord = { projects: [], passed: 0, failed: 0, ran: [], skipped: [] };
  for (const suite of results.testResults) {
    const project = suite.displayName?.name ?? '(no project)';
    if (!record.projects.includes(project)) record.projects.push(project);
    const file = suite.testFilePath.startsWith(root)
      ? suite.testFilePath.slice(root.length + 1)
      : suite.testFilePath;
    record.ran.push({ project, file });
    if (suite.testExecError !== undefined) record.failed++; // a suite that could not run at all
    for (const test of suite.testResults) {
      if (test.status === 'passed') record.passed++;
      else if (test.status === 'failed') record.failed++;
      else record.skipped.push({ project, file, name: test.fullName });
    }
  }
  return record;
}

/**
 * Writes each run's record to $SERVINGSTACK_TEST_RESULTS/<pid>-<time>.json, so .ci/run can fail a
 * run that skipped anything: Jest itself reports skipped tests as green.
 */
export default class ResultsReporter {
  readonly #root: string;

  constructor(globalConfig: { rootDir: string }) {
    this.#root = globalConfig.rootDir;
  }

  onRunComplete(_contexts: unknown, results: RunResults): void {
    const dir = process.env[RESULTS_DIR_ENV];
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    const record = recordRun(results, this.#root);
    writeFileSync(join(dir, `${process.pid}-${Date.now()}.json`), JSON.stringify(record, null, 2));
  }
}
