import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { parseConfig } from '../src/config';
import { checkRegistration, namespacesOf, parseCli, UsageError } from '../src/main';
import { writeRegistration } from '../src/matrix/new-registration';
import { loadRegistration, RegistrationError } from '../src/matrix/registration';

const config = parseConfig({
  homeserver: { url: 'http://127.0.0.1:8008', domain: 'example.org' },
  networks: { libera: { host: 'irc.libera.chat' }, oftc: { host: 'irc.oftc.net', ghost_user_template: 'irc_$NETWORK_$NICK' } },
});

describe('command line', () => {
  test.each([
    { argv: ['-c', 'c.yaml', '-f', 'r.yaml'], expected: { config: 'c.yaml', file: 'r.yaml', generate: false, port: undefined } },
    { argv: ['-c', 'c.yaml', '-f', 'r.yaml', '-p', '9000'], expected: { port: 9000 } },
    { argv: ['-r', '-c', 'c.yaml', '-f', 'r.yaml', '-u', 'http://x:1'], expected: { generate: true, url: 'http://x:1', localpart: 'ircbridge' } },
    { argv: ['--help'], expected: { help: true } },
  ])('$argv', ({ argv, expected }) => {
    expect(parseCli(argv)).toMatchObject(expected);
  });

  test.each([
    { argv: ['-c', 'c.yaml'], message: /-f REGISTRATION are required/ },
    { argv: ['-r', '-c', 'c.yaml', '-f', 'r.yaml'], message: /-r needs -u URL/ },
    { argv: ['-c', 'c', '-f', 'r', '-p', '70000'], message: /-p: expected a port/ },
    { argv: ['-c', 'c', '-f', 'r', '--bogus'], message: /bogus/ },
    { argv: ['-c', 'c', '-f', 'r', 'stray'], message: /stray/ },
    { argv: ['-r', '-c', 'c', '-f', 'r', '-u', 'u', '--localpart', 'Bad Name'], message: /--localpart/ },
  ])('refuses $argv', ({ argv, message }) => {
    expect(() => parseCli(argv)).toThrow(UsageError);
    expect(() => parseCli(argv)).toThrow(message);
  });
});

describe('registration', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mib-reg-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('namespaces follow each network\'s templates', () => {
    expect(namespacesOf(config)).toEqual({
      users: ['@libera_.+:example\\.org', '@irc_oftc_.+:example\\.org'],
      aliases: ['#libera_.+:example\\.org', '#oftc_.+:example\\.org'],
    });
  });

  test('a generated registration has fresh tokens, exclusive namespaces, mode 0600, and loads back', () => {
    const path = join(dir, 'registration.yaml');
    const ns = namespacesOf(config);
    writeRegistration(path, { url: 'http://127.0.0.1:9995', senderLocalpart: 'ircbridge', userRegexes: ns.users, aliasRegexes: ns.aliases });
    writeRegistration(join(dir, 'second.yaml'), { url: 'http://127.0.0.1:9995', senderLocalpart: 'ircbridge', userRegexes: ns.users, aliasRegexes: ns.aliases });
    const raw = yaml.load(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const other = yaml.load(readFileSync(join(dir, 'second.yaml'), 'utf8')) as Record<string, unknown>;
    expect(raw).toMatchObject({ sender_localpart: 'ircbridge', rate_limited: false, protocols: ['irc'], receive_ephemeral: true,
      url: 'http://127.0.0.1:9995' });
    expect(raw.hs_token).toMatch(/^[0-9a-f]{64}$/);
    expect(raw.hs_token).not.toBe(raw.as_token);
    expect(raw.hs_token).not.toBe(other.hs_token);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const reg = loadRegistration(path);
    expect(reg.isUserMatch('@libera_alice:example.org', true)).toBe(true);
    expect(reg.isUserMatch('@irc_oftc_bob:example.org', true)).toBe(true);
    expect(reg.isUserMatch('@alice:example.org', true)).toBe(false);
    expect(checkRegistration(config, reg, 9995)).toEqual([]);
  });

  test('a registration that does not cover the config, or another port, is reported by key', () => {
    const path = join(dir, 'registration.yaml');
    writeRegistration(path, { url: 'http://127.0.0.1:9995', senderLocalpart: 'ircbridge', userRegexes: ['@libera_.+:example\\.org'], aliasRegexes: [] });
    const problems = checkRegistration(config, loadRegistration(path), 9000);
    expect(problems).toEqual([
      expect.stringMatching(/^networks\.libera\.portal_alias_template: aliases like #libera_somechannel:example\.org are outside/),
      expect.stringMatching(/^networks\.oftc\.ghost_user_template: ghosts like @irc_oftc_somenick:example\.org are outside/),
      expect.stringMatching(/^networks\.oftc\.portal_alias_template:/),
      expect.stringMatching(/uses port 9995, but the bridge listens on 9000/),
    ]);
  });

  test('namespace rules match as homeservers test them; exclusive-only ignores shared rules', () => {
    const path = join(dir, 'ns.yaml');
    writeFileSync(path, yaml.dump({ id: 'x', hs_token: 'h', as_token: 'a', sender_localpart: 'ircbridge', url: null,
      namespaces: { users: [{ regex: '@libera_.+:example\\.org', exclusive: true }, { regex: '@shared_.+:example\\.org', exclusive: false }],
        aliases: [{ regex: '#libera_.+:example\\.org' }] } }));
    const reg = loadRegistration(path);
    const cases: Array<{ user: string; exclusiveOnly: boolean; expected: boolean }> = [
      { user: '@libera_alice:example.org', exclusiveOnly: true, expected: true },
      { user: '@libera_alice:example.org', exclusiveOnly: false, expected: true },
      { user: '@shared_bob:example.org', exclusiveOnly: false, expected: true },
      { user: '@shared_bob:example.org', exclusiveOnly: true, expected: false },
      { user: '@carol:example.org', exclusiveOnly: false, expected: false },
    ];
    for (const c of cases) {
      expect([c.user, c.exclusiveOnly, reg.isUserMatch(c.user, c.exclusiveOnly)]).toEqual([c.user, c.exclusiveOnly, c.expected]);
    }
    // `exclusive` left out means not exclusive.
    expect(reg.isAliasMatch('#libera_lobby:example.org', false)).toBe(true);
    expect(reg.isAliasMatch('#libera_lobby:example.org', true)).toBe(false);
  });

  test('malformed namespaces are reported by key', () => {
    const path = join(dir, 'bad-ns.yaml');
    writeFileSync(path, yaml.dump({ id: 'x', hs_token: 'h', as_token: 'a', sender_localpart: 'ircbridge',
      namespaces: { users: [{ regex: '(' }, { exclusive: true }], aliases: 'nope' } }));
    try {
      loadRegistration(path);
      throw new Error('expected a RegistrationError');
    } catch (err) {
      expect((err as RegistrationError).problems).toEqual([
        expect.stringMatching(/^namespaces\.users\[0\]\.regex: not a regular expression/),
        'namespaces.users[1].regex: required (a string)',
        'namespaces.aliases: expected a list',
      ]);
    }
  });

  test('a registration lacking tokens names each missing key', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'id: x\nurl: 5\n');
    expect(() => loadRegistration(path)).toThrow(RegistrationError);
    try {
      loadRegistration(path);
    } catch (err) {
      expect((err as RegistrationError).problems).toEqual([
        'hs_token: required (a non-empty string)', 'as_token: required (a non-empty string)',
        'sender_localpart: required (a non-empty string)', 'url: expected a string or null',
      ]);
    }
  });
});
