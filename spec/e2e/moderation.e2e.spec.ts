/**
 * Moderation and room state end to end: real InspIRCd, real Synapse, the built bridge.
 * `ircop` is first in the channel (so a channel operator), `ircbob` a plain IRC user, alice a
 * Matrix moderator (power level 50, given by the bridge bot the way a room admin would),
 * carol a plain Matrix user, eve an excluded one. The steps build on each other, in file order.
 */
import { guard, setupEnv, type E2EEnv } from './harness/env';
import type { IrcLine, IrcTestClient } from './harness/irc-client';
import { type MatrixEvent, MatrixTestClient } from './harness/matrix-client';
import { report, sleep } from './harness/proc';

const WAIT = 15_000;
const STEP = 90_000;
const CHANNEL = '#mod';
const ALIAS = '#test_mod:localhost';
const BOT = '@ircbridge:localhost';
const ALICE = '@alice:localhost';
const CAROL = '@carol:localhost';
const BOB_GHOST = '@test_ircbob:localhost';
const OP_GHOST = '@test_ircop:localhost';

const inChannel = (l: IrcLine): boolean => (l.params[0] ?? '').toLowerCase() === CHANNEL;
const isNotice = (ev: MatrixEvent, text: string): boolean =>
  ev.sender === BOT && ev.content.msgtype === 'm.notice' && String(ev.content.body).includes(text);
const memberOf = (ev: MatrixEvent, userId: string, membership: string): boolean =>
  ev.type === 'm.room.member' && ev.state_key === userId && ev.content.membership === membership;

