import { SessionSealer } from '../src/index.js';
import { decodeSealedData, encodeSealedData, sealPatch } from '../src/stores/session.codec.js';

const A = 'seal-key-A-0123456789abcdefghijklmnopqrstuv';
const B = 'seal-key-B-0123456789abcdefghijklmnopqrstuv';

describe('SessionSealer', () => {
  it('needs at least one key of at least 32 characters', () => {
    expect(() => new SessionSealer([])).toThrow(/non-empty/);
    expect(() => new SessionSealer(['x'.repeat(31)])).toThrow(/32 characters/);
    expect(() => new SessionSealer([A, 42 as unknown as string])).toThrow(/32 characters/);
  });

  it('seals each value on its own, under a hashed name, and opens it again', () => {
    const s = new SessionSealer([A]);
    const e = s.seal('cart', { items: ['x'] });
    expect(e.name).toBe(s.hashName('cart'));
    expect(e.name).not.toContain('cart');
    expect(e.sealed).not.toContain('items');
    expect(s.open(e.name, e.sealed)).toEqual({ name: 'cart', value: { items: ['x'] }, keyIndex: 0 });
    // Fresh IV each time: equal values do not show as equal.
    expect(s.seal('cart', { items: ['x'] }).sealed).not.toBe(e.sealed);
  });

  it('does not open a tampered value, a value moved to another name, or one under an unknown key', () => {
    const s = new SessionSealer([A]);
    const e = s.seal('role', 'user');
    const flip = (str: string, i: number) => str.slice(0, i) + (str[i] === 'A' ? 'B' : 'A') + str.slice(i + 1);
    for (const i of [0, 6, 10, e.sealed.length - 3]) expect(s.open(e.name, flip(e.sealed, i))).toBeUndefined();
    expect(s.open(s.hashName('admin'), e.sealed)).toBeUndefined();
    expect(new SessionSealer([B]).open(e.name, e.sealed)).toBeUndefined();
    expect(s.open(e.name, 42)).toBeUndefined();
    expect(s.open(e.name, e.sealed.slice(0, 20))).toBeUndefined();
  });

  it('rotation: the first key seals, every key opens', () => {
    const old = new SessionSealer([A]).seal('k', 1);
    const rotated = new SessionSealer([B, A]);
    expect(rotated.open(old.name, old.sealed)).toEqual({ name: 'k', value: 1, keyIndex: 1 });
    expect(rotated.hashName('k')).not.toBe(old.name);
    expect(rotated.staleNames('k')).toEqual([old.name]);
  });

  it('sealed codec: a write under a new key removes the old copy; duplicates prefer the newer key', () => {
    const oldS = new SessionSealer([A]);
    const newS = new SessionSealer([B, A]);
    const stored = JSON.parse(encodeSealedData(oldS, { k: 'old', j: 1 })) as Record<string, unknown[]>;
    const patch = sealPatch(newS, { k: 'new' }, ['j']);
    expect(patch.unset.sort()).toEqual([oldS.hashName('k'), oldS.hashName('j'), newS.hashName('j')].sort());
    // A reader meeting both copies (the old one not yet removed) takes the newer key's.
    const both = { ...stored, [Object.keys(patch.set)[0]]: [Object.values(patch.set)[0]] };
    expect(decodeSealedData(newS, JSON.stringify(both))).toEqual({ k: 'new', j: 1 });
    expect(decodeSealedData(newS, 'not json')).toBeNull();
    expect(decodeSealedData(newS, JSON.stringify({ x: 'unboxed' }))).toBeNull();
    expect(decodeSealedData(newS, '{}')).toEqual({});
  });
});
