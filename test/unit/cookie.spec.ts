import { CookieWriter, findCookie } from '../../src/http/cookie.js';

const N = '__Host-sid';
const V = 'abc.DEF-_09';

describe('findCookie', () => {
  it('absent: no header, an empty header, or no pair of that name', () => {
    expect(findCookie(undefined, N)).toEqual({ kind: 'absent' });
    expect(findCookie('', N)).toEqual({ kind: 'absent' });
    expect(findCookie([], N)).toEqual({ kind: 'absent' });
    expect(findCookie('a=b; c=d', N)).toEqual({ kind: 'absent' });
    expect(findCookie(`${N}`, N)).toEqual({ kind: 'absent' });
    expect(findCookie(`x${N}=v; ${N}x=v; __host-sid=v`, N)).toEqual({ kind: 'absent' });
    expect(findCookie(`a=${N}=v`, N)).toEqual({ kind: 'absent' });
    // A part without '=' is no pair, even when it starts with the name.
    expect(findCookie(`${N}x`, N)).toEqual({ kind: 'absent' });
    expect(findCookie(`${N}x; a=b`, N)).toEqual({ kind: 'absent' });
  });

  it('finds the value among other pairs, with SP/HTAB around pairs, names and values', () => {
    expect(findCookie(`${N}=${V}`, N)).toEqual({ kind: 'value', value: V });
    expect(findCookie(`a=b; ${N}=${V}; c=d`, N)).toEqual({ kind: 'value', value: V });
    expect(findCookie(`a=b;${N}=${V};c=d`, N)).toEqual({ kind: 'value', value: V });
    expect(findCookie(` \t${N} \t= \t${V} \t;`, N)).toEqual({ kind: 'value', value: V });
    expect(findCookie(`${N}=`, N)).toEqual({ kind: 'value', value: '' });
    expect(findCookie(`${N}=a=b`, N)).toEqual({ kind: 'value', value: 'a=b' });
  });

  it('matches the name exactly: no other whitespace, no case folding', () => {
    for (const name of [`\u00a0${N}`, `${N}\u00a0`, `\u0085${N}`, `\u2003${N}`, `\u3000${N}`, `\n${N}`, `\r${N}`, `\v${N}`, `\f${N}`, `\ufeff${N}`, N.toLowerCase()]) {
      expect([name, findCookie(`${name}=${V}`, N)]).toEqual([name, { kind: 'absent' }]);
    }
    // A look-alike beside the real one leaves the real one alone.
    expect(findCookie(`\u00a0${N}=evil; ${N}=${V}`, N)).toEqual({ kind: 'value', value: V });
  });

  it('strips one pair of double quotes', () => {
    expect(findCookie(`${N}="${V}"`, N)).toEqual({ kind: 'value', value: V });
    expect(findCookie(`${N}=""`, N)).toEqual({ kind: 'value', value: '' });
    expect(findCookie(`${N}="`, N)).toEqual({ kind: 'invalid' });
    expect(findCookie(`${N}="${V}`, N)).toEqual({ kind: 'invalid' });
    expect(findCookie(`${N}=${V}"`, N)).toEqual({ kind: 'invalid' });
    expect(findCookie(`${N}=""${V}""`, N)).toEqual({ kind: 'invalid' });
  });

  it('invalid: a value that is not cookie-octets', () => {
    const bad = [' ', '"', ',', '\\', '\u007f', '\u0000', '\u001f', '\u0080', '\u00a0', '\u00e9', '\u00ff', '\u0100', '\u20ac', '\ud83d\ude00', '\n', '\v'];
    for (const c of bad) {
      expect([c, findCookie(`${N}=ab${c}cd`, N)]).toEqual([c, { kind: 'invalid' }]);
    }
    // Every visible ASCII character but the four excluded ones is a cookie-octet.
    let all = '';
    for (let c = 0x21; c <= 0x7e; c++) if (![0x22, 0x2c, 0x3b, 0x5c].includes(c)) all += String.fromCharCode(c);
    expect(findCookie(`${N}=${all}`, N)).toEqual({ kind: 'value', value: all });
    // Only SP/HTAB are stripped around a value; anything else stays and fails.
    expect(findCookie(`${N}=\u00a0${V}`, N)).toEqual({ kind: 'invalid' });
    expect(findCookie(`${N}=${V}\u00a0`, N)).toEqual({ kind: 'invalid' });
  });

  it('invalid: the name twice, even with equal values, even across repeated headers', () => {
    expect(findCookie(`${N}=${V}; ${N}=${V}`, N)).toEqual({ kind: 'invalid' });
    expect(findCookie(`${N}=; ${N}=${V}`, N)).toEqual({ kind: 'invalid' });
    expect(findCookie([`${N}=${V}`, `${N}=${V}`], N)).toEqual({ kind: 'invalid' });
    expect(findCookie([`a=b`, `${N}=${V}`], N)).toEqual({ kind: 'value', value: V });
  });

  it('invalid: a header longer than 16384 characters, at the boundary', () => {
    const pad = (n: number) => `${N}=${V}; p=${'x'.repeat(n - `${N}=${V}; p=`.length)}`;
    expect(pad(16_384)).toHaveLength(16_384);
    expect(findCookie(pad(16_384), N)).toEqual({ kind: 'value', value: V });
    expect(findCookie(pad(16_385), N)).toEqual({ kind: 'invalid' });
    expect(findCookie(42 as unknown as string, N)).toEqual({ kind: 'invalid' });
  });
});

describe('CookieWriter', () => {
  const base = { name: N, secure: true, httpOnly: true, sameSite: 'lax' as const, path: '/' };

  it('writes the value with the configured attributes', () => {
    const w = new CookieWriter(base);
    expect(w.name).toBe(N);
    expect(w.set('v')).toBe(`${N}=v; Path=/; HttpOnly; Secure; SameSite=Lax`);
    expect(new CookieWriter({ ...base, name: 'sid', secure: false, httpOnly: false, sameSite: 'strict', path: '/app', domain: 'example.com' }).set('v')).toBe(
      'sid=v; Path=/app; Domain=example.com; SameSite=Strict',
    );
    expect(new CookieWriter({ ...base, sameSite: 'none' }).set('v')).toBe(`${N}=v; Path=/; HttpOnly; Secure; SameSite=None`);
  });

  it('a persistent cookie: whole seconds, never negative, with a matching Expires', () => {
    const w = new CookieWriter(base);
    const line = w.set('v', 90_999);
    expect(line).toMatch(new RegExp(`^${N}=v; Max-Age=90; Expires=[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT; Path=/; HttpOnly; Secure; SameSite=Lax$`));
    const expires = Date.parse(/Expires=([^;]+)/.exec(line)![1]);
    expect(Math.abs(expires - (Date.now() + 90_000))).toBeLessThanOrEqual(1000);
    expect(w.set('v', -5)).toContain('Max-Age=0;');
    expect(w.set('v', 0)).toContain('Max-Age=0;');
  });

  it('clears with Max-Age=0 and an Expires in the past', () => {
    expect(new CookieWriter(base).clear()).toBe(`${N}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax`);
  });
});
