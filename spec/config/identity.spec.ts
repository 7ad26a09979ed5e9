/** Config keys of authentication and identity toward IRC: auth mode, IPv6 prefix, identd, key file. */
import { ConfigError, parseConfig } from '../../src/config';

const base = (network: Record<string, unknown> = {}, top: Record<string, unknown> = {}): unknown => ({
  homeserver: { url: 'https://matrix.example.org', domain: 'example.org' },
  networks: { libera: { host: 'irc.libera.chat', ...network } },
  ...top,
});

function problemsOf(raw: unknown): string[] {
  try {
    parseConfig(raw);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) {
      return err.problems;
    }
    throw err;
  }
}

describe('identity config', () => {
  test.each([
    { name: 'an IPv4 prefix', network: { ipv6_prefix: '10.0.0.0/8' }, problem: 'networks.libera.ipv6_prefix: expected an IPv6 prefix like 2001:db8:1::/64' },
    { name: 'an address without length', network: { ipv6_prefix: '2001:db8::' }, problem: 'networks.libera.ipv6_prefix: expected an IPv6 prefix like 2001:db8:1::/64' },
    { name: 'a length over 128', network: { ipv6_prefix: '2001:db8::/129' }, problem: 'networks.libera.ipv6_prefix: expected an IPv6 prefix like 2001:db8:1::/64' },
    { name: 'a prefix too long to share', network: { ipv6_prefix: '2001:db8::/120' }, problem: 'networks.libera.ipv6_prefix: a /120 leaves too few addresses to give each user their own; use /96 or shorter (a /64 is usual)' },
    { name: 'an unknown auth mode', network: { auth: 'plain' }, problem: 'networks.libera.auth: expected one of auto, sasl, nickserv' },
  ])('rejects $name', ({ network, problem }) => {
    expect(problemsOf(base(network))).toEqual([problem]);
  });

  test.each([
    { name: 'identd port 0', top: { identd: { port: 0 } }, problem: 'identd.port: expected an integer between 1 and 65535' },
    { name: 'an unknown identd key', top: { identd: { prot: 113 } }, problem: 'identd.prot: unknown key' },
    { name: 'an empty key file path', top: { database: { key_file: '' } }, problem: 'database.key_file: must not be empty' },
  ])('rejects $name', ({ top, problem }) => {
    expect(problemsOf(base({}, top))).toEqual([problem]);
  });

  test('accepts a /64 and a /48, each auth mode, and places the key file next to the database by default', () => {
    for (const [prefix, auth] of [['2001:db8:1::/64', 'sasl'], ['2001:DB8::/48', 'nickserv'], ['fd00::/96', 'auto']]) {
      const net = parseConfig(base({ ipv6_prefix: prefix, auth })).networks.libera;
      expect([net?.ipv6_prefix, net?.auth]).toEqual([prefix, auth]);
    }
    expect(parseConfig(base({}, { database: { path: '/var/lib/bridge/b.db' } })).database.key_file).toBe('/var/lib/bridge/credentials.key');
    expect(parseConfig(base({}, { database: { path: '/x/b.db', key_file: '/etc/bridge/key' } })).database.key_file).toBe('/etc/bridge/key');
  });
});
