/**
 * The bridge against ngIRCd: an IRC server with no IRCv3 beyond multi-prefix (no
 * labeled-response, SASL, server-time or extended-join) that answers 421 to any line starting
 * with tags. Real Synapse, the built bridge. The steps build on each other and run in order:
 * the fallbacks (a PING confirms each message, NAMES without userhost-in-names, no deaf mode)
 * must give clean plain IRC.
 */
import * as fs from 'node:fs';
import { bobAndAlice, guard, setupEnv, type E2EEnv } from './harness/env';
import type { IrcLine, IrcTestClient } from './harness/irc-client';
import type { MatrixEvent, MatrixTestClient } from './harness/matrix-client';
import { pollUntil } from './harness/proc';

const WAIT = 15_000;
const STEP = 90_000;
const CHANNEL = '#lobby';
const ALIAS = '#test_lobby:localhost';
const BOB_GHOST = '@test_ircbob:localhost';

const inChannel = (l: IrcLine): boolean => (l.params[0] ?? '').toLowerCase() === CHANNEL;
const from = (nick: string) => (l: IrcLine): boolean => l.nick.toLowerCase() === nick.toLowerCase();
const isText = (ev: MatrixEvent, body: string): boolean =>
  ev.type === 'm.room.message' && ev.sender === BOB_GHOST && ev.content.body === body;

describe('bridge e2e on ngIRCd (no IRCv3): Synapse <-> ngIRCd', () => {
  let env: E2EEnv | undefined;
  let bob: IrcTestClient;
  let alice: MatrixTestClient;
  let roomId = '';

  beforeAll(async () => {
    env = await setupEnv({ ircServer: 'ngircd' });
    ({ bob, alice } = await bobAndAlice(env, CHANNEL));
  }, 180_000);

  afterAll(async () => {
    await env?.teardown();
  }, 90_000);

  it('a. the bot registers; joining the alias makes the portal, the puppet joins, ircbob is a ghost', async () => {
    await guard(env, async () => {
      await pollUntil('MatrixBridge to be online (ISON)', async () => {
        bob.send('ISON MatrixBridge');
        const ison = await bob.waitFor((l) => l.command === '303', 3000, 'ISON reply', false);
        return /(^|\s)MatrixBridge(\s|$)/i.test(ison.params[1] ?? '') ? true : undefined;
      }, { timeoutMs: WAIT, intervalMs: 500 });
      roomId = await alice.joinRoom(ALIAS);
      await bob.waitFor((l) => l.command === 'JOIN' && from('alice[m]')(l) && inChannel(l), WAIT, 'the puppet JOIN');
      const members = await alice.waitForMembers(roomId, (m) => BOB_GHOST in m, WAIT, 'the ghost of ircbob (from NAMES)');
      expect(members[BOB_GHOST]).toBe('ircbob');
    });
  }, STEP);

  it('b. Matrix -> IRC: a message, an emote and two lines arrive once and in order, confirmed by PING', async () => {
    await guard(env, async () => {
      await alice.sendText(roomId, 'hello from matrix');
      await bob.waitFor((l) => l.command === 'PRIVMSG' && from('alice[m]')(l) && l.params[1] === 'hello from matrix', WAIT, 'the text');
      await alice.sendEvent(roomId, 'm.room.message', { msgtype: 'm.emote', body: 'waves' });
      await bob.waitFor((l) => from('alice[m]')(l) && l.params[1] === '\x01ACTION waves\x01', WAIT, 'the emote');
      await alice.sendText(roomId, 'first line\nsecond line');
      await bob.waitFor((l) => from('alice[m]')(l) && l.params[1] === 'second line', WAIT, 'the second line');
      const said = bob.lines.filter((l) => l.command === 'PRIVMSG' && from('alice[m]')(l) && inChannel(l)).map((l) => l.params[1]);
      expect(said).toEqual(['hello from matrix', '\x01ACTION waves\x01', 'first line', 'second line']);
    });
  }, STEP);

  it('c. IRC -> Matrix: a message and an action from ircbob, as his ghost', async () => {
    await guard(env, async () => {
      bob.send(`PRIVMSG ${CHANNEL} :hi from ngircd`);
      await alice.waitForEvent(roomId, (ev) => isText(ev, 'hi from ngircd'), WAIT, 'the IRC message');
      bob.send(`PRIVMSG ${CHANNEL} :\x01ACTION nods\x01`);
      const action = await alice.waitForEvent(roomId, (ev) => ev.sender === BOB_GHOST && ev.content.msgtype === 'm.emote', WAIT, 'the action');
      expect(action.content.body).toBe('nods');
    });
  }, STEP);

  it('d. a display-name change renames the puppet (its nick is tracked); messages follow the new nick', async () => {
    await guard(env, async () => {
      await alice.setDisplayName('Alicia');
      const nick = await bob.waitFor((l) => l.command === 'NICK' && from('alice[m]')(l), WAIT, 'the puppet NICK');
      expect(nick.params[0]).toBe('Alicia[m]');
      await alice.sendText(roomId, 'renamed');
      await bob.waitFor((l) => l.command === 'PRIVMSG' && from('Alicia[m]')(l) && l.params[1] === 'renamed', WAIT, 'a message as Alicia[m]');
    });
  }, STEP);

  it('e. the bridge never sent ngIRCd a tagged line (421) and logged no error', async () => {
    await guard(env, async () => {
      const log = fs.readFileSync((env as E2EEnv).bridge.logPath, 'utf8');
      expect(log.split('\n').filter((l) => / code=421 /.test(l) || /\bERROR\b/.test(l))).toEqual([]);
    });
  }, STEP);
});
