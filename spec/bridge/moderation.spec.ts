/**
 * Moderation and room state both ways, with the bridge core between a recording fake
 * homeserver and a scripted fake IRC server: nick and display-name changes, kicks, topics,
 * MSC2346 bridge state, excluded users.
 */
import { Bridge } from '../../src/bridge/bridge';
import type { BridgeContext } from '../../src/bridge/context';
import { parseConfig, type Config } from '../../src/config';
import { asUserId } from '../../src/ids';
import { configureLogging } from '../../src/log';
import { SqliteStore } from '../../src/store/sqlite';
import { FakeHomeserver, type RecordedRequest } from '../fakes/fake-homeserver';
import { DEFAULT_ISUPPORT, type FakeIrcClient, FakeIrcd } from '../fakes/fake-ircd';
import { answerCommonRoutes, memberEvent, specContext, until } from './fixture';

const ROOM = '!portal:hs.test';
const BOT = '@ircbridge:hs.test';
const ALICE = '@alice:hs.test';
const BOB_GHOST = '@test_ircbob:hs.test';
const WAIT = 5000;

let txnCounter = 0;
let eventCounter = 0;

/** A member event in ROOM. */
function member(userId: string, membership: string, opts: { displayname?: string; prev?: string; sender?: string;
  reason?: string } = {}): unknown {
  return memberEvent(ROOM, userId, membership, opts);
}

function roomEvent(type: string, sender: string, content: Record<string, unknown>, stateKey?: string): unknown {
  return { type, room_id: ROOM, sender, event_id: `$m${++eventCounter}`, origin_server_ts: Date.now(), content,
    ...(stateKey !== undefined ? { state_key: stateKey } : {}) };
}


