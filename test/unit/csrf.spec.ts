import { CROSS_SITE_REFUSED, headerText, isAllowedOrigin, isCrossSite, isOwnOrigin, isStateChanging } from '../../src/http/cross-site.js';

/** The cross-site rule's pure decisions, branch by branch (the HTTP and browser tests use them end to end). */

const NONE = new Set<string>();
const LISTED = new Set(['https://app.example.com', 'null']);

describe('isStateChanging', () => {
  it.each(['GET', 'HEAD', 'OPTIONS'])('%s is safe', (method) => {
    expect(isStateChanging(method)).toBe(false);
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'PROPPATCH', 'MKCOL', 'LOCK', 'TRACE', 'CONNECT', 'get', 'Post', ''])('%s falls under the rule', (method) => {
    expect(isStateChanging(method)).toBe(true);
  });
});

describe('isAllowedOrigin', () => {
  it('matches a listed origin, case-insensitively', () => {
    expect(isAllowedOrigin('https://app.example.com', LISTED)).toBe(true);
    expect(isAllowedOrigin('HTTPS://App.Example.COM', LISTED)).toBe(true);
  });

  it('matches nothing else: another origin, a prefix or extension, another scheme or port', () => {
    for (const o of ['https://other.example.com', 'https://app.example.co', 'https://app.example.com.evil', 'http://app.example.com', 'https://app.example.com:8443', 'https://app.example.com/']) {
      expect({ o, allowed: isAllowedOrigin(o, LISTED) }).toEqual({ o, allowed: false });
    }
  });

  it('never allows the opaque origin "null", even when listed', () => {
    expect(LISTED.has('null')).toBe(true);
    expect(isAllowedOrigin('null', LISTED)).toBe(false);
    expect(isAllowedOrigin('NULL', new Set(['null']))).toBe(false);
  });

  it('an empty list allows nothing', () => {
    expect(isAllowedOrigin('https://app.example.com', NONE)).toBe(false);
  });

  it('an Origin that is not printable ASCII never matches, even an entry that is the same text', () => {
    const odd = new Set(['https://caf\u00e9.example', 'https://a b.example', 'https://tab\t.example', 'https://del\x7f.example']);
    expect(isAllowedOrigin('https://caf\u00e9.example', odd)).toBe(false);
    // Lower-casing latin1 bytes must not turn them into a listed entry either.
    expect(isAllowedOrigin('https://CAF\u00c9.example', odd)).toBe(false);
    expect(isAllowedOrigin('https://a b.example', odd)).toBe(false);
    expect(isAllowedOrigin('https://tab\t.example', odd)).toBe(false);
    expect(isAllowedOrigin('https://del\x7f.example', odd)).toBe(false);
  });

  it('the printable ASCII range is exactly ! (0x21) to ~ (0x7e)', () => {
    expect(isAllowedOrigin('https://a!~.example', new Set(['https://a!~.example']))).toBe(true);
    expect(isAllowedOrigin('https://a\x20.example', new Set(['https://a\x20.example']))).toBe(false);
    expect(isAllowedOrigin('https://a\x7f.example', new Set(['https://a\x7f.example']))).toBe(false);
    expect(isAllowedOrigin('https://a\x00.example', new Set(['https://a\x00.example']))).toBe(false);
  });
});

describe('isOwnOrigin', () => {
  it('is scheme://host, case-insensitively on every part', () => {
    expect(isOwnOrigin('http://app.test', 'http', 'app.test')).toBe(true);
    expect(isOwnOrigin('https://app.test:8443', 'https', 'app.test:8443')).toBe(true);
    expect(isOwnOrigin('HTTP://APP.TEST', 'http', 'app.test')).toBe(true);
    expect(isOwnOrigin('http://app.test', 'HTTP', 'App.Test')).toBe(true);
  });

  it('another scheme, host or port is not the request\'s own', () => {
    expect(isOwnOrigin('https://app.test', 'http', 'app.test')).toBe(false);
    expect(isOwnOrigin('http://app.test', 'https', 'app.test')).toBe(false);
    expect(isOwnOrigin('http://app.test:81', 'http', 'app.test')).toBe(false);
    expect(isOwnOrigin('http://app.test', 'http', 'app.test:81')).toBe(false);
    expect(isOwnOrigin('http://evil.test', 'http', 'app.test')).toBe(false);
    expect(isOwnOrigin('http://app.test/', 'http', 'app.test')).toBe(false);
    expect(isOwnOrigin('http:/app.test', 'http', 'app.test')).toBe(false);
    expect(isOwnOrigin('null', 'http', 'app.test')).toBe(false);
  });

  it('without a scheme or a host nothing is the request\'s own', () => {
    expect(isOwnOrigin('http://app.test', undefined, 'app.test')).toBe(false);
    expect(isOwnOrigin('http://app.test', 'http', undefined)).toBe(false);
    expect(isOwnOrigin('://app.test', '', 'app.test')).toBe(false);
    expect(isOwnOrigin('http://', 'http', '')).toBe(false);
  });

  it('non-ASCII never matches, even when the Host header carries the same bytes', () => {
    expect(isOwnOrigin('http://caf\u00e9.test', 'http', 'caf\u00e9.test')).toBe(false);
    expect(isOwnOrigin('http://CAF\u00c9.test', 'http', 'caf\u00e9.test')).toBe(false);
    expect(isOwnOrigin('http://a b', 'http', 'a b')).toBe(false);
  });
});

