import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyFileError, SecretBox, SecretOpenError } from '../../src/store/secret-box';

describe('SecretBox', () => {
  const box = SecretBox.fromKey(randomBytes(32));

  test('seal then open gives the text back, for any text', () => {
    for (const text of ['', 'hunter2', 'pässwörd 🔑 with spaces', 'x'.repeat(5000)]) {
      expect(box.open(box.seal(text, 'ctx'), 'ctx')).toBe(text);
    }
  });

  test('sealed values are versioned, never contain the text, and differ each time (random IV)', () => {
    const a = box.seal('hunter2');
    const b = box.seal('hunter2');
    expect(a).toMatch(/^v1:[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('hunter2');
    expect(Buffer.from(a.slice(3), 'base64').toString('latin1')).not.toContain('hunter2');
    // 12-byte IV + 7 bytes + 16-byte tag
    expect(Buffer.from(a.slice(3), 'base64')).toHaveLength(12 + 7 + 16);
  });

  test.each([
    { name: 'another key', open: (s: string) => SecretBox.fromKey(randomBytes(32)).open(s, 'ctx') },
    { name: 'another context', open: (s: string) => box.open(s, 'other') },
    { name: 'a flipped byte', open: (s: string) => {
      const raw = Buffer.from(s.slice(3), 'base64');
      raw[14] = (raw[14] as number) ^ 1;
      return box.open('v1:' + raw.toString('base64'), 'ctx');
    } },
    { name: 'an unknown version', open: (s: string) => box.open('v9' + s.slice(2), 'ctx') },
    { name: 'a truncated value', open: () => box.open('v1:AAAA', 'ctx') },
  ])('a value does not open with $name', ({ open }) => {
    const sealed = box.seal('hunter2', 'ctx');
    expect(() => open(sealed)).toThrow(SecretOpenError);
  });

  test('a key must be 32 bytes', () => {
    expect(() => SecretBox.fromKey(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('SecretBox.fromKeyFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'secret-box-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('creates a 32-byte key file with mode 0600 at first start, and reuses it after', () => {
    const path = join(dir, 'sub', 'bridge.key');
    const first = SecretBox.fromKeyFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(path).size).toBe(32);
    const key = readFileSync(path);
    const sealed = first.seal('hunter2', 'ctx');
    expect(SecretBox.fromKeyFile(path).open(sealed, 'ctx')).toBe('hunter2');
    expect(readFileSync(path).equals(key)).toBe(true);
  });

  test.each([0o644, 0o640, 0o604, 0o660])('refuses a key file with mode %o, naming the path', (mode) => {
    const path = join(dir, 'bridge.key');
    writeFileSync(path, randomBytes(32));
    chmodSync(path, mode);
    expect(() => SecretBox.fromKeyFile(path)).toThrow(KeyFileError);
    expect(() => SecretBox.fromKeyFile(path)).toThrow(new RegExp(`${path}.*mode 0${mode.toString(8)}.*0600`));
  });

  test.each([0, 16, 33])('refuses a key file of %i bytes, naming the path', (size) => {
    const path = join(dir, 'bridge.key');
    writeFileSync(path, randomBytes(size), { mode: 0o600 });
    expect(() => SecretBox.fromKeyFile(path)).toThrow(new RegExp(`${path}: holds ${size} bytes`));
  });

  test('a mode 0400 key file is accepted', () => {
    const path = join(dir, 'bridge.key');
    writeFileSync(path, randomBytes(32), { mode: 0o400 });
    expect(() => SecretBox.fromKeyFile(path)).not.toThrow();
  });
});
