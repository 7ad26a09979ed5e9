/** The bridge refuses to start with a credentials key file others can read, naming the path,
 *  before it listens or touches the database. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { configureLogging } from '../src/log';
import { parseCli, run } from '../src/main';
import { writeRegistration } from '../src/matrix/new-registration';

describe('start-up with the credentials key file', () => {
  let dir: string;
  let configPath: string;
  let regPath: string;
  beforeEach(() => {
    configureLogging({ level: 'error', sink: { write: () => undefined } });
    dir = mkdtempSync(join(tmpdir(), 'mib-key-'));
    configPath = join(dir, 'config.yaml');
    regPath = join(dir, 'registration.yaml');
    writeFileSync(configPath, yaml.dump({
      homeserver: { url: 'http://127.0.0.1:1', domain: 'example.org' },
      appservice: { port: 9995 },
      database: { path: join(dir, 'data', 'bridge.db') },
      networks: { libera: { host: '127.0.0.1' } },
    }));
    writeRegistration(regPath, { url: 'http://127.0.0.1:9995', senderLocalpart: 'ircbridge',
      userRegexes: ['@libera_.+:example\\.org'], aliasRegexes: ['#libera_.+:example\\.org'] });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a key file readable by others stops the start with its path, before the database is created', async () => {
    const keyPath = join(dir, 'data', 'credentials.key');
    mkdirSync(join(dir, 'data'));
    writeFileSync(keyPath, randomBytes(32), { mode: 0o644 });
    await expect(run(parseCli(['-c', configPath, '-f', regPath]))).rejects.toThrow(
      `credentials key file ${keyPath}: mode 0644 lets others read or change it; it must be 0600`);
    expect(existsSync(join(dir, 'data', 'bridge.db'))).toBe(false);
  });

  test('a key file of the wrong size stops the start', async () => {
    const keyPath = join(dir, 'custom.key');
    const raw = yaml.load(readFileSync(configPath, 'utf8')) as { database: Record<string, string> };
    raw.database.key_file = keyPath;
    writeFileSync(configPath, yaml.dump(raw));
    writeFileSync(keyPath, randomBytes(31), { mode: 0o600 });
    await expect(run(parseCli(['-c', configPath, '-f', regPath]))).rejects.toThrow(`${keyPath}: holds 31 bytes`);
    expect(statSync(keyPath).size).toBe(31); // never overwritten
  });
});
