// Two projects: `unit` (pure, no cluster, runs in parallel) and `e2e` (the local cluster,
// run in band). Sources are native ESM TypeScript with explicit `.ts` import extensions;
// @swc/jest strips the types, `tsc --noEmit` checks them separately.
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
  ],
};
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  setupFiles: ['<rootDir>/jest.setup-env.js'],
  // The local cluster's state (etcd's member/snap/*.snap would pass for obsolete Jest snapshots).
  modulePathIgnorePatterns: ['<rootDir>/.cluster/'],
};

export default {
  // The last line of an e2e run says how many e2e tests ran and against which Kubernetes; with
  // SERVINGSTACK_TEST_RESULTS set (.ci/run), each run's counts and skipped tests land there.
  reporters: ['default', '<rootDir>/e2e/jest-reporter.ts', '<rootDir>/e2e/jest-results-reporter.ts'],
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{operator,server-image,e2e}/test/unit/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/e2e/test/**/*.e2e.ts'],
      setupFilesAfterEnv: ['<rootDir>/e2e/jest-setup-after-env.ts'],
      // Fails the run when the cluster cannot be reached: e2e tests never skip.
      globalSetup: '<rootDir>/e2e/jest-global-setup.ts',
    },
  ],
};
