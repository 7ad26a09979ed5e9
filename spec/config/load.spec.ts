import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfig, type Config } from '../../src/config';

type Raw = Record<string, unknown>;

const minimal = (): Raw => ({
  homeserver: { url: 'https://matrix.example.org', domain: 'example.org' },
  networks: { libera: { host: 'irc.libera.chat' } },
});

/** A copy of `raw` with `path` (dotted, `[n]` for list items) set to `value`, or deleted for undefined. */
function patched(raw: Raw, path: string, value: unknown): Raw {
  const copy = structuredClone(raw);
  const keys = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  let at: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) {
    at[key] ??= {};
    at = at[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1] ?? '';
  if (value === undefined) {
    delete at[last];
  } else {
    at[last] = value;
  }
  return copy;
}

function problemsOf(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (err: unknown) {
    if (err instanceof ConfigError) {
      return err.problems;
    }
    throw err;
  }
  return [];
}

const twoNetworks = (oftc: Raw = {}): Raw =>
  patched(minimal(), 'networks.oftc', { host: 'irc.oftc.net', ...oftc });

describe('parseConfig rejects', () => {
  const m = (channel: string, room_id: string) => ({ channel, room_id });
  const cases: Array<{ name: string; raw: unknown; problems: string[] }> = [
    { name: 'a string port', raw: patched(minimal(), 'networks.libera.port', '6697'), problems: ['networks.libera.port: expected an integer'] },
    { name: 'a port out of range', raw: patched(minimal(), 'appservice.port', 70000), problems: ['appservice.port: expected an integer between 1 and 65535'] },
    { name: 'a missing url', raw: patched(minimal(), 'homeserver.url', undefined), problems: ['homeserver.url: required'] },
    { name: 'an empty url', raw: patched(minimal(), 'homeserver.url', null), problems: ['homeserver.url: required'] },
    { name: 'a missing homeserver', raw: patched(minimal(), 'homeserver', undefined), problems: ['homeserver: required'] },
    { name: 'missing networks', raw: patched(minimal(), 'networks', undefined), problems: ['networks: required'] },
    { name: 'no networks', raw: patched(minimal(), 'networks', {}), problems: ['networks: expected at least 1 entry'] },
    { name: 'a missing host', raw: patched(minimal(), 'networks.libera', {}), problems: ['networks.libera.host: required'] },
    { name: 'an empty document', raw: null, problems: ['homeserver: required', 'networks: required'] },
    { name: 'a list as the document', raw: [], problems: ['config: expected a mapping'] },
    { name: 'a section that is not a mapping', raw: patched(minimal(), 'logging', 'debug'), problems: ['logging: expected a mapping'] },
    { name: 'an excluded_users regex that does not compile', raw: patched(minimal(), 'networks.libera.excluded_users', [{ regex: '([a-z' }]),
      problems: ['networks.libera.excluded_users[0].regex: is not a valid regular expression: Invalid regular expression: /([a-z/: Unterminated character class'] },
    { name: 'an excluded_users rule without regex', raw: patched(minimal(), 'networks.libera.excluded_users', [{ reason: 'no' }]),
      problems: ['networks.libera.excluded_users[0].regex: required'] },
    { name: 'a bad log level', raw: patched(minimal(), 'logging.level', 'verbose'), problems: ['logging.level: expected one of debug, info, warn, error'] },
    { name: 'a bad log format', raw: patched(minimal(), 'logging.format', 'JSON'), problems: ['logging.format: expected one of json, text'] },
    { name: 'an unknown top-level key', raw: patched(minimal(), 'homeservr', {}), problems: ['homeservr: unknown key'] },
    { name: 'an unknown section key', raw: patched(minimal(), 'metrics.enable', true), problems: ['metrics.enable: unknown key'] },
    { name: 'an unknown network key', raw: patched(minimal(), 'networks.libera.prot', 6697), problems: ['networks.libera.prot: unknown key'] },
    {
      name: 'an unknown mapping key',
      raw: patched(minimal(), 'networks.libera.mappings', [{ ...m('#a', '!a:x'), room: '!b:x' }]),
      problems: ['networks.libera.mappings[0].room: unknown key'],
    },
    { name: 'an ftp url', raw: patched(minimal(), 'homeserver.url', 'ftp://matrix.example.org'), problems: ['homeserver.url: expected an http:// or https:// URL'] },
    { name: 'a bad media_url', raw: patched(minimal(), 'homeserver.media_url', 'example.org'), problems: ['homeserver.media_url: expected an http:// or https:// URL'] },
    {
      name: 'a URL as the domain',
      raw: patched(minimal(), 'homeserver.domain', 'https://example.org'),
      problems: ['homeserver.domain: expected a server name (hostname or hostname:port, no scheme)'],
    },
    {
      name: 'a network id with capitals',
      raw: patched(minimal(), 'networks.Libera', { host: 'h' }),
      problems: ['networks.Libera: invalid network id: use 1-32 of a-z 0-9 -, not starting with -'],
    },
    {
      name: 'a network id that is too long',
      raw: { ...minimal(), networks: { ['n'.repeat(33)]: { host: 'h' } } },
      problems: [`networks.${'n'.repeat(33)}: invalid network id: use 1-32 of a-z 0-9 -, not starting with -`],
    },
    { name: 'yes as a boolean', raw: patched(minimal(), 'networks.libera.tls', 'yes'), problems: ['networks.libera.tls: expected true or false'] },
    { name: 'a zero send rate', raw: patched(minimal(), 'networks.libera.send_rate', 0), problems: ['networks.libera.send_rate: expected a number greater than 0 and at most 1000'] },
    { name: 'a bad bot nick', raw: patched(minimal(), 'networks.libera.bot_nick', '1bot'), problems: ['networks.libera.bot_nick: expected a valid IRC nick'] },
    { name: 'a host with a scheme', raw: patched(minimal(), 'networks.libera.host', 'ircs://irc.libera.chat'), problems: ['networks.libera.host: expected a hostname or IP address (no scheme, no spaces)'] },
    { name: 'a password with a line break', raw: patched(minimal(), 'networks.libera.password', 'x\r\nQUIT'), problems: ['networks.libera.password: must not contain line breaks or NUL characters'] },
    {
      name: 'a nick template with a foreign variable',
      raw: patched(minimal(), 'networks.libera.puppet_nick_template', '$NICK[m]'),
      problems: [
        'networks.libera.puppet_nick_template: unknown variable $NICK (allowed: $DISPLAY, $LOCALPART)',
        'networks.libera.puppet_nick_template: must contain $DISPLAY or $LOCALPART',
      ],
    },
    {
      name: 'a username template with $DISPLAY',
      raw: patched(minimal(), 'networks.libera.puppet_username_template', '$DISPLAY'),
      problems: ['networks.libera.puppet_username_template: unknown variable $DISPLAY (allowed: $LOCALPART)'],
    },
    {
      name: 'a ghost template with capitals',
      raw: patched(minimal(), 'networks.libera.ghost_user_template', 'IRC_$NICK'),
      problems: ['networks.libera.ghost_user_template: literal text may only contain a-z 0-9 . _ = / -'],
    },
    {
      name: 'a ghost display name without $NICK',
      raw: patched(minimal(), 'networks.libera.ghost_display_name_template', '$NETWORK user'),
      problems: ['networks.libera.ghost_display_name_template: must contain $NICK'],
    },
    {
      name: 'an alias template with a colon',
      raw: patched(minimal(), 'networks.libera.portal_alias_template', '$NETWORK:$CHANNEL'),
      problems: ['networks.libera.portal_alias_template: literal text may only contain characters other than spaces, : and #'],
    },
    {
      name: 'a channel without a prefix, and an alias as room',
      raw: patched(minimal(), 'networks.libera.mappings', [m('matrix', '#matrix:example.org')]),
      problems: [
        'networks.libera.mappings[0].channel: expected a channel name: #, &, + or ! then no space, comma or ^G',
        'networks.libera.mappings[0].room_id: expected a room ID like !opaque:server',
      ],
    },
    {
      name: 'a channel that is too long',
      raw: patched(minimal(), 'networks.libera.mappings', [m(`#${'c'.repeat(200)}`, '!a:x')]),
      problems: ['networks.libera.mappings[0].channel: must be at most 200 characters'],
    },
    {
      name: 'duplicate channels, case-insensitively',
      raw: patched(minimal(), 'networks.libera.mappings', [m('#Foo[1]', '!a:x'), m('#bar', '!b:x'), m('#foo{1}', '!c:x')]),
      problems: ['networks.libera.mappings[2].channel: duplicates mappings[0]'],
    },
    {
      name: 'duplicate rooms',
      raw: patched(minimal(), 'networks.libera.mappings', [m('#a', '!a:x'), m('#b', '!b:x'), m('#c', '!b:x')]),
      problems: ['networks.libera.mappings[2].room_id: duplicates mappings[1]'],
    },
    {
      name: 'overlapping ghost templates across networks',
      raw: twoNetworks({ ghost_user_template: 'libera_$NICK' }),
      problems: [
        'networks.oftc.ghost_user_template: may render the same names as networks.libera.ghost_user_template; include $NETWORK or use distinct literal prefixes',
      ],
    },
    {
      name: 'overlapping alias templates across networks',
      raw: patched(twoNetworks({ portal_alias_template: '$CHANNEL' }), 'networks.libera.portal_alias_template', '$CHANNEL'),
      problems: [
        'networks.oftc.portal_alias_template: may render the same names as networks.libera.portal_alias_template; include $NETWORK or use distinct literal prefixes',
      ],
    },
    {
      name: 'several problems at several depths, all at once',
      raw: {
        homeserver: { domain: 'example.org', extra: 1 },
        networks: { libera: { host: 'h', port: 'x', mappings: [{ channel: '#a' }] }, Bad: {} },
        logging: { level: 'loud' },
      },
      problems: [
        'homeserver.extra: unknown key',
        'homeserver.url: required',
        'networks.libera.port: expected an integer',
        'networks.libera.mappings[0].room_id: required',
        'networks.Bad: invalid network id: use 1-32 of a-z 0-9 -, not starting with -',
        'logging.level: expected one of debug, info, warn, error',
      ],
    },
  ];

  it.each(cases)('$name', ({ raw, problems }) => {
    expect(problemsOf(raw)).toEqual(problems);
  });

  it('lists the problems in the error message', () => {
    expect(() => parseConfig(patched(minimal(), 'homeserver.url', undefined))).toThrow(
      'Invalid configuration (1 problem):\n  - homeserver.url: required',
    );
  });
});

