import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomFillSync } from 'node:crypto';
import { SessionOptionsError } from '../errors.js';

/**
 * What a key list seals for. Each purpose derives its own keys (HKDF info), so one key list given to
 * both the cookie store and encryption at rest never lets a value sealed for one open as the other.
 */
export type SealPurpose = 'at-rest' | 'cookie';

const SALT = 'nestjs-lazy-session/seal';
/** First byte of every sealed value: a later format can tell its own values from these. */
export const SEAL_VERSION = 2;
const KID_BYTES = 4;
/** Per-seal random input of the subkey: no two seals share an AES key (see the class comment). */
const NONCE_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KID_BYTES + NONCE_BYTES + IV_BYTES;
/** The shortest sealed value: a header and a tag around an empty plaintext. */
export const MIN_SEALED_BYTES = HEADER_BYTES + TAG_BYTES;
/** Length of a hashed key name: 16 bytes of HMAC-SHA-256, base64url. */
const NAME_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const MIN_SEALED_CHARS = Math.ceil((MIN_SEALED_BYTES * 4) / 3);

/**
 * Stored name of the entry that marks data as sealed for one session. Hashed names are 22
 * base64url characters, so it never collides with one. Its presence is what tells an encrypted
 * session with no data keys from a row written without encryption.
 */
export const SEAL_MARKER = '!';

interface DerivedKey {
  /** Public id of the key, in every value it seals (hex of KID_BYTES bytes). */
  kid: string;
  kidBytes: Buffer;
  /** Master of the per-seal subkeys. */
  enc: Buffer;
  /** Key of the data key names' HMAC. */
  mac: Buffer;
}

function derive(secret: string, purpose: SealPurpose): DerivedKey {
  const ikm = Buffer.from(secret, 'utf8');
  const bytes = (what: string, n: number) => Buffer.from(hkdfSync('sha256', ikm, SALT, `${purpose} ${what} v${SEAL_VERSION}`, n));
  const kidBytes = bytes('key-id', KID_BYTES);
  return { kid: kidBytes.toString('hex'), kidBytes, enc: bytes('aes-256-gcm subkeys', 32), mac: bytes('key-name hmac', 32) };
}