describe('Moderation and room state (fake homeserver, fake IRC server)', () => {
  let hs: FakeHomeserver;
  let ircd: FakeIrcd;
  let store: SqliteStore;
  let bridge: Bridge;
  let bot: FakeIrcClient;
  let ctx: BridgeContext;
  let config: Config;

  function push(...events: unknown[]): void {
    if (bridge.acceptTransaction(`t${++txnCounter}`, events)) {
      bridge.afterTransaction();
    }
  }

  const notices = (): string[] => hs.requestsTo('PUT', /\/send\/m\.room\.message\//)
    .filter((r) => r.query.user_id === BOT).map((r) => (r.body as { body: string }).body);

  async function start(network: Record<string, unknown> = {}): Promise<void> {
    config = parseConfig({
      homeserver: { url: hsUrl, domain: 'hs.test' },
      networks: { test: { host: '127.0.0.1', port: ircPort, send_burst: 100, send_rate: 100, connect_timeout_ms: 3000, ...network } },
    });
    bridge = new Bridge(ctx, config.networks);
    await bridge.start();
    bot = await ircd.client(0);
    await bot.waitForCommand('USER');
  }

  let hsUrl = '';
  let ircPort = 0;

  beforeEach(async () => {
    configureLogging({ level: 'error', sink: { write: () => undefined } });
    hs = new FakeHomeserver();
    answerCommonRoutes(hs, ROOM)
      .on('GET', /\/state\/m\.room\.power_levels\/$/, { status: 200, body: { users: { [BOT]: 100, [ALICE]: 50 }, kick: 50, ban: 50 } })
      .on('GET', /\/joined_members$/, { status: 200, body: { joined: { [BOT]: {} } } });
    hsUrl = await hs.listen();
    ircd = new FakeIrcd({ nicksInUse: ['Taken[m]'], nicksErroneous: ['Bad[m]', 'Bad1[m]'], isupport: [...DEFAULT_ISUPPORT, 'EXTBAN=,ACRU'] });
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

  /** The portal of #lobby, with `names` as the channel's NAMES list. */
  async function portal(names = '@MatrixBridge ircbob carol'): Promise<void> {
    const created = bridge.queryAlias('#test_lobby:hs.test');
    await bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
    bot.send(':MatrixBridge!matrixbri@bridge.host JOIN #lobby');
    bot.numeric('332', '#lobby :Welcome');
    bot.numeric('353', `= #lobby :${names}`);
    bot.numeric('366', '#lobby :End of /NAMES list.');
    expect(await created).toBe(true);
  }

  async function puppetOf(userId: string, displayname: string, index: number): Promise<FakeIrcClient> {
    push(member(userId, 'join', { displayname }));
    const puppet = await ircd.client(index);
    await puppet.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
    return puppet;
  }

  describe('nick and display name', () => {
    test('a display-name change renames the puppet on IRC; a second room with the same change sends nothing more',
      async () => {
        await start();
        await portal();
        const puppet = await puppetOf(ALICE, 'Alice', 1);
        push(member(ALICE, 'join', { displayname: 'Alicia Keys', prev: 'join' }));
        const nick = await puppet.waitForCommand('NICK', WAIT, puppet.received.findIndex((l) => l.command === 'USER'));
        expect(nick.params[0]).toBe('Alicia_Keys[m]');
        await until(() => store.getPuppet(asUserId(ALICE), 'test' as never)?.nick === 'Alicia_Keys[m]', 'the new nick stored');
        push(member(ALICE, 'join', { displayname: 'Alicia Keys', prev: 'join' }));
        await until(() => store.listInboundEvents().length === 0, 'events handled');
        await puppet.sync();
        expect(puppet.linesOf('NICK').map((l) => l.params[0])).toEqual(['Alice[m]', 'Alicia_Keys[m]']);
        // The renamed puppet is still recognised as ours: its lines are not bridged back.
        bot.send(':Alicia_Keys[m]!alice@bridge.host PRIVMSG #lobby :echo');
        bot.send(':ircbob!bob@irc.host PRIVMSG #lobby :marker');
        await until(() => hs.requestsTo('PUT', /\/send\//).some((r) => (r.body as { body?: string }).body === 'marker'), 'marker');
        expect(hs.requestsTo('PUT', /\/send\//).some((r) => (r.body as { body?: string }).body === 'echo')).toBe(false);
        expect(notices()).toEqual([]);
      });

    test('a taken nick gets the numbered alternative, as at connect', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      push(member(ALICE, 'join', { displayname: 'Taken', prev: 'join' }));
      await until(() => puppet.nick === 'Taken1[m]', 'the numbered nick');
      expect(puppet.linesOf('NICK').map((l) => l.params[0])).toEqual(['Alice[m]', 'Taken[m]', 'Taken1[m]']);
      await until(() => store.getPuppet(asUserId(ALICE), 'test' as never)?.nick === 'Taken1[m]', 'stored');
      // The same change seen again (the user is in another bridged room): Taken[m] is still
      // taken and Taken1[m] is already the puppet's, so no NICK and no complaint.
      store.addMember({ roomId: ROOM as never, userId: asUserId(ALICE), displayName: 'Alice' });
      push(member(ALICE, 'join', { displayname: 'Taken', prev: 'join' }));
      await until(() => puppet.linesOf('NICK').length === 4, 'the second attempt');
      await until(() => store.listInboundEvents().length === 0, 'events handled', 3000);
      await puppet.sync();
      expect(puppet.linesOf('NICK').map((l) => l.params[0])).toEqual(['Alice[m]', 'Taken[m]', 'Taken1[m]', 'Taken[m]']);
      expect(puppet.nick).toBe('Taken1[m]');
      expect(notices()).toEqual([]);
    });

    test('a change back to the nick a stand-in is regaining leaves the regaining to run', async () => {
      await start({ nick_regain_interval_ms: 1000 });
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      const inUse = (ircd as unknown as { opts: { nicksInUse: string[] } }).opts.nicksInUse;
      inUse.push('Alice[m]');
      puppet.drop();
      const again = await ircd.client(2, 5000);
      await again.waitFor((l) => l.command === 'JOIN');
      expect(again.nick).toBe('Alice1[m]');
      // A new display name that cleans to the same nick.
      push(member(ALICE, 'join', { displayname: 'Alicé', prev: 'join' }));
      await until(() => store.getMember(ROOM as never, asUserId(ALICE))?.displayName === 'Alicé', 'event handled');
      inUse.splice(inUse.indexOf('Alice[m]'), 1);
      await until(() => again.nick === 'Alice[m]', 'the nick regained', 4000);
      expect(notices()).toEqual([]);
    });

    test('a nick the server refuses is told to the user and the old nick stays', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      push(member(ALICE, 'join', { displayname: 'Bad', prev: 'join' }));
      const notice = await until(() => notices()[0], 'a notice');
      expect(notice).toContain(ALICE);
      expect(notice).toContain('Bad[m]');
      expect(notice).toContain('Erroneous');
      expect(notice).toContain('Alice[m]');
      expect(puppet.nick).toBe('Alice[m]');
      expect(store.getPuppet(asUserId(ALICE), 'test' as never)?.nick).toBe('Alice[m]');
    });

    test('with puppet_nick_follows_display_name off, the puppet keeps its nick', async () => {
      await start({ puppet_nick_follows_display_name: false });
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      push(member(ALICE, 'join', { displayname: 'Someone Else', prev: 'join' }));
      await until(() => store.getMember(ROOM as never, asUserId(ALICE))?.displayName === 'Someone Else', 'member updated');
      await puppet.sync();
      expect(puppet.linesOf('NICK').map((l) => l.params[0])).toEqual(['Alice[m]']);
    });

    test('an IRC NICK renames the same ghost: no leave, no join, no new Matrix user', async () => {
      await start();
      await portal();
      await until(() => hs.requestsTo('POST', /\/join\//).find((r) => r.query.user_id === '@test_carol:hs.test'), 'carol joins');
      const joinsBefore = hs.requestsTo('POST', /\/join\//).length;
      bot.send(':ircbob!bob@irc.host NICK :robert');
      await until(() => hs.requestsTo('PUT', /\/profile\//).find((r) =>
        (r.body as { displayname: string }).displayname === 'robert'), 'rename');
      const rename = hs.requestsTo('PUT', /\/profile\//).filter((r) => (r.body as { displayname: string }).displayname === 'robert');
      expect(rename.map((r) => r.query.user_id)).toEqual([BOB_GHOST]);
      bot.send(':robert!bob@irc.host PRIVMSG #lobby :after');
      const sent = await until(() => hs.requestsTo('PUT', /\/send\//).find((r) => (r.body as { body?: string }).body === 'after'), 'msg');
      expect(sent.query.user_id).toBe(BOB_GHOST);
      expect(hs.requestsTo('POST', /\/leave$/)).toEqual([]);
      expect(hs.requestsTo('POST', /\/join\//)).toHaveLength(joinsBefore);
      expect(hs.requestsTo('POST', '/_matrix/client/v3/register').filter((r) =>
        (r.body as { username: string }).username.startsWith('test_robert'))).toEqual([]);
    });
  });

  describe('kicks', () => {
    const kicksOn = (c: FakeIrcClient): string[] => c.linesOf('KICK').map((l) => l.raw);

    test('a Matrix kick of a ghost is sent by the moderator\'s puppet when it is a channel operator', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      bot.send(':carol!c@irc.host MODE #lobby +o Alice[m]');
      await bot.sync();
      push(member(BOB_GHOST, 'leave', { sender: ALICE, reason: 'spam\r\nQUIT :x', prev: 'join' }));
      const kick = await puppet.waitForCommand('KICK');
      expect(kick.raw).toBe('KICK #lobby ircbob :spam QUIT :x');
      expect(kicksOn(bot)).toEqual([]);
    });

    test('otherwise the bot kicks, when it is an operator and the moderator\'s power level allows', async () => {
      await start();
      await portal();
      await puppetOf(ALICE, 'Alice', 1);
      push(member(BOB_GHOST, 'leave', { sender: ALICE, reason: 'off topic', prev: 'join' }));
      const kick = await bot.waitForCommand('KICK');
      expect(kick.params).toEqual(['#lobby', 'ircbob', `${ALICE}: off topic`]);
    });

    test('an operator that loses +o no longer kicks; the moderator is told why nothing happened on IRC', async () => {
      await start();
      await portal('MatrixBridge ircbob carol');
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      bot.send(':carol!c@irc.host MODE #lobby +ov-o Alice[m] Alice[m] Alice[m]');
      await bot.sync();
      push(member(BOB_GHOST, 'leave', { sender: ALICE, prev: 'join' }));
      const notice = await until(() => notices()[0], 'a notice');
      expect(notice).toContain(ALICE);
      expect(notice).toMatch(/ircbob .*still in #lobby.*neither your IRC connection nor the bridge bot is a channel operator/);
      await puppet.sync();
      expect(kicksOn(puppet)).toEqual([]);
      expect(kicksOn(bot)).toEqual([]);
    });

    test('a moderator below the room\'s kick level is not served by the bot', async () => {
      hs.override('GET', /\/state\/m\.room\.power_levels\/$/, { status: 200, body: { users: { [BOT]: 100 }, users_default: 10, kick: 60 } });
      await start();
      await portal();
      push(member(BOB_GHOST, 'leave', { sender: ALICE, prev: 'join' }));
      const notice = await until(() => notices()[0], 'a notice');
      expect(notice).toContain('your power level (10) is below the room\'s kick level (60)');
      await bot.sync();
      expect(kicksOn(bot)).toEqual([]);
    });

    test('while the bot is disconnected it carries out nothing, and the moderator is told', async () => {
      await start();
      await portal('@MatrixBridge!matrixbri@bridge.host ircbob!~bob@irc.host carol');
      bot.drop();
      await until(() => (bridge.health().detail.networks as Record<string, { bot: string }>).test?.bot === 'connecting',
        'the bot to notice');
      push(member(BOB_GHOST, 'ban', { sender: ALICE, prev: 'join' }), member(BOB_GHOST, 'leave', { sender: ALICE, prev: 'join' }));
      const told = await until(() => notices().length === 2 && notices(), 'two notices');
      expect(told[0]).toBe(`${ALICE}: ircbob is banned here but not on IRC in #lobby: the IRC connection that would carry it ` +
        'out is not connected; try again later.');
      expect(told[1]).toContain('ircbob left this room but is still in #lobby on IRC: the IRC connection that would carry');
      expect(store.getLinkedBanMask('test' as never, '#lobby', asUserId(BOB_GHOST), 'matrix')).toBeNull();
    });

    test('an IRC KICK of a puppet kicks its Matrix user from the room, naming the kicker; the puppet quits', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      puppet.send(':carol!c@irc.host KICK #lobby Alice[m] :behave');
      bot.send(':carol!c@irc.host KICK #lobby Alice[m] :behave');
      const kick = await until(() => hs.requestsTo('POST', /\/kick$/)[0], 'a Matrix kick');
      expect(kick.query.user_id).toBe(BOT);
      expect(kick.body).toEqual({ user_id: ALICE, reason: 'Kicked on IRC by carol: behave' });
      await puppet.waitForCommand('QUIT');
      expect(store.getMember(ROOM as never, asUserId(ALICE))).toBeNull();
    });

    test('a kick the bridge may not carry out in Matrix is told to the user', async () => {
      hs.override('POST', /\/kick$/, { status: 403, body: { errcode: 'M_FORBIDDEN', error: 'no power' } });
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      puppet.send(':carol!c@irc.host KICK #lobby Alice[m] :behave');
      bot.send(':carol!c@irc.host KICK #lobby Alice[m] :behave');
      const notice = await until(() => notices()[0], 'a notice');
      expect(notice).toContain('carol kicked you from #lobby on IRC (behave)');
      expect(store.getMember(ROOM as never, asUserId(ALICE))).not.toBeNull();
    });

    test('an IRC KICK of an IRC user makes the ghost leave with the reason and the kicker', async () => {
      await start();
      await portal();
      bot.send(':carol!c@irc.host KICK #lobby ircbob :flooding');
      const leave = await until(() => hs.requestsTo('POST', /\/leave$/).find((r) => r.query.user_id === BOB_GHOST), 'leave');
      expect(leave.body).toEqual({ reason: 'Kicked by carol: flooding' });
    });
  });

  describe('topic', () => {
    const topics = (): RecordedRequest[] => hs.requestsTo('PUT', /\/state\/m\.room\.topic\//);

    test('an IRC TOPIC is set in the room by the ghost of who set it', async () => {
      await start();
      await portal();
      bot.send(':ircbob!bob@irc.host TOPIC #lobby :New rules apply');
      const t = await until(() => topics()[0], 'topic');
      expect(t.body).toEqual({ topic: 'New rules apply' });
      expect(t.query.user_id).toBe(BOB_GHOST);
      expect(notices()).toEqual([]);
    });

    test('when the room does not let the ghost set it, the bot does and says who did', async () => {
      hs.override('PUT', /\/state\/m\.room\.topic\//, { status: 403, body: { errcode: 'M_FORBIDDEN' } }, { status: 200, body: {} });
      await start();
      await portal();
      bot.send(':ircbob!bob@irc.host TOPIC #lobby :New rules apply');
      await until(() => topics().length === 2, 'a second attempt');
      expect(topics().map((r) => r.query.user_id)).toEqual([BOB_GHOST, BOT]);
      expect(await until(() => notices()[0], 'notice')).toBe('ircbob changed the topic on IRC.');
    });

    test('a Matrix topic is set on IRC by the sender\'s puppet, cleaned of line breaks; IRC\'s refusal is told', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      push(roomEvent('m.room.topic', ALICE, { topic: 'line one\nTOPIC #x :two' }, ''));
      const line = await puppet.waitForCommand('TOPIC');
      expect(line.raw).toBe('TOPIC #lobby :line one TOPIC #x :two');
      puppet.numeric('482', '#lobby :You do not have access to change the topic on this channel');
      expect(await until(() => notices()[0], 'notice')).toContain('You do not have access to change the topic');
    });

    test('the topic echoed back by IRC is not bridged again', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      push(roomEvent('m.room.topic', ALICE, { topic: 'from matrix' }, ''));
      await puppet.waitForCommand('TOPIC');
      bot.send(':Alice[m]!alice@bridge.host TOPIC #lobby :from matrix');
      bot.send(':ircbob!bob@irc.host PRIVMSG #lobby :marker');
      await until(() => hs.requestsTo('PUT', /\/send\//).some((r) => (r.body as { body?: string }).body === 'marker'), 'marker');
      expect(topics()).toEqual([]);
    });
  });

  describe('bans', () => {
    const UHNAMES = '@MatrixBridge!matrixbri@bridge.host ircbob!~bob@irc.host carol!c@irc.host';
    // Mode changes (the bot's `MODE #lobby` query after joining is not one).
    const modes = (c: FakeIrcClient): string[] => c.linesOf('MODE').filter((l) => l.params[0] === '#lobby' && l.params.length > 1)
      .map((l) => l.raw);

    test('a Matrix ban of a ghost sets +b on its *!*user@host and kicks; the unban lifts the same mask', async () => {
      await start();
      await portal(UHNAMES);
      push(member(BOB_GHOST, 'ban', { sender: ALICE, reason: 'spam', prev: 'join' }));
      const kick = await bot.waitForCommand('KICK');
      expect(kick.params).toEqual(['#lobby', 'ircbob', `${ALICE}: spam`]);
      expect(modes(bot)).toEqual(['MODE #lobby +b *!*bob@irc.host']);
      expect(store.getLinkedBanMask('test' as never, '#lobby', asUserId(BOB_GHOST), 'matrix')).toBe('*!*bob@irc.host');
      // ircbob comes back from elsewhere: the unban still lifts the mask that was set.
      bot.send(':carol!c@irc.host KICK #lobby ircbob :x');
      bot.send(':ircbob!other@new.host JOIN #lobby');
      await bot.sync();
      push(member(BOB_GHOST, 'leave', { sender: ALICE, prev: 'ban' }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby -b *!*bob@irc.host');
      await until(() => store.getLinkedBanMask('test' as never, '#lobby', asUserId(BOB_GHOST), 'matrix') === null, 'ban forgotten');
    });

    test('the account extban when the network told the account; the host mask when ban_mask is host', async () => {
      await start();
      await portal(UHNAMES);
      bot.send(':dave!~d@dave.host JOIN #lobby daveacct :Dave');
      await until(() => hs.requestsTo('POST', /\/join\//).find((r) => r.query.user_id === '@test_dave:hs.test'), 'dave joins');
      push(member('@test_dave:hs.test', 'ban', { sender: ALICE, prev: 'join' }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby +b R:daveacct');
      await bridge.stop('reconfigure');
      const nets = { test: { ...config.networks.test, ban_mask: 'host' } } as Config['networks'];
      bridge = new Bridge(ctx, nets);
      await bridge.start();
      const bot2 = await ircd.client(1);
      await bot2.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
      bot2.send(':MatrixBridge!matrixbri@bridge.host JOIN #lobby');
      bot2.numeric('353', `= #lobby :${UHNAMES}`);
      bot2.numeric('366', '#lobby :End of /NAMES list.');
      await bot2.sync();
      push(member(BOB_GHOST, 'ban', { sender: ALICE, prev: 'join' }));
      await bot2.waitFor((l) => l.raw === 'MODE #lobby +b *!*@irc.host');
    });

    test('a ghost whose host the bridge never saw is not banned on IRC, and the moderator is told', async () => {
      await start();
      await portal();
      push(member(BOB_GHOST, 'ban', { sender: ALICE, prev: 'join' }));
      expect(await until(() => notices()[0], 'notice')).toContain('no IRC ban was set');
      await bot.sync();
      expect(modes(bot)).toEqual([]);
      expect(bot.linesOf('KICK')).toEqual([]);
    });

    test('an IRC ban matching one puppet bans its Matrix user; its removal unbans', async () => {
      await start();
      await portal(UHNAMES);
      await puppetOf(ALICE, 'Alice', 1);
      bot.send(':Alice[m]!~alice@bridge.host JOIN #lobby');
      bot.send(':carol!c@irc.host MODE #lobby +b *!*alice@*');
      const ban = await until(() => hs.requestsTo('POST', /\/ban$/)[0], 'a Matrix ban');
      expect(ban.query.user_id).toBe(BOT);
      expect(ban.body).toEqual({ user_id: ALICE, reason: 'Banned on IRC by carol (*!*alice@*)' });
      bot.send(':carol!c@irc.host MODE #lobby -b *!*alice@*');
      const unban = await until(() => hs.requestsTo('POST', /\/unban$/)[0], 'a Matrix unban');
      expect(unban.body).toEqual({ user_id: ALICE, reason: 'Unbanned on IRC by carol (*!*alice@*)' });
    });

    test('an IRC ban matching many puppets, or the bridge itself, bans nobody in Matrix: the room is told', async () => {
      await start();
      await portal(UHNAMES);
      await puppetOf(ALICE, 'Alice', 1);
      await puppetOf('@zed:hs.test', 'Zed', 2);
      bot.send(':Alice[m]!~alice@bridge.host JOIN #lobby');
      bot.send(':Zed[m]!~zed@bridge.host JOIN #lobby');
      bot.send(':carol!c@irc.host MODE #lobby +b *!*@bridge.host');
      const told = await until(() => notices()[0], 'a notice');
      expect(told).toBe('carol set the IRC ban *!*@bridge.host in #lobby, which matches the bridge itself and 2 bridged ' +
        'Matrix user(s). The bridge does not ban anyone here for it; IRC applies it to their connections as to anyone\'s.');
      bot.send(':carol!c@irc.host MODE #lobby +b *!*@*.host');
      await until(() => notices().length === 2, 'a second notice');
      bot.send(':carol!c@irc.host MODE #lobby +bb R:alice *!*@elsewhere');
      bot.send(':ircbob!bob@irc.host PRIVMSG #lobby :marker');
      await until(() => hs.requestsTo('PUT', /\/send\//).some((r) => (r.body as { body?: string }).body === 'marker'), 'marker');
      expect(hs.requestsTo('POST', /\/ban$/)).toEqual([]);
      expect(notices()).toHaveLength(2);
    });

    test('two Matrix users whose localparts clean to the same username get different IRC usernames', async () => {
      await start();
      await portal();
      // Both connect at once: neither is stored yet when the other picks its username.
      push(member('@alice:one.test', 'join', { displayname: 'A1' }), member('@alice:two.test', 'join', { displayname: 'A2' }));
      const clients = [await ircd.client(1), await ircd.client(2)];
      await Promise.all(clients.map((c) => c.waitFor((l) => l.command === 'JOIN')));
      const users = clients.map((c) => c.linesOf('USER')[0]?.params[0]).sort();
      expect(users[0]).toBe('alice');
      expect(users[1]).toMatch(/^alice[0-9a-f]{5}$/);
      const stored = ['@alice:one.test', '@alice:two.test'].map((u) => store.getPuppet(asUserId(u), 'test' as never)?.username).sort();
      expect(stored).toEqual(users);
    });
  });

  test('a portal room carries m.bridge and uk.half-shot.bridge state naming network and channel', async () => {
    await start();
    await portal();
    const create = hs.requestsTo('POST', '/_matrix/client/v3/createRoom')[0]?.body as { initial_state: unknown[] };
    const content = {
      bridgebot: BOT, protocol: { id: 'irc', displayname: 'IRC' }, network: { id: 'test', displayname: 'test' },
      channel: { id: '#lobby', displayname: '#lobby' },
    };
    expect(create.initial_state).toEqual([
      { type: 'm.bridge', state_key: 'org.matrix.irc/test/#lobby', content },
      { type: 'uk.half-shot.bridge', state_key: 'org.matrix.irc/test/#lobby', content },
    ]);
  });

  describe('excluded users', () => {
    const EVE = '@eve:untrusted.test';

    test('get no puppet, are told why on joining and once when they speak, and their messages stay on Matrix', async () => {
      await start({ excluded_users: [{ regex: ':untrusted\\.test$', reason: 'Accounts from untrusted.test are not bridged.' }] });
      await portal();
      push(member(EVE, 'join', { displayname: 'Eve' }));
      const told = await until(() => notices()[0], 'a notice');
      expect(told).toBe(`${EVE}: you are not connected to IRC (test): Accounts from untrusted.test are not bridged.`);
      push(roomEvent('m.room.message', EVE, { msgtype: 'm.text', body: 'one' }),
        roomEvent('m.room.message', EVE, { msgtype: 'm.text', body: 'two' }));
      await until(() => notices().length === 2, 'a second notice');
      // A user who is not excluded still gets a puppet; Eve never got one.
      await puppetOf(ALICE, 'Alice', 1);
      expect(ircd.clients).toHaveLength(2);
      expect(notices()[1]).toContain('your messages here do not reach IRC');
      expect(notices()).toHaveLength(2);
      expect(store.getMember(ROOM as never, asUserId(EVE))).toBeNull();
    });

  });
});
