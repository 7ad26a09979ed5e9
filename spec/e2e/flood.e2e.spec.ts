/**
 * Flood control against a real InspIRCd with the flood settings of its packaged config
 * (threshold 10, 8 KiB recvq, one command a second once the threshold is spent). The
 * bridge runs with its own default send_burst and send_rate, read from the config schema,
 * so this test follows the defaults an operator gets.
 *
 * One Matrix user sends 100 long messages as fast as the homeserver takes them. Expected:
 * no "Excess Flood" or "RecvQ exceeded" kill of the puppet, and all 100 on IRC, once each,
 * in order. The time it took is printed, not asserted.
 */
import { parseConfig } from '../../src/config';
import { bobAndAlice, guard, setupEnv, type E2EEnv } from './harness/env';
import type { IrcTestClient } from './harness/irc-client';
import type { MatrixTestClient } from './harness/matrix-client';
import { report } from './harness/proc';

const CHANNEL = '#flood';
const ALIAS = '#test_flood:localhost';
const COUNT = 100;
const WAIT = 20_000;
/** A message body long enough that the server's 8 KiB recvq matters (about 400 bytes a line). */
const bodyOf = (n: number): string => `flood-${String(n).padStart(3, '0')} ${'lorem ipsum dolor sit amet '.repeat(14).trim()}`;

const defaults = parseConfig({
  homeserver: { url: 'http://127.0.0.1:1', domain: 'localhost' },
  networks: { x: { host: '127.0.0.1' } },
}).networks.x;

describe('flood control against InspIRCd with stock flood limits', () => {
  let env: E2EEnv | undefined;
  let bob: IrcTestClient;
  let alice: MatrixTestClient;

  beforeAll(async () => {
    if (!defaults) throw new Error('the default network config did not parse');
    env = await setupEnv({
      ircd: { floodLimits: 'stock' },
      bridge: { networkExtra: { send_burst: defaults.send_burst, send_rate: defaults.send_rate } },
    });
    ({ bob, alice } = await bobAndAlice(env, CHANNEL));
  }, 180_000);

  afterAll(async () => {
    await env?.teardown();
  }, 90_000);

  it(`a ${COUNT}-message burst from one Matrix user: no flood kill, nothing lost, order kept`, async () => {
    await guard(env, async () => {
      const roomId = await alice.joinRoom(ALIAS);
      await bob.waitFor((l) => l.command === 'JOIN' && l.nick.toLowerCase() === 'alice[m]', WAIT, 'alice[m] JOIN');

      const start = Date.now();
      for (let n = 1; n <= COUNT; n++) await alice.sendText(roomId, bodyOf(n));
      const sentIn = Date.now() - start;

      const fromAlice = (): string[] => bob.lines
        .filter((l) => l.command === 'PRIVMSG' && l.nick.toLowerCase() === 'alice[m]' && (l.params[0] ?? '').toLowerCase() === CHANNEL)
        .map((l) => l.params[1] ?? '');
      const killed = (): string | undefined => bob.lines.find((l) => l.command === 'QUIT' && l.nick.toLowerCase() === 'alice[m]')?.params[0];
      // Bounded: at one line a second plus the bridge's confirmations this takes minutes at most.
      const deadline = Date.now() + 8 * 60_000;
      while (fromAlice().length < COUNT && killed() === undefined && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
      }
      const got = fromAlice();
      const took = Date.now() - start;
      report(`e2e flood: ${COUNT} messages of ${Buffer.byteLength(bodyOf(1))} bytes sent to Matrix in ${sentIn} ms; ` +
        `${got.length} reached IRC in ${took} ms (${(got.length / (took / 1000)).toFixed(2)} msg/s) with ` +
        `send_burst ${defaults?.send_burst} and send_rate ${defaults?.send_rate}; puppet quit: ${killed() ?? 'no'}`);

      expect(killed()).toBeUndefined();
      expect(got).toEqual(Array.from({ length: COUNT }, (_, i) => bodyOf(i + 1)));
    });
  }, 10 * 60_000);
});
