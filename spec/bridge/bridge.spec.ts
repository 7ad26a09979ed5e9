/**
 * The bridge core in one process between a recording fake homeserver and a scripted fake IRC
 * server: routing, ordering, echo suppression, puppets and ghosts, without real servers.
 */
import { Bridge } from '../../src/bridge/bridge';
import type { BridgeContext } from '../../src/bridge/context';
import { parseConfig, type Config } from '../../src/config';
import { asUserId } from '../../src/ids';
import { configureLogging } from '../../src/log';
import { SqliteStore } from '../../src/store/sqlite';
import { FakeHomeserver, type RecordedRequest } from '../fakes/fake-homeserver';
import { type FakeIrcClient, FakeIrcd } from '../fakes/fake-ircd';
import { specContext, until } from './fixture';

const ROOM = '!portal:hs.test';
const STATIC_ROOM = '!static:hs.test';
const BOT = '@ircbridge:hs.test';
const ALICE = '@alice:hs.test';

let txnCounter = 0;
let eventCounter = 0;

function member(roomId: string, userId: string, membership: string, displayname?: string, prev?: string): unknown {
  return {
    type: 'm.room.member', room_id: roomId, sender: userId, state_key: userId, event_id: `$e${++eventCounter}`,
    origin_server_ts: Date.now(), content: { membership, ...(displayname ? { displayname } : {}) },
    ...(prev ? { unsigned: { prev_content: { membership: prev } } } : {}),
  };
}

function message(roomId: string, userId: string, content: Record<string, unknown>): unknown {
  return { type: 'm.room.message', room_id: roomId, sender: userId, event_id: `$e${++eventCounter}`,
    origin_server_ts: Date.now(), content };
}

