/**
 * Room state both ways, with the bridge core between a recording fake homeserver and a
 * scripted fake IRC server: channel statuses <-> power levels (room version 12 creators too),
 * channel modes -> room rules, invites both ways, and Matrix kicks and bans of Matrix users.
 */
import { Bridge } from '../../src/bridge/bridge';
import type { BridgeContext } from '../../src/bridge/context';
import { SAVED_RULES } from '../../src/bridge/room-state';
import { parseConfig } from '../../src/config';
import { asUserId } from '../../src/ids';
import { configureLogging } from '../../src/log';
import { SqliteStore } from '../../src/store/sqlite';
import { FakeHomeserver, type RecordedRequest } from '../fakes/fake-homeserver';
import { DEFAULT_ISUPPORT, type FakeIrcClient, FakeIrcd } from '../fakes/fake-ircd';
import { answerCommonRoutes, memberEvent, specContext, until } from './fixture';

const ROOM = '!portal:hs.test';
const BOT = '@ircbridge:hs.test';
const ALICE = '@alice:hs.test';
const MOD = '@mod:hs.test';
const BOB_GHOST = '@test_ircbob:hs.test';
const CAROL_GHOST = '@test_carol:hs.test';
const DAVE_GHOST = '@test_dave:hs.test';
const PL_PATH = /\/state\/m\.room\.power_levels\/$/;

let txnCounter = 0;
let eventCounter = 0;

/** A member event in ROOM. */
function member(userId: string, membership: string, opts: { displayname?: string; prev?: string; sender?: string;
  reason?: string } = {}): unknown {
  return memberEvent(ROOM, userId, membership, opts);
}

function powerLevels(sender: string, users: Record<string, number>, prevUsers: Record<string, number>): unknown {
  return {
    type: 'm.room.power_levels', room_id: ROOM, sender, state_key: '', event_id: `$r${++eventCounter}`, origin_server_ts: Date.now(),
    content: { users, users_default: 0 }, unsigned: { prev_content: { users: prevUsers, users_default: 0 } },
  };
}