describe('parseConfig accepts', () => {
  it.each([
    { name: 'two networks with the default templates', raw: twoNetworks() },
    { name: 'distinct literal prefixes', raw: patched(twoNetworks({ ghost_user_template: 'oftc_$NICK' }), 'networks.libera.ghost_user_template', 'lib.$NICK') },
    { name: '$NETWORK as a suffix', raw: patched(twoNetworks({ ghost_user_template: '$NICK.$NETWORK' }), 'networks.libera.ghost_user_template', '$NICK.$NETWORK') },
    { name: 'the same channel on two networks', raw: patched(twoNetworks({ mappings: [{ channel: '#a', room_id: '!b:x' }] }), 'networks.libera.mappings', [{ channel: '#a', room_id: '!a:x' }]) },
    { name: 'an IP literal and port as domain', raw: patched(minimal(), 'homeserver.domain', '[::1]:8448') },
    { name: 'a fractional send rate', raw: patched(minimal(), 'networks.libera.send_rate', 0.5) },
  ])('$name', ({ raw }) => {
    expect(problemsOf(raw)).toEqual([]);
  });
});

describe('parseConfig defaults', () => {
  it('fills every key of a minimal config', () => {
    expect(parseConfig(minimal())).toEqual<Config>({
      homeserver: { url: 'https://matrix.example.org', domain: 'example.org', media_url: 'https://matrix.example.org',
        catch_up_max_age_ms: 600000 },
      appservice: { bind: '127.0.0.1', port: 9995, provisioning_secret: null },
      database: { path: './data/bridge.db', key_file: 'data/credentials.key' },
      networks: {
        libera: {
          name: 'libera', host: 'irc.libera.chat', port: 6667, tls: false, tls_verify: true, password: null,
          bot_nick: 'MatrixBridge', bot_username: 'matrixbridge',
          puppet_nick_template: '$DISPLAY[m]', puppet_username_template: '$LOCALPART', puppet_realname_template: '$MXID',
          ghost_user_template: '$NETWORK_$NICK', ghost_display_name_template: '$NICK', portal_alias_template: '$NETWORK_$CHANNEL',
          dynamic_portals: true, plumbing_consent_timeout_ms: 300000, mappings: [], max_lines: 3, send_burst: 5, send_rate: 1,
          connect_timeout_ms: 30000, max_concurrent_connects: 10, message_timeout_ms: 120000, max_pending_messages: 200, puppet_deaf_mode: 'auto',
          reconnect_max_delay_ms: 300000, netsplit_debounce_ms: 60000, puppet_idle_timeout_ms: 0, nick_regain_interval_ms: 30000,
          auth: 'auto', ipv6_prefix: null,
          puppet_nick_follows_display_name: true, ban_mask: 'account_or_user_host',
          prefix_power_levels: { q: 95, a: 75, o: 50, h: 45, v: 1 }, excluded_users: [], quit_message: 'Bridge shutting down',
          raw_command_allowlist: ['AWAY', 'INVITE', 'LIST', 'MODE', 'MOTD', 'NAMES', 'NOTICE', 'PRIVMSG', 'TOPIC', 'WHO', 'WHOIS', 'WHOWAS'],
        },
      },
      identd: { enabled: false, bind: '0.0.0.0', port: 113 },
      admin: { bridge_admins: [] },
      metrics: { enabled: false, bind: '127.0.0.1', port: 9001 },
      logging: { level: 'info', format: 'text' },
    });
  });

  it.each([
    { tls: true, port: undefined, expected: 6697 },
    { tls: false, port: undefined, expected: 6667 },
    { tls: true, port: null, expected: 6697 },
    { tls: true, port: 7000, expected: 7000 },
  ])('port follows tls=$tls when port is $port', ({ tls, port, expected }) => {
    const raw = patched(patched(minimal(), 'networks.libera.tls', tls), 'networks.libera.port', port);
    expect(parseConfig(raw).networks.libera?.port).toBe(expected);
  });

  it('defaults media_url to the url, both without trailing slash', () => {
    const hs = parseConfig(patched(minimal(), 'homeserver.url', 'https://hs.example.org/')).homeserver;
    expect([hs.url, hs.media_url]).toEqual(['https://hs.example.org', 'https://hs.example.org']);
  });

  it('keeps an explicit name and mapping key', () => {
    const raw = patched(patched(minimal(), 'networks.libera.name', 'Libera.Chat'), 'networks.libera.mappings', [
      { channel: '#secret', room_id: '!r:example.org', key: 'hunter2' },
    ]);
    const net = parseConfig(raw).networks.libera;
    expect([net?.name, net?.mappings[0]]).toEqual(['Libera.Chat', { channel: '#secret', room_id: '!r:example.org', key: 'hunter2' }]);
  });
});

