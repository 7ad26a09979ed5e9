/**
 * Authentication and identity toward IRC, against a real InspIRCd linked to real Atheme
 * services.
 *
 * 1. Through the bridge (Synapse + bridge + InspIRCd with the sasl and ident modules + Atheme):
 *    an IRC user registers an account with NickServ; the Matrix user's credentials are written
 *    into the bridge's database through the store API while the bridge is stopped; after the
 *    restart the puppet logs in with SASL PLAIN (WHOIS 330, account-tag on its messages). The
 *    bridge's identd answers InspIRCd's ident query, so the puppet's username is its own (no ~),
 *    and the realname is the Matrix ID. A wrong password is reported, nothing secret is logged,
 *    and the bridge keeps running.
 * 2. NickServ IDENTIFY on an InspIRCd without the sasl module (still linked to Atheme), with the
 *    bridge's IRC connection class.
 * 3. What InspIRCd + Atheme do when a client ends CAP on the 900 before the 903 (irc-framework
 *    4.14's behaviour, which the connection works around).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { identUsername } from '../../src/bridge/puppets';
import { asNetworkId, asUserId } from '../../src/ids';
import { IrcConnection } from '../../src/irc/connection';
import type { IrcEvent } from '../../src/irc/events';
import { SecretBox } from '../../src/store/secret-box';
import { SqliteStore } from '../../src/store/sqlite';
import { type AthemeHandle, inspircdLinkOptions, newServicesLink, startAtheme } from './harness/atheme';
import { guard, setupEnv, type E2EEnv } from './harness/env';
import { startInspircd, type InspircdHandle } from './harness/inspircd';
import { IrcTestClient, type IrcLine } from './harness/irc-client';
import type { MatrixTestClient } from './harness/matrix-client';
import { pollUntil, report } from './harness/proc';

const WAIT = 20_000;
const CHANNEL = '#authroom';
const ALIAS = '#test_authroom:localhost';
const ALICE = '@alice:localhost';
const ACCOUNT = 'alicereg';
const PASSWORD = 'correct-horse-7';
const WRONG = 'wrong-battery-9';
const BOT = '@ircbridge:localhost';

/** NickServ REGISTER from a raw IRC client; the account is the client's nick. */
async function registerAccount(port: number, nick: string, password: string): Promise<void> {
  const c = await IrcTestClient.connect({ port, nick });
  try {
    c.send(`PRIVMSG NickServ :REGISTER ${password} ${nick}@example.org`);
    await c.waitFor((l) => l.command === 'NOTICE' && l.nick === 'NickServ' && /is now registered/.test(l.params[1] ?? ''),
      WAIT, `NickServ REGISTER of ${nick}`);
  } finally {
    await c.quit('registered');
  }
}

/** WHOIS `nick` once; the lines of the reply up to 318. */
async function whois(c: IrcTestClient, nick: string): Promise<IrcLine[]> {
  const from = c.lines.length;
  c.send(`WHOIS ${nick}`);
  await c.waitFor((l) => l.command === '318' && (l.params[1] ?? '').toLowerCase() === nick.toLowerCase(), WAIT, `end of WHOIS ${nick}`);
  return c.lines.slice(from);
}

const account330 = (lines: IrcLine[]): string | null => lines.find((l) => l.command === '330')?.params[2] ?? null;

