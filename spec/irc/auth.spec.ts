import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IrcConnection, type IrcConnectionOptions } from '../../src/irc/connection';
import type { IrcEvent } from '../../src/irc/events';
import { IdentRegistry } from '../../src/irc/identd';
import { FakeIrcd, type FakeIrcClient, type FakeIrcdOptions, type ReceivedLine } from '../fakes/fake-ircd';

type AuthEvent = Extract<IrcEvent, { type: 'auth' }>;

/** A SASL PLAIN exchange as Atheme runs it behind InspIRCd: `+`, then 900 and 903 for the right
 *  password (with a pause between them, long enough for a client to act on the 900), else 904. */
function saslPlain(accounts: Record<string, string>, gapMs = 150) {
  return (c: FakeIrcClient, l: ReceivedLine): void => {
    const arg = l.params[0] ?? '';
    if (arg === 'PLAIN') {
      c.send('AUTHENTICATE +');
      return;
    }
    const [authz, authc, pass] = Buffer.from(arg, 'base64').toString('utf8').split('\0');
    if (authc !== undefined && accounts[authc] === pass && (authz === '' || authz === authc)) {
      c.numeric('900', `${c.nick ?? '*'}!u@h ${authc} :You are now logged in as ${authc}`);
      setTimeout(() => c.numeric('903', ':SASL authentication successful'), gapMs);
    } else {
      c.numeric('904', ':SASL authentication failed');
    }
  };
}

