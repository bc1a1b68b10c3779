import { Body, Controller, Get, Header, Post, Redirect, UseFilters, UseGuards } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import { Authenticated, Session, SessionManager, UserId, type SessionHandle } from '../src/index.js';
import { HtmlAuthFilter, LoginFailedException } from './html-auth.filter.js';
import { UserDirectory } from './users.js';
import { homePage, loginPage, profilePage, stylesheet } from './views.js';

const MAX_CART_ITEMS = 20;
const MAX_ITEM_LENGTH = 40;

type Form = Record<string, unknown>;

/** Form fields arrive as strings, but a crafted body can send arrays or objects: those count as absent. */
const field = (body: Form | undefined, name: string): string => {
  const v = body?.[name];
  return typeof v === 'string' ? v : '';
};

const HTML = 'text/html; charset=utf-8';

@Controller()
@UseFilters(HtmlAuthFilter)
export class DemoController {
  constructor(private readonly users: UserDirectory, private readonly sessions: SessionManager) {}

  @Get('style.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=300')
  style(): string {
    // Served as a file so the Content-Security-Policy can forbid inline styles.
    return stylesheet();
  }

  @Get()
  @Header('Content-Type', HTML)
  @Header('Cache-Control', 'no-store')
  async home(@Session() session: SessionHandle): Promise<string> {
    const visits = ((await session.get<number>('visits')) ?? 0) + 1;
    await session.set('visits', visits);
    const cart = (await session.get<string[]>('cart')) ?? [];
    const userId = await session.getUserId();
    const user = userId === undefined ? undefined : this.users.byId(userId);
    return homePage({ user, visits, cart, flash: await takeFlash(session) });
  }

  @Post('cart')
  @Redirect('/', 303)
  async addToCart(@Session() session: SessionHandle, @Body() body: Form): Promise<void> {
    const item = field(body, 'item').trim().slice(0, MAX_ITEM_LENGTH);
    if (!item) return;
    const cart = (await session.get<string[]>('cart')) ?? [];
    if (cart.length >= MAX_CART_ITEMS) {
      await session.set('flash', `The cart holds at most ${MAX_CART_ITEMS} items.`);
      return;
    }
    await session.set('cart', [...cart, item]);
  }

  @Post('cart/clear')
  @Redirect('/', 303)
  async clearCart(@Session() session: SessionHandle): Promise<void> {
    await session.delete('cart');
  }

  @Get('login')
  @Header('Content-Type', HTML)
  @Header('Cache-Control', 'no-store')
  async loginForm(@UserId() userId: string | undefined): Promise<string> {
    return loginPage({ user: userId === undefined ? undefined : this.users.byId(userId) });
  }

  @Post('login')
  // Brute force: at most 5 attempts per client and account a minute, then 429 with Retry-After.
  @UseGuards(ThrottlerGuard)
  @Redirect('/profile', 303)
  async login(@Session() session: SessionHandle, @Body() body: Form): Promise<void> {
    const username = field(body, 'username');
    const user = await this.users.verify(username, field(body, 'password'));
    // A failed attempt leaves the session alone: no session is created and nothing is written.
    if (!user) throw new LoginFailedException(username);
    await session.login(user.id, { remember: field(body, 'remember') === 'on' });
  }

  @Post('logout')
  @Redirect('/login', 303)
  async logout(@Session() session: SessionHandle): Promise<void> {
    await session.logout();
  }

  @Get('profile')
  @Authenticated()
  @Header('Content-Type', HTML)
  async profile(@Session() session: SessionHandle, @UserId() userId: string): Promise<string> {
    const user = this.users.byId(userId) ?? { id: userId, name: userId };
    const sessions = await this.sessions.listForUser(userId);
    return profilePage({ user, sessions, flash: await takeFlash(session) });
  }

  @Post('sessions/end')
  @Authenticated()
  @Redirect('/profile', 303)
  async endSession(@Session() session: SessionHandle, @UserId() userId: string, @Body() body: Form): Promise<void> {
    const handle = field(body, 'handle');
    // A handle is only a name: { userId } keeps a user from ending anybody else's session with one.
    const ended = await this.sessions.destroyByHandle(handle, { userId });
    await session.set('flash', ended ? 'That session has been ended.' : 'No such session of yours (it may have ended already).');
  }

  @Post('sessions/end-others')
  @Authenticated()
  @Redirect('/profile', 303)
  async endOthers(@Session() session: SessionHandle, @UserId() userId: string): Promise<void> {
    const n = await this.sessions.destroyAllForUser(userId, { except: 'current' });
    await session.set('flash', `Logged out everywhere else (${n} session${n === 1 ? '' : 's'} ended).`);
  }
}

/** A one-time message: shown on the next page, then gone. */
async function takeFlash(session: SessionHandle): Promise<string | undefined> {
  const flash = await session.get<string>('flash');
  if (flash !== undefined) await session.delete('flash');
  return flash;
}
