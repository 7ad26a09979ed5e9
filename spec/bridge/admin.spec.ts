/**
 * The admin room (a user's direct chat with the bot and its commands) and private messages
 * both ways, with the bridge core between a fake homeserver and a fake IRC server.
 */
import { asUserId } from '../../src/ids';
import type { FakeIrcClient } from '../fakes/fake-ircd';
import { BOT, type Fixture, memberEvent, messageEvent, startFixture, until } from './fixture';

const ALICE = '@alice:hs.test';
const ADMIN_ROOM = '!admin:hs.test';
const STATIC = '!static:hs.test';

describe('admin room and private messages', () => {
  let f: Fixture;

  afterEach(async () => {
    await f?.close();
  });

  async function start(o: Parameters<typeof startFixture>[0] = {}): Promise<void> {
    f = await startFixture({ network: { mappings: [{ channel: '#static', room_id: STATIC }] }, ...o });
  }

  /** Alice invites the bot to a direct chat; resolves once the bot said hello there. */
  async function openAdminRoom(): Promise<void> {
    f.push(memberEvent(ADMIN_ROOM, BOT, 'invite', { sender: ALICE, isDirect: true }));
    await until(() => f.sentBy(BOT, ADMIN_ROOM).some((b) => b.includes('admin room')), 'the welcome');
  }

  /** Alice says `text` in her admin room; resolves with the bot's next answer there. */
  async function command(text: string): Promise<string> {
    const before = f.sentBy(BOT, ADMIN_ROOM).length;
    f.push(messageEvent(ADMIN_ROOM, ALICE, text));
    return until(() => f.sentBy(BOT, ADMIN_ROOM)[before], `an answer to ${text}`);
  }

  /** Alice joins the static room: her puppet connects and joins #static. */
  async function alicePuppet(): Promise<FakeIrcClient> {
    f.push(memberEvent(STATIC, ALICE, 'join', { displayname: 'Alice' }));
    const puppet = await f.ircd.client(1);
    await puppet.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#static');
    return puppet;
  }

  test('a direct-chat invite makes the admin room; unknown input gets a pointer to !help', async () => {
    await start();
    await openAdminRoom();
    expect(f.hs.requestsTo('POST', /\/join\//).map((r) => r.query.user_id)).toContain(BOT);
    expect(f.store.getAdminRoom(asUserId(ALICE))).toBe(ADMIN_ROOM);
    const help = await command('!help');
    for (const c of ['!nick', '!join', '!part', '!whois', '!reconnect', '!quit', '!listrooms', '!bridgeversion', '!cmd']) {
      expect(help).toContain(c);
    }
    expect(help).not.toContain('!inspect'); // bridge admins only
    expect(await command('!frobnicate now')).toMatch(/Unknown command !frobnicate/);
    expect(await command('hello bot')).toMatch(/!help/);
    expect(await command('!nick')).toBe('Usage: !nick [network] <nick>');
    expect(await command('!bridgeversion')).toMatch(/^matrix-irc-bridge \S+ \(Node\.js v\d+/);
  });

  test('someone else speaking in the admin room is not obeyed; leaving it forgets it', async () => {
    await start();
    await openAdminRoom();
    const before = f.sentBy(BOT, ADMIN_ROOM).length;
    f.push(messageEvent(ADMIN_ROOM, '@mallory:hs.test', '!quit'));
    await new Promise((r) => setTimeout(r, 200));
    expect(f.sentBy(BOT, ADMIN_ROOM)).toHaveLength(before);
    f.push(memberEvent(ADMIN_ROOM, ALICE, 'leave'));
    await until(() => f.store.getAdminRoom(asUserId(ALICE)) === null, 'the admin room forgotten');
  });

  test('!nick renames a connected puppet; a refused nick is told and the old one stays', async () => {
    await start({ ircd: { nicksInUse: ['Taken'] } });
    const puppet = await alicePuppet();
    await openAdminRoom();
    expect(await command('!nick Alicia')).toBe('You are now Alicia on test.');
    expect(puppet.nick).toBe('Alicia');
    await until(() => f.store.getPuppet(asUserId(ALICE), 'test' as never)?.nick === 'Alicia', 'the nick remembered');
    expect(await command('!nick Taken')).toMatch(/failed: .*already in use/);
    expect(puppet.nick).toBe('Alicia');
    expect(await command('!nick 9lives')).toMatch(/not a valid nick/);
  });

  test('!nick without a connection is remembered for the next one', async () => {
    await start();
    await openAdminRoom();
    expect(await command('!nick Later')).toMatch(/you will be Later/);
    f.push(memberEvent(STATIC, ALICE, 'join', { displayname: 'Alice' }));
    const puppet = await f.ircd.client(1);
    await puppet.waitFor((l) => l.command === 'JOIN');
    expect(puppet.nick).toBe('Later');
  });

  test('!join creates the portal and invites; !listrooms shows the rooms', async () => {
    await start();
    await openAdminRoom();
    f.hs.override('POST', '/_matrix/client/v3/createRoom', { status: 200, body: { room_id: '!news:hs.test' } });
    const answer = (async (): Promise<string> => command('!join #news'))();
    await f.bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#news');
    f.bot.send(':MatrixBridge!m@bridge.host JOIN #news');
    f.bot.numeric('353', '= #news :@MatrixBridge');
    f.bot.numeric('366', '#news :End of /NAMES list.');
    expect(await answer).toMatch(/Invited you to #news \(#test_news:hs\.test\)/);
    expect(f.hs.requestsTo('POST', /\/rooms\/!news%3Ahs\.test\/invite$/).map((r) => r.body)).toEqual([{ user_id: ALICE }]);
    expect(await command('!join news')).toMatch(/not a channel name/);
    await alicePuppet();
    expect(await command('!listrooms')).toMatch(/connected as Alice\[m\][\s\S]*#static: #test_static:hs\.test/);
  });

  test('!cmd sends only allowed commands, with a trailing parameter; nothing unsafe reaches IRC', async () => {
    await start();
    const puppet = await alicePuppet();
    await openAdminRoom();
    expect(await command('!cmd PRIVMSG NickServ :REGISTER hunter2 alice@example.org'))
      .toBe('Sent PRIVMSG to test. Replies from services arrive as direct chats. Your message held a password: the bridge redacted it.');
    const line = await puppet.waitFor((l) => l.command === 'PRIVMSG' && l.params[0] === 'NickServ');
    expect(line.params[1]).toBe('REGISTER hunter2 alice@example.org');
    expect(f.hs.requestsTo('PUT', /\/redact\//).map((r) => r.query.user_id)).toEqual([BOT]);
    // Services repeat the password in their answer: it reaches the direct chat masked.
    f.hs.override('POST', '/_matrix/client/v3/createRoom', { status: 200, body: { room_id: '!ns:hs.test' } });
    puppet.send(':NickServ!services@services.host NOTICE Alice[m] :Alice[m] is now registered to alice@example.org, with the password hunter2.');
    const ns = '@test_nickserv:hs.test';
    await until(() => f.sentBy(ns, '!ns:hs.test').length === 1, 'the answer in the direct chat');
    expect(f.sentBy(ns, '!ns:hs.test')).toEqual(['Alice[m] is now registered to alice@example.org, with the password ********.']);
    expect(await command('!cmd PRIVMSG NickServ :INFO Alice[m]')).toBe('Sent PRIVMSG to test. Replies from services arrive as direct chats.');
    expect(await command('!cmd kill someone :bye')).toMatch(/KILL is not allowed/);
    expect(await command('!cmd MODE #static :+i\u0000x')).toMatch(/cannot be sent/);
    await puppet.sync();
    expect(puppet.linesOf('KILL')).toEqual([]);
    expect(puppet.linesOf('MODE')).toEqual([]);
  });

  test('!storepass stores the password encrypted, redacts the message and reconnects to identify; !removepass forgets', async () => {
    await start();
    const puppet = await alicePuppet();
    await openAdminRoom();
    f.push(messageEvent(ADMIN_ROOM, ALICE, '!storepass alice:hunter2:x'));
    await until(() => f.sentBy(BOT, ADMIN_ROOM).includes(
      'Stored your password for account alice for test; reconnecting you to identify with it.'), 'the answer');
    expect(f.store.getCredentials(asUserId(ALICE), 'test' as never)).toMatchObject({ account: 'alice', password: 'hunter2:x' });
    expect(f.hs.requestsTo('PUT', /\/redact\//).map((r) => r.query.user_id)).toEqual([BOT]);
    expect(f.sentBy(BOT, ADMIN_ROOM).join('\n')).not.toContain('hunter2');
    await puppet.waitClosed(3000); // the old connection quit; a new one identifies
    const again = await f.ircd.client(2);
    await again.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#static');
    await again.waitFor((l) => l.command === 'PRIVMSG' && l.params[0] === 'NickServ' && l.params[1] === 'IDENTIFY alice hunter2:x');
    again.numeric('401', 'NickServ :No such nick/channel'); // this server has no services
    await until(() => f.sentBy(BOT, ADMIN_ROOM).some((b) => b.startsWith('Identifying to test')), 'the failure told');
    expect(await command('!storepass nope\u0000x')).toMatch(/^Nothing stored: the password must be/);
    expect(await command('!removepass')).toBe('Forgot your credentials for test. Your current connection stays as it is.');
    expect(f.store.getCredentials(asUserId(ALICE), 'test' as never)).toBeNull();
    expect(await command('!removepass')).toBe('Nothing removed: no credentials are stored for test.');
  });

  test('!certfp makes one certificate and shows its fingerprint; asking again shows the same', async () => {
    await start({ network: { tls: false } });
    await openAdminRoom();
    const first = await command('!certfp');
    const fp = /([0-9A-F]{2}(?::[0-9A-F]{2}){31})/.exec(first)?.[1];
    expect(fp).toBeDefined();
    expect(first).toContain(`CERT ADD ${(fp ?? '').replace(/:/g, '').toLowerCase()}`);
    expect(first).toMatch(/without TLS/);
    const stored = f.store.getCredentials(asUserId(ALICE), 'test' as never);
    expect(stored?.clientCert?.certificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(f.sentBy(BOT, ADMIN_ROOM).join('\n')).not.toMatch(/PRIVATE KEY/);
    expect(await command('!certfp')).toContain(fp as string);
  });

  test('!part takes the user out of the room; !reconnect reconnects; !quit leaves IRC and the rooms', async () => {
    await start();
    const puppet = await alicePuppet();
    await openAdminRoom();
    expect(await command('!part #elsewhere')).toBe('You are not in a bridged room of #elsewhere on test.');
    expect(await command('!reconnect')).toBe('Reconnected to test as Alice[m].');
    await puppet.waitClosed(3000);
    const again = await f.ircd.client(2);
    await again.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#static');
    expect(await command('!part #STATIC')).toBe('You left #STATIC.');
    const kicks = f.hs.requestsTo('POST', /\/rooms\/!static%3Ahs\.test\/kick$/);
    expect(kicks.map((r) => [r.query.user_id, r.body])).toEqual([[BOT, { user_id: ALICE, reason: 'Left the channel with !part' }]]);
    // the puppet parts and, in no channel now, quits; the membership is forgotten
    expect((await again.waitForCommand('PART', 3000)).params[0]).toBe('#static');
    await again.waitForCommand('QUIT', 3000);
    expect(f.store.getMember(STATIC as never, asUserId(ALICE))).toBeNull();
    expect(await command('!quit')).toBe('You left test.');
    expect(await command('!reconnect')).toMatch(/You have no connection to test/);
  });

  test('with two networks a command must name one; a network that does not exist is refused', async () => {
    await start({ extraNetworks: { other: {} } });
    await openAdminRoom();
    expect(await command('!listrooms')).toBe('Which network? Say !listrooms <network> ..., one of: test, other.');
    expect(await command('!listrooms other')).toMatch(/^other: not connected\./);
    expect(await command('!storepass nowhere hunter2')).toBe('Which network? Say !storepass <network> ..., one of: test, other.');
    expect(await command('!storepass test nowhere hunter2')).toMatch(/^Nothing stored: there is no network "nowhere"/);
    expect(f.store.getCredentials(asUserId(ALICE), 'test' as never)).toBeNull();
  });

  test('!disconnect by a bridge admin drops a user\'s puppet', async () => {
    await start({ bridge: { bridgeAdmins: ['^@alice:hs\\.test$'] } });
    const puppet = await alicePuppet();
    await openAdminRoom();
    expect(await command('!disconnect @alice:hs.test spamming')).toBe(
      'Disconnected @alice:hs.test from test. They reconnect when they next speak.');
    expect((await puppet.waitForCommand('QUIT', 3000)).params[0]).toBe('spamming');
    expect(await command('!disconnect @nobody:hs.test')).toBe('@nobody:hs.test has no connection to test.');
  });

  test('!whois asks the server through the bot and says who is behind a puppet nick', async () => {
    await start();
    await alicePuppet();
    await openAdminRoom();
    const answer = (async (): Promise<string> => command('!whois ircbob'))();
    await f.bot.waitFor((l) => l.command === 'WHOIS' && l.params[0] === 'ircbob');
    f.bot.numeric('311', 'ircbob bob irc.host * :Bob Example');
    f.bot.numeric('319', 'ircbob :@#static');
    f.bot.numeric('318', 'ircbob :End of /WHOIS list.');
    expect(await answer).toBe('ircbob is bob@irc.host (Bob Example), in @#static. Matrix: @test_ircbob:hs.test.');
    expect(await command('!whois Alice[m]')).toBe('Alice[m] is the Matrix user @alice:hs.test, bridged.');
    const gone = (async (): Promise<string> => command('!whois nobody'))();
    await f.bot.waitFor((l) => l.command === 'WHOIS' && l.params[0] === 'nobody');
    f.bot.numeric('401', 'nobody :No such nick/channel');
    f.bot.numeric('318', 'nobody :End of /WHOIS list.');
    expect(await gone).toBe('nobody is not on test.');
  });

  test('administrator commands are for bridge admins only', async () => {
    await start({ bridge: { bridgeAdmins: ['^@alice:hs\\.test$'] } });
    await alicePuppet();
    await openAdminRoom();
    expect(await command('!help')).toContain('!inspect');
    expect(await command('!inspect Alice[m]')).toMatch(/^@alice:hs\.test on test: connected as Alice\[m\]; channels #static/);
    // a second user, not an admin
    f.push(memberEvent('!bob-admin:hs.test', BOT, 'invite', { sender: '@bob:hs.test', isDirect: true }));
    await until(() => f.sentBy(BOT, '!bob-admin:hs.test').length > 0, 'bob\'s welcome');
    f.push(messageEvent('!bob-admin:hs.test', '@bob:hs.test', '!disconnect @alice:hs.test'));
    await until(() => f.sentBy(BOT, '!bob-admin:hs.test').some((b) => b.includes('Unknown command !disconnect')), 'refusal');
  });

  test('an IRC user\'s private message opens one direct chat, reused for the next', async () => {
    await start();
    const puppet = await alicePuppet();
    f.hs.override('POST', '/_matrix/client/v3/createRoom', { status: 200, body: { room_id: '!pm:hs.test' } });
    puppet.send(':ircbob!bob@irc.host PRIVMSG Alice[m] :psst, alice');
    puppet.send(':ircbob!bob@irc.host PRIVMSG Alice[m] :\x01ACTION waves\x01');
    const ghost = '@test_ircbob:hs.test';
    await until(() => f.sentBy(ghost, '!pm:hs.test').length === 2, 'both messages in the direct chat');
    const creates = f.hs.requestsTo('POST', '/_matrix/client/v3/createRoom');
    expect(creates).toHaveLength(1);
    expect(creates[0]?.query.user_id).toBe(ghost);
    expect(creates[0]?.body).toMatchObject({ is_direct: true, invite: [ALICE], preset: 'trusted_private_chat' });
    expect(f.sentBy(ghost, '!pm:hs.test')).toEqual(['psst, alice', 'waves']);
    // the channel's room got nothing
    expect(f.sentBy(ghost, STATIC)).toEqual([]);
  });

  test('a Matrix user\'s direct chat with a ghost goes to the nick as PRIVMSG; a nick not on IRC is told', async () => {
    await start();
    const puppet = await alicePuppet();
    const ghost = '@test_ircbob:hs.test';
    f.push(memberEvent('!dm:hs.test', ghost, 'invite', { sender: ALICE, isDirect: true }));
    await until(() => f.store.getPmRoomById('!dm:hs.test' as never) !== null, 'the direct chat recorded');
    expect(f.hs.requestsTo('POST', /\/join\//).some((r) => r.query.user_id === ghost)).toBe(true);
    f.push(messageEvent('!dm:hs.test', ALICE, 'hi bob'));
    const line = await puppet.waitFor((l) => l.command === 'PRIVMSG' && l.params[0] === 'ircbob');
    expect(line.params[1]).toBe('hi bob');
    puppet.numeric('401', 'ircbob :No such nick/channel');
    await until(() => f.sentBy(ghost, '!dm:hs.test').some((b) => b.includes('ircbob is not on IRC right now')), 'the notice');
    // a password for services is redacted by the ghost (the fake homeserver lets it) and masked
    // in the answer
    const nsGhost = '@test_nickserv:hs.test';
    f.push(memberEvent('!nsdm:hs.test', nsGhost, 'invite', { sender: ALICE, isDirect: true }));
    await until(() => f.store.getPmRoomById('!nsdm:hs.test' as never) !== null, 'the direct chat with NickServ');
    f.push(messageEvent('!nsdm:hs.test', ALICE, 'IDENTIFY alice hunter2'));
    await puppet.waitFor((l) => l.command === 'PRIVMSG' && l.params[0]?.toLowerCase() === 'nickserv' && l.params[1] === 'IDENTIFY alice hunter2');
    await until(() => f.hs.requestsTo('PUT', /\/rooms\/!nsdm%3Ahs\.test\/redact\//).length === 1, 'the redaction');
    expect(f.hs.requestsTo('PUT', /\/rooms\/!nsdm%3Ahs\.test\/redact\//)[0]?.query.user_id).toBe(nsGhost);
    puppet.send(':NickServ!services@services.host NOTICE Alice[m] :Invalid password hunter2 for alice.');
    await until(() => f.sentBy(nsGhost, '!nsdm:hs.test').length === 1, 'the answer');
    expect(f.sentBy(nsGhost, '!nsdm:hs.test')).toEqual(['Invalid password ******** for alice.']);
    // to anyone else, words like these are conversation: nothing redacted
    f.push(messageEvent('!dm:hs.test', ALICE, 'register now, bob'));
    await puppet.waitFor((l) => l.command === 'PRIVMSG' && l.params[0] === 'ircbob' && l.params[1] === 'register now, bob');
    expect(f.hs.requestsTo('PUT', /\/rooms\/!dm%3Ahs\.test\/redact\//)).toEqual([]);
    // someone else in that room does not speak for alice
    f.push(messageEvent('!dm:hs.test', '@mallory:hs.test', 'as mallory'));
    await new Promise((r) => setTimeout(r, 200));
    expect(puppet.linesOf('PRIVMSG').filter((l) => l.params[1] === 'as mallory')).toEqual([]);
  });

  test('a message in a direct chat that the homeserver never sent is found by a catch-up', async () => {
    await start({ bridge: { catchUpMaxAgeMs: 600_000, catchUpDelayMs: 20, probeIntervalMs: 60_000 } });
    const puppet = await alicePuppet();
    const ghost = '@test_ircbob:hs.test';
    f.push(memberEvent('!dm:hs.test', ghost, 'invite', { sender: ALICE, isDirect: true }));
    f.push(messageEvent('!dm:hs.test', ALICE, 'first'));
    await puppet.waitFor((l) => l.command === 'PRIVMSG' && l.params[1] === 'first');
    await until(() => f.hs.requestsTo('GET', /\/messages$/).length > 0, 'the start catch-up');
    await f.bridge.catchUp.idle();
    const missed = messageEvent('!dm:hs.test', ALICE, 'missed');
    f.hs.on('GET', /\/rooms\/!dm%3Ahs\.test\/messages$/, { status: 200, body: { chunk: [missed,
      { ...messageEvent('!dm:hs.test', ALICE, 'ancient'), origin_server_ts: Date.now() - 3_600_000 }], end: 'next' } });
    f.bridge.acceptTransaction('10', []);
    f.bridge.acceptTransaction('12', []); // 11 never came: catch up
    const line = await puppet.waitFor((l) => l.command === 'PRIVMSG' && l.params[1] === 'missed', 3000);
    expect(line.params[0]).toBe('ircbob');
    expect(puppet.linesOf('PRIVMSG').map((l) => l.params[1])).not.toContain('ancient');
  });

  test('a network ban is told in the admin room, which the bridge opens when there is none', async () => {
    await start();
    const puppet = await alicePuppet();
    f.hs.override('POST', '/_matrix/client/v3/createRoom', { status: 200, body: { room_id: '!opened:hs.test' } });
    puppet.send('ERROR :Closing link: (alice@bridge.host) [K-Lined: spam]');
    puppet.drop();
    await until(() => f.sentBy(BOT, '!opened:hs.test').some((b) => b.includes('banned your connection: ') &&
      b.includes('K-Lined: spam') && b.includes('!reconnect')), 'the ban in the admin room');
    const create = f.hs.requestsTo('POST', '/_matrix/client/v3/createRoom').find((r) => r.query.user_id === BOT);
    expect(create?.body).toMatchObject({ is_direct: true, invite: [ALICE] });
    expect(f.store.getAdminRoom(asUserId(ALICE))).toBe('!opened:hs.test');
  });
});
