/**
 * The admin room and private messages end to end, on real Synapse and InspIRCd: alice opens a
 * direct chat with the bridge bot, joins a channel with !join, renames herself with !nick,
 * asks !whois; an IRC user's private message opens a direct chat with his ghost, and alice's
 * answer there reaches him as PRIVMSG. The steps build on each other and run in file order.
 */
import { bobAndAlice, guard, setupEnv, type E2EEnv } from './harness/env';
import type { IrcTestClient } from './harness/irc-client';
import type { MatrixTestClient } from './harness/matrix-client';

const WAIT = 20_000;
const BOT = '@ircbridge:localhost';
const GHOST_BOB = '@test_ircbob:localhost';
const CHANNEL = '#adminroom';

describe('admin room and private messages e2e', () => {
  let env: E2EEnv | undefined;
  let bob: IrcTestClient;
  let alice: MatrixTestClient;
  let adminRoom = '';
  let nick = 'alice[m]';

  /** Alice says `text` in her admin room; resolves with the bot's answer. */
  async function command(text: string): Promise<string> {
    await alice.sendText(adminRoom, text);
    const ev = await alice.waitForEvent(adminRoom, (e) => e.sender === BOT && e.type === 'm.room.message' &&
      !String(e.content.body).startsWith('This is your admin room'), WAIT, `the answer to ${text}`);
    return String(ev.content.body);
  }

  beforeAll(async () => {
    env = await setupEnv();
    ({ bob, alice } = await bobAndAlice(env, CHANNEL));
  }, 180_000);

  afterAll(async () => {
    await env?.teardown();
  }, 90_000);

  it('a direct chat with the bot becomes the admin room; !help answers', async () => {
    await guard(env, async () => {
      const created = await alice.request<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom',
        { preset: 'trusted_private_chat', is_direct: true, invite: [BOT] });
      adminRoom = created.room_id;
      await alice.waitForEvent(adminRoom, (e) => e.sender === BOT && String(e.content.body).includes('admin room'), WAIT,
        'the bot\'s welcome');
      const help = await command('!help');
      expect(help).toContain('!join [network] <#channel> [key]');
    });
  }, 60_000);

  it('!join bridges a channel and invites alice; her puppet joins it on IRC', async () => {
    await guard(env, async () => {
      const answer = await command(`!join ${CHANNEL}`);
      expect(answer).toMatch(/Invited you to #adminroom/);
      const roomId = await alice.waitForInvite(BOT, WAIT, 'the invite to the portal');
      await alice.joinRoom(roomId);
      await bob.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === nick, WAIT, 'alice[m] JOIN');
    });
  }, 60_000);

  it('!nick renames the puppet on IRC; !whois tells who is behind a nick', async () => {
    await guard(env, async () => {
      expect(await command('!nick AliceM')).toBe('You are now AliceM on test.');
      await bob.waitFor((l) => l.command === 'NICK' && l.nick.toLowerCase() === nick && l.params[0] === 'AliceM', WAIT, 'NICK');
      nick = 'alicem';
      const whois = await command('!whois ircbob');
      expect(whois).toMatch(/^ircbob is ~?ircbob@127\.0\.0\.1 \(.*\), .*#adminroom.*Matrix: @test_ircbob:localhost\.$/);
      expect(await command('!whois AliceM')).toBe('AliceM is the Matrix user @alice:localhost, bridged.');
    });
  }, 60_000);

  it('an IRC private message opens a direct chat with the ghost; alice\'s answer reaches IRC', async () => {
    await guard(env, async () => {
      bob.privmsg('AliceM', 'psst, alice');
      const pmRoom = await alice.waitForInvite(GHOST_BOB, WAIT, 'the direct chat from ircbob');
      await alice.joinRoom(pmRoom);
      const got = await alice.waitForEvent(pmRoom, (e) => e.sender === GHOST_BOB && e.content.body === 'psst, alice', WAIT,
        'the private message');
      expect(got.type).toBe('m.room.message');
      bob.privmsg('AliceM', 'second one');
      await alice.waitForEvent(pmRoom, (e) => e.sender === GHOST_BOB && e.content.body === 'second one', WAIT, 'the second');
      await alice.sendText(pmRoom, 'hello back');
      const line = await bob.waitFor((l) => l.command === 'PRIVMSG' && l.nick.toLowerCase() === nick &&
        (l.params[0] ?? '').toLowerCase() === 'ircbob', WAIT, 'the answer on IRC');
      expect(line.params[1]).toBe('hello back');
    });
  }, 60_000);

  it('a direct chat alice opens with a nick nobody has gets a clear notice', async () => {
    await guard(env, async () => {
      const ghost = '@test_nobodyhere:localhost';
      const created = await alice.request<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom',
        { preset: 'trusted_private_chat', is_direct: true, invite: [ghost] });
      await alice.waitForEvent(created.room_id, (e) => e.type === 'm.room.member' && e.state_key === ghost &&
        e.content.membership === 'join', WAIT, 'the ghost joining');
      await alice.sendText(created.room_id, 'anyone?');
      const notice = await alice.waitForEvent(created.room_id, (e) => e.sender === ghost && e.content.msgtype === 'm.notice',
        WAIT, 'the not-on-IRC notice');
      expect(String(notice.content.body)).toMatch(/nobodyhere is not on IRC right now/);
    });
  }, 60_000);
});
