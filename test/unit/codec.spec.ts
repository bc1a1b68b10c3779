import { decodeData, encodeData } from '../../src/stores/codec.js';

/** The SQL stores' data column: boxed JSON, read back on every session load. */
describe('decodeData', () => {
  it('unboxes every well-formed entry, whatever its value', () => {
    const data = { a: 1, b: null, c: [1, [2]], d: { e: 'f' }, '': 'empty key' };
    expect(decodeData(encodeData(data))).toEqual(data);
  });

  it("keeps '__proto__' as a plain own key and leaves the prototype alone", () => {
    const text = '{"__proto__":[{"polluted":true}],"a":[1]}';
    const data = decodeData(text);
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.keys(data)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(data, '__proto__')).toEqual({ value: { polluted: true }, writable: true, enumerable: true, configurable: true });
    expect((data as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('skips entries that are not a one-element box, and reads anything but a JSON object as empty', () => {
    expect(decodeData('{"a":[1],"b":2,"c":[],"d":[1,2],"e":null}')).toEqual({ a: 1 });
    for (const text of ['[]', '[[1]]', 'null', '1', '"x"', 'not json', '', undefined, null, 42]) expect(decodeData(text)).toEqual({});
  });

  it('takes an object the driver already parsed (a JSON column) as it is', () => {
    expect(decodeData({ a: [1], b: ['x'] })).toEqual({ a: 1, b: 'x' });
  });
});
