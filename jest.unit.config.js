/**
 * The fast unit specs only (test/unit/**): no database, no HTTP server. Stryker runs these
 * (`npm run mutate`); `npm test` runs them too, with everything else.
 */
import base from './jest.config.js';

export default {
  ...base,
  // Mutants are type-checked by nobody: ts-jest only transpiles (tsconfig's isolatedModules, no diagnostics), so a
  // mutant that would not type-check still runs, as Stryker expects.
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  testMatch: ['<rootDir>/test/unit/**/*.spec.ts'],
  // A mutant that leaves a promise pending fails its test here, fast, instead of running into
  // Stryker's own timeout (which costs a restart of the worker).
  testTimeout: 4000,
  maxWorkers: 1,
  // Stryker runs this config once per mutant: no end-of-run report there (the unit specs open nothing).
  globalTeardown: undefined,
};
