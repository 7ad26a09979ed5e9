/**
 * Room state end to end: real InspIRCd, real Synapse (its default room version, 12), the built
 * bridge. `ircop` is first in #rs (a channel operator) and makes the bridge bot an operator;
 * `ircbob` and `ircdan` are plain IRC users; alice is the Matrix moderator (raised to 100 by the
 * bot, the room's creator), carol and dave plain Matrix users; the last step links a room
 * alice created herself. The steps build on each other, in file order.
 */
import { guard, setupEnv, type E2EEnv } from './harness/env';
import type { IrcLine, IrcTestClient } from './harness/irc-client';
import { type MatrixEvent, MatrixTestClient } from './harness/matrix-client';
import { report, sleep } from './harness/proc';

const WAIT = 15_000;
const STEP = 90_000;
const CHANNEL = '#rs';
const ALIAS = '#test_rs:localhost';
const BOT = '@ircbridge:localhost';
const ALICE = '@alice:localhost';
const CAROL = '@carol:localhost';
const OP_GHOST = '@test_ircop:localhost';
const BOB_GHOST = '@test_ircbob:localhost';
const DAN_GHOST = '@test_ircdan:localhost';

const inChannel = (l: IrcLine): boolean => (l.params[0] ?? '').toLowerCase() === CHANNEL;
const fromBot = (ev: MatrixEvent, type: string): boolean => ev.type === type && ev.sender === BOT;
const usersOf = (ev: MatrixEvent): Record<string, number> => (ev.content.users ?? {}) as Record<string, number>;
const enc = encodeURIComponent;

