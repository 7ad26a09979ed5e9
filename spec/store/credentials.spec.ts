import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { asNetworkId, asUserId } from '../../src/ids';
import { SecretBox, SecretOpenError } from '../../src/store/secret-box';
import { SqliteStore } from '../../src/store/sqlite';

const alice = asUserId('@alice:hs');
const bob = asUserId('@bob:hs');
const libera = asNetworkId('libera');
const oftc = asNetworkId('oftc');
const CERT = { certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  privateKey: '-----BEGIN PRIVATE KEY-----\nsecretkeybytes\n-----END PRIVATE KEY-----\n' };

describe('SqliteStore credentials', () => {
  let dir: string;
  let path: string;
  let key: Buffer;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'creds-'));
    path = join(dir, 'bridge.db');
    key = randomBytes(32);
    store = new SqliteStore(path, SecretBox.fromKey(key));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('set, get, replace and remove, per user and network', () => {
    expect(store.getCredentials(alice, libera)).toBeNull();
    store.setCredentials(alice, libera, { account: 'alice', password: 'hunter2', clientCert: null });
    store.setCredentials(alice, oftc, { account: null, password: null, clientCert: CERT });
    expect(store.getCredentials(alice, libera)).toEqual({ account: 'alice', password: 'hunter2', clientCert: null });
    expect(store.getCredentials(alice, oftc)).toEqual({ account: null, password: null, clientCert: CERT });
    expect(store.getCredentials(bob, libera)).toBeNull();
    store.setCredentials(alice, libera, { account: 'alice2', password: 'new', clientCert: null });
    expect(store.getCredentials(alice, libera)).toEqual({ account: 'alice2', password: 'new', clientCert: null });
    expect(store.listCredentials(alice)).toEqual([
      { network: libera, account: 'alice2', hasPassword: true, hasClientCert: false },
      { network: oftc, account: null, hasPassword: false, hasClientCert: true },
    ]);
    expect(store.removeCredentials(alice, libera)).toBe(true);
    expect(store.removeCredentials(alice, libera)).toBe(false);
    expect(store.getCredentials(alice, libera)).toBeNull();
    expect(store.listCredentials(alice)).toHaveLength(1);
  });

  test('passwords and private keys are not in the database file in clear text', () => {
    store.setCredentials(alice, libera, { account: 'alice', password: 'hunter2-unique', clientCert: CERT });
    store.close();
    const db = new Database(path, { readonly: true });
    const row = db.prepare('SELECT * FROM irc_credentials').get() as Record<string, unknown>;
    db.close();
    expect(JSON.stringify(row)).not.toContain('hunter2-unique');
    expect(JSON.stringify(row)).not.toContain('secretkeybytes');
    expect(row.password_sealed).toMatch(/^v1:/);
    for (const f of ['bridge.db', 'bridge.db-wal'].map((n) => join(dir, n))) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f);
      } catch {
        continue;
      }
      expect(bytes.includes('hunter2-unique')).toBe(false);
      expect(bytes.includes('secretkeybytes')).toBe(false);
    }
    store = new SqliteStore(path, SecretBox.fromKey(key));
    expect(store.getCredentials(alice, libera)?.password).toBe('hunter2-unique');
  });

  test('with another key, or a sealed value moved to another row, nothing opens', () => {
    store.setCredentials(alice, libera, { account: 'alice', password: 'hunter2', clientCert: null });
    store.setCredentials(bob, libera, { account: 'bob', password: 'other', clientCert: null });
    store.close();
    store = new SqliteStore(path, SecretBox.fromKey(randomBytes(32)));
    expect(() => store.getCredentials(alice, libera)).toThrow(SecretOpenError);
    store.close();
    const db = new Database(path);
    db.prepare(`UPDATE irc_credentials SET password_sealed = (SELECT password_sealed FROM irc_credentials WHERE user_id = ?)
      WHERE user_id = ?`).run(alice, bob);
    db.close();
    store = new SqliteStore(path, SecretBox.fromKey(key));
    expect(store.getCredentials(alice, libera)?.password).toBe('hunter2');
    expect(() => store.getCredentials(bob, libera)).toThrow(SecretOpenError);
  });

  test('without a secret box the credential methods refuse', () => {
    const plain = new SqliteStore(':memory:');
    expect(() => plain.setCredentials(alice, libera, { account: 'a', password: 'p', clientCert: null })).toThrow(/key_file/);
    plain.close();
  });
});
