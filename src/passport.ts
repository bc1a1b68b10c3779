/**
 * `nestjs-lazy-session/passport`: Passport on this module's sessions. Apart from the root because the
 * login guard extends @nestjs/passport's AuthGuard, so importing it loads @nestjs/passport and passport:
 * an application without Passport imports only the root and never loads them. The state store needs
 * nothing of Passport at run time.
 */
export { PassportLogin, type PassportLoginOptions } from './passport/login.guard.js';
export { SessionStateStore, type OAuth2RequestMeta } from './passport/state-store.js';