describe('isCrossSite', () => {
  const own = (site: string | undefined, origin: string | undefined, allowed: ReadonlySet<string> = NONE) => isCrossSite(site, origin, 'http', 'app.test', allowed);

  it('Sec-Fetch-Site same-origin or none: at home, whatever the Origin says', () => {
    for (const origin of [undefined, 'http://app.test', 'https://evil.example', 'null']) {
      expect(own('same-origin', origin)).toBe(false);
      expect(own('none', origin)).toBe(false);
    }
  });

  it('Sec-Fetch-Site cross-site, same-site or anything else: cross-site unless the Origin is listed', () => {
    for (const site of ['cross-site', 'same-site', '', 'Same-Origin', 'same-origin, same-origin', 'bogus']) {
      expect({ site, crossSite: own(site, undefined) }).toEqual({ site, crossSite: true });
      expect({ site, crossSite: own(site, undefined, LISTED) }).toEqual({ site, crossSite: true });
      expect({ site, crossSite: own(site, 'https://evil.example') }).toEqual({ site, crossSite: true });
      expect({ site, crossSite: own(site, 'null', LISTED) }).toEqual({ site, crossSite: true });
      expect({ site, crossSite: own(site, 'https://app.example.com', LISTED) }).toEqual({ site, crossSite: false });
    }
  });

  it('Sec-Fetch-Site cross-site with the request\'s own Origin is still cross-site: the header is authoritative', () => {
    expect(own('cross-site', 'http://app.test')).toBe(true);
    expect(own('same-site', 'http://app.test')).toBe(true);
  });

  it('neither header: not a browser, not cross-site', () => {
    expect(own(undefined, undefined)).toBe(false);
    expect(isCrossSite(undefined, undefined, undefined, undefined, NONE)).toBe(false);
  });

  it('only an Origin: the request\'s own or a listed one is at home, any other is cross-site', () => {
    expect(own(undefined, 'http://app.test')).toBe(false);
    expect(own(undefined, 'https://app.example.com', LISTED)).toBe(false);
    expect(own(undefined, 'https://app.example.com')).toBe(true);
    expect(own(undefined, 'https://app.test')).toBe(true);
    expect(own(undefined, 'https://evil.example', LISTED)).toBe(true);
    expect(own(undefined, 'null')).toBe(true);
    expect(own(undefined, 'null', LISTED)).toBe(true);
    expect(own(undefined, '')).toBe(true);
    expect(own(undefined, 'http://app.test, http://app.test')).toBe(true);
  });

  it('only an Origin, and the scheme or host unknown: only a listed origin is at home', () => {
    expect(isCrossSite(undefined, 'http://app.test', undefined, 'app.test', NONE)).toBe(true);
    expect(isCrossSite(undefined, 'http://app.test', 'http', undefined, NONE)).toBe(true);
    expect(isCrossSite(undefined, 'https://app.example.com', undefined, undefined, LISTED)).toBe(false);
  });

  it('the scheme is the one given (the platform\'s), not guessed from the Origin', () => {
    expect(isCrossSite(undefined, 'https://app.test', 'https', 'app.test', NONE)).toBe(false);
    expect(isCrossSite(undefined, 'http://app.test', 'https', 'app.test', NONE)).toBe(true);
  });
});

describe('headerText', () => {
  it('passes a single value or its absence through, and joins several into one that matches nothing', () => {
    expect(headerText('same-origin')).toBe('same-origin');
    expect(headerText(undefined)).toBeUndefined();
    expect(headerText('')).toBe('');
    expect(headerText(['same-origin'])).toBe('same-origin');
    expect(headerText(['same-origin', 'cross-site'])).toBe('same-origin, cross-site');
  });
});

it('the refusal message is the documented one', () => {
  expect(CROSS_SITE_REFUSED).toBe('Cross-site request refused');
});
