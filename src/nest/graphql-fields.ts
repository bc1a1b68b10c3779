import type { ModulesContainer } from '@nestjs/core';
import { AUTHENTICATED_KEY, PUBLIC_KEY } from '../constants.js';
import { SessionOptionsError } from '../errors.js';
import { methodsOf } from './handlers.js';

/**
 * What @nestjs/graphql records, by the names it has used since its version 7 (read as plain
 * metadata, so that this module never loads @nestjs/graphql): the provider of GraphQLModule's
 * options, and the mark of a @ResolveField() method.
 */
const GRAPHQL_OPTIONS = 'GqlModuleOptions';
const FIELD_RESOLVER = 'graphql:resolve_property';

interface GraphqlOptions {
  fieldResolverEnhancers?: string[];
}

/**
 * Nest runs no guard on a field resolver (@ResolveField()) unless GraphQLModule's
 * `fieldResolverEnhancers` includes 'guards'. @Authenticated() there, on the method or on its
 * resolver class, would then protect nothing and the field would answer anyone: refused at
 * start-up, with the way out.
 */
export function refuseUnguardedFieldResolvers(modules: ModulesContainer): void {
  const options = graphqlOptions(modules);
  if (!options || options.fieldResolverEnhancers?.includes('guards')) return;
  const open = authenticatedFieldResolvers(modules);
  if (open.length === 0) return;
  throw new SessionOptionsError(
    `@Authenticated() is on the GraphQL field resolver${open.length > 1 ? 's' : ''} ${open.join(', ')}, but Nest runs no guard on field ` +
      "resolvers unless GraphQLModule.forRoot() has fieldResolverEnhancers: ['guards']: the field would answer anybody. Add that option, " +
      'or move the check to the query or mutation that returns the object.',
  );
}

function graphqlOptions(modules: ModulesContainer): GraphqlOptions | undefined {
  for (const module of modules.values()) {
    const wrapper = module.providers.get(GRAPHQL_OPTIONS);
    if (wrapper?.instance && typeof wrapper.instance === 'object') return wrapper.instance as GraphqlOptions;
  }
  return undefined;
}

/** `Class.method` of every field resolver that @Authenticated() covers, by itself or through its class. */
function authenticatedFieldResolvers(modules: ModulesContainer): string[] {
  const found = new Set<string>();
  for (const module of modules.values()) {
    for (const wrapper of module.providers.values()) {
      const type = wrapper.metatype;
      if (typeof type !== 'function' || !type.prototype) continue;
      for (const [name, method] of methodsOf(type.prototype)) {
        if (Reflect.getMetadata(FIELD_RESOLVER, method) === true && isClosed(method, type)) found.add(`${type.name}.${name}`);
      }
    }
  }
  return [...found];
}

/** As the guard decides: the method's own declaration, else its class's; @Authenticated() wins on one level. */
function isClosed(method: object, type: object): boolean {
  for (const level of [method, type]) {
    if (Reflect.getMetadata(AUTHENTICATED_KEY, level) !== undefined) return true;
    if (Reflect.getMetadata(PUBLIC_KEY, level) === true) return false;
  }
  return false;
}
