/** Internal injection tokens and metadata keys: not exported from the package. */
export const SESSION_OPTIONS = Symbol('nestjs-lazy-session:options');
export const SESSION_STORE = Symbol('nestjs-lazy-session:store');
export const SESSION_STORE_OWNED = Symbol('nestjs-lazy-session:store-owned');
export const AUTHENTICATED_KEY = 'nestjs-lazy-session:authenticated';
export const PUBLIC_KEY = 'nestjs-lazy-session:public';
