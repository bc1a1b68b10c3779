import { RowCodec } from '../../src/stores/typeorm/rows.js';

const data = JSON.stringify({ n: [1] });
const meta = JSON.stringify(['h'.repeat(22), 'u1', 1000, 2000, 3000, 1500, 1]);
/** A PostgreSQL load's one column: the summary array, a line feed, the data. */
const packed = (m: string, d = data) => ({ row: `${m}\n${d}` });

describe('RowCodec.record', () => {
  it('PostgreSQL: the summary comes packed before the data in `row`, the id is the one asked for', () => {
    expect(new RowCodec(undefined, true).record('id-1', packed(meta))).toEqual({
      id: 'id-1',
      handle: 'h'.repeat(22),
      userId: 'u1',
      createdAt: 1000,
      lastSeenAt: 2000,
      expiresAt: 3000,
      authAt: 1500,
      data: { n: 1 },
      remember: true,
    });
  });

  it('PostgreSQL: no user, never logged in, not remembered', () => {
    const r = new RowCodec(undefined, true).record('id-1', packed(JSON.stringify(['h', null, 1, 2, 3, null, 0])));
    expect(r).toMatchObject({ userId: null, authAt: null, remember: false });
  });

  it('PostgreSQL: only the first line feed ends the summary; the data may hold more (NUL escaped as stored)', () => {
    // A line feed as JSON whitespace, and one escaped inside a string.
    const text = '{"n":[1],\n"s":["a\\nb"]}';
    expect(new RowCodec(undefined, true).record('id-1', packed(meta, text))?.data).toEqual({ n: 1, s: 'a\nb' });
    expect(new RowCodec(undefined, true).record('id-1', packed(meta, '{"k":["\ue0000"]}'))?.data).toEqual({ k: '\u0000' });
  });

  it.each([
    ['not JSON', { row: '[h, 1\n' + data }],
    ['not an array', packed('{"handle":"h"}')],
    ['too short', packed('["h", null, 1, 2, 3, null]')],
    ['too long', packed('["h", null, 1, 2, 3, null, 0, 9]')],
    ['without its line feed', { row: meta + data }],
    ['a number', { row: 7 }],
    ['missing', {}],
    ['null', { row: null }],
    ['in the old two columns', { data, meta }],
  ])('PostgreSQL: a `row` that is %s reads as no session, never an error', (_what, bad) => {
    expect(new RowCodec(undefined, true).record('id-1', bad as Record<string, unknown>)).toBeNull();
  });

  it('SQLite and MySQL: the columns by name, the id the one asked for even where the row has none', () => {
    const row = { handle: 'h', data, user_id: '', created_at: '1000', last_seen_at: 2000, expires_at: 3000, auth_at: null, remember: 0 };
    expect(new RowCodec(undefined, false).record('id-2', row)).toEqual({
      id: 'id-2',
      handle: 'h',
      userId: null,
      createdAt: 1000,
      lastSeenAt: 2000,
      expiresAt: 3000,
      authAt: null,
      data: { n: 1 },
      remember: false,
    });
  });
});
