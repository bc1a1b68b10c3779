/** Jest in ESM mode (NestJS 12 ships as ES modules only), TypeScript through ts-jest. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  testTimeout: 30000,
  // One database per engine is shared by the suites: run them one after another.
  maxWorkers: 1,
  // A handle left open by any suite (a client reconnecting, a child process) would keep Jest alive
  // after the last test: a CI run once hung there until its time limit, all tests passed. The run
  // ends anyway, and test/support/open-handles.js names what was left open.
  forceExit: true,
  globalTeardown: '<rootDir>/test/support/open-handles.js',
};
