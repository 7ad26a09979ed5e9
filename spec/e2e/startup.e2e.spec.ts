/**
 * Start-up against servers that are down: the bridge starts while both Synapse and InspIRCd
 * are stopped. It must keep running, say in its log what it waits for and retry, accept no
 * failure as fatal, and work normally once they are back, whichever comes first.
 */
import * as fs from 'node:fs';
import { guard, setupEnv, type E2EEnv } from './harness/env';
import type { IrcTestClient } from './harness/irc-client';
import type { MatrixTestClient } from './harness/matrix-client';
import { pollUntil, report, sleep } from './harness/proc';

const WAIT = 30_000;
const CHANNEL = '#startup';
const ALIAS = '#test_startup:localhost';

describe('starting while the homeserver and the IRC server are down', () => {
  let env: E2EEnv | undefined;
  let alice: MatrixTestClient;
  let roomId = '';

  beforeAll(async () => {
    env = await setupEnv();
    const e = env;
    await guard(e, async () => {
      const bob = await e.ircClient('ircbob');
      await bob.join(CHANNEL);
      alice = await e.matrixUser('alice', 'Alice');
      roomId = await alice.joinRoom(ALIAS);
      await bob.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'alice[m]', WAIT, 'alice[m] JOIN');
    });
  }, 180_000);

  afterAll(async () => {
    await env?.teardown();
  }, 90_000);

  it('waits, retries, logs why, never exits, and bridges once both are back', async () => {
    await guard(env, async () => {
      const e = env as E2EEnv;
      await e.bridge.stop();
      await e.synapse.stop();
      await e.ircd.stop();
      const logFrom = fs.statSync(e.bridge.logPath).size;
      const log = (): string => fs.readFileSync(e.bridge.logPath, 'utf8').slice(logFrom);
      await e.bridge.spawnBridge({ waitHealthy: false });

      // Nothing is up: the bridge keeps running and says it is waiting for the homeserver.
      await pollUntil('the homeserver retry in the log', async () =>
        (/homeserver not reachable yet; retrying/.test(log()) ? true : undefined), { timeoutMs: WAIT, intervalMs: 200 });
      await sleep(4000);
      expect(e.bridge.isRunning()).toBe(true);
      const health = await fetch(`http://127.0.0.1:${e.bridge.asPort}/health`);
      report(`e2e startup: /health while the homeserver is down: ${health.status}`);
      expect(health.status).not.toBe(200);

      // The homeserver comes back first; IRC is still down: the bridge starts and retries IRC.
      await e.synapse.start();
      await pollUntil('the bridge started', async () => (/bridge started/.test(log()) ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 500 });
      await pollUntil('the IRC retry in the log', async () =>
        (/bot connection failed; retrying/.test(log()) ? true : undefined), { timeoutMs: WAIT, intervalMs: 200 });
      expect((await fetch(`http://127.0.0.1:${e.bridge.asPort}/health`)).status).toBe(200);
      expect(e.bridge.isRunning()).toBe(true);

      // IRC comes back: the bot and alice's puppet return by themselves; messages cross both ways.
      await e.ircd.start();
      const bob: IrcTestClient = await e.ircClient('ircbob2');
      await bob.join(CHANNEL);
      await pollUntil('alice[m] back in the channel', async () => {
        bob.send(`NAMES ${CHANNEL}`);
        const names = await bob.waitFor((l) => l.command === '353', 3000, 'NAMES', false);
        return /(^|[\s@+])alice\[m\](\s|$)/i.test(names.params[3] ?? '') ? true : undefined;
      }, { timeoutMs: 90_000, intervalMs: 1000 });
      await alice.sendText(roomId, 'all back');
      await bob.waitFor((l) => l.command === 'PRIVMSG' && l.params[1] === 'all back', WAIT, 'alice on IRC');
      bob.privmsg(CHANNEL, 'welcome back');
      await alice.waitForEvent(roomId, (ev) => ev.content.body === 'welcome back', WAIT, 'ircbob2 in Matrix');
      const fatal = log().split('\n').filter((l) => /\bFATAL\b|exited|uncaught/i.test(l));
      expect(fatal).toEqual([]);
      report(`e2e startup: retries logged: ${(log().match(/homeserver not reachable yet/g) ?? []).length} for the homeserver, ` +
        `${(log().match(/bot connection failed; retrying/g) ?? []).length} for IRC`);
    });
  }, 240_000);
});
