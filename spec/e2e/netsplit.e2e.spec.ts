/**
 * A real netsplit: two linked InspIRCd servers, the bridge on the first, five IRC users on the
 * second. The second server dies (its users QUIT with "irc.e2e.test irc2.e2e.test") and comes
 * back; four users return within the debounce, one does not. Matrix must show no leave for the
 * four, and a leave for the one once the debounce is over.
 */
import * as path from 'node:path';
import { guard, setupEnv, type E2EEnv } from './harness/env';
import { type InspircdHandle, startInspircd } from './harness/inspircd';
import { IrcTestClient } from './harness/irc-client';
import type { MatrixTestClient } from './harness/matrix-client';
import { freePorts } from './harness/ports';
import { pollUntil, report, sleep } from './harness/proc';

const WAIT = 20_000;
const DEBOUNCE_MS = 20_000;
const CHANNEL = '#split';
const ALIAS = '#test_split:localhost';
const USERS = ['splitA', 'splitB', 'splitC', 'splitD', 'splitE'];
const ghost = (nick: string): string => `@test_${nick.toLowerCase()}:localhost`;
const link = (name: string, port: number): string =>
  `<link name="${name}" ipaddr="127.0.0.1" port="${port}" sendpass="e2e-link" recvpass="e2e-link" allowmask="127.0.0.1" timeout="5s">`;

describe('a netsplit of many users', () => {
  let env: E2EEnv | undefined;
  let second: InspircdHandle | undefined;
  let secondPort = 0;
  let alice: MatrixTestClient;
  let roomId = '';
  const clients: IrcTestClient[] = [];

  async function connectAll(nicks: string[]): Promise<void> {
    for (const nick of nicks) {
      const c = await IrcTestClient.connect({ port: secondPort, nick });
      clients.push(c);
      await c.join(CHANNEL);
    }
  }

  beforeAll(async () => {
    const [aServers, bServers, bClients] = await freePorts(3);
    secondPort = bClients as number;
    env = await setupEnv({
      ircd: {
        extraModules: ['spanningtree'],
        extraConfig: `<bind address="127.0.0.1" port="${aServers}" type="servers">\n${link('irc2.e2e.test', bServers as number)}`,
      },
      bridge: { networkExtra: { netsplit_debounce_ms: DEBOUNCE_MS } },
    });
    const e = env;
    await guard(e, async () => {
      second = await startInspircd(path.join(e.dir, 'inspircd2'), {
        port: secondPort, serverName: 'irc2.e2e.test', extraModules: ['spanningtree'],
        extraConfig: `<bind address="127.0.0.1" port="${bServers}" type="servers">\n${link('irc.e2e.test', aServers as number)}\n` +
          '<autoconnect period="1s" server="irc.e2e.test">',
      });
      alice = await e.matrixUser('alice', 'Alice');
    });
  }, 180_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit('test over').catch(() => undefined)));
    await second?.stop();
    await env?.teardown();
  }, 90_000);

  it('ghosts of users who come back within the debounce never leave; the one who does not, leaves', async () => {
    await guard(env, async () => {
      roomId = await alice.joinRoom(ALIAS);
      // The servers link within a few seconds; users of the second server then reach the room.
      await pollUntil('the servers to link', async () => {
        const probe = await IrcTestClient.connect({ port: secondPort, nick: 'linkprobe' });
        probe.send('LINKS');
        const end = await probe.waitFor((l) => l.command === '365', 5000, 'end of LINKS');
        const linked = probe.lines.some((l) => l.command === '364' && l.params.includes('irc.e2e.test'));
        await probe.quit();
        return linked && end ? true : undefined;
      }, { timeoutMs: 30_000, intervalMs: 1000 });
      await connectAll(USERS);
      await pollUntil('five ghosts in the room', async () => {
        const members = Object.keys(await alice.getMembers(roomId));
        return USERS.every((u) => members.includes(ghost(u))) ? true : undefined;
      }, { timeoutMs: WAIT });

      const splitAt = Date.now();
      await (second as InspircdHandle).stop();
      clients.splice(0).forEach((c) => c.quit('split').catch(() => undefined));
      await sleep(1000);
      await (second as InspircdHandle).start();
      await pollUntil('the servers to link again', async () => {
        try {
          const probe = await IrcTestClient.connect({ port: secondPort, nick: 'linkprobe2' });
          probe.send('LINKS');
          await probe.waitFor((l) => l.command === '365', 5000, 'end of LINKS');
          const linked = probe.lines.some((l) => l.command === '364' && l.params.includes('irc.e2e.test'));
          await probe.quit();
          return linked ? true : undefined;
        } catch {
          return undefined;
        }
      }, { timeoutMs: 30_000, intervalMs: 500 });
      await connectAll(USERS.slice(0, 4));
      report(`e2e netsplit: four of five users back ${Date.now() - splitAt} ms after the split`);

      // Past the debounce: the one who stayed away has left; nobody else ever did.
      await pollUntil('splitE to leave', async () => {
        const members = Object.keys(await alice.getMembers(roomId));
        return members.includes(ghost('splitE')) ? undefined : true;
      }, { timeoutMs: DEBOUNCE_MS + WAIT });
      await alice.sync(1000);
      const leaves = alice.events(roomId).filter((ev) => ev.type === 'm.room.member' && ev.content.membership === 'leave')
        .map((ev) => ev.state_key);
      expect(leaves).toEqual([ghost('splitE')]);
      const members = Object.keys(await alice.getMembers(roomId));
      expect(USERS.slice(0, 4).every((u) => members.includes(ghost(u)))).toBe(true);
    });
  }, 150_000);
});
