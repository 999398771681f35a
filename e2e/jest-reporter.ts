import { KUBE_VERSION_ENV } from './jest-global-setup.ts';

// The slice of Jest's reporter API this uses; @jest/reporters is not a direct dependency.
interface SuiteResult {
  displayName?: { name: string };
  numPassingTests: number;
  numFailingTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testExecError?: unknown;
}
interface RunResults {
  testResults: SuiteResult[];
}

/**
 * Ends every run that included e2e suites with one line saying how many e2e tests ran and
 * against which Kubernetes, e.g. `e2e: 12 passed, 0 failed against Kubernetes v1.35.4`.
 */
export default class E2eSummaryReporter {
  onRunComplete(_contexts: unknown, results: RunResults): void {
    const suites = results.testResults.filter((s) => s.displayName?.name === 'e2e');
    if (suites.length === 0) return;
    const sum = (pick: (s: SuiteResult) => number) => suites.reduce((n, s) => n + pick(s), 0);
    const passed = sum((s) => s.numPassingTests);
    // A suite that could not even run counts as one failure, so it cannot vanish from the line.
    const failed = sum((s) => s.numFailingTests + (s.testExecError ? 1 : 0));
    const skipped = sum((s) => s.numPendingTests + s.numTodoTests);
    const version = process.env[KUBE_VERSION_ENV] ?? 'an unknown version (the cluster was not reached)';
    const skippedText = skipped > 0 ? `, ${skipped} skipped` : '';
    console.log(`\ne2e: ${passed} passed, ${failed} failed${skippedText} against Kubernetes ${version}`);
  }
}
