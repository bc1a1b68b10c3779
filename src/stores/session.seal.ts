import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const SALT = 'nestjs-lazy-session/seal';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Length of a hashed key name: 16 bytes of HMAC-SHA-256, base64url. */
const NAME_BYTES = 16;
const KID_CHARS = 6;

interface DerivedKey {
  /** Short public id, the first characters of every value this key seals. */
  kid: string;
  enc: Buffer;
  mac: Buffer;
}

function derive(secret: string): DerivedKey {
  const ikm = Buffer.from(secret, 'utf8');
  const bytes = (info: string, n: number) => Buffer.from(hkdfSync('sha256', ikm, SALT, info, n));
  return {
    kid: bytes('key-id v1', 6).toString('base64url').slice(0, KID_CHARS),
    enc: bytes('aes-256-gcm v1', 32),
    mac: bytes('key-name hmac v1', 32),
  };
}

/** A stored data entry: the hashed key name and the sealed `[name, value]` pair. */
export interface SealedEntry {
  name: string;
  sealed: string;
}

/**
 * Encryption at rest for session data, one value at a time so that stores can keep merging only
 * the changed keys. AES-256-GCM under a rotating list of keys (each at least 32 characters; 32-byte
 * keys are derived with HKDF-SHA-256): the first key seals, every key opens.
 *
 * A data key's name is replaced by a keyed HMAC of it (so a dump shows neither names nor values),
 * the real name travels inside the sealed payload, and the hashed name is the AES-GCM additional
 * data: a sealed value moved under another name does not open. A value sealed under an unknown key,
 * or altered in any way, does not open.
 */
export class SessionSealer {
  private readonly keys: DerivedKey[];
  private readonly byKid = new Map<string, { key: DerivedKey; index: number }>();

  constructor(secrets: readonly string[]) {
    if (!Array.isArray(secrets) || secrets.length === 0) throw new Error('nestjs-lazy-session: encryptionKeys must be a non-empty array of strings');
    for (const s of secrets) {
      if (typeof s !== 'string' || s.length < 32) throw new Error('nestjs-lazy-session: each of encryptionKeys must be a string of at least 32 characters');
    }
    this.keys = secrets.map(derive);
    this.keys.forEach((key, index) => {
      if (!this.byKid.has(key.kid)) this.byKid.set(key.kid, { key, index });
    });
  }

  /** How many keys are configured (the first seals). */
  get size(): number {
    return this.keys.length;
  }

  /** The hashed name of a data key under key `index` (0: the sealing key). */
  hashName(name: string, index = 0): string {
    return createHmac('sha256', this.keys[index].mac).update(name, 'utf8').digest().subarray(0, NAME_BYTES).toString('base64url');
  }

  /**
   * Every hashed name the key may be stored under, other than the sealing key's: a write under the
   * first key removes these, so a key rotation never leaves a stale copy behind.
   */
  staleNames(name: string): string[] {
    const out: string[] = [];
    for (let i = 1; i < this.keys.length; i++) out.push(this.hashName(name, i));
    return out;
  }

  /** Seals one entry under the first key. `value` must be JSON-serialisable. */
  seal(name: string, value: unknown): SealedEntry {
    const key = this.keys[0];
    const hashed = this.hashName(name, 0);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.enc, iv);
    cipher.setAAD(Buffer.from(hashed, 'utf8'));
    const body = Buffer.concat([cipher.update(JSON.stringify([name, value]), 'utf8'), cipher.final()]);
    return { name: hashed, sealed: key.kid + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url') };
  }

  /**
   * Opens a stored entry: the real name, its value, and the index of the key that opened it; or
   * undefined when it does not open (unknown key, altered, moved to another name).
   */
  open(hashed: string, sealed: unknown): { name: string; value: unknown; keyIndex: number } | undefined {
    if (typeof sealed !== 'string' || sealed.length < KID_CHARS + 38) return undefined;
    const found = this.byKid.get(sealed.slice(0, KID_CHARS));
    if (!found) return undefined;
    try {
      const raw = Buffer.from(sealed.slice(KID_CHARS), 'base64url');
      if (raw.length < IV_BYTES + TAG_BYTES) return undefined;
      const decipher = createDecipheriv('aes-256-gcm', found.key.enc, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(hashed, 'utf8'));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      const pair: unknown = JSON.parse(text);
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') return undefined;
      // The name must hash to where it is stored, under the key that sealed it.
      if (this.hashName(pair[0], found.index) !== hashed) return undefined;
      return { name: pair[0], value: pair[1], keyIndex: found.index };
    } catch {
      return undefined;
    }
  }

  /** Seals a whole value under a fixed name, as one string (the cookie store's cookie). */
  sealValue(name: string, value: unknown): string {
    return this.seal(name, value).sealed;
  }

  /** Opens what sealValue made under that name, with whichever configured key sealed it. */
  openValue(name: string, sealed: unknown): unknown {
    if (typeof sealed !== 'string') return undefined;
    const found = this.byKid.get(sealed.slice(0, KID_CHARS));
    if (!found) return undefined;
    const opened = this.open(this.hashName(name, found.index), sealed);
    return opened?.name === name ? opened.value : undefined;
  }
}
