import { Controller, Get, Header, Injectable, UseInterceptors } from '@nestjs/common';
import { ConnectedSocket, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Authenticated, SessionInterceptor, SessionManager, UserId, type SessionEvent } from '../src/index.js';

/** What the gateway needs of a `ws` socket (the package ships no types). */
interface LiveSocket {
  readonly readyState: number;
  send(data: string): void;
  once(event: 'close', listener: () => void): void;
}

const OPEN = 1;
const ENDED: ReadonlySet<SessionEvent['type']> = new Set(['destroyed', 'logout', 'expired']);

/**
 * The profile pages' sockets, by the handle of the session each belongs to. SessionModule's onEvent
 * tells it when a session ends (a logout, "log out everywhere else" from another device, expiry):
 * the sockets of that session are told at once. Another instance's ends are not seen here; those
 * sockets learn it at their next message, which the module refuses.
 */
export class SessionWatchers {
  private readonly sockets = new Map<string, Set<LiveSocket>>();

  watch(handle: string, socket: LiveSocket): void {
    const set = this.sockets.get(handle) ?? new Set<LiveSocket>();
    this.sockets.set(handle, set.add(socket));
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0 && this.sockets.get(handle) === set) this.sockets.delete(handle);
    });
  }

  readonly onEvent = (event: SessionEvent): void => {
    if (!ENDED.has(event.type)) return;
    for (const socket of this.sockets.get(event.handle) ?? []) {
      if (socket.readyState === OPEN) socket.send(JSON.stringify({ event: 'ended', data: null }));
    }
    this.sockets.delete(event.handle);
  };
}

/**
 * The profile page's WebSocket (@nestjs/platform-ws, at /ws). Its handshake carried the session
 * cookie, so @Authenticated() and @UserId() work as in a controller, and every message reads the
 * session again: once it has ended, the next message is refused with "Unauthorized".
 */
@Injectable()
@WebSocketGateway({ path: '/ws' })
@UseInterceptors(SessionInterceptor)
export class ProfileGateway {
  constructor(private readonly watchers: SessionWatchers, private readonly sessions: SessionManager) {}

  @SubscribeMessage('watch')
  @Authenticated()
  async watch(@ConnectedSocket() socket: LiveSocket, @UserId() userId: string) {
    const current = (await this.sessions.listForUser(userId)).find((s) => s.current);
    if (current) this.watchers.watch(current.handle, socket);
    return { event: 'user', data: { user: userId } };
  }

  @SubscribeMessage('whoami')
  @Authenticated()
  whoami(@UserId() userId: string) {
    return { event: 'user', data: { user: userId } };
  }
}

/**
 * The profile page's script, a file so that the Content-Security-Policy forbids inline scripts: it
 * shows the user the socket says, and goes to the login form when the session is ended elsewhere.
 */
const PROFILE_SCRIPT = `
const live = document.querySelector('[data-testid="live-user"]');
// Once this page is leaving (its own logout form, say), the end of its session is not news.
let leaving = false;
document.addEventListener('submit', () => (leaving = true));
addEventListener('pagehide', () => (leaving = true));
const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
socket.addEventListener('open', () => socket.send(JSON.stringify({ event: 'watch' })));
socket.addEventListener('message', (e) => {
  const { event, data } = JSON.parse(e.data);
  if (event === 'user') live.textContent = data.user;
  else if (leaving) return;
  else if (event === 'ended' || (event === 'exception' && data && data.message === 'Unauthorized')) location.assign('/login?ended=1');
});
`;

@Controller()
export class ProfileScriptController {
  @Get('profile.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=300')
  script(): string {
    return PROFILE_SCRIPT;
  }
}