describe('SASL through the bridge, with identd (InspIRCd + Atheme + Synapse)', () => {
  let env: E2EEnv | undefined;
  let atheme: AthemeHandle | undefined;
  let observer: IrcTestClient;
  let alice: MatrixTestClient;
  let roomId = '';
  let adminRoom = '';
  let dbPath = '';
  let keyPath = '';

  beforeAll(async () => {
    const link = await newServicesLink();
    env = await setupEnv({
      ircd: { ...inspircdLinkOptions(link, { sasl: true }), ident: true },
      bridge: { configExtra: { identd: { enabled: true, bind: '127.0.0.1', port: 113 } } },
    });
    const e = env;
    dbPath = path.join(e.dir, 'bridge', 'bridge.db');
    keyPath = path.join(e.dir, 'bridge', 'credentials.key');
    await guard(e, async () => {
      atheme = await startAtheme(path.join(e.dir, 'atheme'), link, e.ircd.port);
      await registerAccount(e.ircd.port, ACCOUNT, PASSWORD);
      observer = await e.ircClient('observer', ['account-tag', 'message-tags', 'server-time']);
      await observer.join(CHANNEL);
      alice = await e.matrixUser('alice', 'Alice');
    });
  }, 240_000);

  afterAll(async () => {
    await atheme?.stop();
    await env?.teardown();
  }, 90_000);

  /** Stops the bridge, writes alice's credentials with the store API, starts it again. */
  async function restartWithCredentials(password: string): Promise<void> {
    const e = env as E2EEnv;
    await e.bridge.stop();
    expect(fs.statSync(keyPath).mode & 0o777).toBe(0o600);
    const store = new SqliteStore(dbPath, SecretBox.fromKeyFile(keyPath));
    try {
      store.setCredentials(asUserId(ALICE), asNetworkId('test'), { account: ACCOUNT, password, clientCert: null });
    } finally {
      store.close();
    }
    const since = observer.lines.length;
    await e.bridge.spawnBridge();
    await observer.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'alice[m]' &&
      observer.lines.indexOf(l) >= since, WAIT, 'alice[m] back after the restart', false);
  }

  function bridgeLog(): string {
    return fs.readFileSync((env as E2EEnv).bridge.logPath, 'utf8');
  }

  it('without credentials the puppet is not logged in; identd gives it its own username; realname is the MXID', async () => {
    await guard(env, async () => {
      roomId = await alice.joinRoom(ALIAS);
      await observer.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'alice[m]', WAIT, 'alice[m] JOIN');
      const reply = await whois(observer, 'alice[m]');
      expect(account330(reply)).toBeNull();
      const user = reply.find((l) => l.command === '311');
      report(`e2e auth: WHOIS alice[m] 311: ${user?.raw ?? '(none)'}`);
      // InspIRCd asked 127.0.0.1:113 and took the identd's answer: no ~ prefix.
      expect(user?.params[2]).toBe(identUsername(ALICE, 'alice'));
      expect(user?.params[5]).toBe(ALICE);
      // Our own test client is not the bridge's: InspIRCd got NO-USER and prefixed ~.
      const own = (await whois(observer, 'observer')).find((l) => l.command === '311');
      expect(own?.params[2]).toMatch(/^~/);
    });
  }, 60_000);

  it('with stored credentials the puppet logs in with SASL PLAIN at every connect', async () => {
    await guard(env, async () => {
      await restartWithCredentials(PASSWORD);
      let reply: IrcLine[] = [];
      await pollUntil('WHOIS alice[m] showing the account', async () => {
        reply = await whois(observer, 'alice[m]');
        return account330(reply) !== null ? true : undefined;
      }, { timeoutMs: WAIT, intervalMs: 500 });
      expect(account330(reply)).toBe(ACCOUNT);
      const log = bridgeLog();
      expect(log).toMatch(/puppet identified .*mechanism=PLAIN .*account=alicereg/);
      expect(log).not.toContain(PASSWORD);
      expect(log).not.toContain(Buffer.from(`${ACCOUNT}\0${ACCOUNT}\0${PASSWORD}`).toString('base64'));

      // The account travels on alice's messages (account-tag).
      await alice.sendText(roomId, 'logged in now');
      const msg = await observer.waitFor((l) => l.command === 'PRIVMSG' && l.nick.toLowerCase() === 'alice[m]' &&
        l.params[1] === 'logged in now', WAIT, 'alice\'s message');
      expect(msg.tags['account']).toBe(ACCOUNT);
    });
  }, 120_000);

  it('a wrong password is reported with the server\'s reason; the puppet connects anyway and the bridge runs on', async () => {
    await guard(env, async () => {
      await restartWithCredentials(WRONG);
      await pollUntil('the failure in the bridge log', async () => (/puppet could not identify/.test(bridgeLog()) ? true : undefined),
        { timeoutMs: WAIT, intervalMs: 200 });
      const failure = bridgeLog().split('\n').find((l) => l.includes('puppet could not identify')) ?? '';
      report(`e2e auth: ${failure}`);
      expect(failure).toMatch(/mechanism=PLAIN/);
      expect(failure).toMatch(/reason=.*SASL authentication failed.*904/);
      expect(bridgeLog()).not.toContain(WRONG);
      expect(account330(await whois(observer, 'alice[m]'))).toBeNull();
      // Alice is told in her admin room (the bridge opens one for her), with the server's reason.
      adminRoom = await alice.waitForInvite(BOT, WAIT, 'the admin room invite');
      await alice.joinRoom(adminRoom);
      const told = await alice.waitForEvent(adminRoom, (ev) => ev.sender === BOT && String(ev.content.body).includes('Identifying'),
        WAIT, 'the identification failure in the admin room');
      report(`e2e auth: admin room: ${String(told.content.body)}`);
      expect(String(told.content.body)).toMatch(/SASL PLAIN\): SASL authentication failed \(904\)/);
      expect(String(told.content.body)).not.toContain(WRONG);
      const health = await fetch(`http://127.0.0.1:${(env as E2EEnv).bridge.asPort}/health`);
      expect(health.status).toBe(200);
      await alice.sendText(roomId, 'still bridged');
      await observer.waitFor((l) => l.command === 'PRIVMSG' && l.params[1] === 'still bridged', WAIT, 'alice\'s message after the failure');
    });
  }, 120_000);

  it('from the admin room: NickServ REGISTER through !cmd, then !storepass; the reconnect logs in with SASL PLAIN', async () => {
    await guard(env, async () => {
      let lastSent = '';
      const say = async (text: string, answer: RegExp): Promise<string> => {
        lastSent = await alice.sendText(adminRoom, text);
        const ev = await alice.waitForEvent(adminRoom, (x) => x.sender === BOT && answer.test(String(x.content.body)), WAIT,
          `the answer to ${text.split(' ')[0] ?? ''}`);
        return String(ev.content.body);
      };
      await say('!removepass', /^Forgot your credentials/);
      const own = 'own-pass-7219';
      const sentAnswer = await say(`!cmd PRIVMSG NickServ :REGISTER ${own} alice@example.org`, /^Sent PRIVMSG/);
      const registerEvent = lastSent;
      expect(sentAnswer).toMatch(/held a password: the bridge redacted it/);
      // NickServ's answer comes to her as a direct chat from its ghost
      const fromServices = await alice.waitForInvite('@test_nickserv:localhost', WAIT, 'a direct chat from NickServ');
      await alice.joinRoom(fromServices);
      const reg = await alice.waitForEvent(fromServices, (x) => x.sender === '@test_nickserv:localhost' &&
        x.type === 'm.room.message' && /registered/i.test(String(x.content.body)), WAIT, 'NickServ\'s answer');
      report(`e2e auth: NickServ said: ${String(reg.content.body)}`);
      expect(String(reg.content.body)).not.toContain(own); // masked if Atheme repeats it
      const registerMessage = await alice.request<{ content: Record<string, unknown> }>('GET',
        `/_matrix/client/v3/rooms/${encodeURIComponent(adminRoom)}/event/${encodeURIComponent(registerEvent)}`);
      expect(registerMessage.content).toEqual({});
      const logBefore = bridgeLog().length;
      const stored = await say(`!storepass ${own}`, /^Stored your password/);
      const storepassEvent = lastSent;
      expect(stored).toMatch(/reconnecting you/);
      await pollUntil('a SASL login after !storepass', async () =>
        (/puppet identified .*mechanism=PLAIN/.test(bridgeLog().slice(logBefore)) ? true : undefined), { timeoutMs: WAIT, intervalMs: 200 });
      let reply: IrcLine[] = [];
      await pollUntil('WHOIS alice[m] showing her own account', async () => {
        reply = await whois(observer, 'alice[m]');
        return account330(reply) !== null ? true : undefined;
      }, { timeoutMs: WAIT, intervalMs: 500 });
      expect(account330(reply)?.toLowerCase()).toBe('alice[m]');
      expect(bridgeLog()).not.toContain(own);
      // the message holding the password was redacted
      const original = await alice.request<{ content: Record<string, unknown> }>('GET',
        `/_matrix/client/v3/rooms/${encodeURIComponent(adminRoom)}/event/${encodeURIComponent(storepassEvent)}`);
      expect(original.content).toEqual({});
    });
  }, 120_000);
});

