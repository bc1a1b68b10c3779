import 'reflect-metadata';
import { createParamDecorator } from '@nestjs/common';
import type { ModulesContainer } from '@nestjs/core';
import { methodsWithParameter } from '../../src/nest/handlers.js';

/** The start-up scan behind "@CurrentUser() needs resolveUser": which methods take a given param decorator. */

const askFactory = () => 'asked';
const Ask = createParamDecorator(askFactory);
const Other = createParamDecorator(() => 'other');

/** A ModulesContainer as the scan reads it: modules with controllers and providers keyed by token. */
function modules(controllers: unknown[], providers: unknown[]): ModulesContainer {
  const wrappers = (types: unknown[]) => new Map(types.map((metatype, i) => [String(i), { metatype }]));
  return new Map([['m', { controllers: wrappers(controllers), providers: wrappers(providers) }]]) as unknown as ModulesContainer;
}

describe('methodsWithParameter', () => {
  class Base {
    inherited(@Ask() _a: unknown) {}
  }
  class Controller extends Base {
    own(@Other() _o: unknown, @Ask() _a: unknown) {}
    none(@Other() _o: unknown) {}
    get accessor(): string {
      throw new Error('a getter is never called by the scan');
    }
  }
  class Resolver {
    field(@Ask() _a: unknown) {}
  }

  it('finds own and inherited methods of controllers and providers, by the decorator factory', () => {
    const found = methodsWithParameter(modules([Controller], [Resolver, { not: 'a class' }, null]), askFactory);
    expect(found.sort()).toEqual(['Controller.inherited', 'Controller.own', 'Resolver.field']);
  });

  it('finds nothing for a factory nobody used', () => {
    expect(methodsWithParameter(modules([Controller], [Resolver]), () => 'unused')).toEqual([]);
  });
});