describe('Room state both ways (fake homeserver, fake IRC server)', () => {
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

  const notices = (): string[] => hs.requestsTo('PUT', /\/send\/m\.room\.message\//)
    .filter((r) => r.query.user_id === BOT).map((r) => (r.body as { body: string }).body);
  const plWrites = (): RecordedRequest[] => hs.requestsTo('PUT', PL_PATH);
  const plUsers = (r: RecordedRequest | undefined): Record<string, number> => (r?.body as { users: Record<string, number> }).users;
  /** Mode changes the bot sent (its `MODE #lobby` query after joining is not one). */
  const modeChanges = (c: FakeIrcClient): string[] => c.linesOf('MODE').filter((l) => l.params.length > 1).map((l) => l.raw);

  async function start(network: Record<string, unknown> = {}, isupport = DEFAULT_ISUPPORT): Promise<void> {
    ircd = new FakeIrcd({ isupport });
    ircPort = await ircd.listen();
    const config = parseConfig({
      homeserver: { url: hsUrl, domain: 'hs.test' },
      networks: { test: { host: '127.0.0.1', port: ircPort, send_burst: 100, send_rate: 100, connect_timeout_ms: 3000, ...network } },
    });
    bridge = new Bridge(ctx, config.networks);
    await bridge.start();
    bot = await ircd.client(0);
    await bot.waitForCommand('USER');
  }

  /** The portal of #lobby, with `names` as the channel's NAMES list. */
  async function portal(names = '@MatrixBridge ircbob carol'): Promise<void> {
    const created = bridge.queryAlias('#test_lobby:hs.test');
    await bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
    bot.send(':MatrixBridge!matrixbri@bridge.host JOIN #lobby');
    bot.numeric('353', `= #lobby :${names}`);
    bot.numeric('366', '#lobby :End of /NAMES list.');
    expect(await created).toBe(true);
  }

  async function puppetOf(userId: string, displayname: string, index: number): Promise<FakeIrcClient> {
    push(member(userId, 'join', { displayname }));
    const puppet = await ircd.client(index);
    await puppet.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#lobby');
    bot.send(`:${puppet.nick}!~${userId.slice(1, userId.indexOf(':'))}@bridge.host JOIN #lobby`);
    await bot.sync();
    return puppet;
  }

  beforeEach(async () => {
    configureLogging({ level: 'error', sink: { write: () => undefined } });
    hs = new FakeHomeserver();
    answerCommonRoutes(hs, ROOM)
      .on('PUT', /\/directory\/list\/room\//, { status: 200, body: {} })
      .on('GET', /\/directory\/list\/room\//, { status: 200, body: { visibility: 'public' } })
      .on('GET', /\/state\/m\.room\.join_rules\/$/, { status: 200, body: { join_rule: 'public' } })
      .on('GET', PL_PATH, { status: 200, body: { users: { [BOT]: 100, [MOD]: 50 }, users_default: 0, kick: 50, ban: 50 } })
      .on('GET', /\/joined_members$/, { status: 200, body: { joined: { [BOT]: {} } } });
    hsUrl = await hs.listen();
    store = new SqliteStore(':memory:');
    ctx = specContext(hsUrl, store);
  });

  afterEach(async () => {
    await bridge.stop('test over');
    await ircd.close();
    await hs.close();
    store.close();
  });

  describe('channel statuses -> power levels', () => {
    test('NAMES statuses become ghost levels in one event; a burst of MODE lines becomes one more', async () => {
      await start();
      await portal('@MatrixBridge @ircbob +carol dave');
      const first = await until(() => plWrites()[0], 'a power-levels event');
      expect(first.query.user_id).toBe(BOT);
      expect(first.body).toEqual({ users: { [BOT]: 100, [MOD]: 50, [BOB_GHOST]: 50, [CAROL_GHOST]: 1 }, users_default: 0,
        kick: 50, ban: 50 });
      // What the room has now, as the homeserver would answer.
      hs.override('GET', PL_PATH, { status: 200, body: first.body as Record<string, unknown> });
      bot.send(':ircbob!bob@irc.host MODE #lobby +o carol');
      bot.send(':ircbob!bob@irc.host MODE #lobby +v dave');
      bot.send(':carol!c@irc.host MODE #lobby -o+t ircbob');
      await until(() => plWrites().length === 2, 'a second event');
      await new Promise((r) => setTimeout(r, 600));
      expect(plWrites()).toHaveLength(2);
      expect(plUsers(plWrites()[1])).toEqual({ [BOT]: 100, [MOD]: 50, [CAROL_GHOST]: 50, [DAVE_GHOST]: 1 });
    });

    test('a room that does not let the bot write power levels is left alone; later items still go out', async () => {
      hs.override('PUT', PL_PATH, { status: 403, body: { errcode: 'M_FORBIDDEN', error: 'not enough power' } });
      const logged: string[] = [];
      configureLogging({ level: 'warn', format: 'json', sink: { write: (l) => logged.push(l) } });
      await start();
      await portal('@MatrixBridge @ircbob carol');
      await until(() => plWrites()[0], 'an attempt');
      bot.send(':ircbob!bob@irc.host TOPIC #lobby :still bridged');
      await until(() => hs.requestsTo('PUT', /\/state\/m\.room\.topic\//)[0], 'the topic after it');
      expect(plWrites()).toHaveLength(1);
      expect(notices()).toEqual([]);
      // A warning, not a delivery failure (which would be logged as an error).
      const entries = logged.map((l) => JSON.parse(l) as { level: string; msg: string });
      expect(entries.filter((e) => e.level === 'error')).toEqual([]);
      expect(entries.map((e) => e.msg)).toContain('the room does not let the bridge follow the channel there');
    });

    test('a status the room already reflects writes nothing; the level of the map follows prefix_power_levels', async () => {
      hs.override('GET', PL_PATH, { status: 200, body: { users: { [BOT]: 100, [BOB_GHOST]: 60 } } });
      await start({ prefix_power_levels: { o: 60 } });
      await portal('@MatrixBridge @ircbob carol');
      bot.send(':ircbob!bob@irc.host MODE #lobby +v carol');
      const write = await until(() => plWrites()[0], 'a power-levels event');
      expect(plUsers(write)).toEqual({ [BOT]: 100, [BOB_GHOST]: 60, [CAROL_GHOST]: 1 });
      expect(plWrites()).toHaveLength(1);
    });

    test('room version 12: creators never appear in users, and a creator moderator is served by the bot', async () => {
      hs.on('GET', /\/state\/m\.room\.create\/$/, { status: 200, body: {
        type: 'm.room.create', sender: BOT, state_key: '', content: { room_version: '12', additional_creators: [MOD] } } });
      // A stale entry for a creator (as a room upgraded by hand might carry) is dropped too.
      hs.override('GET', PL_PATH, { status: 200, body: { users: { [MOD]: 100 }, users_default: 0, kick: 50 } });
      await start();
      await portal('@MatrixBridge @ircbob carol');
      const write = await until(() => plWrites()[0], 'a power-levels event');
      expect(hs.requestsTo('GET', /\/state\/m\.room\.create\/$/)[0]?.query.format).toBe('event');
      expect(plUsers(write)).toEqual({ [BOB_GHOST]: 50 });
      // MOD is in no users map: as a creator they outrank the kick level.
      push(member(CAROL_GHOST, 'leave', { sender: MOD, prev: 'join' }));
      const kick = await bot.waitForCommand('KICK');
      expect(kick.params).toEqual(['#lobby', 'carol', MOD]);
    });

    test('the level an operator gets arrives before a topic they set, so their ghost sets it', async () => {
      await start();
      await portal('@MatrixBridge ircbob carol');
      bot.send(':carol!c@irc.host MODE #lobby +o ircbob');
      bot.send(':ircbob!bob@irc.host TOPIC #lobby :Ops only');
      const topic = await until(() => hs.requestsTo('PUT', /\/state\/m\.room\.topic\//)[0], 'the topic');
      expect(topic.query.user_id).toBe(BOB_GHOST);
      const pl = plWrites()[0] as RecordedRequest;
      expect(plUsers(pl)[BOB_GHOST]).toBe(50);
      expect(pl.at).toBeLessThanOrEqual(topic.at);
      expect(hs.requests.indexOf(pl)).toBeLessThan(hs.requests.indexOf(topic));
    });

    test('an IRC user who comes back without status loses the level the bridge gave them', async () => {
      await start();
      await portal('@MatrixBridge @ircbob carol');
      const first = await until(() => plWrites()[0], 'a power-levels event');
      hs.override('GET', PL_PATH, { status: 200, body: first.body as Record<string, unknown> });
      bot.send(':ircbob!bob@irc.host PART #lobby');
      bot.send(':ircbob!bob@irc.host JOIN #lobby');
      await until(() => plWrites().length === 2, 'a second event');
      expect(plUsers(plWrites()[1])[BOB_GHOST]).toBeUndefined();
    });
  });

  describe('power levels -> channel statuses', () => {
    test('a Matrix user raised to 50 gets +o from the bot; lowered to 1, +v and -o', async () => {
      await start();
      await portal();
      await puppetOf(ALICE, 'Alice', 1);
      push(powerLevels(MOD, { [MOD]: 50, [ALICE]: 50 }, { [MOD]: 50 }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby +o Alice[m]');
      bot.send(':MatrixBridge!matrixbri@bridge.host MODE #lobby +o Alice[m]');
      await bot.sync();
      push(powerLevels(MOD, { [MOD]: 50, [ALICE]: 1 }, { [MOD]: 50, [ALICE]: 50 }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby +v-o Alice[m] Alice[m]');
      // The bridge's own echo changes no power level of a Matrix user.
      bot.send(':MatrixBridge!matrixbri@bridge.host MODE #lobby +v-o Alice[m] Alice[m]');
      await bot.sync();
      push(powerLevels(MOD, { [MOD]: 50 }, { [MOD]: 50, [ALICE]: 1 }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby -v Alice[m]');
      expect(plWrites()).toEqual([]);
      expect(notices()).toEqual([]);
    });

    test('a ghost\'s level changed in Matrix changes the IRC user\'s status; unchanged users are left alone', async () => {
      await start();
      await portal('@MatrixBridge ircbob +carol');
      push(powerLevels(MOD, { [MOD]: 50, [BOB_GHOST]: 50, [CAROL_GHOST]: 1 }, { [MOD]: 50, [CAROL_GHOST]: 1 }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby +o ircbob');
      await bot.sync();
      expect(modeChanges(bot)).toEqual(['MODE #lobby +o ircbob']);
    });

    test('a level above what the bridge sets, or no operator to set it: the sender is told, IRC is untouched', async () => {
      await start({}, ['NICKLEN=30', 'CASEMAPPING=ascii', 'CHANTYPES=#', 'PREFIX=(qaohv)~&@%+']);
      await portal('&MatrixBridge ircbob carol');
      await puppetOf(ALICE, 'Alice', 1);
      push(powerLevels(MOD, { [MOD]: 50, [ALICE]: 100 }, { [MOD]: 50 }));
      expect(await until(() => notices()[0], 'a notice')).toBe(`${MOD}: power level 100 of ${ALICE} stands for +q in #lobby, ` +
        'which the bridge does not set (it gives at most +o); IRC stays as it is.');
      push(powerLevels(MOD, { [MOD]: 50, [ALICE]: 45 }, { [MOD]: 50 }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby +h Alice[m]');
      bot.send(':carol!c@irc.host MODE #lobby -a MatrixBridge');
      await bot.sync();
      push(powerLevels(MOD, { [MOD]: 50, [ALICE]: 1 }, { [MOD]: 50 }));
      expect(await until(() => notices()[1], 'a second notice')).toBe(`${MOD}: Alice[m] keeps their status in #lobby on IRC ` +
        '(+v not set): neither the bridge bot nor your IRC connection is a channel operator there.');
      await bot.sync();
      expect(modeChanges(bot)).toEqual(['MODE #lobby +h Alice[m]']);
    });
  });

  describe('room rules -> channel modes', () => {
    function stateEvent(type: string, content: Record<string, unknown>, prev: Record<string, unknown>): unknown {
      return { type, room_id: ROOM, sender: MOD, state_key: '', event_id: `$r${++eventCounter}`, origin_server_ts: Date.now(),
        content, unsigned: { prev_content: prev } };
    }

    test('the invite join rule sets +i and public removes it; a rule without a channel mode is told', async () => {
      await start();
      await portal();
      push(stateEvent('m.room.join_rules', { join_rule: 'invite' }, { join_rule: 'public' }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby +i');
      bot.send(':MatrixBridge!matrixbri@bridge.host MODE #lobby +i');
      await bot.sync();
      push(stateEvent('m.room.join_rules', { join_rule: 'knock' }, { join_rule: 'invite' }));
      expect(await until(() => notices()[0], 'a notice')).toBe(`${MOD}: the join rule "knock" has no IRC channel mode; #lobby ` +
        'stays as it is.');
      push(stateEvent('m.room.join_rules', { join_rule: 'public' }, { join_rule: 'knock' }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby -i');
      expect(modeChanges(bot)).toEqual(['MODE #lobby +i', 'MODE #lobby -i']);
    });

    test('events_default reaching the voice level sets +m, dropping below removes it; no operator: the sender is told', async () => {
      await start();
      await portal();
      push(stateEvent('m.room.power_levels', { users: { [MOD]: 50 }, events_default: 1 }, { users: { [MOD]: 50 }, events_default: 0 }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby +m');
      bot.send(':MatrixBridge!matrixbri@bridge.host MODE #lobby +m');
      bot.send(':carol!c@irc.host MODE #lobby -o MatrixBridge');
      await bot.sync();
      push(stateEvent('m.room.power_levels', { users: { [MOD]: 50 }, events_default: 0 }, { users: { [MOD]: 50 }, events_default: 1 }));
      expect(await until(() => notices()[0], 'a notice')).toBe(`${MOD}: #lobby stays as it is on IRC (-m not set): neither the ` +
        'bridge bot nor your IRC connection is a channel operator there.');
      expect(modeChanges(bot)).toEqual(['MODE #lobby +m']);
    });
  });

  describe('channel modes -> room rules', () => {
    const joinRules = (): RecordedRequest[] => hs.requestsTo('PUT', /\/state\/m\.room\.join_rules\//);
    const savedWrites = (): RecordedRequest[] => hs.requestsTo('PUT', new RegExp(`/state/${SAVED_RULES.replace(/\./g, '\\.')}/$`));

    test('+i makes the room invite-only, remembering the rule; -i puts it back', async () => {
      hs.on('GET', /\/state\/org\.matrix\.irc\.saved_rules\/$/, { status: 404, body: { errcode: 'M_NOT_FOUND' } });
      await start();
      await portal();
      bot.send(':carol!c@irc.host MODE #lobby +i');
      await until(() => joinRules()[0], 'join rules');
      expect(joinRules()[0]?.body).toEqual({ join_rule: 'invite' });
      expect(savedWrites()[0]?.body).toEqual({ join_rules: { join_rule: 'public' } });
      expect(hs.requests.indexOf(savedWrites()[0] as RecordedRequest)).toBeLessThan(hs.requests.indexOf(joinRules()[0] as RecordedRequest));
      // The room now says invite, and the saved rule is there.
      hs.override('GET', /\/state\/m\.room\.join_rules\/$/, { status: 200, body: { join_rule: 'invite' } });
      hs.override('GET', /\/state\/org\.matrix\.irc\.saved_rules\/$/, { status: 200, body: savedWrites()[0]?.body as Record<string, unknown> });
      bot.send(':carol!c@irc.host MODE #lobby +k sesame');
      bot.send(':carol!c@irc.host MODE #lobby -i');
      await until(() => store.getRoomByChannel('test' as never, '#lobby')?.key === 'sesame', 'the key stored');
      bot.send(':carol!c@irc.host MODE #lobby -k *');
      await until(() => joinRules().length === 2, 'the rule restored');
      expect(joinRules()[1]?.body).toEqual({ join_rule: 'public' });
      // The saved rule is emptied right after the rule it kept is back (a second request).
      await until(() => savedWrites().length === 2, 'the saved rule emptied');
      expect(savedWrites().at(-1)?.body).toEqual({});
      expect(hs.requests.indexOf(joinRules()[1] as RecordedRequest)).toBeLessThan(hs.requests.indexOf(savedWrites()[1] as RecordedRequest));
      expect(store.getRoomByChannel('test' as never, '#lobby')?.key).toBeNull();
    });

    test('+m in a room of version 12 leaves the creators out of users', async () => {
      hs.on('GET', /\/state\/org\.matrix\.irc\.saved_rules\/$/, { status: 404, body: { errcode: 'M_NOT_FOUND' } })
        .on('GET', /\/state\/m\.room\.create\/$/, { status: 200, body: { sender: BOT, content: { room_version: '12' } } });
      hs.override('GET', PL_PATH, { status: 200, body: { users: { [BOT]: 100, [MOD]: 50 } } });
      await start();
      await portal('MatrixBridge ircbob carol');
      bot.send(':carol!c@irc.host MODE #lobby +m');
      const w = await until(() => plWrites()[0], 'power levels');
      expect(w.body).toEqual({ users: { [MOD]: 50 }, events_default: 1 });
    });

    test('+m needs the voice level to speak, -m restores the old level', async () => {
      hs.on('GET', /\/state\/org\.matrix\.irc\.saved_rules\/$/, { status: 404, body: { errcode: 'M_NOT_FOUND' } });
      await start();
      await portal('MatrixBridge ircbob carol');
      bot.send(':carol!c@irc.host MODE #lobby +m');
      const w = await until(() => plWrites()[0], 'power levels');
      expect(w.body).toEqual({ users: { [BOT]: 100, [MOD]: 50 }, users_default: 0, kick: 50, ban: 50, events_default: 1 });
      expect(savedWrites()[0]?.body).toEqual({ events_default: 0 });
      hs.override('GET', PL_PATH, { status: 200, body: w.body as Record<string, unknown> });
      hs.override('GET', /\/state\/org\.matrix\.irc\.saved_rules\/$/, { status: 200, body: { events_default: 0 } });
      bot.send(':carol!c@irc.host MODE #lobby -m');
      await until(() => plWrites().length === 2, 'restored');
      expect((plWrites()[1]?.body as { events_default: number }).events_default).toBe(0);
    });

    test('+s and +p keep the room out of the directory and third-party lookups; the mode list after joining counts', async () => {
      hs.on('GET', /\/state\/org\.matrix\.irc\.saved_rules\/$/, { status: 404, body: { errcode: 'M_NOT_FOUND' } });
      await start();
      await portal();
      await bot.waitFor((l) => l.raw === 'MODE #lobby');
      const before = await bridge.thirdPartyLocations('irc', { network: 'test', channel: '#lobby' });
      expect(before).toHaveLength(1);
      bot.numeric('324', '#lobby +spnt');
      const put = await until(() => hs.requestsTo('PUT', /\/directory\/list\/room\//)[0], 'a directory change');
      expect(put.body).toEqual({ visibility: 'private' });
      expect(await bridge.thirdPartyLocations('irc', { network: 'test', channel: '#LOBBY' })).toEqual([]);
      hs.override('GET', /\/directory\/list\/room\//, { status: 200, body: { visibility: 'private' } });
      hs.override('GET', /\/state\/org\.matrix\.irc\.saved_rules\/$/, { status: 200, body: { visibility: 'public' } });
      bot.send(':carol!c@irc.host MODE #lobby -s');
      await bot.sync();
      bot.send(':carol!c@irc.host MODE #lobby -p');
      await until(() => hs.requestsTo('PUT', /\/directory\/list\/room\//).length === 2, 'published again');
      expect(hs.requestsTo('PUT', /\/directory\/list\/room\//)[1]?.body).toEqual({ visibility: 'public' });
      expect(await bridge.thirdPartyLocations('irc', { network: 'test', channel: '#lobby' })).toHaveLength(1);
    });
  });

  describe('invites', () => {
    test('an IRC INVITE of a puppet invites its Matrix user, creating the portal when needed', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      hs.override('POST', '/_matrix/client/v3/createRoom', { status: 200, body: { room_id: '!other:hs.test' } });
      puppet.send(':carol!c@irc.host INVITE Alice[m] #other');
      await bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#other');
      bot.send(':MatrixBridge!matrixbri@bridge.host JOIN #other');
      bot.numeric('353', '= #other :@MatrixBridge carol');
      bot.numeric('366', '#other :End of /NAMES list.');
      const invite = await until(() => hs.requestsTo('POST', /\/invite$/)[0], 'a Matrix invite');
      expect(invite.path).toBe(`/_matrix/client/v3/rooms/${encodeURIComponent('!other:hs.test')}/invite`);
      expect(invite.query.user_id).toBe(BOT);
      expect(invite.body).toEqual({ user_id: ALICE });
      // Already in the room of #lobby: no invite.
      puppet.send(':carol!c@irc.host INVITE Alice[m] #lobby');
      puppet.send(':carol!c@irc.host PRIVMSG Alice[m] :marker');
      await until(() => store.listOutboxRooms().length === 0 && hs.requestsTo('POST', /\/invite$/).length === 1, 'nothing more');
      await new Promise((r) => setTimeout(r, 200));
      expect(hs.requestsTo('POST', /\/invite$/)).toHaveLength(1);
    });

    test('a flood of IRC INVITEs: five a minute reach one Matrix user, ten new rooms a minute per network', async () => {
      await start();
      await portal();
      const alice = await puppetOf(ALICE, 'Alice', 1);
      const bob = await puppetOf('@bob:hs.test', 'Bob', 2);
      const dave = await puppetOf('@dave:hs.test', 'Dave', 3);
      hs.override('POST', '/_matrix/client/v3/createRoom',
        ...Array.from({ length: 16 }, (_, i) => ({ status: 200, body: { room_id: `!flood${i + 1}:hs.test` } })));
      const joined = new Set<string>();
      const answerJoins = async (): Promise<void> => {
        await bot.sync();
        for (const l of bot.linesOf('JOIN')) {
          const channel = l.params[0] as string;
          if (channel.startsWith('#f') && !joined.has(channel)) {
            joined.add(channel);
            bot.send(`:MatrixBridge!matrixbri@bridge.host JOIN ${channel}`);
            bot.numeric('353', `= ${channel} :@MatrixBridge carol`);
            bot.numeric('366', `${channel} :End of /NAMES list.`);
          }
        }
      };
      // Alice: 8 invites, to 8 new channels; Bob and Dave: 4 each.
      for (let i = 1; i <= 8; i++) {
        alice.send(`:carol!c@irc.host INVITE Alice[m] #fa${i}`);
      }
      for (let i = 1; i <= 4; i++) {
        bob.send(`:carol!c@irc.host INVITE Bob[m] #fb${i}`);
        dave.send(`:carol!c@irc.host INVITE Dave[m] #fd${i}`);
      }
      await until(async () => {
        await answerJoins();
        return hs.requestsTo('POST', /\/invite$/).length >= 10;
      }, 'ten Matrix invites');
      await new Promise((r) => setTimeout(r, 300));
      await answerJoins();
      const invites = hs.requestsTo('POST', /\/invite$/).map((r) => (r.body as { user_id: string }).user_id);
      expect(invites.filter((u) => u === ALICE)).toHaveLength(5); // the per-user limit
      expect(invites).toHaveLength(10); // the network's limit on new rooms: 2 of Bob's and Dave's 8 dropped
      expect(hs.requestsTo('POST', '/_matrix/client/v3/createRoom')
        .filter((r) => String((r.body as { room_alias_name?: string }).room_alias_name).startsWith('test_f'))).toHaveLength(10);
    });

    test('a Matrix invite of a ghost makes the inviter\'s puppet INVITE that IRC user; one not on IRC is told', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      push(member(DAVE_GHOST, 'invite', { sender: ALICE }));
      const whois = await bot.waitFor((l) => l.command === 'WHOIS');
      expect(whois.params).toEqual(['dave']);
      bot.numeric('311', 'dave d dave.host * :Dave');
      bot.numeric('318', 'dave :End of /WHOIS list.');
      const line = await puppet.waitForCommand('INVITE');
      expect(line.raw).toBe('INVITE dave #lobby');
      push(member('@test_erin:hs.test', 'invite', { sender: ALICE }));
      await bot.waitFor((l) => l.raw === 'WHOIS erin');
      bot.numeric('401', 'erin :No such nick/channel');
      bot.numeric('318', 'erin :End of /WHOIS list.');
      expect(await until(() => notices()[0], 'a notice')).toBe(`${ALICE}: erin was not invited to #lobby on IRC: erin is not on IRC now.`);
      expect(puppet.linesOf('INVITE')).toHaveLength(1);
    });
  });

  describe('Matrix kicks and bans of Matrix users', () => {
    test('a kick becomes an IRC KICK of the puppet by the bot (not a PART); its echo kicks nobody in Matrix', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      push(member(ALICE, 'leave', { sender: MOD, reason: 'calm down', prev: 'join' }));
      const kick = await bot.waitForCommand('KICK');
      expect(kick.params).toEqual(['#lobby', 'Alice[m]', `${MOD}: calm down`]);
      bot.send(`:MatrixBridge!matrixbri@bridge.host KICK #lobby Alice[m] :${MOD}: calm down`);
      await new Promise((r) => setTimeout(r, 300));
      // The puppet quits only once it has seen the KICK itself: a QUIT reaching the server first
      // would make the KICK fail (IRC would see a quit, not a kick).
      expect(puppet.linesOf('QUIT')).toEqual([]);
      puppet.send(`:MatrixBridge!matrixbri@bridge.host KICK #lobby Alice[m] :${MOD}: calm down`);
      await puppet.waitForCommand('QUIT');
      expect(puppet.linesOf('PART')).toEqual([]);
      bot.send(':ircbob!bob@irc.host PRIVMSG #lobby :marker');
      await until(() => hs.requestsTo('PUT', /\/send\//).some((r) => (r.body as { body?: string }).body === 'marker'), 'marker');
      expect(hs.requestsTo('POST', /\/kick$/)).toEqual([]);
    });

    test('a ban sets +b on the puppet\'s user mask and kicks; the unban lifts it', async () => {
      await start();
      await portal();
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      push(member(ALICE, 'ban', { sender: MOD, prev: 'join' }));
      await bot.waitForCommand('KICK');
      expect(modeChanges(bot)).toEqual(['MODE #lobby +b *!*alice@bridge.host']);
      puppet.send(`:MatrixBridge!matrixbri@bridge.host KICK #lobby Alice[m] :${MOD}`);
      await puppet.waitForCommand('QUIT');
      push(member(ALICE, 'leave', { sender: MOD, prev: 'ban' }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby -b *!*alice@bridge.host');
      expect(store.getLinkedBanMask('test' as never, '#lobby', asUserId(ALICE), 'matrix')).toBeNull();
    });

    test('a Matrix unban of a user banned because of an IRC +b lifts that +b', async () => {
      await start();
      await portal();
      await puppetOf(ALICE, 'Alice', 1);
      bot.send(':carol!c@irc.host MODE #lobby +b *!*Alice@*');
      await until(() => hs.requestsTo('POST', /\/ban$/)[0], 'a Matrix ban');
      push(member(ALICE, 'leave', { sender: MOD, prev: 'ban' }));
      await bot.waitFor((l) => l.raw === 'MODE #lobby -b *!*alice@*');
      expect(store.getLinkedBanMask('test' as never, '#lobby', asUserId(ALICE), 'irc')).toBeNull();
    });

    test('without an operator to carry it out, a kick is only a PART', async () => {
      await start();
      await portal('MatrixBridge ircbob carol');
      const puppet = await puppetOf(ALICE, 'Alice', 1);
      push(member(ALICE, 'leave', { sender: MOD, prev: 'join' }));
      await puppet.waitForCommand('PART');
      expect(bot.linesOf('KICK')).toEqual([]);
      expect(notices()).toEqual([]);
    });
  });
});