describe('room state e2e: power levels, channel modes, invites, kicks of Matrix users (Synapse + InspIRCd)', () => {
  let env: E2EEnv | undefined;
  let op: IrcTestClient;
  let bob: IrcTestClient;
  let dan: IrcTestClient;
  let alice: MatrixTestClient;
  let carol: MatrixTestClient;
  let asBot: MatrixTestClient;
  let roomId = '';

  beforeAll(async () => {
    env = await setupEnv();
    const e = env;
    await guard(e, async () => {
      op = await e.ircClient('ircop');
      await op.join(CHANNEL); // first in: channel operator
      bob = await e.ircClient('ircbob');
      await bob.join(CHANNEL);
      dan = await e.ircClient('ircdan');
      await dan.join(CHANNEL);
      alice = await e.matrixUser('alice', 'Alice');
      carol = await e.matrixUser('carol', 'Carol');
      asBot = new MatrixTestClient(e.synapse.url, BOT, e.bridge.registration.as_token);
    });
  }, 180_000);

  afterAll(async () => {
    await env?.teardown();
  }, 90_000);

  const plPath = (): string => `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`;

  /** Sets a level as `who` on top of the room's current power levels. */
  async function setLevel(who: MatrixTestClient, userId: string, level: number | null): Promise<void> {
    const levels = await who.request<{ users?: Record<string, number> }>('GET', plPath());
    const users = { ...(levels.users ?? {}) };
    if (level === null) {
      delete users[userId];
    } else {
      users[userId] = level;
    }
    await who.request('PUT', plPath(), { ...levels, users });
  }

  it('a. IRC operators\' ghosts get level 50; the bot, creator of a version-12 room, is in no users map', async () => {
    await guard(env, async () => {
      roomId = await alice.joinRoom(ALIAS);
      await op.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'alice[m]', WAIT, 'alice[m] JOIN');
      const create = await asBot.request<{ content: { room_version?: string }; sender: string }>('GET',
        `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.create/?format=event`);
      report(`e2e room state: portal room version ${String(create.content.room_version)}, created by ${create.sender}`);
      expect(create.sender).toBe(BOT);
      const pl = await alice.waitForEvent(roomId, (ev) => fromBot(ev, 'm.room.power_levels') && usersOf(ev)[OP_GHOST] === 50,
        WAIT, 'ircop\'s ghost at 50');
      if (create.content.room_version === '12') {
        expect(BOT in usersOf(pl)).toBe(false);
      }
      expect(usersOf(pl)[BOB_GHOST]).toBeUndefined();
      op.send(`MODE ${CHANNEL} +o MatrixBridge`);
      await op.waitFor((l) => l.command === 'MODE' && l.params[2] === 'MatrixBridge', WAIT, 'the bot opped');
      await setLevel(asBot, ALICE, 100);
      await alice.waitForEvent(roomId, (ev) => fromBot(ev, 'm.room.power_levels') && usersOf(ev)[ALICE] === 100, WAIT, 'alice at 100');
    });
  }, STEP);

  it('b. two quick MODE lines become one power-levels event; an operator\'s ghost sets the topic itself', async () => {
    await guard(env, async () => {
      const since = Date.now();
      op.send(`MODE ${CHANNEL} +o ircbob`);
      op.send(`MODE ${CHANNEL} +v ircdan`);
      const pl = await alice.waitForEvent(roomId, (ev) => fromBot(ev, 'm.room.power_levels') && usersOf(ev)[BOB_GHOST] === 50,
        WAIT, 'ircbob\'s ghost at 50');
      expect(usersOf(pl)[DAN_GHOST]).toBe(1);
      await sleep(1500);
      await alice.sync(500);
      const writes = alice.events(roomId).filter((ev) => ev.receivedAt >= since && fromBot(ev, 'm.room.power_levels'));
      expect(writes).toHaveLength(1);

      bob.send(`TOPIC ${CHANNEL} :Set by an operator`);
      const topic = await alice.waitForEvent(roomId, (ev) => ev.type === 'm.room.topic' && ev.content.topic === 'Set by an operator',
        WAIT, 'the topic');
      expect(topic.sender).toBe(BOB_GHOST);
    });
  }, STEP);

  it('c. a Matrix power-level change gives and takes +o on the user\'s puppet', async () => {
    await guard(env, async () => {
      await carol.joinRoom(roomId);
      await op.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'carol[m]', WAIT, 'carol[m] JOIN');
      await setLevel(alice, CAROL, 50);
      const plus = await op.waitFor((l) => l.command === 'MODE' && inChannel(l) && l.params[1] === '+o' && l.params[2] === 'Carol[m]',
        WAIT, '+o Carol[m]');
      expect(plus.nick).toBe('MatrixBridge');
      await setLevel(alice, CAROL, null);
      await op.waitFor((l) => l.command === 'MODE' && inChannel(l) && l.params[1] === '-o' && l.params[2] === 'Carol[m]',
        WAIT, '-o Carol[m]');
    });
  }, STEP);

  it('d. +i and +k make the room invite-only and -i/-k restore it; puppets join with the stored key; the join rule sets +i', async () => {
    await guard(env, async () => {
      op.send(`MODE ${CHANNEL} +i`);
      await alice.waitForEvent(roomId, (ev) => fromBot(ev, 'm.room.join_rules') && ev.content.join_rule === 'invite', WAIT, 'invite only');
      op.send(`MODE ${CHANNEL} -i`);
      await alice.waitForEvent(roomId, (ev) => fromBot(ev, 'm.room.join_rules') && ev.content.join_rule === 'public', WAIT, 'public again');

      op.send(`MODE ${CHANNEL} +k sesame`);
      await alice.waitForEvent(roomId, (ev) => fromBot(ev, 'm.room.join_rules') && ev.content.join_rule === 'invite', WAIT, 'keyed');
      const e = env as E2EEnv;
      const dave = await e.matrixUser('dave', 'Dave');
      await alice.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@dave:localhost' });
      await dave.joinRoom(roomId);
      await op.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'dave[m]' && inChannel(l), WAIT,
        'dave[m] JOIN with the key');
      op.send(`MODE ${CHANNEL} -k sesame`);
      await alice.waitForEvent(roomId, (ev) => fromBot(ev, 'm.room.join_rules') && ev.content.join_rule === 'public', WAIT,
        'public after -k');

      // The other way: alice's join rule becomes +i and back.
      const rules = `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.join_rules/`;
      const ruleNow = async (): Promise<unknown> => (await alice.request<{ join_rule?: string }>('GET', rules)).join_rule;
      for (let i = 0; i < 50 && (await ruleNow()) !== 'public'; i++) {
        await sleep(100); // the rule -k restored is in place
      }
      await alice.request('PUT', rules, { join_rule: 'invite' });
      const plusI = await op.waitFor((l) => l.command === 'MODE' && inChannel(l) && l.params[1] === '+i', WAIT, '+i from Matrix');
      expect(plusI.nick).toBe('MatrixBridge');
      await sleep(300); // the bridge reads its own MODE back
      await alice.request('PUT', rules, { join_rule: 'public' });
      await op.waitFor((l) => l.command === 'MODE' && inChannel(l) && l.params[1] === '-i', WAIT, '-i from Matrix');
    });
  }, STEP);

  it('e. +m asks for voice to speak; +s keeps the room out of the directory and third-party lookups', async () => {
    await guard(env, async () => {
      op.send(`MODE ${CHANNEL} +m`);
      await alice.waitForEvent(roomId, (ev) => fromBot(ev, 'm.room.power_levels') && ev.content.events_default === 1, WAIT, '+m');
      op.send(`MODE ${CHANNEL} -m`);
      await alice.waitForEvent(roomId, (ev) => fromBot(ev, 'm.room.power_levels') && ev.content.events_default === 0, WAIT, '-m');

      const dir = `/_matrix/client/v3/directory/list/room/${enc(roomId)}`;
      const lookup = `/_matrix/client/v3/thirdparty/location/irc?network=test&channel=${enc(CHANNEL)}`;
      await asBot.request('PUT', dir, { visibility: 'public' });
      expect(await alice.request<unknown[]>('GET', lookup)).toHaveLength(1);
      op.send(`MODE ${CHANNEL} +s`);
      await op.waitFor((l) => l.command === 'MODE' && inChannel(l) && l.params[1] === '+s', WAIT, '+s');
      const hidden = async (): Promise<boolean> => (await alice.request<{ visibility: string }>('GET', dir)).visibility === 'private';
      for (let i = 0; i < 50 && !(await hidden()); i++) {
        await sleep(200);
      }
      expect(await hidden()).toBe(true);
      expect(await alice.request<unknown[]>('GET', lookup)).toEqual([]);
      op.send(`MODE ${CHANNEL} -s`);
      for (let i = 0; i < 50 && (await hidden()); i++) {
        await sleep(200);
      }
      expect(await hidden()).toBe(false);
      expect(await alice.request<unknown[]>('GET', lookup)).toHaveLength(1);
    });
  }, STEP);

  it('f. invites: an IRC INVITE of a puppet invites its user to a new portal; a Matrix invite of a ghost INVITEs on IRC', async () => {
    await guard(env, async () => {
      await op.join('#rsother');
      op.send('INVITE Alice[m] #rsother');
      const otherId = await (async (): Promise<string> => {
        for (let i = 0; i < 75; i++) {
          try {
            return await alice.resolveAlias('#test_rsother:localhost');
          } catch {
            await sleep(200);
          }
        }
        throw new Error('no portal for #rsother');
      })();
      const invited = async (): Promise<string | undefined> => (await asBot.request<{ membership?: string }>('GET',
        `/_matrix/client/v3/rooms/${enc(otherId)}/state/m.room.member/${enc(ALICE)}`).catch(() => ({ membership: undefined })))
        .membership;
      for (let i = 0; i < 50 && (await invited()) !== 'invite'; i++) {
        await sleep(200);
      }
      expect(await invited()).toBe('invite');

      // InspIRCd lets only channel operators invite: the refusal reaches alice.
      const e = env as E2EEnv;
      const eve = await e.ircClient('irceve');
      await alice.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@test_irceve:localhost' });
      const refused = await alice.waitForEvent(roomId, (ev) => ev.sender === BOT && ev.content.msgtype === 'm.notice' &&
        String(ev.content.body).startsWith(`${ALICE}: IRC refused your last action in ${CHANNEL}`), WAIT, 'the refusal');
      report(`e2e room state: invite refusal told as ${JSON.stringify(refused.content.body)}`);
      op.send(`MODE ${CHANNEL} +o Alice[m]`);
      await op.waitFor((l) => l.command === 'MODE' && l.params[2] === 'Alice[m]', WAIT, 'alice[m] opped');
      await sleep(300); // the bridge reads the same MODE line from its own connection
      const fay = await e.ircClient('ircfay');
      await alice.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@test_ircfay:localhost' });
      const line = await fay.waitFor((l) => l.command === 'INVITE', WAIT, 'an INVITE for ircfay');
      expect(line.nick).toBe('Alice[m]');
      expect(line.params).toEqual(['ircfay', CHANNEL]);
      expect(eve.lines.filter((l) => l.command === 'INVITE')).toEqual([]);
    });
  }, STEP);

  it('g. a Matrix kick of a Matrix user is an IRC KICK of the puppet by the moderator\'s puppet; a ban sets +b on its mask, the unban lifts it', async () => {
    await guard(env, async () => {
      await alice.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/kick`, { user_id: CAROL, reason: 'bye' });
      // alice's puppet is an operator since f: it kicks, with alice's reason.
      const kick = await op.waitFor((l) => l.command === 'KICK' && l.params[1] === 'Carol[m]', WAIT, 'KICK Carol[m]');
      expect(kick.nick).toBe('Alice[m]');
      expect(kick.params[2]).toBe('bye');
      await sleep(500);
      const kicks = carol.events(roomId).filter((ev) => ev.type === 'm.room.member' && ev.state_key === CAROL &&
        ev.content.membership === 'leave');
      expect(kicks.length).toBeLessThanOrEqual(1); // no second kick from the IRC echo

      await carol.joinRoom(roomId);
      await op.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'carol[m]', WAIT, 'carol[m] back', false);
      await alice.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: CAROL, reason: 'out' });
      const ban = await op.waitFor((l) => l.command === 'MODE' && inChannel(l) && l.params[1] === '+b', WAIT, 'MODE +b');
      expect(ban.params[2]).toBe('*!*carol@127.0.0.1');
      await alice.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/unban`, { user_id: CAROL });
      const unban = await op.waitFor((l) => l.command === 'MODE' && inChannel(l) && l.params[1] === '-b', WAIT, 'MODE -b');
      expect(unban.params[2]).toBe('*!*carol@127.0.0.1');
    });
  }, STEP);

  it('h. plumbing: alice links her own room to a channel from her admin room once ircop says yes; ircop unlinks it', async () => {
    await guard(env, async () => {
      await op.join('#rsplumb');
      const created = await alice.request<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom',
        { preset: 'public_chat', name: 'Existing room' });
      const plumbed = created.room_id;
      await carol.joinRoom(plumbed);
      await alice.request('POST', `/_matrix/client/v3/rooms/${enc(plumbed)}/invite`, { user_id: BOT });
      await alice.waitForEvent(plumbed, (ev) => ev.sender === BOT && String(ev.content.body).includes('!link'), WAIT,
        'the bot explains how to link');
      // The bot sends the bridge's state there: it needs the level to change state.
      const plPlumbed = `/_matrix/client/v3/rooms/${enc(plumbed)}/state/m.room.power_levels/`;
      const levels = await alice.request<{ users?: Record<string, number> }>('GET', plPlumbed);
      await alice.request('PUT', plPlumbed, { ...levels, users: { ...(levels.users ?? {}), [BOT]: 50 } });
      const dm = await alice.request<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom',
        { preset: 'trusted_private_chat', is_direct: true, invite: [BOT] });
      await alice.waitForEvent(dm.room_id, (ev) => ev.sender === BOT && String(ev.content.body).includes('admin room'), WAIT,
        'the admin room greeting');
      await alice.sendText(dm.room_id, `!link ${plumbed} #rsplumb`);
      const ask = await op.waitFor((l) => l.command === 'PRIVMSG' && l.nick === 'MatrixBridge' && l.params[0] === 'ircop', WAIT,
        'the consent question');
      expect(ask.params[1]).toContain(`${ALICE} asks to bridge #rsplumb`);
      op.privmsg('MatrixBridge', 'yes');
      await alice.waitForEvent(dm.room_id, (ev) => String(ev.content.body).includes('is now bridged to #rsplumb'), WAIT, 'linked');
      const bridgeState = await alice.getState(plumbed, 'm.bridge', 'org.matrix.irc/test/#rsplumb');
      expect(bridgeState).toMatchObject({ bridgebot: BOT, channel: { id: '#rsplumb' } });
      await alice.waitForMembers(plumbed, (m) => OP_GHOST in m, WAIT, 'ircop\'s ghost in the linked room');
      await op.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'carol[m]' && l.params[0] === '#rsplumb', WAIT,
        'carol\'s puppet joins the linked channel');
      await alice.sendText(plumbed, 'hello through a linked room');
      await op.waitFor((l) => l.command === 'PRIVMSG' && l.params[0] === '#rsplumb' && l.params[1] === 'hello through a linked room',
        WAIT, 'the message on IRC');

      op.privmsg('MatrixBridge', 'unlink #rsplumb');
      await op.waitFor((l) => l.command === 'NOTICE' && String(l.params[1]).includes('no longer bridged'), WAIT, 'unlinked');
      await alice.waitForMembers(plumbed, (m) => !(OP_GHOST in m) && !(BOT in m), WAIT, 'ghost and bot gone');
      expect(await alice.getState(plumbed, 'm.bridge', 'org.matrix.irc/test/#rsplumb')).toEqual({});
    });
  }, STEP);
});
