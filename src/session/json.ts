/**
 * Throws a TypeError naming the key when the value would not come back unchanged from a JSON round
 * trip: a function, symbol, BigInt, undefined inside an object, a non-finite number, a cycle, or an
 * object that is not a plain object, array or null-prototype object (Date, Map, class instances).
 * Returns the serialized JSON.
 */
export function toJson(key: string, value: unknown): string {
  checkSessionKey(key);
  check(key, value, [], '');
  return JSON.stringify(value);
}

/** Assignment that treats '__proto__' as an ordinary key. */
export function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Text every store can hold in an indexed column: valid UTF-16, no U+0000. */
export function storableText(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/** A user id every store can index: a non-empty string of at most 255 characters, storable text. */
export function checkUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 255 || !storableText(userId)) {
    throw new TypeError('session.login(userId): userId must be a non-empty string of at most 255 characters, valid UTF-16 without U+0000');
  }
}

/** A key every store can hold: a non-empty string, valid UTF-16, no U+0000. */
export function checkSessionKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('session key must be a non-empty string');
  if (LONE_SURROGATE.test(key)) throw new TypeError(`session key ${JSON.stringify(key)} holds an unpaired surrogate: not storable as UTF-8`);
  // SQLite's json_patch cuts a top-level key at U+0000 ('a\u0000b' would overwrite 'a').
  if (key.includes('\u0000')) throw new TypeError(`session key ${JSON.stringify(key)} holds U+0000: not allowed in a session key`);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function check(key: string, value: unknown, stack: object[], path: string): void {
  const where = () => `session value '${key}'${path ? ` at ${path}` : ''}`;
  switch (typeof value) {
    case 'string':
      // Not UTF-8: PostgreSQL's jsonb refuses it and MariaDB's JSON_MERGE_PATCH turns the whole
      // session into NULL, which would make every later write to the session fail.
      if (LONE_SURROGATE.test(value)) throw new TypeError(`${where()} holds an unpaired surrogate: not storable as UTF-8`);
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${where()} is ${value}: not representable in JSON`);
      return;
    case 'undefined':
      throw new TypeError(`${where()} is undefined: not a JSON value (use delete() to remove a key)`);
    case 'function':
    case 'symbol':
    case 'bigint':
      throw new TypeError(`${where()} is a ${typeof value}: not a JSON value`);
  }
  if (value === null) return;
  const obj = value as object;
  if (stack.includes(obj)) throw new TypeError(`${where()} contains a cycle: not a JSON value`);
  stack.push(obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) check(key, obj[i], stack, `${path}[${i}]`);
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`${where()} is a ${proto?.constructor?.name ?? 'non-plain object'}: only plain objects, arrays and primitives round-trip through JSON`);
    }
    if (Object.getOwnPropertySymbols(obj).length > 0) throw new TypeError(`${where()} has symbol keys: not a JSON value`);
    for (const k of Object.keys(obj)) {
      if (LONE_SURROGATE.test(k)) throw new TypeError(`${where()} has a key with an unpaired surrogate: not storable as UTF-8`);
      check(key, (obj as Record<string, unknown>)[k], stack, `${path}.${k}`);
    }
  }
  stack.pop();
}
