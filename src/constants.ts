/** Injection tokens and metadata keys; only SESSION_STORE is exported from the package. */
export const SESSION_OPTIONS = Symbol('nestjs-lazy-session:options');
/**
 * The store the module uses, after the options have chosen it. Public so that an application's
 * tests can `overrideProvider(SESSION_STORE).useValue(store)` without changing its AppModule.
 */
export const SESSION_STORE = Symbol('nestjs-lazy-session:store');
export const SESSION_STORE_OWNED = Symbol('nestjs-lazy-session:store-owned');
export const AUTHENTICATED_KEY = 'nestjs-lazy-session:authenticated';
export const PUBLIC_KEY = 'nestjs-lazy-session:public';
