import { RowCodec } from '../../src/stores/typeorm/rows.js';

const data = JSON.stringify({ n: [1] });
const meta = JSON.stringify(['h'.repeat(22), 'u1', 1000, 2000, 3000, 1500, 1]);

describe('RowCodec.record', () => {
  it('PostgreSQL: the summary comes packed in `meta`, the id is the one asked for', () => {
    expect(new RowCodec(undefined, true).record('id-1', { data, meta })).toEqual({
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
    const r = new RowCodec(undefined, true).record('id-1', { data, meta: JSON.stringify(['h', null, 1, 2, 3, null, 0]) });
    expect(r).toMatchObject({ userId: null, authAt: null, remember: false });
  });

  it.each([
    ['not JSON', '[h, 1'],
    ['not an array', '{"handle":"h"}'],
    ['too short', '["h", null, 1, 2, 3, null]'],
    ['too long', '["h", null, 1, 2, 3, null, 0, 9]'],
    ['missing', undefined],
    ['null', null],
  ])('PostgreSQL: a `meta` that is %s reads as no session, never an error', (_what, bad) => {
    expect(new RowCodec(undefined, true).record('id-1', { data, meta: bad })).toBeNull();
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
