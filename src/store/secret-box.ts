/**
 * Encryption at rest for credentials: AES-256-GCM with a random 12-byte IV per value and a
 * 32-byte key read from a key file. The key file is created at first start with mode 0600; a
 * key file that others can read, or that has the wrong size, stops the bridge with an error that
 * names the path.
 *
 * Sealed format (text, so it fits a TEXT column): `v1:` + base64(iv | ciphertext | tag). The
 * version prefix lets a later release change the cipher and still read what it wrote before.
 * The caller may bind a value to its context (`aad`, e.g. the user and network it belongs to), so
 * a sealed value copied into another row does not open there.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
  constructor(readonly path: string, problem: string) {
    super(`credentials key file ${path}: ${problem}`);
  }
}

/** A sealed value did not open: wrong key, tampered, or bound to another context. */
export class SecretOpenError extends Error {
  override readonly name = 'SecretOpenError';
}

export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** A box from raw key bytes (tests, and `fromKeyFile`). */
  static fromKey(key: Buffer): SecretBox {
    if (key.length !== KEY_BYTES) {
      throw new Error(`a secret box key is ${KEY_BYTES} bytes, got ${key.length}`);
    }
    return new SecretBox(Buffer.from(key));
  }

  /**
   * Reads the key file, creating it (mode 0600, random key) when it does not exist. Throws
   * KeyFileError when the file is readable or writable by group or others, or is not exactly
   * 32 bytes. Called once at start.
   */
  static fromKeyFile(path: string): SecretBox {
    mkdirSync(dirname(path), { recursive: true });
    let fd: number;
    try {
      // O_EXCL: never overwrite a key that exists (it would make every stored credential unreadable).
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        writeSync(fd, randomBytes(KEY_BYTES));
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new KeyFileError(path, `cannot create it: ${(err as Error).message}`);
      }
    }
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch (err) {
      throw new KeyFileError(path, `cannot read it: ${(err as Error).message}`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) {
        throw new KeyFileError(path, 'is not a regular file');
      }
      if ((st.mode & 0o077) !== 0) {
        throw new KeyFileError(path, `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')} lets others read or ` +
          'change it; it must be 0600 (chmod 600 the file)');
      }
      if (st.size !== KEY_BYTES) {
        throw new KeyFileError(path, `holds ${st.size} bytes, a key is exactly ${KEY_BYTES}; ` +
          'restore the right file (a new key cannot read the stored credentials)');
      }
      return new SecretBox(readFileSync(fd));
    } finally {
      closeSync(fd);
    }
  }

  seal(plain: string, aad = ''): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(`${VERSION}\0${aad}`, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${VERSION}:${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64')}`;
  }

  /** Throws SecretOpenError when the value is not ours, tampered with, or bound to another `aad`. */
  open(sealed: string, aad = ''): string {
    const sep = sealed.indexOf(':');
    if (sep < 0 || sealed.slice(0, sep) !== VERSION) {
      throw new SecretOpenError('unknown sealed-value format');
    }
    const raw = Buffer.from(sealed.slice(sep + 1), 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) {
      throw new SecretOpenError('sealed value too short');
    }
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(`${VERSION}\0${aad}`, 'utf8'));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretOpenError('sealed value does not authenticate (wrong key or tampered)');
    }
  }
}
