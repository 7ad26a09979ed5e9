/**
 * Puppets and the user's stored credentials, against the scripted IRC server: SASL at every
 * connect, a reconnect when the credentials change, ident usernames, and the credential
 * commands' answers to bad input.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BridgeContext } from '../../src/bridge/context';
import { credentialsProblem, removeIrcCredentials, storeIrcCredentials } from '../../src/bridge/credentials';
import { identUsername, Puppets, type Puppet } from '../../src/bridge/puppets';
import { parseConfig, type NetworkConfig } from '../../src/config';
import { asChannel, asNetworkId, asUserId, type UserId } from '../../src/ids';
import type { IrcEvent } from '../../src/irc/events';
import { IdentRegistry } from '../../src/irc/identd';
import { configureLogging } from '../../src/log';
import { Metrics } from '../../src/metrics';
import { SecretBox } from '../../src/store/secret-box';
import { SqliteStore } from '../../src/store/sqlite';
import { FakeIrcd, type FakeIrcClient, type ReceivedLine } from '../fakes/fake-ircd';
import { until } from './fixture';

const NET = asNetworkId('test');
const ALICE = asUserId('@alice:hs.test');

function saslPlain(accounts: Record<string, string>) {
  return (c: FakeIrcClient, l: ReceivedLine): void => {
    if (l.params[0] === 'PLAIN') {
      c.send('AUTHENTICATE +');
      return;
    }
    const [, authc, pass] = Buffer.from(l.params[0] ?? '', 'base64').toString('utf8').split('\0');
    if (authc !== undefined && accounts[authc] === pass) {
      c.numeric('900', `${c.nick ?? '*'}!u@h ${authc} :You are now logged in as ${authc}`);
      c.numeric('903', ':SASL authentication successful');
    } else {
      c.numeric('904', ':SASL authentication failed');
    }
  };
}


describe('Puppets with stored credentials (fake IRC server)', () => {
  let ircd: FakeIrcd;
  let store: SqliteStore;
  let puppets: Puppets;
  let events: Array<{ user: UserId; e: IrcEvent }>;
  let logLines: string[];

  async function setUp(over: Record<string, unknown> = {}, ident: IdentRegistry | null = null): Promise<void> {
    ircd = new FakeIrcd({ caps: ['sasl=PLAIN'], onAuthenticate: saslPlain({ alice: 'right-pass' }) });
    const port = await ircd.listen();
    const cfg = parseConfig({
      homeserver: { url: 'http://127.0.0.1:1', domain: 'hs.test' },
      networks: { test: { host: '127.0.0.1', port, send_rate: 100, send_burst: 50, connect_timeout_ms: 3000, ...over } },
    }).networks.test as NetworkConfig;
    store = new SqliteStore(':memory:', SecretBox.fromKey(randomBytes(32)));
    const ctx = { store, metrics: new Metrics(), domain: 'hs.test', ident } as unknown as BridgeContext;
    events = [];
    puppets = new Puppets(ctx, NET, cfg, { nickLen: () => 30, fold: (s) => s.toLowerCase(), whenReady: async () => undefined },
      (p: Puppet, e: IrcEvent) => events.push({ user: p.userId, e }));
  }

  beforeEach(() => {
    logLines = [];
    configureLogging({ level: 'debug', format: 'json', sink: { write: (l) => logLines.push(l) } });
  });

  afterEach(async () => {
    await puppets.stopAll('test over');
    store.close();
    await ircd.close();
    configureLogging({ level: 'error', format: 'text', sink: { write: () => undefined } });
  });

  const authEvents = (): IrcEvent[] => events.map((x) => x.e).filter((e) => e.type === 'auth');

  test('without credentials a puppet does not authenticate', async () => {
    await setUp();
    await puppets.connection(ALICE, 'Alice');
    const peer = await ircd.client();
    await peer.sync();
    expect(peer.linesOf('AUTHENTICATE')).toEqual([]);
    expect(authEvents()).toEqual([]);
  });

  test('stored credentials: SASL PLAIN at connect, the outcome goes up, nothing secret in the log', async () => {
    await setUp();
    store.setCredentials(ALICE, NET, { account: 'alice', password: 'right-pass', clientCert: null });
    await puppets.connection(ALICE, 'Alice');
    await until(() => authEvents().length > 0, 'auth event');
    expect(authEvents()).toEqual([{ type: 'auth', ok: true, mechanism: 'PLAIN', account: 'alice', reason: '' }]);
    expect(logLines.join('\n')).toContain('puppet identified');
    expect(logLines.join('\n')).not.toContain('right-pass');
    expect(logLines.join('\n')).not.toContain(Buffer.from('alice\0alice\0right-pass').toString('base64'));
  });

  test('a connection lost and re-made identifies again', async () => {
    await setUp();
    store.setCredentials(ALICE, NET, { account: 'alice', password: 'right-pass', clientCert: null });
    await puppets.joinChannel(ALICE, 'Alice', asChannel('#room'), null);
    const first = await ircd.client(0);
    await until(() => authEvents().length === 1, 'first auth event');
    first.drop();
    const second = await ircd.client(1, 5000);
    await second.waitFor((l) => l.command === 'AUTHENTICATE' && l.params[0] !== 'PLAIN', 5000);
    await until(() => authEvents().length === 2, 'second auth event', 5000);
    expect(authEvents()[1]).toEqual({ type: 'auth', ok: true, mechanism: 'PLAIN', account: 'alice', reason: '' });
  });

  test('a wrong stored password: the failure goes up with the server\'s reason; the puppet stays connected', async () => {
    await setUp();
    store.setCredentials(ALICE, NET, { account: 'alice', password: 'wrong-pass', clientCert: null });
    const conn = await puppets.connection(ALICE, 'Alice');
    await until(() => authEvents().length > 0, 'auth event');
    expect(authEvents()[0]).toMatchObject({ ok: false, mechanism: 'PLAIN', reason: expect.stringMatching(/SASL authentication failed/) });
    expect(conn.state).toBe('registered');
    expect(logLines.join('\n')).not.toContain('wrong-pass');
  });

  test('storeIrcCredentials reconnects a connected puppet, which then identifies and rejoins its channels', async () => {
    await setUp();
    await puppets.joinChannel(ALICE, 'Alice', asChannel('#room'), null);
    const first = await ircd.client(0);
    await first.waitForCommand('JOIN');
    const host = { store, networks: new Map([['test', { puppets }]]) };
    const outcome = await storeIrcCredentials(host, ALICE, 'test', { account: 'alice', password: 'right-pass' });
    expect(outcome).toEqual({ ok: true, reconnected: true });
    await first.waitClosed();
    const second = await ircd.client(1);
    expect((await second.waitForCommand('JOIN')).params[0]).toBe('#room');
    expect(second.linesOf('AUTHENTICATE').map((l) => l.params[0])).toContain('PLAIN');
    expect(authEvents()).toEqual([{ type: 'auth', ok: true, mechanism: 'PLAIN', account: 'alice', reason: '' }]);
    // The old connection's end was our doing: not reported as a lost connection.
    expect(events.filter((x) => x.e.type === 'closed')).toEqual([]);
    expect(puppets.get(ALICE)?.conn?.state).toBe('registered');
  });

  test('credentials sealed with another key: the puppet connects unidentified and the user is told why', async () => {
    await setUp();
    store.setCredentials(ALICE, NET, { account: 'alice', password: 'right-pass', clientCert: null });
    // The same rows read with another key (the key file was replaced).
    (store as unknown as { secrets: SecretBox }).secrets = SecretBox.fromKey(randomBytes(32));
    const conn = await puppets.connection(ALICE, 'Alice');
    expect(conn.state).toBe('registered');
    expect(authEvents()).toEqual([expect.objectContaining({ ok: false, reason: expect.stringMatching(/cannot be decrypted/) })]);
    expect((await ircd.client()).linesOf('AUTHENTICATE')).toEqual([]);
  });

  test('with identd on, the username is unique to the Matrix user and registered for ident', async () => {
    const ident = new IdentRegistry();
    await setUp({}, ident);
    await puppets.connection(ALICE, 'Alice');
    const peer = await ircd.client();
    const user = peer.linesOf('USER')[0]?.params[0];
    expect(user).toBe(identUsername(ALICE, 'alice'));
    expect(ident.size).toBe(1);
    await puppets.disconnect(ALICE, 'bye');
    expect(ident.size).toBe(0);
  });
});

describe('identUsername', () => {
  test('stable, at most 10 of a-z 0-9 starting with a letter, and distinct across users', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `@user${i}:example.org`);
    const names = ids.map((id) => identUsername(id, id.slice(1, id.indexOf(':'))));
    for (const n of names) {
      expect(n).toMatch(/^[a-z][a-z0-9]{1,9}$/);
    }
    expect(new Set(names).size).toBe(ids.length);
    expect(identUsername('@alice:a.org', 'alice')).toBe(identUsername('@alice:a.org', 'alice'));
    expect(identUsername('@alice:a.org', 'alice')).not.toBe(identUsername('@alice:b.org', 'alice'));
    expect(identUsername('@_123:x', '_123')).toMatch(/^m123[a-z0-9]{4}$/);
  });
});

describe('storeIrcCredentials and removeIrcCredentials: bad input', () => {
  let store: SqliteStore;
  const reconnects: UserId[] = [];
  const host = () => ({ store, networks: new Map([['libera', { puppets: { reidentify: async (u: UserId) => {
    reconnects.push(u);
    return false;
  } } }]]) });
  beforeEach(() => {
    store = new SqliteStore(':memory:', SecretBox.fromKey(randomBytes(32)));
    reconnects.length = 0;
  });
  afterEach(() => store.close());

  test('a network that does not exist: a clear answer naming the known ones, nothing stored', async () => {
    const out = await storeIrcCredentials(host(), ALICE, 'nosuchnet', { account: 'a', password: 'p' });
    expect(out).toEqual({ ok: false, reason: 'there is no IRC network "nosuchnet" (known: libera)' });
    expect(store.listCredentials(ALICE)).toEqual([]);
    expect(reconnects).toEqual([]);
    expect(removeIrcCredentials(host(), ALICE, 'nosuchnet')).toMatchObject({ ok: false });
  });

  test.each([
    { name: 'no password and no certificate', input: { account: 'a' }, reason: /password or a client certificate/ },
    { name: 'an empty password', input: { password: '' }, reason: /password must be/ },
    { name: 'a line break in the password', input: { password: 'a\r\nQUIT' }, reason: /line breaks/ },
    { name: 'a space in the account', input: { account: 'a b', password: 'p' }, reason: /account name/ },
    { name: 'a huge password', input: { password: 'x'.repeat(301) }, reason: /1-300/ },
    { name: 'a certificate that is not PEM', input: { clientCert: { certificate: 'nope', privateKey: 'nope' } }, reason: /not a PEM certificate/ },
  ])('$name: refused with a reason, nothing stored', async ({ input, reason }) => {
    const out = await storeIrcCredentials(host(), ALICE, 'libera', input);
    expect(out.ok).toBe(false);
    expect(out.ok ? '' : out.reason).toMatch(reason);
    expect(store.listCredentials(ALICE)).toEqual([]);
  });

  test('a certificate with a key that is not its own is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cred-cert-'));
    try {
      const make = (name: string): { key: string; cert: string } => {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
          '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '1', '-subj', `/CN=${name}`],
        { stdio: 'ignore', timeout: 10_000 });
        return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.crt`), 'utf8') };
      };
      const a = make('a');
      const b = make('b');
      expect(credentialsProblem({ clientCert: { certificate: a.cert, privateKey: a.key } })).toBeNull();
      expect(credentialsProblem({ clientCert: { certificate: a.cert, privateKey: b.key } })).toMatch(/does not belong/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('stored, then removed; removing again says nothing is stored', async () => {
    expect(await storeIrcCredentials(host(), ALICE, 'libera', { account: 'alice', password: 'pw' })).toEqual({ ok: true, reconnected: false });
    expect(reconnects).toEqual([ALICE]);
    expect(store.getCredentials(ALICE, asNetworkId('libera'))).toEqual({ account: 'alice', password: 'pw', clientCert: null });
    expect(removeIrcCredentials(host(), ALICE, 'libera')).toEqual({ ok: true, reconnected: false });
    expect(removeIrcCredentials(host(), ALICE, 'libera')).toEqual({ ok: false, reason: 'no credentials are stored for libera' });
  });
});
