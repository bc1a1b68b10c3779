// Mutation testing of the security-critical modules against the fast unit specs (test/unit/**).
// `npm run mutate` runs it and rewrites reports/mutation.md. Not part of CI: minutes of CPU.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  jest: { configFile: 'jest.unit.config.js', enableFindRelatedTests: false },
  // Jest runs the specs as ES modules: its workers need Node's VM modules.
  testRunnerNodeArgs: ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning'],
  coverageAnalysis: 'perTest',
  concurrency: 2,
  // Where a surviving mutant is a security hole. The cross-site rule, the guard, the decorators, cookie
  // parsing and sealing have unit specs of their own in test/unit/.
  mutate: [
    'src/crypto/token.ts', // token and signature
    'src/http/cookie.ts', // cookie parsing and writing
    'src/http/cross-site.ts', // the cross-site rule (pure; judged at the session's first use)
    'src/nest/guard.ts', // the guard
    'src/nest/decorators.ts', // the decorators
    'src/session/handle.ts', // the session lifecycle: load once, change, login, rotate, logout, commit
    'src/session/state.ts', // the lifecycle's state and its transitions
    'src/session/changes.ts', // the patch of changed keys
    'src/session/decisions.ts', // shouldSave, shouldTouch, shouldSetCookie, ...
    'src/session/expiry.ts', // the expiry rule
    'src/session/first-use.ts', // the cross-site refusal and the cookie lookup at first use
    'src/session/backend.ts', // cookie lines shared by both backends
    'src/session/server-side.backend.ts', // token cookie + store: create, update, rotate, end, maxSessionsPerUser
    'src/session/sealed-cookie.backend.ts', // the whole session sealed in the cookie
    'src/session/runtime.ts', // start-up decisions, events, the sweeper
    'src/session/guarded-store.ts', // store calls bounded in time, failures answered 503
    'src/crypto/seal.ts', // sealing
    'src/stores/cookie.store.ts', // the sealed cookie's format
    'src/oauth/pending.ts', // OAuth 2.0 / OIDC sign-ins pending in the session: taken once, same client, in time
    'src/oauth/authorization.ts', // state, nonce and PKCE for openid-client
  ],

  ignorePatterns: ['bench', 'demo', '.run', 'dist', 'reports', 'coverage', '*.sqlite*'],
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  timeoutMS: 6000,
  thresholds: { high: 90, low: 85, break: null },
};
