import { IrcBannedError, IrcConnection, type IrcConnectionOptions, labelOf } from '../../src/irc/connection';
import type { IrcEvent } from '../../src/irc/events';
import { UnsafeLineError } from '../../src/irc/line';
import { FakeIrcd, type FakeIrcClient, type FakeIrcdOptions } from '../fakes/fake-ircd';

const SRV = 'fake.irc';

describe('IrcConnection against a scripted ircd', () => {
  let ircd: FakeIrcd | null = null;
  let conns: IrcConnection[] = [];

  afterEach(async () => {
    await Promise.all(conns.map((c) => c.quit('test over', 200).catch(() => undefined)));
    conns = [];
    await ircd?.close();
    ircd = null;
  });

  async function start(serverOpts: FakeIrcdOptions = {}): Promise<number> {
    ircd = new FakeIrcd(serverOpts);
    return ircd.listen();
  }

  function make(port: number, over: Partial<IrcConnectionOptions> = {}): { conn: IrcConnection; events: IrcEvent[] } {
    const conn = new IrcConnection({
      host: '127.0.0.1', port, tls: false, tlsVerify: true, password: null, nick: 'bot', username: 'bridge',
      realname: 'Bridge bot', role: 'bot', sendBurst: 50, sendRate: 100, connectTimeoutMs: 3000, ...over,
    });
    const events: IrcEvent[] = [];
    conn.on('event', (e) => events.push(e));
    conns.push(conn);
    return { conn, events };
  }

  /** Starts a server, connects and registers; events so far are cleared. */
  async function registered(over: Partial<IrcConnectionOptions> = {}, serverOpts: FakeIrcdOptions = {}):
    Promise<{ conn: IrcConnection; events: IrcEvent[]; peer: FakeIrcClient }> {
    const port = await start(serverOpts);
    const { conn, events } = make(port, over);
    await conn.connect();
    const peer = await (ircd as FakeIrcd).client();
    await peer.sync(); // 002..376 handled
    events.length = 0;
    return { conn, events, peer };
  }

  describe('registration', () => {
    test('connect resolves with the nick after NICK, USER and CAP END', async () => {
      const port = await start();
      const { conn, events } = make(port);
      expect(conn.state).toBe('idle');
      const connecting = conn.connect();
      expect(conn.state).toBe('connecting');
      await expect(connecting).resolves.toBe('bot');
      expect(conn.state).toBe('registered');
      expect(conn.nick).toBe('bot');
      expect(events).toEqual([{ type: 'registered', nick: 'bot' }]);

      const peer = await (ircd as FakeIrcd).client();
      const commands = peer.received.map((l) => l.command);
      expect(commands.slice(0, 4)).toEqual(['CAP', 'CAP', 'NICK', 'USER']);
      expect(peer.linesOf('NICK')[0]?.params).toEqual(['bot']);
      expect(peer.linesOf('USER')[0]?.params).toEqual(['bridge', '0', '*', 'Bridge bot']);
      // The capabilities are asked for with the LS; this server offers none, so it refuses them.
      expect(peer.linesOf('CAP').map((l) => l.params[0])).toEqual(['LS', 'REQ', 'END']);
      expect(peer.linesOf('PASS')).toEqual([]);
    });

    test('a registration gate holds CAP END, and so the registration, until it opens', async () => {
      const port = await start();
      let open: () => void = () => undefined;
      const gate = new Promise<void>((r) => { open = r; });
      const { conn } = make(port, { registrationGate: () => gate });
      let registered = false;
      const connecting = conn.connect().then((nick) => { registered = true; return nick; });
      const peer = await (ircd as FakeIrcd).client();
      await peer.waitFor((l) => l.command === 'USER');
      await new Promise((r) => setTimeout(r, 100));
      expect(peer.linesOf('CAP').map((l) => l.params[0])).toEqual(['LS', 'REQ']);
      expect(registered).toBe(false);
      open();
      await expect(connecting).resolves.toBe('bot');
      expect(peer.linesOf('CAP').map((l) => l.params[0])).toEqual(['LS', 'REQ', 'END']);
    });

    test('the connection leaves from the configured source address', async () => {
      const port = await start();
      const { conn } = make(port, { outgoingAddr: '127.0.0.2' });
      await conn.connect();
      const peer = await (ircd as FakeIrcd).client();
      const sock = (peer as unknown as { socket: { remoteAddress?: string } }).socket;
      expect(sock.remoteAddress).toBe('127.0.0.2');
    });

    test('a server password is sent with PASS', async () => {
      const port = await start();
      const { conn } = make(port, { password: 'hunter2' });
      await conn.connect();
      const peer = await (ircd as FakeIrcd).client();
      expect(peer.linesOf('PASS')[0]?.params).toEqual(['hunter2']);
    });

    test('a 433 during registration tries the nicks opts.nextNick offers, in turn', async () => {
      const port = await start({ nicksInUse: ['bot', 'bot_'] });
      const calls: Array<[number, string]> = [];
      const { conn, events } = make(port, {
        nextNick: (attempt, refused) => {
          calls.push([attempt, refused]);
          return 'bot' + '_'.repeat(attempt);
        },
      });
      await expect(conn.connect()).resolves.toBe('bot__');
      expect(calls).toEqual([[1, 'bot'], [2, 'bot_']]);
      expect(conn.nick).toBe('bot__');
      const peer = await (ircd as FakeIrcd).client();
      expect(peer.linesOf('NICK').map((l) => l.params[0])).toEqual(['bot', 'bot_', 'bot__']);
      // Refusals during registration are not reported as 'refused' events.
      expect(events.map((e) => e.type)).toEqual(['registered']);
    });

    test.each([
      { name: 'no nextNick', nextNick: undefined },
      { name: 'nextNick gives up', nextNick: (): string | null => null },
    ])('a 433 with $name rejects and closes', async ({ nextNick }) => {
      const port = await start({ nicksInUse: ['bot'] });
      const { conn } = make(port, nextNick ? { nextNick } : {});
      await expect(conn.connect()).rejects.toThrow(/nick refused: Nickname is already in use/);
      expect(conn.state).toBe('closed');
      await (await (ircd as FakeIrcd).client()).waitClosed();
    });

    test('nick retries are bounded even when nextNick never gives up', async () => {
      const port = await start({ nicksInUse: Array.from({ length: 60 }, (_, i) => `n${i}`).concat('bot') });
      let n = 0;
      const { conn } = make(port, { nextNick: () => `n${n++}` });
      await expect(conn.connect()).rejects.toThrow(/nick refused/);
      const peer = await (ircd as FakeIrcd).client();
      expect(peer.linesOf('NICK').length).toBeLessThanOrEqual(52);
    });

    test('connect timeout rejects and closes the socket', async () => {
      const port = await start({ register: false });
      const { conn, events } = make(port, { connectTimeoutMs: 150 });
      const t0 = Date.now();
      await expect(conn.connect()).rejects.toThrow('no registration within 150 ms');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      expect(conn.state).toBe('closed');
      await (await (ircd as FakeIrcd).client()).waitClosed();
      // Never registered, so no 'closed' event either.
      expect(events).toEqual([]);
    });

    test('the server dropping the socket before 001 rejects', async () => {
      const port = await start({ register: false });
      const { conn, events } = make(port);
      const connecting = conn.connect();
      const peer = await (ircd as FakeIrcd).client();
      await peer.waitForCommand('USER');
      peer.drop();
      await expect(connecting).rejects.toThrow(/closed before registration/);
      expect(conn.state).toBe('closed');
      expect(events).toEqual([]);
    });

    test('ERROR during registration rejects with the server\'s reason', async () => {
      const port = await start({ register: false });
      const { conn } = make(port);
      const connecting = conn.connect();
      const peer = await (ircd as FakeIrcd).client();
      await peer.waitForCommand('USER');
      peer.send('ERROR :Closing link: (bridge@127.0.0.1) [Registration timeout]');
      await expect(connecting).rejects.toThrow(/server error: Closing link.*Registration timeout/);
    });

    test.each([
      { name: 'an ERROR naming a K-line', lines: ['ERROR :Closing link: (bridge@127.0.0.1) [K-lined]'], reason: /K-lined/ },
      { name: '465 then ERROR', lines: [':fake.irc 465 * :You are banned from this server: spam', 'ERROR :Closing link'],
        reason: /You are banned from this server: spam/ },
    ])('a ban during registration ($name) rejects with IrcBannedError', async ({ lines, reason }) => {
      const port = await start({ register: false });
      const { conn } = make(port);
      const connecting = conn.connect();
      const peer = await (ircd as FakeIrcd).client();
      await peer.waitForCommand('USER');
      lines.forEach((l) => peer.send(l));
      peer.drop();
      const err = await connecting.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IrcBannedError);
      expect((err as IrcBannedError).reason).toMatch(reason);
    });

    test('a K-line while connected closes with banned: true and the reason', async () => {
      const { events, peer } = await registered();
      peer.send('ERROR :Closing link: (bridge@127.0.0.1) [K-Lined: go away]');
      peer.drop();
      await waitUntil(() => events.some((e) => e.type === 'closed'), 2000);
      expect(events.find((e) => e.type === 'closed')).toEqual({ type: 'closed', reason: 'Closing link: (bridge@127.0.0.1) [K-Lined: go away]', banned: true });
    });

    test('connect() a second time is refused', async () => {
      const { conn } = await registered();
      await expect(conn.connect()).rejects.toThrow(/connect\(\) called in state registered/);
      expect(conn.state).toBe('registered');
    });
  });

  describe('ISUPPORT', () => {
    test('defaults before the server says anything', () => {
      const { conn } = make(1);
      expect(conn.nickLen).toBe(9);
      expect(conn.lineLen).toBe(512);
      expect(conn.caseMapping).toBe('rfc1459');
      expect(conn.fold('[Bot]^')).toBe('{bot}~');
      expect(conn.isChannel('#a')).toBe(true);
      expect(conn.isChannel('&a')).toBe(true);
      expect(conn.isChannel('#')).toBe(false);
      expect(conn.isChannel('alice')).toBe(false);
      expect(conn.userHost).toEqual({ user: '~bridge', host: 'x'.repeat(63) });
    });

    test('NICKLEN, CASEMAPPING from 005; fold follows the casemapping', async () => {
      const { conn } = await registered();
      expect(conn.nickLen).toBe(30);
      expect(conn.lineLen).toBe(512);
      expect(conn.caseMapping).toBe('ascii');
      expect(conn.fold('[Bot]^')).toBe('[bot]^');
      expect(conn.isChannel('#chan')).toBe(true);
      expect(conn.isChannel('bob')).toBe(false);
    });

    test.each([
      { isupport: ['NICKLEN=16', 'LINELEN=2048', 'CASEMAPPING=strict-rfc1459'], nickLen: 16, lineLen: 2048,
        caseMapping: 'strict-rfc1459', fold: '{bot}^' },
      { isupport: ['CASEMAPPING=rfc7613', 'NICKLEN=abc', 'LINELEN=0'], nickLen: 9, lineLen: 512,
        caseMapping: 'rfc1459', fold: '{bot}~' },
      { isupport: ['NICKLEN=-5'], nickLen: 9, lineLen: 512, caseMapping: 'rfc1459', fold: '{bot}~' },
    ])('$isupport', async ({ isupport, nickLen, lineLen, caseMapping, fold }) => {
      const { conn } = await registered({}, { isupport });
      expect(conn.nickLen).toBe(nickLen);
      expect(conn.lineLen).toBe(lineLen);
      expect(conn.caseMapping).toBe(caseMapping);
      expect(conn.fold('[Bot]^')).toBe(fold);
    });

    test('isChannel follows the CHANTYPES the server announced', async () => {
      const { conn } = await registered({}, { isupport: ['CHANTYPES=#!'] });
      expect(conn.isChannel('!chan')).toBe(true);
      expect(conn.isChannel('&local')).toBe(false);
    });
  });

  describe("'bot' role events", () => {
    const alice = { nick: 'alice', ident: 'al', host: 'host.example' };
    const ALICE = 'alice!al@host.example';
    const cases: Array<{ name: string; lines: string[]; expected: IrcEvent[] }> = [
      { name: 'channel PRIVMSG', lines: [`:${ALICE} PRIVMSG #chan :hello world`],
        expected: [{ type: 'message', kind: 'privmsg', from: alice, target: '#chan', text: 'hello world', tags: {}, time: null }] },
      { name: 'PRIVMSG to the bot', lines: [`:${ALICE} PRIVMSG bot hi`],
        expected: [{ type: 'message', kind: 'privmsg', from: alice, target: 'bot', text: 'hi', tags: {}, time: null }] },
      { name: 'CTCP ACTION', lines: [`:${ALICE} PRIVMSG #chan :\x01ACTION waves hello\x01`],
        expected: [{ type: 'message', kind: 'action', from: alice, target: '#chan', text: 'waves hello', tags: {}, time: null }] },
      { name: 'ACTION without the closing \\x01', lines: [`:${ALICE} PRIVMSG #chan :\x01ACTION waves`],
        expected: [{ type: 'message', kind: 'action', from: alice, target: '#chan', text: 'waves', tags: {}, time: null }] },
      { name: 'empty ACTION', lines: [`:${ALICE} PRIVMSG #chan :\x01ACTION\x01`],
        expected: [{ type: 'message', kind: 'action', from: alice, target: '#chan', text: '', tags: {}, time: null }] },
      { name: 'other CTCP is not bridged', lines: [`:${ALICE} PRIVMSG #chan :\x01VERSION\x01`, `:${ALICE} PRIVMSG #chan :\x01ACTIONS\x01`],
        expected: [] },
      { name: 'NOTICE', lines: [`:${ALICE} NOTICE #chan :heads up`],
        expected: [{ type: 'message', kind: 'notice', from: alice, target: '#chan', text: 'heads up', tags: {}, time: null }] },
      { name: 'CTCP in a NOTICE is not bridged', lines: [`:${ALICE} NOTICE bot :\x01ACTION x\x01`], expected: [] },
      { name: 'server NOTICE is not bridged', lines: [`:${SRV} NOTICE * :*** Looking up your hostname`], expected: [] },
      { name: 'server-time tag sets time', lines: [`@time=2024-01-02T03:04:05.678Z :${ALICE} PRIVMSG #chan :hi`],
        expected: [{ type: 'message', kind: 'privmsg', from: alice, target: '#chan', text: 'hi',
          tags: { time: '2024-01-02T03:04:05.678Z' }, time: Date.UTC(2024, 0, 2, 3, 4, 5, 678) }] },
      { name: 'unparseable time tag gives null', lines: [`@time=yesterday;msgid=m1 :${ALICE} PRIVMSG #chan :hi`],
        expected: [{ type: 'message', kind: 'privmsg', from: alice, target: '#chan', text: 'hi',
          tags: { time: 'yesterday', msgid: 'm1' }, time: null }] },
      { name: 'JOIN', lines: [`:${ALICE} JOIN #chan`],
        expected: [{ type: 'join', channel: '#chan', user: alice, account: null }] },
      { name: 'extended JOIN with an account', lines: [`:${ALICE} JOIN #chan alice_acct :Alice Real`],
        expected: [{ type: 'join', channel: '#chan', user: alice, account: 'alice_acct' }] },
      { name: 'extended JOIN without an account', lines: [`:${ALICE} JOIN #chan * :Alice Real`],
        expected: [{ type: 'join', channel: '#chan', user: alice, account: null }] },
      { name: 'PART with a reason', lines: [`:${ALICE} PART #chan :see you`],
        expected: [{ type: 'part', channel: '#chan', nick: 'alice', reason: 'see you' }] },
      { name: 'PART without a reason', lines: [`:${ALICE} PART #chan`],
        expected: [{ type: 'part', channel: '#chan', nick: 'alice', reason: '' }] },
      { name: 'KICK', lines: [':op!o@h KICK #chan alice :spamming'],
        expected: [{ type: 'kick', channel: '#chan', nick: 'alice', by: 'op', reason: 'spamming' }] },
      { name: 'QUIT', lines: [`:${ALICE} QUIT :Ping timeout: 240 seconds`],
        expected: [{ type: 'quit', nick: 'alice', reason: 'Ping timeout: 240 seconds' }] },
      { name: 'NICK', lines: [`:${ALICE} NICK alice2`], expected: [{ type: 'nick', nick: 'alice', newNick: 'alice2' }] },
      { name: 'TOPIC', lines: [`:${ALICE} TOPIC #chan :new topic`],
        expected: [{ type: 'topic', channel: '#chan', topic: 'new topic', by: 'alice' }] },
      { name: 'TOPIC cleared', lines: [`:${ALICE} TOPIC #chan :`],
        expected: [{ type: 'topic', channel: '#chan', topic: '', by: 'alice' }] },
      { name: '332 topic on join', lines: [`:${SRV} 332 bot #chan :the topic`],
        expected: [{ type: 'topic', channel: '#chan', topic: 'the topic', by: null }] },
      { name: 'NAMES across two 353 lines ends in one event at 366',
        lines: [`:${SRV} 353 bot = #chan :@alice +bob carol`, `:${SRV} 353 bot = #chan :@+dave eve!e@h.example`,
          `:${SRV} 366 bot #chan :End of /NAMES list.`],
        expected: [{ type: 'names', channel: '#chan', users: [
          { nick: 'alice', prefixes: '@' }, { nick: 'bob', prefixes: '+' }, { nick: 'carol', prefixes: '' },
          { nick: 'dave', prefixes: '@+' }, { nick: 'eve', prefixes: '', ident: 'e', host: 'h.example' }] }] },
      { name: 'NAMES with userhost-in-names keeps user and host',
        lines: [`:${SRV} 353 bot = #chan :@op!~o@op.host +v!v@v.host`, `:${SRV} 366 bot #chan :End`],
        expected: [{ type: 'names', channel: '#chan', users: [
          { nick: 'op', prefixes: '@', ident: '~o', host: 'op.host' }, { nick: 'v', prefixes: '+', ident: 'v', host: 'v.host' }] }] },
      { name: 'channel MODE, one change per letter with its parameter',
        lines: [':op!o@h MODE #chan +ob-v+l alice *!*@bad.host bob 10'],
        expected: [{ type: 'mode', channel: '#chan', by: 'op', changes: [
          { adding: true, mode: 'o', param: 'alice', kind: 'prefix' },
          { adding: true, mode: 'b', param: '*!*@bad.host', kind: 'list' },
          { adding: false, mode: 'v', param: 'bob', kind: 'prefix' },
          { adding: true, mode: 'l', param: '10', kind: 'setting' }] }] },
      { name: 'channel MODE set by a server', lines: [`:${SRV} MODE #chan +nt`],
        expected: [{ type: 'mode', channel: '#chan', by: null, changes: [
          { adding: true, mode: 'n', param: null, kind: 'flag' }, { adding: true, mode: 't', param: null, kind: 'flag' }] }] },
      { name: '324 lists the channel\'s modes: a snapshot, by nobody', lines: [`:${SRV} 324 bot #chan +kin sesame`],
        expected: [{ type: 'mode', channel: '#chan', by: null, snapshot: true, changes: [
          { adding: true, mode: 'k', param: 'sesame', kind: 'setting' }, { adding: true, mode: 'i', param: null, kind: 'flag' },
          { adding: true, mode: 'n', param: null, kind: 'flag' }] }] },
      { name: 'INVITE', lines: [':op!o@h INVITE bot #chan'], expected: [{ type: 'invite', nick: 'bot', channel: '#chan', by: 'op' }] },
      { name: 'user MODE is not a channel mode', lines: [':bot MODE bot +i'], expected: [] },
      { name: 'ACCOUNT (account-notify)', lines: [`:${ALICE} ACCOUNT alice_acct`, `:${ALICE} ACCOUNT *`],
        expected: [{ type: 'account', nick: 'alice', account: 'alice_acct' }, { type: 'account', nick: 'alice', account: null }] },
      { name: '482 not an operator -> refused', lines: [`:${SRV} 482 bot #chan :You're not a channel operator`],
        expected: [{ type: 'refused', code: '482', target: '#chan', reason: "You're not a channel operator" }] },
      { name: 'NAMES of two channels interleaved',
        lines: [`:${SRV} 353 bot = #a :x`, `:${SRV} 353 bot = #b :@y`, `:${SRV} 353 bot = #a :+z`,
          `:${SRV} 366 bot #b :End`, `:${SRV} 366 bot #a :End`],
        expected: [
          { type: 'names', channel: '#b', users: [{ nick: 'y', prefixes: '@' }] },
          { type: 'names', channel: '#a', users: [{ nick: 'x', prefixes: '' }, { nick: 'z', prefixes: '+' }] }] },
      { name: 'NAMES matched by the folded channel name',
        lines: [`:${SRV} 353 bot = #Chan :alice`, `:${SRV} 366 bot #chan :End`],
        expected: [{ type: 'names', channel: '#chan', users: [{ nick: 'alice', prefixes: '' }] }] },
      { name: '366 without 353 is an empty list', lines: [`:${SRV} 366 bot #empty :End`],
        expected: [{ type: 'names', channel: '#empty', users: [] }] },
      { name: '474 banned -> refused', lines: [`:${SRV} 474 bot #chan :Cannot join channel (+b)`],
        expected: [{ type: 'refused', code: '474', target: '#chan', reason: 'Cannot join channel (+b)' }] },
      { name: '401 no such nick -> refused', lines: [`:${SRV} 401 bot nobody :No such nick/channel`],
        expected: [{ type: 'refused', code: '401', target: 'nobody', reason: 'No such nick/channel' }] },
      { name: '421 unknown command (a server without a feature) -> refused', lines: [`:${SRV} 421 bot @label=x :Unknown command`],
        expected: [{ type: 'refused', code: '421', target: '@label=x', reason: 'Unknown command' }] },
      { name: '433 after registration -> refused', lines: [`:${SRV} 433 bot taken :Nickname is already in use`],
        expected: [{ type: 'refused', code: '433', target: 'taken', reason: 'Nickname is already in use' }] },
      { name: 'other numerics say nothing', lines: [`:${SRV} 372 bot :- motd`, `:${SRV} 900 bot x :logged in`],
        expected: [] },
    ];

    test.each(cases)('$name', async ({ lines, expected }) => {
      const { conn, events, peer } = await registered();
      lines.forEach((l) => peer.send(l));
      await peer.sync();
      expect(events).toEqual(expected);
      expect(conn.state).toBe('registered');
    });

    test('its own NICK change is tracked; its own JOIN teaches user@host', async () => {
      const { conn, events, peer } = await registered();
      peer.send(':bot!~bridge@bridge.example JOIN #chan');
      peer.send(':bot!~bridge@bridge.example NICK Bot2');
      await peer.sync();
      expect(conn.nick).toBe('Bot2');
      expect(conn.userHost).toEqual({ user: '~bridge', host: 'bridge.example' });
      expect(events).toEqual([
        { type: 'join', channel: '#chan', user: { nick: 'bot', ident: '~bridge', host: 'bridge.example' }, account: null },
        { type: 'nick', nick: 'bot', newNick: 'Bot2' },
      ]);
    });

    test('396 (displayed host) updates the host', async () => {
      const { conn, peer } = await registered();
      peer.send(`:${SRV} 396 bot cloak.example :is now your displayed host`);
      await peer.sync();
      expect(conn.userHost.host).toBe('cloak.example');
    });
  });

  describe("'puppet' role", () => {
    test('reports only what concerns its own user', async () => {
      const { conn, events, peer } = await registered({ role: 'puppet', nick: 'alice_m' });
      const me = 'alice_m!~alice@bridge.example';
      const lines = [
        ':bob!b@h PRIVMSG #chan :hello channel', // dropped
        ':bob!b@h NOTICE #chan :channel notice', // dropped
        ':bob!b@h PRIVMSG #chan :\x01ACTION waves\x01', // dropped
        ':bob!b@h PRIVMSG alice_m :psst', // PM: reported
        ':bob!b@h NOTICE alice_m :note to you', // PM notice: reported
        ':bob!b@h JOIN #chan', // dropped
        `:${me} JOIN #chan`, // own join: reported
        ':bob!b@h PART #chan :bye', // dropped
        ':bob!b@h QUIT :gone', // dropped
        ':bob!b@h NICK bobby', // dropped
        ':bob!b@h TOPIC #chan :new', // dropped
        `:${SRV} 332 alice_m #chan :topic`, // dropped
        `:${SRV} 353 alice_m = #chan :@bob alice_m`, // dropped
        `:${SRV} 366 alice_m #chan :End`, // dropped
        ':op!o@h KICK #chan bob :not you', // dropped
        ':op!o@h MODE #chan +o alice_m', // channel modes are the bot's to read: dropped
        ':op!o@h KICK #chan ALICE_M :you', // kick of self (case-folded): reported
        `:${SRV} 474 alice_m #secret :Cannot join channel (+b)`, // refusal: reported
        `:${me} PART #chan :leaving`, // own part: reported
      ];
      lines.forEach((l) => peer.send(l));
      await peer.sync();
      const bob = { nick: 'bob', ident: 'b', host: 'h' };
      expect(events).toEqual([
        { type: 'message', kind: 'privmsg', from: bob, target: 'alice_m', text: 'psst', tags: {}, time: null },
        { type: 'message', kind: 'notice', from: bob, target: 'alice_m', text: 'note to you', tags: {}, time: null },
        { type: 'join', channel: '#chan', user: { nick: 'alice_m', ident: '~alice', host: 'bridge.example' }, account: null },
        { type: 'kick', channel: '#chan', nick: 'ALICE_M', by: 'op', reason: 'you' },
        { type: 'refused', code: '474', target: '#secret', reason: 'Cannot join channel (+b)' },
        { type: 'part', channel: '#chan', nick: 'alice_m', reason: 'leaving' },
      ]);
      // the 13 lines marked "dropped" above went before they were parsed
      expect(conn.droppedChannelLines).toBe(13);
    });

    test('a puppet does not answer NAMESX with PROTOCTL NAMESX (it drops NAMES lists); the bot does', async () => {
      const isupport = ['NICKLEN=30', 'CASEMAPPING=ascii', 'CHANTYPES=#', 'PREFIX=(ov)@+', 'NAMESX', 'UHNAMES'];
      const puppet = await registered({ role: 'puppet', nick: 'alice_m' }, { isupport });
      await puppet.peer.sync();
      expect(puppet.peer.linesOf('PROTOCTL')).toEqual([]);
      await ircd?.close();
      const bot = await registered({ role: 'bot' }, { isupport });
      await bot.peer.waitFor((l) => l.command === 'PROTOCTL');
      expect(bot.peer.linesOf('PROTOCTL').map((l) => l.params)).toEqual([['NAMESX']]);
    });

    test('others\' JOIN, PART, QUIT and NICK are dropped from the bytes, before a line is made; its own are not', async () => {
      const { conn, events, peer } = await registered({ role: 'puppet', nick: 'alice_m' });
      const raws: string[] = [];
      watchParser(conn, raws);
      [
        ':alice!a@h JOIN #chan', // a nick that is a prefix of ours: someone else
        ':alice_mm!a@h JOIN #chan', // ours is a prefix of it: someone else
        '@time=2026-11-27T10:00:00.000Z;account=bob :bob!b@h JOIN #chan * :Bob', // tagged, extended
        ':bob!b@h PART #chan',
        ':bob QUIT :no user@host',
        ':carol!c@h NICK :caroline',
        ':ALICE_M!~alice@bridge.example JOIN #chan', // ours, in another case: reported
        ':alice_m!~alice@bridge.example PART #chan :bye', // ours: reported
        ':bob!b@h JOINED #chan', // not a command we know: left to the parser
        ':bob!b@h JOIN', // no channel: left to the parser
      ].forEach((l) => peer.send(l));
      await peer.sync();
      expect(raws.filter((r) => / (JOIN|PART|QUIT|NICK) /.test(r) && !/alice_m!/i.test(r))).toEqual([]);
      expect(events.map((e) => e.type)).toEqual(['join', 'part']);
      expect(conn.droppedChannelLines).toBe(6);
      expect(conn.state).toBe('registered');
    });

    test('other people\'s channel messages are dropped before parsing; private ones and odd lines are not', async () => {
      const { conn, events, peer } = await registered({ role: 'puppet', nick: 'alice_m' });
      const raws: string[] = [];
      watchParser(conn, raws);
      [
        ':bob!b@h PRIVMSG #chan :one', // early drop
        '@time=2026-11-27T10:00:00.000Z;msgid=x :bob!b@h PRIVMSG #chan :tagged', // early drop
        ':bob!b@h NOTICE @#chan :to the ops', // STATUSMSG to a channel: early drop
        ':bob!b@h TAGMSG #chan', // early drop
        ':bob!b@h PRIVMSG alice_m :private', // kept
        ':bob PRIVMSG #chan :no user@host', // still a channel message from someone else: early drop
        ':bob!b@h PRIVMSG', // malformed: left to the parser
        'PING :x', // no prefix: left to the parser
      ].forEach((l) => peer.send(l));
      await peer.sync();
      expect(conn.droppedChannelLines).toBe(5);
      expect(raws.filter((r) => r.includes('#chan'))).toEqual([]); // never parsed
      expect(events.filter((e) => e.type === 'message').map((e) => (e.type === 'message' ? e.text : ''))).toEqual(['private']);
      expect(conn.state).toBe('registered');
    });

    test.each([
      { name: 'InspIRCd with the deaf module: +d', myInfo: 'InspIRCd-3 BIRcdgiksw ov', mode: 'auto', expected: ['alice_m', '+d'] },
      { name: 'Solanum: +D', myInfo: 'solanum-1.0 DQRSZaghilopsuwz ov', mode: 'auto', expected: ['alice_m', '+D'] },
      { name: 'a server without the mode: nothing', myInfo: 'InspIRCd-3 iosw ov', mode: 'auto', expected: null },
      { name: 'an unknown server: nothing', myInfo: 'fake-1.0 diow ov', mode: 'auto', expected: null },
      { name: 'off: nothing', myInfo: 'InspIRCd-3 dios ov', mode: 'off', expected: null },
      { name: 'a letter chosen by the operator', myInfo: 'fake-1.0 iow ov', mode: 'Q', expected: ['alice_m', '+Q'] },
    ])('deaf mode, $name', async ({ myInfo, mode, expected }) => {
      const { peer } = await registered({ role: 'puppet', nick: 'alice_m', deafMode: mode }, { myInfo });
      await peer.sync();
      const modes = peer.linesOf('MODE').map((l) => l.params);
      expect(modes).toEqual(expected === null ? [] : [expected]);
    });

    test('a bot never sets a deaf mode', async () => {
      const { peer } = await registered({ role: 'bot', deafMode: 'auto' }, { myInfo: 'InspIRCd-3 dios ov' });
      await peer.sync();
      expect(peer.linesOf('MODE')).toEqual([]);
    });

    test('its own NICK change is reported and tracked', async () => {
      const { conn, events, peer } = await registered({ role: 'puppet', nick: 'alice_m' });
      peer.send(':alice_m!~alice@h NICK alice_away');
      await peer.sync();
      expect(events).toEqual([{ type: 'nick', nick: 'alice_m', newNick: 'alice_away' }]);
      expect(conn.nick).toBe('alice_away');
      peer.send(':bob!b@h PRIVMSG alice_away :still you?');
      await peer.sync();
      expect(events.at(-1)).toMatchObject({ type: 'message', target: 'alice_away', text: 'still you?' });
    });
  });

  describe('sending', () => {
    test('send() before registration is refused', () => {
      const { conn } = make(1);
      expect(conn.send('PRIVMSG', ['#c', 'x'])).toBe(false);
      expect(conn.say('#c', 'x')).toBe(false);
    });

    test.each([
      { name: 'say', call: (c: IrcConnection) => c.say('#chan', 'hello world'), raw: 'PRIVMSG #chan :hello world' },
      { name: 'say one word', call: (c: IrcConnection) => c.say('alice', 'hi'), raw: 'PRIVMSG alice hi' },
      { name: 'notice', call: (c: IrcConnection) => c.notice('alice', 'a note'), raw: 'NOTICE alice :a note' },
      { name: 'action', call: (c: IrcConnection) => c.action('#chan', 'waves'), raw: 'PRIVMSG #chan :\x01ACTION waves\x01' },
      { name: 'join', call: (c: IrcConnection) => c.join('#chan'), raw: 'JOIN #chan' },
      { name: 'join with a key', call: (c: IrcConnection) => c.join('#chan', 'sekrit'), raw: 'JOIN #chan sekrit' },
      { name: 'join with a null key', call: (c: IrcConnection) => c.join('#chan', null), raw: 'JOIN #chan' },
      { name: 'part', call: (c: IrcConnection) => c.part('#chan', 'bye now'), raw: 'PART #chan :bye now' },
      { name: 'send', call: (c: IrcConnection) => c.send('MODE', ['#chan', '+o', 'alice']), raw: 'MODE #chan +o alice' },
    ])('$name', async ({ call, raw }) => {
      const { conn, peer } = await registered();
      const from = peer.received.length;
      expect(call(conn)).toBe(true);
      const line = await peer.waitFor(() => true, 2000, from);
      expect(line.raw).toBe(raw);
    });

    test('text is sent as UTF-8, and text received as UTF-8 or Windows-1252 arrives intact', async () => {
      const { conn, events, peer } = await registered({ realname: 'Zoë @zoë:example.org' });
      expect(peer.linesOf('USER')[0]?.params[3]).toBe('Zoë @zoë:example.org');
      const from = peer.received.length;
      conn.say('#chan', 'grüße 🎉');
      expect((await peer.waitFor(() => true, 2000, from)).raw).toBe('PRIVMSG #chan :grüße 🎉');
      peer.sendBytes(Buffer.concat([Buffer.from(':zoë!z@h PRIVMSG #chan :', 'utf8'), Buffer.from('日本 ok', 'utf8')]));
      peer.sendBytes(Buffer.from([...Buffer.from(':old!o@h PRIVMSG #chan :caf'), 0xe9, 0x20, 0x80]));
      await peer.sync();
      const texts = events.filter((e) => e.type === 'message').map((e) => e.type === 'message' ? [e.from.nick, e.text] : []);
      expect(texts).toEqual([['zoë', '日本 ok'], ['old', 'café €']]);
    });

    test('CR/LF in user text throws UnsafeLineError and sends nothing', async () => {
      const { conn, peer } = await registered();
      const from = peer.received.length;
      expect(() => conn.say('#chan', 'hi\r\nQUIT :pwned')).toThrow(UnsafeLineError);
      await peer.sync();
      expect(peer.received.slice(from).map((l) => l.command)).toEqual(['PONG']);
      expect(conn.state).toBe('registered');
    });

    test('send() is paced by the queue: burst first, then one line per 1/rate s, in order', async () => {
      const { conn, peer } = await registered({ sendBurst: 2, sendRate: 20 });
      const from = peer.received.length;
      for (let i = 1; i <= 6; i++) {
        expect(conn.say('#chan', `line ${i}`)).toBe(true);
      }
      await peer.waitFor((l) => l.raw === 'PRIVMSG #chan :line 6', 3000, from);
      const sent = peer.received.slice(from).filter((l) => l.command === 'PRIVMSG');
      expect(sent.map((l) => l.params[1])).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
      // Lines 3..6 are paced 50 ms apart, so 6 leaves >= 150 ms after 3. (The burst itself is not
      // timed: the client socket has Nagle on, which may hold line 1 back a little.)
      expect((sent[5]?.at ?? 0) - (sent[2]?.at ?? 0)).toBeGreaterThanOrEqual(130);
    });

    test('sendAll: onWritten comes with the last line, before the PING that waits for a token; the PONG confirms', async () => {
      const { conn, peer } = await registered({ sendBurst: 2, sendRate: 2 });
      const from = peer.received.length;
      let writtenAt = 0;
      const confirmed = conn.sendAll('PRIVMSG', [['#chan', 'one'], ['#chan', 'two']], () => {
        writtenAt = Date.now();
      });
      expect(writtenAt).toBeGreaterThan(0); // both lines went out at once, in the burst
      const ping = await peer.waitFor((l) => l.command === 'PING', 3000, from);
      expect(ping.at - writtenAt).toBeGreaterThanOrEqual(300); // the PING waited ~500 ms for a token
      peer.send(`:fake.irc PONG fake.irc :${ping.params[0] ?? ''}`);
      await expect(confirmed).resolves.toBe(2);
    });

    describe('with IRCv3 labeled-response', () => {
      const labelled = { caps: ['labeled-response'] };

      test('the last line carries a label and no PING follows; an ACK with that label confirms', async () => {
        const { conn, peer } = await registered({}, labelled);
        expect(peer.linesOf('CAP').some((l) => l.params[0] === 'REQ' && (l.params[1] ?? '').split(' ').includes('labeled-response'))).toBe(true);
        const from = peer.received.length;
        let confirmedWith: number | null = null;
        const confirmed = conn.sendAll('PRIVMSG', [['#chan', 'one'], ['#chan', 'two']]).then((n) => {
          confirmedWith = n;
          return n;
        });
        const last = await peer.waitFor((l) => l.params[1] === 'two', 2000, from);
        const label = last.tags.label ?? '';
        expect(label).toMatch(/^[a-z0-9-]+$/);
        await peer.sync();
        const sent = peer.received.slice(from).filter((l) => l.command !== 'PONG');
        expect(sent.map((l) => [l.command, l.params[1], l.tags.label ?? null]))
          .toEqual([['PRIVMSG', 'one', null], ['PRIVMSG', 'two', label]]); // no PING behind them
        expect(confirmedWith).toBeNull(); // not before the server answers
        peer.send(`@label=${label} :fake.irc ACK`);
        await expect(confirmed).resolves.toBe(2);
      });

      test('an error numeric with the label confirms too (the server had the line), and is still handled', async () => {
        const { conn, peer, events } = await registered({}, labelled);
        const from = peer.received.length;
        const confirmed = conn.sendAll('PRIVMSG', [['#gone', 'hello']]);
        const line = await peer.waitFor((l) => l.command === 'PRIVMSG', 2000, from);
        peer.send(`@label=${line.tags.label ?? ''} :fake.irc 404 bot #gone :Cannot send to channel`);
        await expect(confirmed).resolves.toBe(1);
        await peer.sync();
        expect(conn.state).toBe('registered');
        expect(events.filter((e) => e.type === 'closed')).toEqual([]);
      });

      test('a label nobody waits for, and a bare ACK, change nothing', async () => {
        const { conn, peer } = await registered({}, labelled);
        peer.send('@label=someone-else :fake.irc ACK');
        peer.send(':fake.irc ACK');
        await peer.sync();
        expect(conn.state).toBe('registered');
        const from = peer.received.length;
        const confirmed = conn.sendAll('NOTICE', [['#chan', 'still fine']]);
        const line = await peer.waitFor((l) => l.command === 'NOTICE', 2000, from);
        peer.send(`@time=2026-01-01T00:00:00.000Z;label=${line.tags.label ?? ''};msgid=x :fake.irc ACK`);
        await expect(confirmed).resolves.toBe(1);
      });

      test('the connection closing before the answer counts nothing as sent', async () => {
        const { conn, peer } = await registered({}, labelled);
        const from = peer.received.length;
        const confirmed = conn.sendAll('PRIVMSG', [['#chan', 'into the void']]);
        await peer.waitFor((l) => l.command === 'PRIVMSG', 2000, from);
        peer.drop();
        await expect(confirmed).resolves.toBe(0);
      });

      test('a server that leaves a label unanswered: that message counts as not sent, and PING confirms from then on', async () => {
        const { conn, peer } = await registered({ confirmTimeoutMs: 200 }, labelled);
        const from = peer.received.length;
        await expect(conn.sendAll('PRIVMSG', [['#chan', 'unanswered']])).resolves.toBe(0);
        const next = conn.sendAll('PRIVMSG', [['#chan', 'again']]);
        const ping = await peer.waitFor((l) => l.command === 'PING', 2000, from);
        expect(peer.received.slice(from).filter((l) => l.command === 'PRIVMSG').map((l) => [l.params[1], l.tags.label !== undefined]))
          .toEqual([['unanswered', true], ['again', false]]);
        peer.send(`:fake.irc PONG fake.irc :${ping.params[0] ?? ''}`);
        await expect(next).resolves.toBe(1);
      });

      test('without the capability, a PING confirms as before', async () => {
        const { conn, peer } = await registered();
        const from = peer.received.length;
        const confirmed = conn.sendAll('PRIVMSG', [['#chan', 'plain']]);
        const ping = await peer.waitFor((l) => l.command === 'PING', 2000, from);
        expect(peer.received.slice(from).find((l) => l.command === 'PRIVMSG')?.tags).toEqual({});
        peer.send(`:fake.irc PONG fake.irc :${ping.params[0] ?? ''}`);
        await expect(confirmed).resolves.toBe(1);
      });
    });

    test('a puppet asks only for the capabilities it uses; the bot for all it knows', async () => {
      const caps = ['sasl', 'labeled-response', 'batch', 'server-time', 'extended-join', 'account-tag', 'multi-prefix',
        'userhost-in-names', 'away-notify', 'account-notify'];
      const requested = async (role: 'bot' | 'puppet'): Promise<string[]> => {
        const { peer } = await registered({ role }, { caps });
        // The last REQ is the one the server took (the first names all wanted, offered or not).
        const req = (peer.linesOf('CAP').filter((l) => l.params[0] === 'REQ').at(-1)?.params[1] ?? '').split(' ');
        await Promise.all(conns.map((c) => c.quit('next', 200).catch(() => undefined)));
        conns = [];
        await ircd?.close();
        ircd = null;
        return req.sort();
      };
      expect(await requested('puppet')).toEqual(['batch', 'labeled-response']);
      expect(await requested('bot')).toEqual([...caps].filter((c) => c !== 'sasl').sort());
    });

    test('labelOf reads the label tag wherever it stands among the tags', () => {
      expect(labelOf('@label=mib-1 :s ACK')).toBe('mib-1');
      expect(labelOf('@time=x;label=mib-2;msgid=y :n!u@h PRIVMSG #c :hi')).toBe('mib-2');
      expect(labelOf('@time=x;label=mib-3 :s 404 n #c :no')).toBe('mib-3');
      expect(labelOf('@xlabel=mib-4 :s ACK')).toBeNull();
      expect(labelOf('@time=x :n!u@h PRIVMSG #c :label=mib-5')).toBeNull();
      expect(labelOf(':s ACK')).toBeNull();
    });

    test('protocol replies (PONG) do not wait behind queued lines', async () => {
      const { conn, peer } = await registered({ sendBurst: 1, sendRate: 5 });
      const from = peer.received.length;
      conn.say('#chan', 'first');
      conn.say('#chan', 'second'); // waits 200 ms in the queue
      await peer.sync();
      await peer.waitFor((l) => l.params[1] === 'second', 2000, from);
      const seen = peer.received.slice(from).map((l) => l.command === 'PRIVMSG' ? l.params[1] : l.command);
      expect(seen).toEqual(['first', 'PONG', 'second']);
    });
  });

  describe('WHOIS', () => {
    test('the answer lines are gathered until 318; several channel lines add up', async () => {
      const { conn, peer } = await registered();
      const asked = conn.whois('Alice');
      const line = await peer.waitForCommand('WHOIS');
      expect(line.params).toEqual(['Alice']);
      [
        `:${SRV} 311 bot alice al host.example * :Alice Liddell`,
        `:${SRV} 319 bot alice :@#one +#two`,
        `:${SRV} 319 bot alice :#three`,
        `:${SRV} 312 bot alice irc.example :The server`,
        `:${SRV} 330 bot alice alice_acct :is logged in as`,
        `:${SRV} 317 bot alice 42 1700000000 :seconds idle, signon time`,
        `:${SRV} 318 bot alice :End of /WHOIS list.`,
      ].forEach((l) => peer.send(l));
      await expect(asked).resolves.toEqual({ nick: 'alice', user: 'al', host: 'host.example', realname: 'Alice Liddell',
        server: 'irc.example', account: 'alice_acct', channels: ['@#one', '+#two', '#three'], idleSeconds: 42 });
    });

    test('two questions about one nick share one WHOIS; 401 answers both with null', async () => {
      const { conn, peer, events } = await registered();
      const first = conn.whois('ghost');
      const second = conn.whois('GHOST');
      await peer.waitForCommand('WHOIS');
      peer.send(`:${SRV} 401 bot ghost :No such nick/channel`);
      peer.send(`:${SRV} 318 bot ghost :End of /WHOIS list.`);
      await expect(Promise.all([first, second])).resolves.toEqual([null, null]);
      expect(peer.linesOf('WHOIS')).toHaveLength(1);
      expect(events).toContainEqual({ type: 'refused', code: '401', target: 'ghost', reason: 'No such nick/channel' });
    });

    test('no answer in time, or the connection closing, resolves null', async () => {
      const { conn, peer } = await registered();
      await expect(conn.whois('slow', 100)).resolves.toBeNull();
      const pending = conn.whois('other');
      await peer.waitFor((l) => l.command === 'WHOIS' && l.params[0] === 'other');
      peer.drop();
      await expect(pending).resolves.toBeNull();
      await expect(conn.whois('anyone')).resolves.toBeNull(); // closed: not even asked
    });
  });

  describe('keep-alive', () => {
    test('a quiet link gets a PING; one that stays silent is closed with the reason', async () => {
      const { conn, events, peer } = await registered({ keepaliveMs: 100 });
      const ping = await peer.waitFor((l) => l.command === 'PING' && l.params[0] === 'keepalive', 2000);
      expect(ping.params).toEqual(['keepalive']);
      expect(conn.state).toBe('registered'); // the fake answered
      peer.answerPings = false;
      await waitUntil(() => conn.state === 'closed', 3000);
      const closed = events.find((e) => e.type === 'closed');
      expect(closed).toMatchObject({ type: 'closed', banned: false });
      expect((closed as { reason: string }).reason).toMatch(/^no answer from the server for 0\.\d s$/);
    });

    test('a server PING is answered at once with its token', async () => {
      const { peer } = await registered();
      const from = peer.received.length;
      peer.send('PING :tok-42');
      const pong = await peer.waitFor((l) => l.command === 'PONG', 2000, from);
      expect(pong.params).toEqual(['tok-42']);
    });
  });

  describe('hostile lines', () => {
    test('a PING token with CR or NUL inside is answered without them; the connection goes on', async () => {
      const { conn, peer } = await registered();
      const from = peer.received.length;
      peer.send('PING :to\rk\0en');
      const pong = await peer.waitFor((l) => l.command === 'PONG', 2000, from);
      expect(pong.params).toEqual(['token']);
      expect(conn.state).toBe('registered');
    });

    test('a line that cannot be handled is skipped (logged), and the next line is handled', async () => {
      const { conn, events, peer } = await registered();
      const c = conn as unknown as { handleMessage(command: string, m: unknown): void };
      const handle = c.handleMessage.bind(c);
      c.handleMessage = (command, m): void => {
        if (command === 'TOPIC') {
          throw new Error('broken');
        }
        handle(command, m);
      };
      peer.send(':op!o@h TOPIC #chan :boom');
      peer.send(':bob!b@h PRIVMSG bot :still here');
      await peer.sync();
      expect(events.map((e) => e.type)).toEqual(['message']);
      expect(conn.state).toBe('registered');
    });
  });

  describe('capabilities after registration', () => {
    test('CAP NEW asks for a wanted capability, CAP DEL of labeled-response goes back to PING', async () => {
      const { conn, peer } = await registered({}, { caps: ['labeled-response'] });
      peer.send(`:${SRV} CAP bot NEW :server-time unknown-cap sasl`);
      const req = await peer.waitFor((l) => l.command === 'CAP' && l.params[0] === 'REQ' && l.params[1] === 'server-time');
      expect(req.params).toEqual(['REQ', 'server-time']); // neither an unknown capability nor SASL again
      peer.send(`:${SRV} CAP bot DEL :labeled-response`);
      await peer.sync();
      const from = peer.received.length;
      const sent = conn.sendAll('PRIVMSG', [['#chan', 'after DEL']]);
      const ping = await peer.waitFor((l) => l.command === 'PING', 2000, from);
      expect(peer.received.slice(from).find((l) => l.command === 'PRIVMSG')?.tags).toEqual({});
      peer.send(`:${SRV} PONG ${SRV} :${ping.params[0] ?? ''}`);
      await expect(sent).resolves.toBe(1);
    });
  });

  describe('closing', () => {
    test('quit() flushes what is queued, sends QUIT with the reason and closes', async () => {
      const { conn, events, peer } = await registered({ sendBurst: 1, sendRate: 20 });
      const from = peer.received.length;
      conn.say('#chan', 'one');
      conn.say('#chan', 'two');
      conn.say('#chan', 'three');
      await conn.quit('going away now', 2000);
      expect(conn.state).toBe('closed');
      await peer.waitClosed();
      const after = peer.received.slice(from).map((l) => l.raw);
      expect(after).toEqual(['PRIVMSG #chan one', 'PRIVMSG #chan two', 'PRIVMSG #chan three', 'QUIT :going away now']);
      expect(events.filter((e) => e.type === 'closed')).toHaveLength(1);
      expect(conn.send('PRIVMSG', ['#chan', 'late'])).toBe(false);
    });

    test('a puppet reads nothing after its QUIT (a stopping bridge\'s other puppets all QUIT at once)', async () => {
      const { conn, events, peer } = await registered({ role: 'puppet', nick: 'alice_m' });
      const quitting = conn.quit('stopping', 1000);
      await peer.waitFor((l) => l.command === 'QUIT', 2000);
      peer.send(':bob!b@h PRIVMSG alice_m :too late');
      peer.send(':carol!c@h QUIT :stopping');
      await new Promise((r) => setTimeout(r, 100));
      peer.drop();
      await quitting;
      expect(events.filter((e) => e.type === 'message')).toEqual([]);
    });

    test('a message sent just before the QUIT is still confirmed by the answer that comes after it', async () => {
      const { conn, peer } = await registered({ role: 'puppet', nick: 'alice_m' });
      const from = peer.received.length;
      const confirmed = conn.sendAll('PRIVMSG', [['#chan', 'last words']]);
      const ping = await peer.waitFor((l) => l.command === 'PING', 2000, from);
      const quitting = conn.quit('stopping', 1000);
      await peer.waitFor((l) => l.command === 'QUIT', 2000, from);
      peer.send(`:fake.irc PONG fake.irc :${ping.params[0] ?? ''}`);
      await expect(confirmed).resolves.toBe(1);
      peer.drop();
      await quitting;
    });

    test('quit() flattens CR/LF/NUL in the reason instead of sending them', async () => {
      const { conn, peer } = await registered();
      await conn.quit('bye\r\nPRIVMSG #chan :injected\0', 1000);
      await peer.waitClosed();
      const quit = peer.linesOf('QUIT');
      expect(quit.map((l) => l.params)).toEqual([['bye  PRIVMSG #chan :injected ']]);
      expect(peer.linesOf('PRIVMSG')).toEqual([]);
    });

    test('quit() on a connection that never connected just closes', async () => {
      const { conn } = make(1);
      await conn.quit('never mind');
      expect(conn.state).toBe('closed');
    });

    test("the server dropping the socket emits 'closed' once and later sends are refused", async () => {
      const { conn, events, peer } = await registered();
      peer.drop();
      await waitUntil(() => events.some((e) => e.type === 'closed'), 2000);
      expect(conn.state).toBe('closed');
      expect(events.filter((e) => e.type === 'closed')).toHaveLength(1);
      expect(events.find((e) => e.type === 'closed')).toEqual({ type: 'closed', reason: expect.any(String), banned: false });
      expect(conn.say('#chan', 'anyone?')).toBe(false);
    });
  });
});

/** Polls `cond` every 10 ms; rejects after `timeoutMs`. */
async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Records every line the connection parses. */
function watchParser(conn: IrcConnection, lines: string[]): void {
  const c = conn as unknown as { parse(line: string): unknown };
  const parse = c.parse.bind(c);
  c.parse = (line: string): unknown => {
    lines.push(line);
    return parse(line);
  };
}
