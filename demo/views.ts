import type { SessionInfo } from '../src/index.js';
import type { DemoUser } from './users.js';
import { DEMO_ACCOUNTS } from './users.js';

/** Every value that reaches the page goes through this: user input and stored session data alike. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
nav{display:flex;gap:1rem;align-items:center;border-bottom:1px solid #ddd;padding-bottom:.5rem;margin-bottom:1rem}
nav form{margin-left:auto}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.3rem;text-align:left}
.flash{background:#eef6ee;border:1px solid #9c9;padding:.5rem}.error{background:#fbeaea;border-color:#d99}
form.inline{display:inline}label{display:block;margin:.3rem 0}code{background:#f4f4f4;padding:0 .2rem}`;

function layout(title: string, user: DemoUser | undefined, body: string, flash?: string): string {
  const who = user
    ? `<span>Signed in as <strong data-testid="user-name">${escapeHtml(user.name)}</strong></span>
       <form method="post" action="/logout"><button type="submit">Log out</button></form>`
    : `<a href="/login">Log in</a>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · nestjs-lazy-session demo</title><link rel="stylesheet" href="/style.css"></head>
<body><nav><a href="/">Home</a><a href="/profile">Profile</a>${who}</nav>
${flash ? `<p class="flash" role="status">${escapeHtml(flash)}</p>` : ''}
<h1>${escapeHtml(title)}</h1>
${body}
</body></html>`;
}

export const stylesheet = (): string => STYLE;

export function homePage(p: { user?: DemoUser; visits: number; cart: string[]; flash?: string }): string {
  const items = p.cart.length
    ? `<ul data-testid="cart">${p.cart.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`
    : '<p data-testid="cart-empty">Your cart is empty.</p>';
  return layout('Home', p.user, `
<p>You have visited this page <strong data-testid="visits">${p.visits}</strong> time${p.visits === 1 ? '' : 's'} in this session.</p>
<h2>Cart</h2>
${items}
<form method="post" action="/cart">
  <label>Item <input name="item" required maxlength="40" autocomplete="off"></label>
  <button type="submit">Add to cart</button>
</form>
<form method="post" action="/cart/clear"><button type="submit">Clear cart</button></form>
<p>The visit counter and the cart live in the server-side session; the browser holds only an opaque,
HttpOnly cookie. They survive logging in.</p>`, p.flash);
}

export function loginPage(p: { user?: DemoUser; error?: string; username?: string }): string {
  const accounts = DEMO_ACCOUNTS.map((a) => `<li><code>${escapeHtml(a.username)}</code> / <code>${escapeHtml(a.password)}</code></li>`).join('');
  return layout('Log in', p.user, `
${p.error ? `<p class="flash error" role="alert" data-testid="login-error">${escapeHtml(p.error)}</p>` : ''}
${p.user ? `<p>You are already signed in as ${escapeHtml(p.user.name)}; logging in again switches user.</p>` : ''}
<form method="post" action="/login">
  <label>User name <input name="username" autocomplete="username" required value="${escapeHtml(p.username ?? '')}"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <label><input name="remember" type="checkbox" value="on"> Remember me (a persistent cookie, up to the session's absolute lifetime)</label>
  <button type="submit">Log in</button>
</form>
<p>Demo accounts (this is a demo; never print credentials in a real application):</p><ul>${accounts}</ul>
<h2>Or</h2>
<p><a href="/auth/oidc" role="button">Sign in with the test provider</a></p>
<p>The test provider is an OpenID Connect provider running inside this demo (oauth2-mock-server): it signs
anybody in, without a password, as the same user. The sign-in's state, nonce and PKCE verifier are kept in
the session and checked once when the provider sends you back.</p>`);
}

const when = (d: Date): string => `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;

export function profilePage(p: { user: DemoUser; sessions: SessionInfo[]; flash?: string }): string {
  const rows = p.sessions
    .map((s) => `<tr data-testid="session-row"${s.current ? ' data-current="true"' : ''}>
  <td>${when(s.createdAt)}</td><td>${when(s.lastSeenAt)}</td><td>${when(s.expiresAt)}</td>
  <td>${s.current ? '<strong>this device</strong>' : `<form class="inline" method="post" action="/sessions/end">
    <input type="hidden" name="handle" value="${escapeHtml(s.handle)}"><button type="submit">End this session</button></form>`}</td>
</tr>`)
    .join('\n');
  return layout('Profile', p.user, `
<p>User id: <code data-testid="user-id">${escapeHtml(p.user.id)}</code></p>
<h2>Your sessions (<span data-testid="session-count">${p.sessions.length}</span>)</h2>
<table><thead><tr><th>Created</th><th>Last seen</th><th>Expires</th><th></th></tr></thead>
<tbody>${rows}</tbody></table>
<form method="post" action="/sessions/end-others"><button type="submit">Log out everywhere else</button></form>
<p>Live over a WebSocket: <strong data-testid="live-user"></strong> (ended elsewhere, this page goes to the login form)</p>
<script src="/profile.js" defer></script>`, p.flash);
}