describe('IrcConnection authentication against a scripted ircd', () => {
  let ircd: FakeIrcd | null = null;
  let conns: IrcConnection[] = [];

  afterEach(async () => {
    await Promise.all(conns.map((c) => c.quit('test over', 200).catch(() => undefined)));
    conns = [];
    await ircd?.close();
    ircd = null;
  });

  async function connect(serverOpts: FakeIrcdOptions, over: Partial<IrcConnectionOptions>):
    Promise<{ conn: IrcConnection; events: IrcEvent[]; peer: FakeIrcClient }> {
    ircd = new FakeIrcd(serverOpts);
    const port = await ircd.listen();
    const conn = new IrcConnection({
      host: '127.0.0.1', port, tls: false, tlsVerify: true, password: null, nick: 'alice', username: 'alice',
      realname: '@alice:hs', role: 'puppet', sendBurst: 50, sendRate: 100, connectTimeoutMs: 3000, ...over,
    });
    const events: IrcEvent[] = [];
    conn.on('event', (e) => events.push(e));
    conns.push(conn);
    await conn.connect();
    const peer = await ircd.client();
    await peer.sync();
    return { conn, events, peer };
  }

  const auths = (events: IrcEvent[]): AuthEvent[] => events.filter((e): e is AuthEvent => e.type === 'auth');
  const index = (peer: FakeIrcClient, pred: (l: ReceivedLine) => boolean): number => peer.received.findIndex(pred);

  test('SASL PLAIN: the account and password go base64 in AUTHENTICATE; 903 reports success', async () => {
    const { events, peer } = await connect(
      { caps: ['sasl=PLAIN,EXTERNAL', 'server-time'], onAuthenticate: saslPlain({ acct: 'pass word' }) },
      { auth: { mode: 'auto', account: 'acct', password: 'pass word', clientCert: null } });
    expect(peer.linesOf('AUTHENTICATE').map((l) => l.params[0])).toEqual(
      ['PLAIN', Buffer.from('acct\0acct\0pass word').toString('base64')]);
    expect(auths(events)).toEqual([{ type: 'auth', ok: true, mechanism: 'PLAIN', account: 'acct', reason: '' }]);
    expect(peer.linesOf('PRIVMSG')).toEqual([]);
  });

  test('CAP END waits for 903, not the 900 before it (a server may abort SASL when CAP ends first)', async () => {
    const { peer } = await connect(
      { caps: ['sasl'], onAuthenticate: saslPlain({ acct: 'pw' }, 300) },
      { auth: { mode: 'auto', account: 'acct', password: 'pw', clientCert: null } });
    const payload = index(peer, (l) => l.command === 'AUTHENTICATE' && l.params[0] !== 'PLAIN');
    const capEnd = index(peer, (l) => l.command === 'CAP' && l.params[0] === 'END');
    expect(payload).toBeGreaterThanOrEqual(0);
    expect(capEnd).toBeGreaterThan(payload);
    // The 903 went out 300 ms after the 900; a CAP END on the 900 would arrive well before that.
    const sentAt = (peer.received[payload] as ReceivedLine).at;
    expect((peer.received[capEnd] as ReceivedLine).at - sentAt).toBeGreaterThanOrEqual(250);
  });

  test('SASL PLAIN with the nick as account when none is stored', async () => {
    const { events } = await connect({ caps: ['sasl'], onAuthenticate: saslPlain({ alice: 'pw' }) },
      { auth: { mode: 'sasl', account: null, password: 'pw', clientCert: null } });
    expect(auths(events)).toEqual([{ type: 'auth', ok: true, mechanism: 'PLAIN', account: 'alice', reason: '' }]);
  });

  test('a wrong password: 904 is reported with the server\'s words, registration goes on, no NickServ retry', async () => {
    const { conn, events, peer } = await connect(
      { caps: ['sasl=PLAIN'], onAuthenticate: saslPlain({ acct: 'right' }) },
      { auth: { mode: 'auto', account: 'acct', password: 'wrong-secret', clientCert: null } });
    expect(conn.state).toBe('registered');
    const [e] = auths(events);
    expect(e).toMatchObject({ ok: false, mechanism: 'PLAIN', account: null });
    expect(e?.reason).toMatch(/SASL authentication failed \(904\)/);
    expect(JSON.stringify(events)).not.toContain('wrong-secret');
    expect(peer.linesOf('PRIVMSG')).toEqual([]);
  });

  test('a mechanism the server does not offer: auto falls back to NickServ', async () => {
    const { events, peer } = await connect({ caps: ['sasl=EXTERNAL'] },
      { auth: { mode: 'auto', account: 'acct', password: 'pw', clientCert: null } });
    expect(peer.linesOf('AUTHENTICATE')).toEqual([]);
    const identify = await peer.waitForCommand('PRIVMSG');
    expect(identify.params).toEqual(['NickServ', 'IDENTIFY acct pw']);
    expect(auths(events)).toEqual([]);
  });

  test('no SASL offered, auto: NickServ IDENTIFY after registration; its answer is the outcome', async () => {
    const { conn, events, peer } = await connect({ caps: ['server-time'] },
      { auth: { mode: 'auto', account: 'acct', password: 'pw', clientCert: null } });
    // SASL goes in the first request, with the LS; refused there, it is not asked for again.
    const caps = peer.linesOf('CAP').map((l) => l.params.join(' '));
    expect(caps.filter((l) => l.includes('sasl'))).toEqual([expect.stringMatching(/^REQ sasl /)]);
    expect(caps.slice(2)).toEqual(['END']); // a puppet wants nothing else this server offers
    expect(peer.linesOf('AUTHENTICATE')).toEqual([]);
    const identify = await peer.waitForCommand('PRIVMSG');
    expect(identify.params).toEqual(['NickServ', 'IDENTIFY acct pw']);
    expect(index(peer, (l) => l.command === 'PRIVMSG')).toBeGreaterThan(index(peer, (l) => l.command === 'CAP' && l.params[0] === 'END'));
    peer.send(`:NickServ!NickServ@services.test NOTICE ${conn.nick} :You are now identified for \x02acct\x02.`);
    await peer.sync();
    expect(auths(events)).toEqual([{ type: 'auth', ok: true, mechanism: 'NICKSERV', account: 'acct', reason: '' }]);
    expect(events.filter((e) => e.type === 'message')).toEqual([]);
  });

  test('NickServ refuses: the failure carries its words; later NickServ notices are messages again', async () => {
    const { conn, events, peer } = await connect({}, { auth: { mode: 'nickserv', account: null, password: 'pw', clientCert: null } });
    expect((await peer.waitForCommand('PRIVMSG')).params).toEqual(['NickServ', 'IDENTIFY pw']);
    peer.send(`:NickServ!NickServ@services.test NOTICE ${conn.nick} :Invalid password for \x02alice\x02.`);
    peer.send(`:NickServ!NickServ@services.test NOTICE ${conn.nick} :hello later`);
    await peer.sync();
    expect(auths(events)).toEqual([{ type: 'auth', ok: false, mechanism: 'NICKSERV', account: null, reason: 'Invalid password for alice.' }]);
    expect(events.filter((e) => e.type === 'message').map((e) => (e as { text: string }).text)).toEqual(['hello later']);
  });

  test('a 900 after IDENTIFY settles it as success', async () => {
    const { conn, events, peer } = await connect({}, { auth: { mode: 'nickserv', account: 'acct', password: 'pw', clientCert: null } });
    await peer.waitForCommand('PRIVMSG');
    peer.numeric('900', `${conn.nick}!u@h acct :You are now logged in as acct`);
    await peer.sync();
    expect(auths(events)).toEqual([{ type: 'auth', ok: true, mechanism: 'NICKSERV', account: 'acct', reason: '' }]);
  });

  test('mode nickserv never asks for SASL even when offered', async () => {
    const { peer } = await connect({ caps: ['sasl'] }, { auth: { mode: 'nickserv', account: 'a', password: 'pw', clientCert: null } });
    expect(peer.linesOf('AUTHENTICATE')).toEqual([]);
    expect(peer.linesOf('CAP').some((l) => (l.params[1] ?? '').includes('sasl'))).toBe(false);
    expect((await peer.waitForCommand('PRIVMSG')).params).toEqual(['NickServ', 'IDENTIFY a pw']);
  });

  test('mode sasl on a server without SASL: a failure, and the password is not sent anywhere', async () => {
    const { events, peer } = await connect({}, { auth: { mode: 'sasl', account: 'a', password: 'pw-unique', clientCert: null } });
    expect(auths(events)).toEqual([{ type: 'auth', ok: false, mechanism: 'PLAIN', account: null, reason: 'the server offers no SASL' }]);
    expect(peer.received.some((l) => l.raw.includes('pw-unique'))).toBe(false);
  });

  test('a password NickServ IDENTIFY cannot carry is refused, not sent', async () => {
    const { events, peer } = await connect({}, { auth: { mode: 'nickserv', account: 'a', password: 'two words', clientCert: null } });
    expect(auths(events)[0]).toMatchObject({ ok: false, mechanism: 'NICKSERV' });
    expect(peer.received.some((l) => l.raw.includes('two words'))).toBe(false);
  });

  test('no NickServ on the network: the 401 settles the IDENTIFY as a failure at once', async () => {
    const { events, peer } = await connect({}, { auth: { mode: 'auto', account: 'a', password: 'pw', clientCert: null } });
    await peer.waitForCommand('PRIVMSG');
    peer.numeric('401', 'NickServ :No such nick');
    await peer.sync();
    expect(auths(events)).toEqual([{ type: 'auth', ok: false, mechanism: 'NICKSERV', account: null,
      reason: 'there is no NickServ on this network (401)' }]);
    expect(events.filter((e) => e.type === 'refused')).toEqual([]);
  });

  test('a client certificate on a network without TLS: reported, not silently ignored', async () => {
    const { events, peer } = await connect({ caps: ['sasl'] }, { auth: { mode: 'auto', account: null, password: null,
      clientCert: { certificate: 'c', privateKey: 'k' } } });
    expect(peer.linesOf('AUTHENTICATE')).toEqual([]);
    expect(auths(events)).toEqual([{ type: 'auth', ok: false, mechanism: 'EXTERNAL', account: null,
      reason: expect.stringMatching(/only be used over TLS/) }]);
  });

  test('a server password alone is sent as PASS only, never as SASL', async () => {
    const { peer } = await connect({ caps: ['sasl'] }, { password: 'serverpass' });
    expect(peer.linesOf('PASS')[0]?.params).toEqual(['serverpass']);
    expect(peer.linesOf('AUTHENTICATE')).toEqual([]);
  });

  test('a CAP NEW before 001 does not re-open negotiation (InspIRCd would hold registration)', async () => {
    ircd = new FakeIrcd({ caps: ['server-time'], welcomeDelayMs: 300 });
    const port = await ircd.listen();
    const conn = new IrcConnection({
      host: '127.0.0.1', port, tls: false, tlsVerify: true, password: null, nick: 'bot', username: 'bot',
      realname: 'bot', role: 'bot', sendBurst: 50, sendRate: 100, connectTimeoutMs: 3000, auth: null,
    });
    conns.push(conn);
    const connecting = conn.connect();
    const peer = await ircd.client();
    await peer.waitFor((l) => l.command === 'CAP' && l.params[0] === 'END');
    peer.send(':fake.irc CAP bot NEW :sasl=PLAIN');
    await connecting;
    await peer.sync();
    // The first REQ (all the bot wants) is refused, the second (what is offered) taken.
    expect(peer.linesOf('CAP').map((l) => l.params[0])).toEqual(['LS', 'REQ', 'REQ', 'END']);
  });

  test('the open socket is registered for ident while it lasts', async () => {
    const ident = new IdentRegistry();
    const { conn, peer } = await connect({}, { ident, username: 'alice7f3k' });
    expect(ident.size).toBe(1);
    const sock = (peer as unknown as { socket: { remotePort: number; localPort: number } }).socket;
    expect(ident.lookup(sock.remotePort, sock.localPort, '127.0.0.1')).toBe('alice7f3k');
    expect(ident.lookup(sock.remotePort, sock.localPort, '127.0.0.2')).toBeNull();
    await conn.quit('bye', 500);
    expect(ident.size).toBe(0);
  });

  describe('SASL EXTERNAL over TLS', () => {
    let dir: string;
    let server: { key: string; cert: string };
    let client: { privateKey: string; certificate: string };
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'sasl-ext-'));
      const make = (name: string): { key: string; cert: string } => {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
          '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '1', '-subj', `/CN=${name}`],
        { stdio: 'ignore', timeout: 10_000 });
        return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.crt`), 'utf8') };
      };
      server = make('fake.irc');
      const c = make('alice');
      client = { privateKey: c.key, certificate: c.cert };
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test('the client certificate is presented and AUTHENTICATE EXTERNAL sent; 903 reports success', async () => {
      const fingerprint = new X509Certificate(client.certificate).fingerprint256;
      let sawFingerprint: string | null = null;
      const { events, peer } = await connect({
        tls: server, caps: ['sasl=PLAIN,EXTERNAL'],
        onAuthenticate: (c, l) => {
          if (l.params[0] === 'EXTERNAL') {
            c.send('AUTHENTICATE +');
          } else if (l.params[0] === '+') {
            sawFingerprint = c.peerCertFingerprint;
            if (c.peerCertFingerprint === fingerprint) {
              c.numeric('900', `${c.nick ?? '*'}!u@h certacct :You are now logged in as certacct`);
              c.numeric('903', ':SASL authentication successful');
            } else {
              c.numeric('904', ':SASL authentication failed');
            }
          }
        },
      }, { tls: true, tlsVerify: false, auth: { mode: 'auto', account: null, password: null, clientCert: client } });
      expect(sawFingerprint).toBe(fingerprint);
      expect(peer.linesOf('AUTHENTICATE').map((l) => l.params[0])).toEqual(['EXTERNAL', '+']);
      expect(auths(events)).toEqual([{ type: 'auth', ok: true, mechanism: 'EXTERNAL', account: 'certacct', reason: '' }]);
    });

    test('an unknown certificate: 904 reported', async () => {
      const { events } = await connect({
        tls: server, caps: ['sasl'],
        onAuthenticate: (c, l) => {
          if (l.params[0] === 'EXTERNAL') {
            c.send('AUTHENTICATE +');
          } else {
            c.numeric('904', ':SASL authentication failed');
          }
        },
      }, { tls: true, tlsVerify: false, auth: { mode: 'auto', account: null, password: null, clientCert: client } });
      expect(auths(events)).toMatchObject([{ ok: false, mechanism: 'EXTERNAL' }]);
    });
  });
});
