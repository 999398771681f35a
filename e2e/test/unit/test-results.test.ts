import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import ResultsReporter, { RESULTS_DIR_ENV, recordRun, type RunRecord } from '../../jest-results-reporter.ts';
import { checkResults, projectTestFiles } from '../../../scripts/check-test-results.ts';
import { repoRoot } from '../support/paths.ts';

const suite = (project: string, file: string, tests: [string, string][], testExecError?: unknown) => ({
  displayName: { name: project },
  testFilePath: `/repo/${file}`,
  testResults: tests.map(([fullName, status]) => ({ fullName, status })),
  testExecError,
});

describe('recordRun', () => {
  it('counts passed and failed tests, a suite that could not run, and names every test that did not run', () => {
    const record = recordRun(
      {
        testResults: [
          suite('unit', 'a.test.ts', [
            ['a works', 'passed'],
            ['a breaks', 'failed'],
            ['a later', 'pending'],
            ['a idea', 'todo'],
          ]),
          suite('unit', 'b.test.ts', [], new Error('syntax error')),
        ],
      },
      '/repo',
    );
    expect(record).toEqual({
      projects: ['unit'],
      passed: 1,
      failed: 2,
      ran: [
        { project: 'unit', file: 'a.test.ts' },
        { project: 'unit', file: 'b.test.ts' },
      ],
      skipped: [
        { project: 'unit', file: 'a.test.ts', name: 'a later' },
        { project: 'unit', file: 'a.test.ts', name: 'a idea' },
      ],
    });
  });
});

describe('ResultsReporter', () => {
  const saved = process.env[RESULTS_DIR_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[RESULTS_DIR_ENV];
    else process.env[RESULTS_DIR_ENV] = saved;
  });

  it('writes one record per run where SERVINGSTACK_TEST_RESULTS points, and nothing without it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'results-'));
    try {
      const reporter = new ResultsReporter({ rootDir: '/repo' });
      delete process.env[RESULTS_DIR_ENV];
      reporter.onRunComplete(undefined, { testResults: [suite('e2e', 'x.e2e.ts', [['x', 'passed']])] });
      expect(readdirSync(dir)).toEqual([]);

      process.env[RESULTS_DIR_ENV] = dir;
      reporter.onRunComplete(undefined, { testResults: [suite('e2e', 'x.e2e.ts', [['x', 'passed']])] });
      const files = readdirSync(dir);
      expect(files).toHaveLength(1);
      expect(JSON.parse(readFileSync(join(dir, files[0]!), 'utf8'))).toMatchObject({
        projects: ['e2e'],
        passed: 1,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checkResults (.ci/run)', () => {
  const run = (project: string, passed: number, skipped: string[] = [], failed = 0): RunRecord => ({
    projects: [project],
    passed,
    failed,
    ran: [{ project, file: `${project}.test.ts` }],
    skipped: skipped.map((name) => ({ project, file: `${project}.test.ts`, name })),
  });

  it('passes runs of every expected project with nothing skipped, and ends on the plain count line', () => {
    const { lines, ok } = checkResults([run('unit', 400), run('e2e', 120)], ['unit', 'e2e']);
    expect(ok).toBe(true);
    expect(lines).toEqual([
      'unit: 400 passed, 0 failed, 0 skipped',
      'e2e: 120 passed, 0 failed, 0 skipped',
      'ci: 520 passed, 0 failed, 0 skipped',
    ]);
  });

  it('fails a run that skipped a test, naming it', () => {
    const { lines, ok } = checkResults(
      [run('unit', 379, ['chart rendered with defaults renders'])],
      ['unit'],
    );
    expect(ok).toBe(false);
    expect(lines).toContain('  skipped: unit.test.ts: chart rendered with defaults renders');
  });

  it('allows only skips whose name says they need a GPU', () => {
    const { lines, ok } = checkResults([run('e2e', 10, ['serves fp16 on CUDA (needs a GPU)'])], ['e2e']);
    expect(ok).toBe(true);
    expect(lines).toContain(
      '  skipped (needs a GPU, allowed): e2e.test.ts: serves fp16 on CUDA (needs a GPU)',
    );
  });

  it('fails when a test file of a project did not run (an ignore pattern, a path filter), naming it', () => {
    const files = new Map([['unit', ['unit.test.ts', 'chart-render.test.ts']]]);
    const { lines, ok } = checkResults([run('unit', 400)], ['unit'], files);
    expect(ok).toBe(false);
    expect(lines).toContain('  not run: chart-render.test.ts');
    const both = { ...run('unit', 21), ran: [{ project: 'unit', file: 'chart-render.test.ts' }] };
    expect(checkResults([run('unit', 400), both], ['unit'], files).ok).toBe(true);
  });

  it("finds each project's test files by its testMatch, whatever it ignores", async () => {
    const files = await projectTestFiles(repoRoot);
    expect(files.get('unit')).toEqual(
      expect.arrayContaining([
        'e2e/test/unit/chart-render.test.ts',
        'operator/test/unit/types-drift.test.ts',
      ]),
    );
    expect(files.get('e2e')).toEqual(expect.arrayContaining(['e2e/test/fresh-root.e2e.ts']));
  });

  it('fails when an expected project has no run, or a test failed', () => {
    expect(checkResults([run('unit', 10)], ['unit', 'e2e']).ok).toBe(false);
    expect(checkResults([run('unit', 10, [], 1)], ['unit']).ok).toBe(false);
  });
});