describe('Bridge (fake homeserver, fake IRC server)', () => {
  let hs: FakeHomeserver;
  let ircd: FakeIrcd;
  let store: SqliteStore;
  let bridge: Bridge;
  let bot: FakeIrcClient;
  let config: Config;
  let ctx: BridgeContext;

  function push(...events: unknown[]): string {
    const txnId = `t${++txnCounter}`;
    if (bridge.acceptTransaction(txnId, events)) {
      bridge.afterTransaction();
    }
    return txnId;
  }

  const sends = (): RecordedRequest[] => hs.requestsTo('PUT', /\/send\/m\.room\.message\//);

  beforeEach(async () => {
    configureLogging({ level: process.env.SPEC_LOG ? 'debug' : 'error', sink: { write: (l: string) => { if (process.env.SPEC_LOG) process.stderr.write(l); } } });
    hs = new FakeHomeserver();
    hs.on('POST', '/_matrix/client/v3/register', { status: 200, body: {} })
      .on('PUT', /\/profile\//, { status: 200, body: {} })
      .on('POST', /\/join\//, { status: 200, body: { room_id: ROOM } })
      .on('POST', /\/(leave|invite|kick)$/, { status: 200, body: {} })
      .on('POST', '/_matrix/client/v3/createRoom', { status: 200, body: { room_id: ROOM } })
      .on('PUT', /\/send\//, { status: 200, body: { event_id: '$sent' } })
      .on('PUT', /\/state\//, { status: 200, body: { event_id: '$state' } })
      .on('GET', /\/joined_members$/, { status: 200, body: { joined: { [BOT]: {} } } })
      .on('POST', '/_matrix/media/v3/upload', { status: 200, body: { content_uri: 'mxc://hs.test/longtext' } });
    const hsUrl = await hs.listen();
    ircd = new FakeIrcd({ nicksInUse: ['Taken[m]'], nicksErroneous: ['Evil[m]', 'evil[m]'] });
    const port = await ircd.listen();
    config = parseConfig({
      homeserver: { url: hsUrl, domain: 'hs.test', media_url: 'https://media.hs.test' },
      networks: {
        test: {
          host: '127.0.0.1', port, send_burst: 100, send_rate: 100, connect_timeout_ms: 3000, netsplit_debounce_ms: 300,
          nick_regain_interval_ms: 1000,
          mappings: [{ channel: '#static', room_id: STATIC_ROOM }],
        },
      },
    });
    store = new SqliteStore(':memory:');
    ctx = specContext(hsUrl, store);
    bridge = new Bridge(ctx, config.networks);
    await bridge.start();
    bot = await ircd.client(0);
    await bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#static');
  });

  afterEach(async () => {
    await bridge.stop('test over');
    await ircd.close();
    await hs.close();
    store.close();
  });

  /** The bot answers a JOIN as a server would: echo, topic, NAMES. */
  function serverJoin(channel: string, names: string, topic?: string): void {
    bot.send(`:MatrixBridge!matrixbri@bridge.host JOIN ${channel}`);
    if (topic) {
      bot.numeric('332', `${channel} :${topic}`);
    }
    bot.numeric('353', `= ${channel} :${names}`);
    bot.numeric('366', `${channel} :End of /NAMES list.`);
  }

  async function portal(): Promise<void> {
    const created = bridge.queryAlias('#test_lobby:hs.test');
    await bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
    serverJoin('#lobby', '@MatrixBridge ircbob +carol', 'Welcome to the lobby');
    expect(await created).toBe(true);
  }

  async function alicePuppet(): Promise<FakeIrcClient> {
    push(member(ROOM, ALICE, 'join', 'Alice'));
    const puppet = await ircd.client(1);
    await puppet.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
    return puppet;
  }

  test('the bot joins statically mapped channels and rooms, and states the bridge in the room', async () => {
    expect(hs.requestsTo('POST', `/_matrix/client/v3/join/${encodeURIComponent(STATIC_ROOM)}`)).toHaveLength(1);
    const state = hs.requestsTo('PUT', /\/state\/m\.bridge\//);
    expect(state).toHaveLength(1);
    expect(state[0]?.body).toMatchObject({ bridgebot: BOT, network: { id: 'test' }, channel: { id: '#static' } });
  });

  test('an alias query creates the portal room named after the channel, with its topic and ghosts from NAMES', async () => {
    await portal();
    const create = hs.requestsTo('POST', '/_matrix/client/v3/createRoom');
    expect(create).toHaveLength(1);
    expect(create[0]?.body).toMatchObject({ room_alias_name: 'test_lobby', name: '#lobby', topic: 'Welcome to the lobby' });
    expect(create[0]?.query.user_id).toBe(BOT);
    const joins = await until(() => {
      const j = hs.requestsTo('POST', /\/join\//).map((r) => r.query.user_id);
      return j.includes('@test_ircbob:hs.test') && j.includes('@test_carol:hs.test') ? j : null;
    }, 'ghost joins');
    expect(joins).not.toContain('@test_matrixbridge:hs.test');
    expect(store.getMappingByRoom(ROOM as never)).toMatchObject({ network: 'test', channel: '#lobby', origin: 'alias' });
    const displayNames = hs.requestsTo('PUT', /\/profile\//).map((r) => (r.body as { displayname: string }).displayname);
    expect(displayNames).toEqual(expect.arrayContaining(['ircbob', 'carol']));
  });

  test('an alias that is not a portal alias, or a channel the bot cannot join, gives no room', async () => {
    expect(await bridge.queryAlias('#other_lobby:hs.test')).toBe(false);
    expect(await bridge.queryAlias('#test_lobby:elsewhere.test')).toBe(false);
    const refused = bridge.queryAlias('#test_banned:hs.test');
    await bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#banned');
    bot.numeric('474', '#banned :Cannot join channel (+b)');
    expect(await refused).toBe(false);
    expect(hs.requestsTo('POST', '/_matrix/client/v3/createRoom')).toHaveLength(0);
  });

  test('a Matrix user joining gets a puppet with a clean nick and the Matrix ID as realname', async () => {
    await portal();
    const puppet = await alicePuppet();
    expect(puppet.nick).toBe('Alice[m]');
    const user = puppet.linesOf('USER')[0];
    expect(user?.params[3]).toBe(ALICE);
    expect(store.getPuppet(asUserId(ALICE), 'test' as never)?.nick).toBe('Alice[m]');
  });

  test('a joining user whose first connection fails is told, and a retry joins the channel with no new event', async () => {
    await portal();
    push(member(ROOM, ALICE, 'join', 'Alice'));
    const first = await ircd.client(1);
    first.drop(); // before it registers
    const told = await until(() => sends().find((r) => r.query.user_id === BOT &&
      /could not connect you to IRC/.test((r.body as { body?: string }).body ?? '')), 'the user told');
    expect((told.body as { body: string }).body).toMatch(/keeps trying/);
    const retry = await ircd.client(2, 5000); // after a backoff of 0.5 to 1.5 s
    await retry.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby', 3000);
    expect(retry.nick).toBe('Alice[m]');
  });

  test('a taken nick gets a numbered alternative that keeps the suffix', async () => {
    await portal();
    push(member(ROOM, '@taken:hs.test', 'join', 'Taken'));
    const puppet = await ircd.client(1);
    await puppet.waitFor((l) => l.command === 'JOIN');
    expect(puppet.nick).toBe('Taken1[m]');
  });

  test('a nick the server calls erroneous falls back to the localpart, then to a safe stem', async () => {
    await portal();
    push(member(ROOM, '@evil:hs.test', 'join', 'Evil'));
    const puppet = await ircd.client(1);
    await puppet.waitFor((l) => l.command === 'JOIN');
    expect(puppet.linesOf('NICK').map((l) => l.params[0])).toEqual(['Evil[m]', 'evil[m]', 'matrix[m]']);
    expect(puppet.nick).toBe('matrix[m]');
  });

  test('an enormous message becomes one IRC line with a link', async () => {
    await portal();
    const puppet = await alicePuppet();
    const body = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'é'.repeat(40)}`).join('\n');
    push(message(ROOM, ALICE, { msgtype: 'm.text', body }));
    const line = await puppet.waitForCommand('PRIVMSG', 10_000);
    expect(line.params[1]).toMatch(/^line 0 é+ \(full message: https:\/\/media\.hs\.test\//);
    expect(hs.requestsTo('POST', '/_matrix/media/v3/upload')[0]?.rawBody).toBe(body);
  });

  test('messages, emotes, notices and formatting go out as the puppet', async () => {
    await portal();
    const puppet = await alicePuppet();
    push(
      message(ROOM, ALICE, { msgtype: 'm.text', body: 'hello' }),
      message(ROOM, ALICE, { msgtype: 'm.emote', body: 'waves' }),
      message(ROOM, ALICE, { msgtype: 'm.notice', body: 'note' }),
      message(ROOM, ALICE, { msgtype: 'm.text', body: 'bold', format: 'org.matrix.custom.html', formatted_body: '<b>bold</b> move' }),
    );
    await puppet.waitFor((l) => l.raw.includes('move'));
    const out = puppet.received.filter((l) => l.command === 'PRIVMSG' || l.command === 'NOTICE').map((l) => l.raw);
    expect(out).toEqual([
      'PRIVMSG #lobby hello',
      'PRIVMSG #lobby :\x01ACTION waves\x01',
      'NOTICE #lobby note',
      'PRIVMSG #lobby :\x02bold\x02 move',
    ]);
  });

  test('a reply names the IRC user it answers, without the quoted fallback; an edit is one line', async () => {
    await portal();
    const puppet = await alicePuppet();
    bot.send(':ircbob!bob@irc.host PRIVMSG #lobby :question?');
    await until(() => sends().find((r) => r.query.user_id === '@test_ircbob:hs.test'), 'ghost message');
    push(
      message(ROOM, ALICE, {
        msgtype: 'm.text', body: '> <@test_ircbob:hs.test> question?\n\nanswer',
        'm.relates_to': { 'm.in_reply_to': { event_id: '$q' } },
      }),
      message(ROOM, ALICE, {
        msgtype: 'm.text', body: '* answer!', 'm.new_content': { msgtype: 'm.text', body: 'answer!\nsecond line' },
        'm.relates_to': { rel_type: 'm.replace', event_id: '$a' },
      }),
    );
    await puppet.waitFor((l) => l.raw.includes('answer!'));
    expect(puppet.linesOf('PRIVMSG').map((l) => l.params[1])).toEqual(['ircbob: answer', '* answer!']);
  });

  test('CR, LF and NUL in a Matrix message never reach an IRC line', async () => {
    await portal();
    const puppet = await alicePuppet();
    push(message(ROOM, ALICE, { msgtype: 'm.text', body: 'one\r\nQUIT :pwned\0 two' }));
    await puppet.waitFor((l) => l.raw.includes('two'));
    expect(puppet.linesOf('QUIT')).toHaveLength(0);
    const lines = puppet.linesOf('PRIVMSG').map((l) => l.params[1]);
    expect(lines).toEqual(['one', 'QUIT :pwned two']);
  });

  test('a message longer than max_lines is uploaded and IRC gets the first line and a link', async () => {
    await portal();
    const puppet = await alicePuppet();
    push(message(ROOM, ALICE, { msgtype: 'm.text', body: 'first\nsecond\nthird\nfourth\nfifth' }));
    const line = await puppet.waitForCommand('PRIVMSG');
    expect(line.params[1]).toBe('first (full message: https://media.hs.test/_matrix/media/v3/download/hs.test/longtext)');
    const upload = hs.requestsTo('POST', '/_matrix/media/v3/upload');
    expect(upload[0]?.rawBody).toBe('first\nsecond\nthird\nfourth\nfifth');
    await puppet.sync();
    expect(puppet.linesOf('PRIVMSG')).toHaveLength(1);
  });

  test('IRC messages arrive as the ghost with server-time, and a puppet nick becomes a pill', async () => {
    await portal();
    await alicePuppet();
    bot.send('@time=2026-01-02T03:04:05.678Z :ircbob!bob@irc.host PRIVMSG #lobby :Alice[m]: \x02hi\x02 there');
    const sent = await until(() => sends().find((r) => r.query.user_id === '@test_ircbob:hs.test'), 'ghost message');
    expect(sent.query.ts).toBe(String(Date.parse('2026-01-02T03:04:05.678Z')));
    const content = sent.body as Record<string, unknown>;
    expect(content.body).toBe('Alice[m]: hi there');
    expect(content.formatted_body).toContain(`<a href="https://matrix.to/#/${ALICE}">Alice</a>`);
    expect(content.formatted_body).toContain('<b>hi</b>');
    expect(content['m.mentions']).toEqual({ user_ids: [ALICE] });
  });

  test('lines from our own puppets and bot are not bridged back, nor are unbridged channels', async () => {
    await portal();
    await alicePuppet();
    bot.send(':Alice[m]!alice@bridge.host PRIVMSG #lobby :echo of alice');
    bot.send(':MatrixBridge!matrixbri@bridge.host PRIVMSG #lobby :bot talk');
    bot.send(':ircbob!bob@irc.host PRIVMSG #elsewhere :not bridged');
    bot.send(':ircbob!bob@irc.host PRIVMSG #lobby :marker');
    await until(() => sends().find((r) => (r.body as { body?: string }).body === 'marker'), 'marker');
    expect(sends().map((r) => (r.body as { body?: string }).body)).toEqual(['marker']);
  });

  test('IRC JOIN, PART, QUIT and NICK move and rename ghosts', async () => {
    await portal();
    bot.send(':dave!d@irc.host JOIN #lobby');
    await until(() => hs.requestsTo('POST', /\/join\//).find((r) => r.query.user_id === '@test_dave:hs.test'), 'dave joins');
    bot.send(':dave!d@irc.host NICK :David');
    await until(() => hs.requestsTo('PUT', /\/profile\/%40test_dave/).find((r) => (r.body as { displayname: string }).displayname === 'David'),
      'rename');
    bot.send(':David!d@irc.host PART #lobby :bye');
    const leave = await until(() => hs.requestsTo('POST', /\/leave$/).find((r) => r.query.user_id === '@test_dave:hs.test'), 'dave leaves');
    expect((leave.body as { reason: string }).reason).toContain('bye');
    bot.send(':ircbob!bob@irc.host QUIT :Ping timeout');
    await until(() => hs.requestsTo('POST', /\/leave$/).find((r) => r.query.user_id === '@test_ircbob:hs.test'), 'bob quits');
  });

  test('an IRC user who takes a nick another user left gets a ghost of their own', async () => {
    await portal();
    bot.send(':ircbob!bob@irc.host NICK :robert');
    await until(() => hs.requestsTo('PUT', /\/profile\/%40test_ircbob/).find((r) =>
      (r.body as { displayname: string }).displayname === 'robert'), 'rename');
    bot.send(':ircbob!other@elsewhere JOIN #lobby');
    const join = await until(() => hs.requestsTo('POST', /\/join\//).find((r) => r.query.user_id?.startsWith('@test_ircbob.')),
      'a new ghost for the new ircbob');
    expect(join.query.user_id).toBe('@test_ircbob.2:hs.test');
    bot.send(':robert!bob@irc.host PRIVMSG #lobby :still me');
    const sent = await until(() => sends().find((r) => (r.body as { body?: string }).body === 'still me'), 'message');
    expect(sent.query.user_id).toBe('@test_ircbob:hs.test');
  });

  test('a repeated transaction is processed once; a malformed event does not stop the others', async () => {
    await portal();
    const puppet = await alicePuppet();
    const events = [{ type: 'm.room.message', room_id: ROOM }, 'junk',
      message(ROOM, ALICE, { msgtype: 'm.text', body: 'only once' })];
    expect(bridge.acceptTransaction('dup', events)).toBe(true);
    bridge.afterTransaction();
    expect(bridge.acceptTransaction('dup', events)).toBe(false);
    await puppet.waitFor((l) => l.raw.includes('only once'));
    await puppet.sync();
    expect(puppet.received.filter((l) => l.raw.includes('only once'))).toHaveLength(1);
    await until(() => store.listInboundEvents().length === 0, 'inbound events handled');
  });

  test('a transaction ID the homeserver reuses for new events (after its restart) is not taken for a retry', async () => {
    await portal();
    const puppet = await alicePuppet();
    const first = [message(ROOM, ALICE, { msgtype: 'm.text', body: 'before restart' })];
    expect(bridge.acceptTransaction('1', first)).toBe(true);
    bridge.afterTransaction();
    expect(bridge.acceptTransaction('1', first)).toBe(false);
    expect(bridge.acceptTransaction('1', [message(ROOM, ALICE, { msgtype: 'm.text', body: 'after restart' })])).toBe(true);
    bridge.afterTransaction();
    await puppet.waitFor((l) => l.raw.includes('after restart'));
    expect(puppet.linesOf('PRIVMSG').map((l) => l.params[1])).toEqual(['before restart', 'after restart']);
  });

  test('leaving the last bridged room parts the channel and quits the puppet', async () => {
    await portal();
    const puppet = await alicePuppet();
    push(member(ROOM, ALICE, 'leave', undefined, 'join'));
    await puppet.waitForCommand('PART');
    await puppet.waitForCommand('QUIT');
    await puppet.waitClosed();
    expect(store.listMembers(ROOM as never)).toHaveLength(0);
  });

  test('a channel that refuses the puppet tells the user in the room', async () => {
    await portal();
    const puppet = await alicePuppet();
    puppet.numeric('474', '#lobby :Cannot join channel (+b)');
    const notice = await until(() => sends().find((r) => r.query.user_id === BOT), 'notice');
    expect((notice.body as { msgtype: string; body: string }).msgtype).toBe('m.notice');
    expect((notice.body as { body: string }).body).toContain('Cannot join channel (+b)');
  });

  describe('reliability', () => {
    const bodies = (): string[] => sends().filter((r) => r.query.user_id === '@test_ircbob:hs.test')
      .map((r) => (r.body as { body: string }).body);

    test('while the homeserver answers errors, IRC messages wait and then arrive in order, once each', async () => {
      await portal();
      hs.override('PUT', /\/send\/m\.room\.message\//, { status: 502, body: {} }, { status: 502, body: {} },
        { status: 503, body: {} }, { status: 500, body: {} }, { status: 200, body: { event_id: '$late' } });
      for (let i = 1; i <= 5; i++) {
        bot.send(`:ircbob!bob@irc.host PRIVMSG #lobby :n${i}`);
      }
      await until(() => bodies().filter((b) => b === 'n5').length > 0, 'all delivered', 15_000);
      const accepted = hs.requestsTo('PUT', /\/send\/m\.room\.message\//).filter((r, i, all) =>
        all.indexOf(r) >= 4 && r.query.user_id === '@test_ircbob:hs.test').map((r) => (r.body as { body: string }).body);
      expect(accepted).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
      // Every attempt at n1 used one transaction ID, so a homeserver that stored an attempt whose
      // answer was lost takes the next one for the same event; each message has its own.
      const txnOf = (r: RecordedRequest): string => r.path.split('/').pop() as string;
      const ofBob = hs.requestsTo('PUT', /\/send\/m\.room\.message\//).filter((r) => r.query.user_id === '@test_ircbob:hs.test');
      expect(new Set(ofBob.slice(0, 5).map(txnOf)).size).toBe(1);
      expect(new Set(ofBob.slice(4).map(txnOf)).size).toBe(5);
      // The last row leaves the store once the homeserver's answer is back.
      await until(() => store.countOutbox() === 0, 'the outbox to empty');
    }, 20_000);

    test('what the homeserver has not accepted survives a restart of the bridge', async () => {
      await portal();
      hs.override('PUT', /\/send\/m\.room\.message\//, { status: 500, body: {} });
      bot.send(':ircbob!bob@irc.host PRIVMSG #lobby :kept 1');
      bot.send(':ircbob!bob@irc.host PRIVMSG #lobby :kept 2');
      await until(() => store.countOutbox() === 2 && hs.requestsTo('PUT', /\/send\//).length > 0, 'queued');
      await bridge.stop('restart');
      expect(store.countOutbox()).toBe(2);
      hs.override('PUT', /\/send\/m\.room\.message\//, { status: 200, body: { event_id: '$ok' } });
      const before = sends().length;
      bridge = new Bridge(ctx, config.networks);
      await bridge.start();
      await until(() => store.countOutbox() === 0, 'outbox drained');
      expect(sends().slice(before).map((r) => (r.body as { body: string }).body)).toEqual(['kept 1', 'kept 2']);
      // After the restart, the same transaction IDs as before it.
      const txnOf = (r: RecordedRequest): string => r.path.split('/').pop() as string;
      const firstTry = hs.requestsTo('PUT', /\/send\/m\.room\.message\//).find((r) => (r.body as { body: string }).body === 'kept 1');
      expect(txnOf(sends()[before] as RecordedRequest)).toBe(txnOf(firstTry as RecordedRequest));
    });

    test('a netsplit QUIT keeps the ghost while its user comes back; others leave after the debounce', async () => {
      await portal();
      const leaves = (): Array<string | undefined> => hs.requestsTo('POST', /\/leave$/).map((r) => r.query.user_id);
      bot.send(':ircbob!bob@irc.host QUIT :hub.example.net leaf.example.net');
      bot.send(':carol!c@irc.host QUIT :hub.example.net leaf.example.net');
      await bot.sync();
      expect(leaves()).toEqual([]);
      bot.send(':ircbob!bob@irc.host JOIN #lobby');
      await until(() => leaves().includes('@test_carol:hs.test'), 'carol leaves');
      await new Promise((r) => setTimeout(r, 400));
      expect(leaves()).toEqual(['@test_carol:hs.test']);
    });

    test('a dropped puppet reconnects and rejoins; a message sent meanwhile arrives after it', async () => {
      await portal();
      const puppet = await alicePuppet();
      puppet.drop();
      push(message(ROOM, ALICE, { msgtype: 'm.text', body: 'sent during the outage' }));
      const again = await ircd.client(2, 5000);
      await again.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
      const line = await again.waitForCommand('PRIVMSG');
      expect(line.params[1]).toBe('sent during the outage');
      expect(again.nick).toBe('Alice[m]');
    });

    test('a puppet that reconnects on a stand-in nick takes its own back, without telling anyone', async () => {
      await portal();
      const puppet = await alicePuppet();
      const inUse = (ircd as unknown as { opts: { nicksInUse: string[] } }).opts.nicksInUse;
      inUse.push('Alice[m]');
      puppet.drop();
      const again = await ircd.client(2, 5000);
      await again.waitFor((l) => l.command === 'JOIN');
      expect(again.nick).toBe('Alice1[m]');
      await again.waitFor((l) => l.command === 'NICK' && l.params[0] === 'Alice[m]', 3000);
      inUse.splice(inUse.indexOf('Alice[m]'), 1);
      await until(() => again.nick === 'Alice[m]', 'nick regained', 4000);
      await until(() => store.getPuppet(asUserId(ALICE), 'test' as never)?.nick === 'Alice[m]', 'the nick remembered');
      expect(sends().filter((r) => r.query.user_id === BOT)).toEqual([]);
    });

    test('after a restart the users who spoke most recently reconnect first, one attempt at a time', async () => {
      await bridge.stop('restart');
      // u1 never spoke (0), the others at different times; listed in user-ID order in the store
      const activity = [0, 3000, 1000, 5000, 2000];
      activity.forEach((at, i) => {
        const userId = asUserId(`@u${i + 1}:hs.test`);
        store.savePuppet({ userId, network: 'test' as never, nick: `U${i + 1}[m]` as never, username: `u${i + 1}` });
        store.setPuppetActivity(userId, 'test' as never, at);
        store.addMember({ roomId: STATIC_ROOM as never, userId, displayName: `U${i + 1}` });
      });
      const first = ircd.clients.length;
      bridge = new Bridge(ctx, { test: { ...config.networks.test, max_concurrent_connects: 1 } } as Config['networks']);
      await bridge.start();
      const puppets = (): FakeIrcClient[] => ircd.clients.slice(first).filter((c) => /^U\d\[m\]$/.test(c.nick ?? ''));
      await until(() => puppets().length === 5 && puppets().every((c) => c.registered), 'five puppets registered');
      expect(puppets().map((c) => c.nick)).toEqual(['U4[m]', 'U2[m]', 'U5[m]', 'U3[m]', 'U1[m]']);
    });

    test('a stop while restart reconnects wait for a slot ends them without a warning for each', async () => {
      await bridge.stop('restart');
      for (let i = 1; i <= 6; i++) {
        const userId = asUserId(`@w${i}:hs.test`);
        if (i <= 5) { // the sixth has no puppet record yet: reconnected all the same
          store.savePuppet({ userId, network: 'test' as never, nick: `W${i}[m]` as never, username: `w${i}` });
        }
        store.addMember({ roomId: STATIC_ROOM as never, userId, displayName: `W${i}` });
      }
      const lines: string[] = [];
      configureLogging({ level: 'warn', format: 'text', sink: { write: (l: string) => lines.push(l) } });
      const first = ircd.clients.length;
      bridge = new Bridge(ctx, { test: { ...config.networks.test, max_concurrent_connects: 1 } } as Config['networks']);
      await bridge.start();
      await until(() => ircd.clients.slice(first).some((c) => /^W\d\[m\]$/.test(c.nick ?? '')), 'a first puppet connecting');
      await bridge.stop('stopping early');
      expect(lines.filter((l) => l.includes('puppet reconnect failed'))).toEqual([]);
    });

    test('speaking through the puppet is remembered in the store for the next start', async () => {
      await portal();
      const puppet = await alicePuppet();
      expect(store.getPuppetActivity(asUserId(ALICE), 'test' as never)).toBe(0);
      const before = Date.now();
      push(message(ROOM, ALICE, { msgtype: 'm.text', body: 'hello' }));
      await puppet.waitForCommand('PRIVMSG');
      await until(() => store.getPuppetActivity(asUserId(ALICE), 'test' as never) >= before, 'activity stored');
    });

    /** Three stored members of the static room with puppets: q1 the most active, q3 the least. */
    const storeQuietMembers = (): void => {
      ['@q1:hs.test', '@q2:hs.test', '@q3:hs.test'].forEach((u, i) => {
        const userId = asUserId(u);
        store.savePuppet({ userId, network: 'test' as never, nick: `Q${i + 1}[m]` as never, username: `q${i + 1}` });
        store.setPuppetActivity(userId, 'test' as never, 1000 * (3 - i));
        store.addMember({ roomId: STATIC_ROOM as never, userId, displayName: `Q${i + 1}` });
      });
    };

    test('a user who speaks while reconnects queue for a slot moves ahead of the quiet ones', async () => {
      await bridge.stop('restart');
      const slow = new FakeIrcd({ welcomeDelayMs: 300 }); // each registration holds the one slot a while
      const port = await slow.listen();
      try {
        storeQuietMembers();
        bridge = new Bridge(ctx, { test: { ...config.networks.test, port, max_concurrent_connects: 1 } } as Config['networks']);
        await bridge.start();
        // q1 holds the slot, q2 and q3 wait; then q3 speaks.
        push(message(STATIC_ROOM, '@q3:hs.test', { msgtype: 'm.text', body: 'let me in' }));
        const puppets = (): FakeIrcClient[] => slow.clients.filter((c) => /^Q\d\[m\]$/.test(c.nick ?? ''));
        await until(() => puppets().length === 3 && puppets().every((c) => c.registered), 'three puppets registered');
        expect(puppets().map((c) => c.nick)).toEqual(['Q1[m]', 'Q3[m]', 'Q2[m]']);
        expect((await (puppets()[1] as FakeIrcClient).waitForCommand('PRIVMSG')).params[1]).toBe('let me in');
      } finally {
        await bridge.stop('test over');
        await slow.close();
      }
    });

    test('a user whose message waits for the start\'s catch-up moves ahead of the quiet ones all the same', async () => {
      await bridge.stop('restart');
      const slow = new FakeIrcd({ welcomeDelayMs: 300 });
      const port = await slow.listen();
      try {
        storeQuietMembers();
        // the room has had traffic, so the start's catch-up reads it and its events wait for that
        store.acceptEvents('earlier', [{ roomId: STATIC_ROOM, json: '{}', eventId: '$earlier', ts: Date.now() - 1000 }]);
        store.listInboundEvents().forEach((e) => store.deleteInboundEvent(e.seq));
        hs.on('GET', /\/messages$/, { status: 200, body: { chunk: [] } });
        bridge = new Bridge(ctx, { test: { ...config.networks.test, port, max_concurrent_connects: 1 } } as Config['networks'],
          { catchUpMaxAgeMs: 600_000, catchUpDelayMs: 1500 });
        await bridge.start();
        push(message(STATIC_ROOM, '@q3:hs.test', { msgtype: 'm.text', body: 'let me in' }));
        const puppets = (): FakeIrcClient[] => slow.clients.filter((c) => /^Q\d\[m\]$/.test(c.nick ?? ''));
        await until(() => puppets().length === 3 && puppets().every((c) => c.registered), 'three puppets registered');
        expect(puppets().map((c) => c.nick)).toEqual(['Q1[m]', 'Q3[m]', 'Q2[m]']);
        expect(hs.requestsTo('GET', /\/messages$/)).toEqual([]); // all that before the catch-up read the room
        expect((await (puppets()[1] as FakeIrcClient).waitForCommand('PRIVMSG', 3000)).params[1]).toBe('let me in');
      } finally {
        await bridge.stop('test over');
        await slow.close();
      }
    });

    test('with puppet_idle_timeout_ms, a quiet puppet quits and comes back when its user speaks', async () => {
      await bridge.stop('reconfigure');
      const nets = { test: { ...config.networks.test, puppet_idle_timeout_ms: 400 } } as Config['networks'];
      bridge = new Bridge(ctx, nets);
      await bridge.start();
      bot = await ircd.client(1); // the new bridge's bot
      await bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#static');
      const created = bridge.queryAlias('#test_lobby:hs.test');
      await bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
      serverJoin('#lobby', '@MatrixBridge ircbob');
      expect(await created).toBe(true);
      const first = ircd.clients.length;
      push(member(ROOM, ALICE, 'join', 'Alice'));
      const puppet = await ircd.client(first);
      await puppet.waitFor((l) => l.command === 'JOIN');
      const quit = await puppet.waitForCommand('QUIT', 3000);
      expect(quit.params[0]).toBe('Idle');
      push(message(ROOM, ALICE, { msgtype: 'm.text', body: 'back again' }));
      const again = await ircd.client(first + 1);
      await again.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
      expect((await again.waitForCommand('PRIVMSG')).params[1]).toBe('back again');
    });

    test('a puppet banned by the network is not reconnected and its user is told', async () => {
      await portal();
      const puppet = await alicePuppet();
      puppet.send('ERROR :Closing link: (alice@bridge.host) [K-Lined: spam]');
      puppet.drop();
      const notice = await until(() => sends().find((r) => r.query.user_id === BOT &&
        (r.body as { body: string }).body.includes('banned')), 'ban notice');
      expect((notice.body as { body: string }).body).toContain('K-Lined: spam');
      await new Promise((r) => setTimeout(r, 1700));
      expect(ircd.clients).toHaveLength(2);
      push(message(ROOM, ALICE, { msgtype: 'm.text', body: 'anyone?' }));
      await until(() => sends().find((r) => r.query.user_id === BOT && (r.body as { body: string }).body.includes('not sent')),
        'not-delivered notice');
      expect(ircd.clients).toHaveLength(2);
    });
  });

  describe('catching up from room history', () => {
    /** A bridge with catching up on (fast timers), its bot, and alice's puppet in #static after
     *  one message that arrived the normal way. */
    async function withCatchUp(): Promise<FakeIrcClient> {
      await bridge.stop('reconfigure');
      const next = ircd.clients.length;
      bridge = new Bridge(ctx, config.networks, { catchUpMaxAgeMs: 600_000, catchUpDelayMs: 20, probeIntervalMs: 50 });
      await bridge.start();
      bot = await ircd.client(next);
      bridge.acceptTransaction('1', [member(STATIC_ROOM, ALICE, 'join', 'Alice')]);
      bridge.afterTransaction();
      const puppet = await ircd.client(next + 1);
      await puppet.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#static');
      bridge.acceptTransaction('2', [message(STATIC_ROOM, ALICE, { msgtype: 'm.text', body: 'one' })]);
      bridge.afterTransaction();
      await puppet.waitFor((l) => l.command === 'PRIVMSG' && l.params[1] === 'one');
      // the catch-up every start does has read the room (no history scripted yet: a 404) and is over
      await until(() => hs.requestsTo('GET', /\/messages$/).length > 0, 'the start catch-up');
      await bridge.catchUp.idle();
      return puppet;
    }

    const history = (...events: unknown[]): { status: number; body: unknown } => ({
      status: 200,
      body: { chunk: [...events].reverse(), end: 'page-2' }, // newest first, as dir=b gives them
    });
    const ancient = (): unknown => ({ ...(message(STATIC_ROOM, '@someone:hs.test', { msgtype: 'm.text', body: 'ancient' }) as object),
      origin_server_ts: Date.now() - 3_600_000 });
    const said = (puppet: FakeIrcClient): string[] => puppet.linesOf('PRIVMSG').map((l) => l.params[1] ?? '');

    test('a skipped transaction number makes the bridge read the room and deliver what it missed, once, in its place', async () => {
      const puppet = await withCatchUp();
      const now = Date.now();
      // two was in the skipped transaction 3
      const two = { ...(message(STATIC_ROOM, ALICE, { msgtype: 'm.text', body: 'two' }) as object), origin_server_ts: now - 2 };
      const three = { ...(message(STATIC_ROOM, ALICE, { msgtype: 'm.text', body: 'three' }) as object), origin_server_ts: now - 1 };
      const fromIrc = { ...(message(STATIC_ROOM, '@test_ircbob:hs.test', { msgtype: 'm.text', body: 'ghost line' }) as object) };
      hs.on('GET', /\/rooms\/[^/]+\/messages$/, history(ancient(), fromIrc, two, three));
      bridge.acceptTransaction('4', [three]);
      bridge.afterTransaction();
      await until(() => said(puppet).includes('two'), 'the missed message on IRC');
      const reads = hs.requestsTo('GET', /\/messages$/);
      expect(reads[0]?.query).toMatchObject({ dir: 'b', user_id: BOT });
      // the homeserver sends the skipped transaction after all: nothing twice
      bridge.acceptTransaction('3', [two]);
      bridge.afterTransaction();
      await puppet.sync();
      await new Promise((r) => setTimeout(r, 200));
      await puppet.sync();
      expect(said(puppet)).toEqual(['one', 'two', 'three']);
    });

    test('the homeserver answering again after an outage triggers a catch-up', async () => {
      const puppet = await withCatchUp();
      const lost = message(STATIC_ROOM, ALICE, { msgtype: 'm.text', body: 'lost in the outage' });
      hs.on('GET', /\/rooms\/[^/]+\/messages$/, history(ancient(), lost));
      const readsBefore = hs.requestsTo('GET', /\/messages$/).length;
      const probesBefore = hs.requestsTo('GET', '/_matrix/client/versions').length;
      hs.override('GET', '/_matrix/client/versions', { status: 502, body: {} }, { status: 502, body: {} },
        { status: 200, body: { versions: ['v1.11'] } });
      await until(() => said(puppet).includes('lost in the outage'), 'the lost message on IRC');
      const read = hs.requestsTo('GET', /\/messages$/)[readsBefore];
      // it was the return that triggered it: down twice, then up, then the read
      expect(hs.requestsTo('GET', '/_matrix/client/versions').filter((r) => r.at <= (read?.at ?? 0)).length - probesBefore)
        .toBeGreaterThanOrEqual(3);
      expect(said(puppet)).toEqual(['one', 'lost in the outage']);
    });

    test('a room read by the catch-up goes on without waiting for a slow one; the slow one\'s missed message comes first', async () => {
      const puppet = await withCatchUp();
      await portal();
      push(member(ROOM, ALICE, 'join', 'Alice'));
      await puppet.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
      const missed = { ...(message(STATIC_ROOM, ALICE, { msgtype: 'm.text', body: 'missed in static' }) as object),
        origin_server_ts: Date.now() - 2 };
      hs.on('GET', new RegExp(`/rooms/${encodeURIComponent(STATIC_ROOM)}/messages$`), { ...history(ancient(), missed), delayMs: 800 })
        .on('GET', new RegExp(`/rooms/${encodeURIComponent(ROOM)}/messages$`), history(ancient()));
      const staticRead = (): number | undefined => hs.requestsTo('GET', /\/messages$/)
        .filter((r) => r.path.includes(encodeURIComponent(STATIC_ROOM))).at(-1)?.at;
      const readsBefore = staticRead();
      // transaction 9 after 2: one was skipped, so both rooms are read again
      bridge.acceptTransaction('9', [message(ROOM, ALICE, { msgtype: 'm.text', body: 'lobby now' }),
        message(STATIC_ROOM, ALICE, { msgtype: 'm.text', body: 'static now' })]);
      bridge.afterTransaction();
      await until(() => said(puppet).includes('static now'), 'the static room\'s message', 5000);
      expect(said(puppet)).toEqual(['one', 'lobby now', 'missed in static', 'static now']);
      expect(staticRead()).not.toBe(readsBefore); // the static room was read again (slowly)
    });

    test('events accepted before the start wait for the start\'s catch-up, after what it finds missing', async () => {
      await withCatchUp();
      await bridge.stop('restart');
      const missed = { ...(message(STATIC_ROOM, ALICE, { msgtype: 'm.text', body: 'lost before the stop' }) as object),
        origin_server_ts: Date.now() - 5 };
      hs.on('GET', /\/rooms\/[^/]+\/messages$/, history(ancient(), missed));
      const next = ircd.clients.length;
      bridge = new Bridge(ctx, config.networks, { catchUpMaxAgeMs: 600_000, catchUpDelayMs: 20, probeIntervalMs: 50 });
      // the homeserver's first transaction arrives while the bridge is still starting
      bridge.acceptTransaction('1', [message(STATIC_ROOM, ALICE, { msgtype: 'm.text', body: 'sent after the stop' })]);
      await bridge.start();
      const puppet = await until(() => ircd.clients.slice(next).find((c) => c.nick === 'Alice[m]'), 'alice reconnected');
      await until(() => said(puppet).includes('sent after the stop'), 'the new message on IRC');
      expect(said(puppet)).toEqual(['lost before the stop', 'sent after the stop']);
    });

    test('a room the bridge has never seen an event from is not read; nothing older than the window is replayed', async () => {
      await withCatchUp();
      await portal(); // mapped, but no event from it accepted yet
      const readsBefore = hs.requestsTo('GET', /\/messages$/).length;
      hs.on('GET', /\/rooms\/[^/]+\/messages$/, history(ancient()));
      bridge.acceptTransaction('9', []); // a jump: catch up
      await until(() => hs.requestsTo('GET', /\/messages$/).length > readsBefore, 'a history read');
      await bridge.catchUp.idle();
      expect(store.getMappingByRoom(ROOM as never)).not.toBeNull();
      const roomsRead = hs.requestsTo('GET', /\/messages$/).slice(readsBefore).map((r) => decodeURIComponent(r.path.split('/')[5] ?? ''));
      expect([...new Set(roomsRead)]).toEqual([STATIC_ROOM]); // the portal room ROOM has no events seen
      expect(store.listInboundEvents().map((e) => (e.event as { content?: { body?: string } }).content?.body)).not.toContain('ancient');
    });
  });
});
