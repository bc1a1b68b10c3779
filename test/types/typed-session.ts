// Compiled by test/typed-session.spec.ts in a program of its own: the augmentation below would
// otherwise apply to every test file.
import { Controller, Get, Injectable } from '@nestjs/common';
import { CurrentSession, Session, SessionValue, type SessionHandle } from '../../src/index.js';

declare module '../../src/index.js' {
  interface SessionData {
    visits: number;
    cart: { sku: string; qty: number }[];
  }
}

@Injectable()
export class Typed {
  constructor(private readonly session: CurrentSession) {}

  async ok(): Promise<number> {
    const visits: number | undefined = await this.session.get('visits');
    await this.session.set('visits', (visits ?? 0) + 1);
    await this.session.set('cart', [{ sku: 'a', qty: 1 }]);
    const cart = await this.session.get('cart');
    const explicit = await this.session.get<string>('visits');
    return (cart?.[0].qty ?? 0) + (explicit?.length ?? 0);
  }

  async wrong(): Promise<void> {
    // @ts-expect-error a declared key takes only its declared type
    await this.session.set('visits', 'many');
    // @ts-expect-error undeclared keys are refused once SessionData is declared
    await this.session.get('nope');
    // @ts-expect-error
    await this.session.set('cart', [{ sku: 1 }]);
    const visits = await this.session.get('visits');
    // @ts-expect-error the value is number | undefined, not string
    const s: string = visits;
    void s;
    // @ts-expect-error the declared type decides, not the variable the value is assigned to
    const assigned: string | undefined = await this.session.get('visits');
    void assigned;
  }

  async wrongThroughHandle(session: SessionHandle): Promise<void> {
    // @ts-expect-error the same on the handle that @Session() gives
    const assigned: string = (await session.get('visits')) ?? '';
    void assigned;
  }
}

@Controller()
export class TypedController {
  @Get()
  handler(@Session() session: SessionHandle, @SessionValue('cart') cart: unknown) {
    void session.get('cart');
    return cart;
  }

  @Get('bad')
  // @ts-expect-error @SessionValue checks the key too
  bad(@SessionValue('nope') nope: unknown) {
    return nope;
  }
}