describe('moderation e2e: kicks, bans, nicks, topics through real Synapse and InspIRCd', () => {
  let env: E2EEnv | undefined;
  let op: IrcTestClient;
  let bob: IrcTestClient;
  let alice: MatrixTestClient;
  let carol: MatrixTestClient;
  let roomId = '';

  beforeAll(async () => {
    env = await setupEnv({
      bridge: { networkExtra: { excluded_users: [{ regex: '^@eve:localhost$', reason: 'Eve is kept off IRC in this test.' }] } },
    });
    const e = env;
    await guard(e, async () => {
      op = await e.ircClient('ircop');
      await op.join(CHANNEL); // first in: channel operator
      bob = await e.ircClient('ircbob');
      await bob.join(CHANNEL);
      alice = await e.matrixUser('alice', 'Alice');
      carol = await e.matrixUser('carol', 'Carol');
    });
  }, 180_000);

  afterAll(async () => {
    await env?.teardown();
  }, 90_000);

  /** Raises a Matrix user's power level as the bridge bot (the room's creator) would. */
  async function setPowerLevel(userId: string, level: number): Promise<void> {
    const e = env as E2EEnv;
    const asBot = new MatrixTestClient(e.synapse.url, BOT, e.bridge.registration.as_token);
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.power_levels/`;
    const levels = await asBot.request<{ users?: Record<string, number> }>('GET', path);
    await asBot.request('PUT', path, { ...levels, users: { ...(levels.users ?? {}), [userId]: level } });
  }

  it('a. the portal carries m.bridge state; alice\'s puppet joins', async () => {
    await guard(env, async () => {
      roomId = await alice.joinRoom(ALIAS);
      await op.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'alice[m]', WAIT, 'alice[m] JOIN');
      for (const type of ['m.bridge', 'uk.half-shot.bridge']) {
        const state = await alice.getState(roomId, type, `org.matrix.irc/test/${CHANNEL}`);
        expect(state).toMatchObject({ bridgebot: BOT, protocol: { id: 'irc' }, network: { id: 'test' }, channel: { id: CHANNEL } });
      }
      await alice.waitForMembers(roomId, (m) => BOB_GHOST in m && OP_GHOST in m, WAIT, 'the ghosts of ircop and ircbob');
    });
  }, STEP);

  it('b. a display-name change renames the puppet; an IRC NICK renames the same ghost', async () => {
    await guard(env, async () => {
      await alice.setDisplayName('Alicia');
      const nick = await op.waitFor((l) => l.command === 'NICK' && l.nick.toLowerCase() === 'alice[m]', WAIT, 'alice[m] NICK');
      expect(nick.params[0]).toBe('Alicia[m]');

      const since = Date.now();
      bob.send('NICK robert');
      const renamed = await alice.waitForEvent(roomId, (ev) => memberOf(ev, BOB_GHOST, 'join') &&
        ev.content.displayname === 'robert', WAIT, 'the ghost renamed');
      expect(renamed.sender).toBe(BOB_GHOST);
      await alice.sync(1000);
      const churn = alice.events(roomId).filter((ev) => ev.receivedAt >= since && ev.type === 'm.room.member' &&
        ev.content.membership !== 'join');
      expect(churn).toEqual([]);
      const members = await alice.getMembers(roomId);
      expect(Object.keys(members).filter((u) => u.startsWith('@test_robert'))).toEqual([]);
      expect(members[BOB_GHOST]).toBe('robert');
    });
  }, STEP);

  it('c. topics both ways, attributed; IRC\'s refusal is told', async () => {
    await guard(env, async () => {
      op.send(`TOPIC ${CHANNEL} :Set on IRC`);
      const topic = await alice.waitForEvent(roomId, (ev) => ev.type === 'm.room.topic' && ev.content.topic === 'Set on IRC',
        WAIT, 'the IRC topic');
      report(`e2e moderation: the IRC topic was set in Matrix by ${topic.sender}`);
      if (topic.sender !== OP_GHOST) {
        // The room does not let ghosts set the topic: the bot did, and said who.
        expect(topic.sender).toBe(BOT);
        await alice.waitForEvent(roomId, (ev) => isNotice(ev, 'ircop changed the topic on IRC'), WAIT, 'the attribution');
      }

      await setPowerLevel(ALICE, 50);
      await alice.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.topic/`,
        { topic: 'From Matrix' });
      const refused = await alice.waitForEvent(roomId, (ev) => isNotice(ev, ALICE) && isNotice(ev, CHANNEL), WAIT,
        'a notice that IRC refused it');
      report(`e2e moderation: refusal told as ${JSON.stringify(refused.content.body)}`);

      op.send(`MODE ${CHANNEL} +o Alicia[m]`);
      await op.waitFor((l) => l.command === 'MODE' && l.params[2] === 'Alicia[m]', WAIT, 'the +o');
      await alice.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.topic/`,
        { topic: 'From Matrix, again' });
      const line = await op.waitFor((l) => l.command === 'TOPIC' && inChannel(l), WAIT, 'TOPIC from the puppet');
      expect(line.nick).toBe('Alicia[m]');
      expect(line.params[1]).toBe('From Matrix, again');
    });
  }, STEP);

  it('d. a Matrix kick of a ghost: by the moderator\'s puppet when it is an operator, else by the bot', async () => {
    await guard(env, async () => {
      await alice.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/kick`,
        { user_id: BOB_GHOST, reason: 'calm down' });
      const kick = await op.waitFor((l) => l.command === 'KICK' && l.params[1] === 'robert', WAIT, 'KICK robert');
      expect(kick.nick).toBe('Alicia[m]');
      expect(kick.params[2]).toBe('calm down');

      await bob.join(CHANNEL);
      await alice.waitForMembers(roomId, (m) => BOB_GHOST in m, WAIT, 'the ghost back in the room');
      op.send(`MODE ${CHANNEL} -o+o Alicia[m] MatrixBridge`);
      await op.waitFor((l) => l.command === 'MODE' && l.params[3] === 'MatrixBridge', WAIT, 'the mode change');
      await sleep(300); // the bridge reads the same MODE line from its own connection
      await alice.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/kick`,
        { user_id: BOB_GHOST, reason: 'again' });
      const byBot = await op.waitFor((l) => l.command === 'KICK' && l.params[1] === 'robert', WAIT, 'KICK robert by the bot');
      expect(byBot.nick).toBe('MatrixBridge');
      expect(byBot.params[2]).toBe(`${ALICE}: again`);
    });
  }, STEP);

  it('e. a Matrix ban of a ghost sets +b on its user@host and kicks; the unban lifts it', async () => {
    await guard(env, async () => {
      await bob.join(CHANNEL);
      await alice.waitForMembers(roomId, (m) => BOB_GHOST in m, WAIT, 'the ghost back in the room');
      await alice.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/ban`,
        { user_id: BOB_GHOST, reason: 'enough' });
      const ban = await op.waitFor((l) => l.command === 'MODE' && inChannel(l) && l.params[1] === '+b', WAIT, 'MODE +b');
      expect(ban.params[2]).toBe('*!*ircbob@127.0.0.1');
      await op.waitFor((l) => l.command === 'KICK' && l.params[1] === 'robert', WAIT, 'KICK robert');
      bob.send(`JOIN ${CHANNEL}`);
      await bob.waitFor((l) => l.command === '474', WAIT, 'ERR_BANNEDFROMCHAN');

      await alice.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/unban`, { user_id: BOB_GHOST });
      const unban = await op.waitFor((l) => l.command === 'MODE' && inChannel(l) && l.params[1] === '-b', WAIT, 'MODE -b');
      expect(unban.params[2]).toBe('*!*ircbob@127.0.0.1');
      await bob.join(CHANNEL);
    });
  }, STEP);

  it('f. IRC bans: a mask matching the whole bridge is only told (and IRC refuses a banned puppet a new nick); one matching one puppet bans its user, -b unbans', async () => {
    await guard(env, async () => {
      await carol.joinRoom(roomId);
      await op.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'carol[m]', WAIT, 'carol[m] JOIN');

      op.send(`MODE ${CHANNEL} +b *!*@127.0.0.1`);
      await alice.waitForEvent(roomId, (ev) => isNotice(ev, 'the bridge itself and 2 bridged Matrix user(s)'), WAIT,
        'a notice instead of mass bans');
      // While banned (not an operator any more), InspIRCd refuses alice's puppet a nick change.
      await alice.setDisplayName('Alice Again');
      const refusal = await alice.waitForEvent(roomId, (ev) => isNotice(ev, 'IRC refused the nick Alice_Again[m]'), WAIT,
        'a notice that the nick was refused');
      report(`e2e moderation: nick refusal told as ${JSON.stringify(refusal.content.body)}`);
      expect(String(refusal.content.body)).toContain('you are still Alicia[m] there');
      expect(op.lines.filter((l) => l.command === 'NICK' && l.nick === 'Alicia[m]')).toEqual([]);
      op.send(`MODE ${CHANNEL} -b *!*@127.0.0.1`);
      await op.waitFor((l) => l.command === 'MODE' && l.params[1] === '-b', WAIT, 'the mask removed');

      op.send(`MODE ${CHANNEL} +b *!*carol@*`);
      const banned = await alice.waitForEvent(roomId, (ev) => memberOf(ev, CAROL, 'ban'), WAIT, 'carol banned in Matrix');
      expect(banned.sender).toBe(BOT);
      expect(String(banned.content.reason)).toBe('Banned on IRC by ircop (*!*carol@*)');
      const members = await alice.getMembers(roomId);
      expect(ALICE in members).toBe(true);

      op.send(`MODE ${CHANNEL} -b *!*carol@*`);
      await alice.waitForEvent(roomId, (ev) => memberOf(ev, CAROL, 'leave') && ev.sender === BOT, WAIT, 'carol unbanned');
    });
  }, STEP);

  it('g. an IRC KICK of a puppet kicks its Matrix user, naming the kicker', async () => {
    await guard(env, async () => {
      await carol.joinRoom(roomId);
      await op.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'carol[m]', WAIT, 'carol[m] JOIN again');
      op.send(`KICK ${CHANNEL} Carol[m] :off you go`);
      const kicked = await alice.waitForEvent(roomId, (ev) => memberOf(ev, CAROL, 'leave') && ev.sender === BOT, WAIT,
        'carol kicked in Matrix');
      expect(String(kicked.content.reason)).toBe('Kicked on IRC by ircop: off you go');
    });
  }, STEP);

  it('h. an excluded user gets no puppet and is told why', async () => {
    await guard(env, async () => {
      const e = env as E2EEnv;
      const eve = await e.matrixUser('eve', 'Eve');
      await eve.joinRoom(roomId);
      await eve.waitForEvent(roomId, (ev) => isNotice(ev, 'Eve is kept off IRC in this test.'), WAIT, 'the reason');
      await eve.sendText(roomId, 'hello from eve');
      await eve.waitForEvent(roomId, (ev) => isNotice(ev, 'your messages here do not reach IRC'), WAIT, 'told once more');
      // A marker from alice proves the bridge went on; nothing of eve's reached IRC before it.
      await alice.sendText(roomId, 'marker after eve');
      await op.waitFor((l) => l.command === 'PRIVMSG' && l.params[1] === 'marker after eve', WAIT, 'the marker');
      expect(op.lines.filter((l) => l.nick.toLowerCase().startsWith('eve'))).toEqual([]);
    });
  }, STEP);
});