describe('against InspIRCd + Atheme without a bridge', () => {
  let dir: string;
  let ircd: InspircdHandle | undefined;
  let atheme: AthemeHandle | undefined;
  let failed = false;

  async function stack(sasl: boolean): Promise<number> {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `mib-e2e-auth-${sasl ? 'sasl' : 'nosasl'}-`));
    const link = await newServicesLink();
    ircd = await startInspircd(path.join(dir, 'inspircd'), inspircdLinkOptions(link, { sasl }));
    atheme = await startAtheme(path.join(dir, 'atheme'), link, ircd.port);
    return ircd.port;
  }

  afterEach(async () => {
    await atheme?.stop();
    await ircd?.stop();
    atheme = undefined;
    ircd = undefined;
    if (failed) {
      report(`e2e auth: kept ${dir}`);
    } else {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  async function check<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      failed = true;
      throw new Error(`${(err as Error).message}\n--- atheme\n${atheme?.tail(20) ?? ''}\n--- inspircd\n${ircd?.tail(20) ?? ''}`);
    }
  }

  function connection(port: number, nick: string, password: string, over: Partial<ConstructorParameters<typeof IrcConnection>[0]> = {}) {
    const conn = new IrcConnection({
      host: '127.0.0.1', port, tls: false, tlsVerify: true, password: null, nick, username: nick.slice(0, 9), realname: '@x:localhost',
      role: 'puppet', sendBurst: 10, sendRate: 10, connectTimeoutMs: 15_000,
      auth: { mode: 'auto', account: null, password, clientCert: null }, ...over,
    });
    const events: IrcEvent[] = [];
    conn.on('event', (e) => events.push(e));
    return { conn, events };
  }

  it('no SASL on the server: NickServ IDENTIFY after registration logs the connection in', async () => {
    await check(async () => {
      const port = await stack(false);
      await registerAccount(port, 'bobreg', 'bob-pass-1');
      const watcher = await IrcTestClient.connect({ port, nick: 'watcher', caps: ['sasl'] });
      expect(watcher.offeredCaps.has('sasl')).toBe(false);
      const { conn, events } = connection(port, 'bobreg', 'bob-pass-1');
      const wrong = connection(port, 'bobother', 'not-it', { auth: { mode: 'auto', account: 'bobreg', password: 'not-it', clientCert: null } });
      try {
        await Promise.all([conn.connect(), wrong.conn.connect()]);
        await pollUntil('both IDENTIFY outcomes', async () => (events.some((e) => e.type === 'auth') &&
          wrong.events.some((e) => e.type === 'auth') ? true : undefined), { timeoutMs: WAIT, intervalMs: 100 });
        expect(events.find((e) => e.type === 'auth')).toEqual({ type: 'auth', ok: true, mechanism: 'NICKSERV', account: 'bobreg', reason: '' });
        const refused = wrong.events.find((e) => e.type === 'auth');
        report(`e2e auth: NickServ refusal: ${JSON.stringify(refused)}`);
        expect(refused).toMatchObject({ ok: false, mechanism: 'NICKSERV', reason: expect.stringMatching(/invalid password/i) });
        expect(account330(await whois(watcher, 'bobreg'))).toBe('bobreg');
        expect(account330(await whois(watcher, 'bobother'))).toBeNull();
      } finally {
        await Promise.all([conn.quit('done', 1000), wrong.conn.quit('done', 1000), watcher.quit('done')]);
      }
    });
  }, 90_000);

  it('SASL PLAIN with the connection class: 903, and logged in', async () => {
    await check(async () => {
      const port = await stack(true);
      await registerAccount(port, 'carolreg', 'carol-pass-1');
      const { conn, events } = connection(port, 'carol_m', 'carol-pass-1', {
        auth: { mode: 'sasl', account: 'carolreg', password: 'carol-pass-1', clientCert: null } });
      const watcher = await IrcTestClient.connect({ port, nick: 'watcher2' });
      try {
        await conn.connect();
        // SASL settles before registration completes.
        expect(events.filter((e) => e.type === 'auth')).toEqual([{ type: 'auth', ok: true, mechanism: 'PLAIN', account: 'carolreg', reason: '' }]);
        expect(account330(await whois(watcher, 'carol_m'))).toBe('carolreg');
      } finally {
        await Promise.all([conn.quit('done', 1000), watcher.quit('done')]);
      }
    });
  }, 90_000);

  it('finding: InspIRCd + Atheme send 900 then 903; a CAP END sent on the 900 (irc-framework 4.14) is harmless here', async () => {
    await check(async () => {
      const port = await stack(true);
      await registerAccount(port, 'davereg', 'dave-pass-1');
      // A raw client that does what irc-framework does: CAP END as soon as 900 arrives.
      const net = await import('node:net');
      const socket = net.connect(port, '127.0.0.1');
      const lines: string[] = [];
      let buf = '';
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no 001 within ${WAIT} ms:\n${lines.join('\n')}`)), WAIT);
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => {
          buf += d;
          let eol: number;
          while ((eol = buf.indexOf('\r\n')) >= 0) {
            const line = buf.slice(0, eol);
            buf = buf.slice(eol + 2);
            lines.push(line);
            const cmd = line.split(' ')[1];
            if (line.startsWith('PING')) socket.write(`PONG ${line.slice(5)}\r\n`);
            if (cmd === 'CAP' && / ACK /.test(line)) socket.write('AUTHENTICATE PLAIN\r\n');
            if (line === 'AUTHENTICATE +' || line === 'AUTHENTICATE :+') socket.write(`AUTHENTICATE ${Buffer.from('davereg\0davereg\0dave-pass-1').toString('base64')}\r\n`);
            if (cmd === '900') socket.write('CAP END\r\n');
            if (cmd === '001') {
              clearTimeout(timer);
              resolve();
            }
          }
        });
        socket.on('error', reject);
      });
      socket.write('CAP LS 302\r\nNICK dave_m\r\nUSER dave 0 * :dave\r\nCAP REQ :sasl\r\n');
      try {
        await done;
        await new Promise((r) => setTimeout(r, 500));
        const codes = lines.map((l) => l.split(' ')[1]).filter((c) => ['900', '903', '904', '906', '001'].includes(c ?? ''));
        report(`e2e auth: numerics after CAP END on 900: ${codes.join(' ')}`);
        expect(codes.slice(0, 2)).toEqual(['900', '903']);
        expect(codes).not.toContain('906');
      } finally {
        socket.destroy();
      }
    });
  }, 90_000);
});
