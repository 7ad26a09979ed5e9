/**
 * Plumbing: a room moderator links an existing room to a channel from their admin room, a
 * channel operator agrees (or not) on IRC, and either side unlinks. Fake homeserver, fake IRC
 * server.
 */
import { Bridge } from '../../src/bridge/bridge';
import type { BridgeContext } from '../../src/bridge/context';
import { parseConfig } from '../../src/config';
import { asUserId } from '../../src/ids';
import { configureLogging } from '../../src/log';
import { SqliteStore } from '../../src/store/sqlite';
import { FakeHomeserver } from '../fakes/fake-homeserver';
import { type FakeIrcClient, FakeIrcd } from '../fakes/fake-ircd';
import { answerCommonRoutes, specContext, until } from './fixture';

const ADMIN = '!admin:hs.test';
const ROOM = '!plumbed:hs.test';
const BOT = '@ircbridge:hs.test';
const ALICE = '@alice:hs.test';
const WAIT = 5000;

let txnCounter = 0;
let eventCounter = 0;

function say(roomId: string, sender: string, body: string): unknown {
  return { type: 'm.room.message', room_id: roomId, sender, event_id: `$p${++eventCounter}`, origin_server_ts: Date.now(),
    content: { msgtype: 'm.text', body } };
}


describe('Plumbing: linking an existing room with an operator\'s consent (fakes)', () => {
  let hs: FakeHomeserver;
  let ircd: FakeIrcd;
  let store: SqliteStore;
  let bridge: Bridge;
  let bot: FakeIrcClient;
  let ctx: BridgeContext;
  let hsUrl = '';
  let ircPort = 0;

  function push(...events: unknown[]): void {
    if (bridge.acceptTransaction(`t${++txnCounter}`, events)) {
      bridge.afterTransaction();
    }
  }

  /** What the bot said in alice's admin room. */
  const replies = (): string[] => hs.requestsTo('PUT', new RegExp(`/rooms/${encodeURIComponent(ADMIN)}/send/`))
    .map((r) => (r.body as { body: string }).body);
  const reply = (text: string): Promise<string> => until(() => replies().find((r) => r.includes(text)), `a reply with "${text}"`);

  async function start(network: Record<string, unknown> = {}): Promise<void> {
    const config = parseConfig({
      homeserver: { url: hsUrl, domain: 'hs.test' },
      networks: { test: { host: '127.0.0.1', port: ircPort, send_burst: 100, send_rate: 100, connect_timeout_ms: 3000, ...network } },
    });
    bridge = new Bridge(ctx, config.networks);
    await bridge.start();
    bot = await ircd.client(0);
    await bot.waitForCommand('USER');
    store.setAdminRoom(asUserId(ALICE), ADMIN as never);
  }

  /** alice asks; the bot joins #chan, whose NAMES are `names`. */
  async function askLink(names = 'MatrixBridge @op carol'): Promise<void> {
    push(say(ADMIN, ALICE, `!link ${ROOM} #chan`));
    await bot.waitFor((l) => l.raw === 'JOIN #chan');
    bot.send(':MatrixBridge!matrixbri@bridge.host JOIN #chan');
    bot.numeric('353', `= #chan :${names}`);
    bot.numeric('366', '#chan :End of /NAMES list.');
  }

  beforeEach(async () => {
    configureLogging({ level: 'error', sink: { write: () => undefined } });
    hs = new FakeHomeserver();
    answerCommonRoutes(hs, ROOM)
      .on('GET', /\/state\/m\.room\.power_levels\/$/, { status: 200, body: { users: { [BOT]: 50, [ALICE]: 50 }, state_default: 50 } })
      .on('GET', /\/joined_members$/, { status: 200, body: { joined: { [BOT]: {}, [ALICE]: { display_name: 'Alice' },
        '@test_carol:hs.test': {} } } });
    hsUrl = await hs.listen();
    ircd = new FakeIrcd();
    ircPort = await ircd.listen();
    store = new SqliteStore(':memory:');
    ctx = specContext(hsUrl, store);
  });

  afterEach(async () => {
    await bridge.stop('test over');
    await ircd.close();
    await hs.close();
    store.close();
  });

  test('an operator\'s "yes" links the room: mapping, bridge state, ghosts and puppets; the operator can unlink it', async () => {
    await start();
    await askLink();
    const ask = await bot.waitFor((l) => l.command === 'PRIVMSG' && l.params[0] === 'op');
    expect(ask.params[1]).toBe(`${ALICE} asks to bridge #chan to the Matrix room ${ROOM}. Answer "yes" within 300 s to allow it; ` +
      'any other answer refuses.');
    await reply('Asked op, an operator of #chan');
    expect(store.getMappingByRoom(ROOM as never)).toBeNull();
    bot.send(':op!o@irc.host PRIVMSG MatrixBridge :Yes');
    await reply(`${ROOM} is now bridged to #chan (op agreed).`);
    expect(store.getMappingByRoom(ROOM as never)).toMatchObject({ network: 'test', channel: '#chan', origin: 'plumbed' });
    const state = hs.requestsTo('PUT', /\/state\/(m\.bridge|uk\.half-shot\.bridge)\//)
      .filter((r) => r.path.includes(encodeURIComponent(ROOM)));
    expect(state.map((r) => (r.body as { channel: { id: string } }).channel.id)).toEqual(['#chan', '#chan']);
    await until(() => hs.requestsTo('POST', /\/join\//).find((r) => r.query.user_id === '@test_op:hs.test'), 'op\'s ghost joins');
    const puppet = await ircd.client(1);
    await puppet.waitFor((l) => l.raw === 'JOIN #chan');
    expect(store.getMember(ROOM as never, asUserId(ALICE))).not.toBeNull();

    bot.send(':carol!c@irc.host PRIVMSG MatrixBridge :unlink #chan');
    await bot.waitFor((l) => l.raw === 'NOTICE carol :Only an operator of #chan can unlink it.');
    bot.send(':op!o@irc.host PRIVMSG MatrixBridge :unlink #chan');
    await bot.waitFor((l) => l.raw === 'NOTICE op :#chan is no longer bridged to Matrix.');
    expect(store.getMappingByRoom(ROOM as never)).toBeNull();
    await bot.waitFor((l) => l.command === 'PART' && l.params[0] === '#chan');
    await puppet.waitFor((l) => l.command === 'QUIT' || (l.command === 'PART' && l.params[0] === '#chan'));
    // The ghosts the room has (as the homeserver lists them) leave, and so does the bot.
    expect(hs.requestsTo('POST', /\/leave$/).map((r) => r.query.user_id)).toEqual(['@test_carol:hs.test', BOT]);
    const emptied = hs.requestsTo('PUT', /\/state\/(m\.bridge|uk\.half-shot\.bridge)\//).slice(2);
    expect(emptied.map((r) => r.body)).toEqual([{}, {}]);
  });

  test('any other answer, or none in time, refuses; the requester is told and nothing is linked', async () => {
    await start({ plumbing_consent_timeout_ms: 1000 });
    await askLink();
    await bot.waitFor((l) => l.command === 'PRIVMSG' && l.params[0] === 'op');
    bot.send(':op!o@irc.host NOTICE MatrixBridge :I am away'); // not an answer
    bot.send(':op!o@irc.host PRIVMSG MatrixBridge :no way');
    await reply(`${ROOM} was not linked to #chan: op answered "no way".`);
    await bot.waitFor((l) => l.raw === `NOTICE op :#chan is not bridged to ${ROOM}.`);
    // The bot joined only to ask: it leaves again.
    await bot.waitFor((l) => l.raw === 'PART #chan :Not bridged');

    push(say(ADMIN, ALICE, `!link ${ROOM} #chan`));
    await bot.waitFor((l) => l.raw === 'JOIN #chan', WAIT, bot.received.findIndex((l) => l.command === 'PART') + 1);
    bot.send(':MatrixBridge!matrixbri@bridge.host JOIN #chan');
    bot.numeric('353', '= #chan :MatrixBridge @op carol');
    bot.numeric('366', '#chan :End of /NAMES list.');
    await until(() => bot.linesOf('PRIVMSG').length === 2, 'a second question');
    await reply(`${ROOM} was not linked to #chan: op did not answer within 1 s.`);
    expect(store.getMappingByRoom(ROOM as never)).toBeNull();
  });

  test('a room ID of room version 12 (no server part) is accepted; a word that is no room is a usage error', async () => {
    await start();
    push(say(ADMIN, ALICE, '!link !Opaque12RoomIdWithoutServer #chan'));
    await bot.waitFor((l) => l.raw === 'JOIN #chan');
    expect(hs.requestsTo('POST', /\/join\//)[0]?.path).toBe(`/_matrix/client/v3/join/${encodeURIComponent('!Opaque12RoomIdWithoutServer')}`);
    bot.send(':MatrixBridge!matrixbri@bridge.host JOIN #chan');
    bot.numeric('353', '= #chan :MatrixBridge carol');
    bot.numeric('366', '#chan :End of /NAMES list.');
    await reply('!Opaque12RoomIdWithoutServer was not linked to #chan: no channel operator is there to agree.');
    push(say(ADMIN, ALICE, '!link someroom #chan'));
    await reply('someroom is neither a room ID (!id) nor an alias (#alias:server).');
  });

  test('refused without asking: a requester who does not moderate the room, a channel without operators', async () => {
    hs.override('GET', /\/state\/m\.room\.power_levels\/$/, { status: 200, body: { users: { [BOT]: 50 }, state_default: 50 } });
    await start();
    push(say(ADMIN, ALICE, `!link ${ROOM} #chan`));
    await reply(`${ROOM} was not linked to #chan: your power level there is below 50 (the level to change the room's state).`);
    hs.override('GET', /\/state\/m\.room\.power_levels\/$/, { status: 200, body: { users: { [BOT]: 50, [ALICE]: 50 } } });
    await askLink('MatrixBridge carol');
    await reply(`${ROOM} was not linked to #chan: no channel operator is there to agree.`);
    expect(bot.linesOf('PRIVMSG')).toEqual([]);
  });

  test('the provisioning API asks the same way (202), tells the outcome in the admin room, and unlinks', async () => {
    await start();
    expect(await bridge.provision('link', { user_id: ALICE, room_id: ROOM, channel: 'no channel' }))
      .toEqual({ status: 400, body: { errcode: 'M_INVALID_PARAM', error: 'channel must be an IRC channel name' } });
    expect((await bridge.provision('link', { user_id: 'alice', room_id: ROOM, channel: '#chan' })).status).toBe(400);
    expect((await bridge.provision('link', { user_id: ALICE, room_id: ROOM, channel: '#chan', network: 'other' })).status).toBe(400);
    expect((await bridge.provision('delete', {})).status).toBe(404);
    expect((await bridge.provision('link', { user_id: ALICE, room_id: 'room', channel: '#chan' })).status).toBe(400);
    const asked = bridge.provision('link', { user_id: ALICE, room_id: ROOM, network: 'test', channel: '#chan' });
    await bot.waitFor((l) => l.raw === 'JOIN #chan');
    bot.send(':MatrixBridge!matrixbri@bridge.host JOIN #chan');
    bot.numeric('353', '= #chan :MatrixBridge @op');
    bot.numeric('366', '#chan :End of /NAMES list.');
    expect(await asked).toEqual({ status: 202, body: { status: 'waiting_for_consent', operator: 'op' } });
    bot.send(':op!o@irc.host PRIVMSG MatrixBridge :yes');
    await reply(`${ROOM} is now bridged to #chan (op agreed).`);
    const again = await bridge.provision('link', { user_id: ALICE, room_id: ROOM, channel: '#chan' });
    expect(again).toEqual({ status: 403, body: { errcode: 'M_FORBIDDEN', error: 'that room is already bridged' } });
    expect(await bridge.provision('unlink', { user_id: ALICE, room_id: ROOM }))
      .toEqual({ status: 200, body: { status: 'unlinked', channel: '#chan' } });
    expect(store.getMappingByRoom(ROOM as never)).toBeNull();
  });

  test('a room moderator unlinks with !unlink; portal rooms cannot be unlinked that way', async () => {
    await start();
    await askLink();
    await bot.waitFor((l) => l.command === 'PRIVMSG' && l.params[0] === 'op');
    bot.send(':op!o@irc.host PRIVMSG MatrixBridge :yes');
    await reply('is now bridged to #chan');
    push(say(ADMIN, ALICE, `!unlink ${ROOM}`));
    await reply(`${ROOM} is no longer bridged to #chan.`);
    expect(store.getMappingByRoom(ROOM as never)).toBeNull();
    store.upsertRoomMapping({ network: 'test' as never, channel: '#lobby' as never, roomId: '!portal:hs.test' as never,
      origin: 'alias', key: null }, '#lobby');
    push(say(ADMIN, ALICE, '!unlink !portal:hs.test'));
    await reply('!portal:hs.test stays as it is: it is a portal room; only rooms linked with !link can be unlinked.');
    expect(store.getMappingByRoom('!portal:hs.test' as never)).not.toBeNull();
  });
});
