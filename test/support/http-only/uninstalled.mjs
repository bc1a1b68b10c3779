// A module resolution hook (node --import): the WebSocket and microservice packages are not
// installed, as in an HTTP-only application. Each attempt to load one is reported on stderr.
import { register } from 'node:module';

const UNINSTALLED = /^(@nestjs\/websockets|@nestjs\/platform-socket\.io|@nestjs\/platform-ws|@nestjs\/microservices|socket\.io|ws)(\/|$)/;

export async function resolve(specifier, context, next) {
  if (UNINSTALLED.test(specifier)) {
    process.stderr.write(`uninstalled ${specifier} from ${context.parentURL}\n`);
    throw Object.assign(new Error(`Cannot find package '${specifier}'`), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}

if (!process.env.UNINSTALLED_HOOK) {
  process.env.UNINSTALLED_HOOK = '1';
  register(import.meta.url);
}