/** Length-prefixed, so that no two different contexts give the same additional data. */
function contextBytes(context: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const s of context) {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

/** A stored data entry: the hashed key name and the sealed `[name, value]` pair. */
export interface SealedEntry {
  name: string;
  sealed: string;
}

/**
 * AES-256-GCM sealing under a rotating list of keys (each at least 32 characters; keys derived with
 * HKDF-SHA-256, per purpose): the first key seals, every key opens.
 *
 * A sealed value is base64url of: version byte (2) | key id (4) | nonce (16) | IV (12) | ciphertext
 * | tag (16). Every value is encrypted under its own subkey, HMAC-SHA-256(key, nonce), so the
 * random-IV limit of AES-GCM (about 2^32 messages per key) does not apply to a key: each subkey
 * seals one message, and subkeys repeat only when 128-bit nonces do. The header and a context are
 * the additional data: at rest, the session's handle and the hashed key name, so a value opens only
 * in the session and under the name it was sealed for; in a cookie, the cookie's fixed name.
 *
 * Only the canonical base64url spelling of a value is accepted; anything else, a value of another
 * version, purpose or session, an unknown key or any alteration does not open.
 *
 * For encryption at rest, a data key's name is replaced by a keyed HMAC of it (so a dump shows
 * neither names nor values) and the real name travels inside the sealed payload.
 */
export class SessionSealer {
  private readonly keys: DerivedKey[];
  private readonly byKid = new Map<string, number[]>();

  constructor(secrets: readonly string[], readonly purpose: SealPurpose = 'at-rest') {
    if (purpose !== 'at-rest' && purpose !== 'cookie') throw new SessionOptionsError(`unknown seal purpose '${String(purpose)}'`);
    const option = purpose === 'cookie' ? 'CookieSessionStore keys' : 'encryptionKeys';
    if (!Array.isArray(secrets) || secrets.length === 0) throw new SessionOptionsError(`${option} must be a non-empty array of strings`);
    for (const s of secrets) {
      if (typeof s !== 'string' || s.length < 32) throw new SessionOptionsError(`each of ${option} must be a string of at least 32 characters`);
    }
    this.keys = secrets.map((s) => derive(s, purpose));
    this.keys.forEach((key, index) => {
      const list = this.byKid.get(key.kid);
      if (list) list.push(index);
      else this.byKid.set(key.kid, [index]);
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

  /** Seals one entry of a session's data under the first key, bound to the session's handle. */
  seal(name: string, value: unknown, handle: string): SealedEntry {
    const hashed = this.hashName(name, 0);
    return { name: hashed, sealed: this.sealText(JSON.stringify([name, value]), [checkHandle(handle), hashed]) };
  }

  /**
   * Opens a stored entry of the session with this handle: the real name, its value, and the index
   * of the key that opened it; or undefined when it does not open.
   */
  open(hashed: string, sealed: unknown, handle: string): { name: string; value: unknown; keyIndex: number } | undefined {
    const opened = this.openText(sealed, [checkHandle(handle), hashed]);
    if (!opened) return undefined;
    let pair: unknown;
    try {
      pair = JSON.parse(opened.text);
    } catch {
      return undefined;
    }
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') return undefined;
    // The name must hash to where it is stored, under the key that sealed it.
    if (this.hashName(pair[0], opened.keyIndex) !== hashed) return undefined;
    return { name: pair[0], value: pair[1], keyIndex: opened.keyIndex };
  }

  /** The marker entry of a session's sealed data (stored under SEAL_MARKER). */
  sealMarker(handle: string): string {
    return this.sealText('', [checkHandle(handle), SEAL_MARKER]);
  }

  /** Whether a stored marker was sealed for this session by a configured key. */
  openMarker(sealed: unknown, handle: string): boolean {
    return this.openText(sealed, [checkHandle(handle), SEAL_MARKER])?.text === '';
  }

  /** Seals a whole value under a fixed name, as one string (the cookie store's cookie). */
  sealValue(name: string, value: unknown): string {
    return this.sealText(JSON.stringify(value), [name]);
  }

  /** Opens what sealValue made under that name, with whichever configured key sealed it. */
  openValue(name: string, sealed: unknown): unknown {
    const opened = this.openText(sealed, [name]);
    if (!opened) return undefined;
    try {
      return JSON.parse(opened.text) as unknown;
    } catch {
      return undefined;
    }
  }

  private sealText(text: string, context: readonly string[]): string {
    const key = this.keys[0];
    const header = Buffer.alloc(HEADER_BYTES);
    header[0] = SEAL_VERSION;
    key.kidBytes.copy(header, 1);
    randomFillSync(header, 1 + KID_BYTES, NONCE_BYTES + IV_BYTES);
    const nonce = header.subarray(1 + KID_BYTES, 1 + KID_BYTES + NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', subkey(key, nonce), header.subarray(HEADER_BYTES - IV_BYTES));
    cipher.setAAD(Buffer.concat([header, contextBytes(context)]));
    const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return Buffer.concat([header, body, cipher.getAuthTag()]).toString('base64url');
  }

  private openText(sealed: unknown, context: readonly string[]): { text: string; keyIndex: number } | undefined {
    // Checked before decoding: the decoder skips characters outside the alphabet and a dangling
    // last character, so a value with '!' or '%' inserted would otherwise decode as the original.
    if (typeof sealed !== 'string' || sealed.length < MIN_SEALED_CHARS || sealed.length % 4 === 1 || !BASE64URL.test(sealed)) return undefined;
    const raw = Buffer.from(sealed, 'base64url');
    // One spelling only: the decoder would otherwise accept a value with spare bits changed.
    if (raw.length < MIN_SEALED_BYTES || raw.toString('base64url') !== sealed || raw[0] !== SEAL_VERSION) return undefined;
    const candidates = this.byKid.get(raw.toString('hex', 1, 1 + KID_BYTES));
    if (!candidates) return undefined;
    const header = raw.subarray(0, HEADER_BYTES);
    const nonce = raw.subarray(1 + KID_BYTES, 1 + KID_BYTES + NONCE_BYTES);
    const aad = Buffer.concat([header, contextBytes(context)]);
    for (const index of candidates) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', subkey(this.keys[index], nonce), header.subarray(HEADER_BYTES - IV_BYTES));
        decipher.setAAD(aad);
        decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
        const text = Buffer.concat([decipher.update(raw.subarray(HEADER_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
        return { text, keyIndex: index };
      } catch {
        // Another configured key with the same id may have sealed it.
      }
    }
    return undefined;
  }
}

function subkey(key: DerivedKey, nonce: Buffer): Buffer {
  return createHmac('sha256', key.enc).update(nonce).digest();
}

/** A value sealed without its session would open in any session: refuse rather than seal it so. */
function checkHandle(handle: string): string {
  if (typeof handle !== 'string' || handle.length === 0) throw new TypeError('nestjs-lazy-session: sealing session data needs the session handle');
  return handle;
}