describe('parseConfig result', () => {
  it('is deeply frozen and does not alias the input', () => {
    const raw = patched(minimal(), 'networks.libera.mappings', [{ channel: '#a', room_id: '!a:x' }]);
    const config = parseConfig(raw);
    const net = config.networks.libera;
    for (const part of [config, config.homeserver, config.networks, net, net?.mappings, net?.mappings[0], config.logging]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    expect(() => {
      (config.logging as { level: string }).level = 'debug';
    }).toThrow(TypeError);
    expect(Object.isFrozen(raw)).toBe(false);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'config-spec-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const problemsLoading = (path: string): string[] => {
    try {
      loadConfig(path);
    } catch (err: unknown) {
      return err instanceof ConfigError ? err.problems : [`not a ConfigError: ${String(err)}`];
    }
    return [];
  };

  it('loads YAML, keeping dates as strings', () => {
    const path = file('ok.yaml', 'homeserver:\n  url: http://localhost:8008\n  domain: example.org\nnetworks:\n  libera:\n    name: 2024-01-01\n    host: irc.libera.chat\n');
    expect(loadConfig(path).networks.libera?.name).toBe('2024-01-01');
  });

  it.each([
    { name: 'bad indentation', text: 'networks:\n  libera:\n    host: x\n   port: 1\n', problem: 'YAML syntax error at line 4, column 4: bad indentation of a mapping entry' },
    { name: 'a duplicate key', text: 'homeserver: {}\nhomeserver: {}\n', problem: 'YAML syntax error at line 2, column 1: duplicated mapping key' },
    { name: 'an unclosed quote', text: "homeserver:\n  url: 'x\n", problem: 'YAML syntax error at line 3, column 1: unexpected end of the stream within a single quoted scalar' },
  ])('reports $name with line and column', ({ text, problem }) => {
    expect(problemsLoading(file('bad.yaml', text))).toEqual([problem]);
  });

  it('names the file in the message of a validation error', () => {
    const path = file('empty.yaml', '');
    expect(problemsLoading(path)).toEqual(['homeserver: required', 'networks: required']);
    expect(() => loadConfig(path)).toThrow(`Invalid configuration in ${path} (2 problems):`);
  });

  it('names the path of a missing or unreadable file', () => {
    const missing = join(dir, 'nope.yaml');
    expect(problemsLoading(missing)).toEqual([`cannot read ${missing}: file not found`]);
    expect(problemsLoading(dir)).toEqual([`cannot read ${dir}: is a directory`]);
  });
});
