/**
 * The bot's connection reads our own puppets' QUIT, PART and NICK on its own socket, in no set
 * order with what the puppets' connections read: a puppet nick the bridge has just let go of is
 * still its own for the lines the bot has yet to read, and becomes an IRC user's once the bot
 * saw it leave. Bridge core between a recording fake homeserver and a scripted fake IRC server.
 */
import type { NetworkBridge } from '../../src/bridge/network';
import { asUserId, type NetworkId } from '../../src/ids';
import type { FakeIrcClient } from '../fakes/fake-ircd';
import { type Fixture, memberEvent, startFixture, until } from './fixture';

const ALICE = '@alice:hs.test';
const STATIC = '!static:hs.test';
const NET = 'test' as NetworkId;
const CAROL_GHOST = '@test_carol:hs.test';
const ALICE_NICK_GHOST = '@test_alice=5bm=5d:hs.test';
const ALICE_HOST = 'Alice[m]!alice@bridge.host';

describe('our own puppets as the bot sees them', () => {
  let f: Fixture;

  afterEach(async () => {
    await f?.close();
  });

  const net = (): NetworkBridge => f.bridge.networks.get('test') as NetworkBridge;
  const leavesBy = (userId: string): number => f.hs.requestsTo('POST', /\/leave$/).filter((r) => r.query.user_id === userId).length;
  const joinsBy = (userId: string): number => f.hs.requestsTo('POST', /\/join\//).filter((r) => r.query.user_id === userId).length;
  /** user_ids of every homeserver request naming one of Alice's nick as a ghost. */
  const aliceGhostRequests = (): string[] => f.hs.requests.map((r) => r.query.user_id ?? '').filter((u) => u.includes('alice=5bm'));

  /** The bridge with #static mapped; the bot is in it with carol; Alice's puppet joined it too,
   *  and the bot saw that JOIN. */
  async function start(): Promise<FakeIrcClient> {
    f = await startFixture({ network: { mappings: [{ channel: '#static', room_id: STATIC }] } });
    await f.bot.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#static');
    f.bot.send(':MatrixBridge!bridge@bridge.host JOIN #static');
    f.bot.numeric('353', '= #static :@MatrixBridge carol');
    f.bot.numeric('366', '#static :End of /NAMES list.');
    await until(() => joinsBy(CAROL_GHOST) > 0, 'carol\'s ghost in the room');
    f.push(memberEvent(STATIC, ALICE, 'join', { displayname: 'Alice' }));
    const puppet = await f.ircd.client(1);
    await puppet.waitFor((l) => l.command === 'JOIN' && l.params[0] === '#static');
    f.bot.send(`:${ALICE_HOST} JOIN #static`);
    await f.bot.sync();
    return puppet;
  }

  /** Carol quits; resolves once her ghost left (everything the bot read before went out). */
  async function carolQuits(): Promise<void> {
    f.bot.send(':carol!c@irc.host QUIT :Bye');
    await until(() => leavesBy(CAROL_GHOST) > 0, 'carol\'s ghost leaving');
  }

  /** Alice leaves the room: her puppet parts, quits and is gone before the bot reads any of it. */
  async function aliceLeaves(puppet: FakeIrcClient): Promise<void> {
    f.push(memberEvent(STATIC, ALICE, 'leave', { prev: 'join' }));
    await puppet.waitForCommand('QUIT');
    puppet.drop();
    await until(() => net().puppets.get(asUserId(ALICE)) === undefined, 'the puppet gone');
  }

  test('a puppet\'s last line, PART and QUIT read by the bot after the puppet closed make no ghost and no leave',
    async () => {
      const puppet = await start();
      await aliceLeaves(puppet);
      f.bot.send(`:${ALICE_HOST} PRIVMSG #static :see you`);
      f.bot.send(`:${ALICE_HOST} PART #static :Left all bridged channels`);
      f.bot.send(`:${ALICE_HOST} QUIT :Left all bridged channels`);
      await carolQuits();
      expect(f.store.getGhostByNick(NET, 'alice[m]')).toBeNull();
      expect(aliceGhostRequests()).toEqual([]);
      expect(f.sends().filter((r) => r.query.user_id !== '@ircbridge:hs.test')).toEqual([]);
    });

  test('a QUIT the bot reads after the puppet\'s connection was lost makes no ghost and no leave', async () => {
    const puppet = await start();
    puppet.drop();
    await until(() => net().puppets.get(asUserId(ALICE))?.conn === null, 'the connection lost');
    f.bot.send(`:${ALICE_HOST} QUIT :Ping timeout: 240 seconds`);
    await carolQuits();
    expect(f.store.getGhostByNick(NET, 'alice[m]')).toBeNull();
    expect(aliceGhostRequests()).toEqual([]);
  });

  test('the bot reads a puppet\'s QUIT during a bridge stop: no ghost, nothing left in the outbox', async () => {
    const puppet = await start();
    const stopping = f.bridge.stop('Bridge shutting down');
    await puppet.waitForCommand('QUIT');
    f.bot.send(`:${ALICE_HOST} QUIT :Bridge shutting down`);
    await f.bot.sync(); // the bot read the QUIT while the puppet's own quit is still waiting
    puppet.drop();
    await f.bot.waitForCommand('QUIT');
    f.bot.drop();
    await stopping;
    expect(f.store.getGhostByNick(NET, 'alice[m]')).toBeNull();
    expect(f.store.listOutbox(STATIC as never, 100)).toEqual([]);
    expect(aliceGhostRequests()).toEqual([]);
  });

  test('an IRC user who joins with the nick after the bot saw the puppet quit gets a ghost', async () => {
    const puppet = await start();
    await aliceLeaves(puppet);
    f.bot.send(`:${ALICE_HOST} QUIT :Left all bridged channels`);
    f.bot.send(':Alice[m]!someone@irc.host JOIN #static');
    f.bot.send(':Alice[m]!someone@irc.host PRIVMSG #static :not the puppet');
    await until(() => f.sentBy(ALICE_NICK_GHOST, STATIC)[0], 'the message of the new Alice[m]');
    expect(f.sentBy(ALICE_NICK_GHOST, STATIC)).toEqual(['not the puppet']);
    expect(f.store.getGhostByNick(NET, 'alice[m]')?.userId).toBe(ALICE_NICK_GHOST);
    f.bot.send(':Alice[m]!someone@irc.host QUIT :Bye');
    await until(() => leavesBy(ALICE_NICK_GHOST) > 0, 'the new Alice[m] leaving');
  });

  test('an IRC user who takes the nick by NICK after the bot saw the puppet quit is that IRC user', async () => {
    const puppet = await start();
    // The server ends the puppet (KILL): the bot reads the QUIT before the puppet's socket closes.
    f.bot.send(`:${ALICE_HOST} QUIT :Killed (oper (go away))`);
    await f.bot.sync();
    puppet.drop();
    await until(() => net().puppets.get(asUserId(ALICE))?.conn === null, 'the connection lost');
    f.bot.send(':carol!c@irc.host NICK Alice[m]');
    f.bot.send(':Alice[m]!c@irc.host PRIVMSG #static :carol here');
    await until(() => f.sentBy(CAROL_GHOST, STATIC)[0], 'carol\'s message under her new nick');
    expect(f.sentBy(CAROL_GHOST, STATIC)).toEqual(['carol here']);
  });

  test('a puppet\'s nick change read by the bot after the puppet\'s own is no ghost rename', async () => {
    const puppet = await start();
    await net().puppets.changeNick(asUserId(ALICE), 'Alicia');
    expect(puppet.nick).toBe('Alicia');
    f.bot.send(`:${ALICE_HOST} NICK Alicia`);
    f.bot.send(':Alicia!alice@bridge.host PRIVMSG #static :renamed');
    await carolQuits();
    expect(f.store.getGhostByNick(NET, 'alice[m]')).toBeNull();
    expect(f.store.getGhostByNick(NET, 'alicia')).toBeNull();
    expect(f.sends().filter((r) => r.query.user_id !== '@ircbridge:hs.test')).toEqual([]);
  });

  test('a real IRC user\'s PART and QUIT still make their ghost leave', async () => {
    await start();
    f.bot.send(':dave!d@irc.host JOIN #static');
    f.bot.send(':dave!d@irc.host PART #static :later');
    await until(() => leavesBy('@test_dave:hs.test') > 0, 'dave\'s ghost leaving');
    await carolQuits();
  });
});
