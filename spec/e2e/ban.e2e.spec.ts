/**
 * A network ban of one puppet, on a real InspIRCd: an IRC operator K-lines alice's puppet.
 * The bridge must recognise the ban from the server's own words, tell alice in the room, and
 * never reconnect her (no reconnect loop against a ban), while the rest of the bridge goes on.
 */
import { guard, setupEnv, type E2EEnv } from './harness/env';
import { E2E_OPER } from './harness/inspircd';
import type { IrcTestClient } from './harness/irc-client';
import type { MatrixTestClient } from './harness/matrix-client';
import { report, sleep } from './harness/proc';

const WAIT = 15_000;
const CHANNEL = '#banned';
const ALIAS = '#test_banned:localhost';
const BOT = '@ircbridge:localhost';

describe('a network ban of one puppet', () => {
  let env: E2EEnv | undefined;
  let oper: IrcTestClient;
  let alice: MatrixTestClient;
  let carol: MatrixTestClient;
  let roomId = '';

  beforeAll(async () => {
    env = await setupEnv();
    const e = env;
    await guard(e, async () => {
      oper = await e.ircClient('ircoper');
      oper.send(`OPER ${E2E_OPER.name} ${E2E_OPER.password}`);
      await oper.waitFor((l) => l.command === '381', WAIT, 'RPL_YOUREOPER');
      await oper.join(CHANNEL);
      alice = await e.matrixUser('alice', 'Alice');
      carol = await e.matrixUser('carol', 'Carol');
    });
  }, 180_000);

  afterAll(async () => {
    await env?.teardown();
  }, 90_000);

  it('the banned user is told, never reconnected, and others keep talking', async () => {
    await guard(env, async () => {
      roomId = await alice.joinRoom(ALIAS);
      await oper.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'alice[m]', WAIT, 'alice[m] JOIN');
      await carol.joinRoom(ALIAS);
      await oper.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'carol[m]', WAIT, 'carol[m] JOIN');

      oper.send('KLINE *alice@127.0.0.1 0 :spamming from the bridge');
      const quit = await oper.waitFor((l) => l.command === 'QUIT' && l.nick.toLowerCase() === 'alice[m]', WAIT, 'alice[m] QUIT');
      report(`e2e ban: InspIRCd's QUIT reason for the K-line: ${JSON.stringify(quit.params[0])}`);

      const notice = await alice.waitForEvent(roomId, (ev) => ev.sender === BOT && ev.content.msgtype === 'm.notice' &&
        String(ev.content.body).includes('banned'), WAIT, 'a notice about the ban');
      expect(String(notice.content.body)).toContain('@alice:localhost');

      // She is told in her admin room too, which the bridge opens for her (she had none).
      const adminRoom = await alice.waitForInvite(BOT, WAIT, 'an invite to her admin room');
      await alice.joinRoom(adminRoom);
      const told = await alice.waitForEvent(adminRoom, (ev) => ev.sender === BOT && String(ev.content.body).includes('banned'),
        WAIT, 'the ban told in the admin room');
      expect(String(told.content.body)).toMatch(/banned your connection[\s\S]*!reconnect/);

      // No reconnect loop: for several of the bridge's backoff periods, alice's puppet never returns.
      const since = Date.now();
      await sleep(6000);
      const again = oper.lines.filter((l) => l.at >= since && l.command === 'JOIN' && l.nick.toLowerCase().startsWith('alice'));
      expect(again).toEqual([]);

      // Alice's next message is refused at once with a clear reason, not queued for minutes.
      await alice.sendText(roomId, 'am I still there?');
      const refused = await alice.waitForEvent(roomId, (ev) => ev.sender === BOT &&
        String(ev.content.body).includes('not sent'), WAIT, 'a not-delivered notice');
      expect(String(refused.content.body)).toMatch(/banned/);

      // The rest of the bridge goes on.
      await carol.sendText(roomId, 'carol still here');
      await oper.waitFor((l) => l.command === 'PRIVMSG' && l.nick.toLowerCase() === 'carol[m]' &&
        l.params[1] === 'carol still here', WAIT, 'carol\'s message on IRC');
    });
  }, 120_000);
});
