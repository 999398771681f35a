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
};

export default {
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
      testTimeout: 300_000,
    },
  ],
};
