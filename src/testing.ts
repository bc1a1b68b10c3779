/**
 * `nestjs-lazy-session/testing`: the store conformance suite, for authors of a SessionStore to run
 * in their own test runner (see the README's "Writing your own store"). It loads no test runner, no
 * database client and no Nest package: only node:assert and the store contract.
 */
export { describeSessionStore, type OpenedSessionStore, type SessionStoreTestRunner, type SessionStoreUnderTest } from './testing/describe.js';
