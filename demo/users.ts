import { randomBytes, scrypt, timingSafeEqual, type BinaryLike } from 'node:crypto';

export interface DemoUser {
  id: string;
  name: string;
}

interface StoredUser extends DemoUser {
  salt: Buffer;
  hash: Buffer;
}

/** Shown on the login page: this is a demo, the accounts are not secret. */
export const DEMO_ACCOUNTS = [
  { username: 'alice', password: 'alice-demo-password', name: 'Alice' },
  { username: 'bob', password: 'bob-demo-password', name: 'Bob' },
] as const;

const KEY_LENGTH = 64;

function derive(password: BinaryLike, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_LENGTH, (err, key) => (err ? reject(err) : resolve(key))));
}

/**
 * The demo's user directory. Passwords are kept only as scrypt hashes, made at start-up, so the
 * demo shows the same comparison a real application would do.
 */
export class UserDirectory {
  private constructor(
    private readonly users: Map<string, StoredUser>,
    /** Compared against for unknown names, so they cost the same time as known ones. */
    private readonly decoy: StoredUser,
  ) {}

  static async create(accounts: ReadonlyArray<{ username: string; password: string; name: string }> = DEMO_ACCOUNTS): Promise<UserDirectory> {
    const users = new Map<string, StoredUser>();
    for (const a of accounts) {
      const salt = randomBytes(16);
      users.set(a.username, { id: a.username, name: a.name, salt, hash: await derive(a.password, salt) });
    }
    const salt = randomBytes(16);
    const decoy = { id: '', name: '', salt, hash: await derive(randomBytes(32), salt) };
    return new UserDirectory(users, decoy);
  }

  /** The user when the name and password match, otherwise undefined (which of the two is wrong is not told). */
  async verify(username: string, password: string): Promise<DemoUser | undefined> {
    const found = this.users.get(username.trim().toLowerCase());
    const user = found ?? this.decoy;
    const key = await derive(password, user.salt);
    const match = timingSafeEqual(key, user.hash);
    return found && match ? { id: found.id, name: found.name } : undefined;
  }

  byId(id: string): DemoUser | undefined {
    const u = this.users.get(id);
    return u && { id: u.id, name: u.name };
  }
}
