import type { ModulesContainer } from '@nestjs/core';

/** Where createParamDecorator() records a method's custom parameters (Nest's ROUTE_ARGS_METADATA). */
const ROUTE_ARGS = '__routeArguments__';

/** The methods of a prototype and of those it inherits from (a controller or resolver may extend a base class). */
export function methodsOf(prototype: object): Map<string, object> {
  const methods = new Map<string, object>();
  for (let p: object | null = prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const value = Object.getOwnPropertyDescriptor(p, name)?.value;
      if (name !== 'constructor' && typeof value === 'function' && !methods.has(name)) methods.set(name, value);
    }
  }
  return methods;
}

/**
 * `Class.method` of every controller, resolver or gateway method that has a parameter made by the
 * param decorator whose factory is `factory` (createParamDecorator records the factory as given).
 */
export function methodsWithParameter(modules: ModulesContainer, factory: unknown): string[] {
  const found = new Set<string>();
  for (const module of modules.values()) {
    for (const wrapper of [...module.controllers.values(), ...module.providers.values()]) {
      const type = wrapper.metatype;
      if (typeof type !== 'function' || !type.prototype) continue;
      for (const name of methodsOf(type.prototype).keys()) {
        const args: Record<string, { factory?: unknown }> | undefined = Reflect.getMetadata(ROUTE_ARGS, type, name);
        if (args && Object.values(args).some((a) => a.factory === factory)) found.add(`${type.name}.${name}`);
      }
    }
  }
  return [...found];
}
