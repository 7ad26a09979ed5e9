/**
 * The bridge end to end: real InspIRCd, real Synapse, the built bridge (lib/main.js)
 * between them, a raw IRC user and a Matrix user driven over the client-server API.
 * The steps build on each other and run in file order.
 */
import { bobAndAlice, guard, setupEnv, type E2EEnv } from './harness/env';
import type { IrcLine, IrcTestClient } from './harness/irc-client';
import type { MatrixEvent, MatrixTestClient } from './harness/matrix-client';
import { pollUntil, report, sleep } from './harness/proc';

const WAIT = 15_000;
const STEP = 90_000;
const CHANNEL = '#lobby';
const ALIAS = '#test_lobby:localhost';
const PUPPET = 'alice[m]';
const ALICE = '@alice:localhost';
const ghostOf = (nick: string): string => `@test_${nick}:localhost`;

const stats = { matrixToIrc: 0, ircToMatrix: 0, latencyMatrixToIrc: [] as number[], latencyIrcToMatrix: [] as number[] };

const fromPuppet = (l: IrcLine): boolean => l.nick.toLowerCase() === PUPPET;
const inChannel = (l: IrcLine): boolean => (l.params[0] ?? '').toLowerCase() === CHANNEL;
const stripIrcFormatting = (text: string): string =>
  text.replace(/\x03(\d{1,2}(,\d{1,2})?)?|\x04[0-9a-fA-F]{0,6}|[\x02\x0F\x11\x16\x1D\x1E\x1F]/g, '');
const isMessage = (ev: MatrixEvent, sender: string, msgtype: string): boolean =>
  ev.type === 'm.room.message' && ev.sender === sender && ev.content.msgtype === msgtype;

describe('bridge e2e: Matrix <-> IRC through real Synapse and InspIRCd', () => {
  let env: E2EEnv | undefined;
  let bob: IrcTestClient;
  let alice: MatrixTestClient;
  let roomId = '';
  const aliceSent: string[] = [];

  /** Alice sends; ircbob must receive one line from the puppet matching pred. */
  async function matrixToIrc(
    send: () => Promise<unknown>,
    pred: (l: IrcLine) => boolean,
    what: string,
    timeoutMs = WAIT,
  ): Promise<IrcLine> {
    const sentAt = Date.now();
    await send();
    const line = await bob.waitFor((l) => fromPuppet(l) && inChannel(l) && pred(l), timeoutMs, what);
    stats.matrixToIrc += 1;
    stats.latencyMatrixToIrc.push(line.at - sentAt);
    return line;
  }

  /** ircbob sends raw; alice must see a matching event from ircbob's ghost. */
  async function ircToMatrix(
    raw: string,
    pred: (ev: MatrixEvent) => boolean,
    what: string,
    timeoutMs = WAIT,
  ): Promise<MatrixEvent> {
    const sentAt = Date.now();
    bob.send(raw);
    const ev = await alice.waitForEvent(roomId, (e) => e.sender === ghostOf('ircbob') && pred(e), timeoutMs, what);
    stats.ircToMatrix += 1;
    stats.latencyIrcToMatrix.push(ev.receivedAt - sentAt);
    return ev;
  }

  /** Nothing alice sent came back into the room from someone else, and her puppet has no ghost. */
  async function expectNoEchoes(): Promise<void> {
    // let anything that would echo arrive, then look at the whole room history
    for (let i = 0; i < 3; i++) await alice.sync(1000);
    await sleep(500);
    await alice.sync(500);
    const echoes = alice
      .events(roomId)
      .filter(
        (e) =>
          e.type === 'm.room.message' &&
          e.sender !== ALICE &&
          (e.sender.toLowerCase().startsWith('@test_alice') || aliceSent.includes(String(e.content.body))),
      );
    expect(echoes.map((e) => `${e.sender}: ${String(e.content.body)}`)).toEqual([]);
    const members = Object.keys(await alice.getMembers(roomId));
    expect(members.filter((m) => m.toLowerCase().startsWith('@test_alice'))).toEqual([]);
  }

  beforeAll(async () => {
    env = await setupEnv();
    ({ bob, alice } = await bobAndAlice(env, CHANNEL));
  }, 180_000);

  afterAll(async () => {
    const fmt = (xs: number[]): string => {
      if (xs.length === 0) return 'no latency measured';
      const sorted = [...xs].sort((x, y) => x - y);
      return `latency first ${xs[0]} ms, min ${sorted[0]} / median ${sorted[Math.floor(sorted.length / 2)]} / max ${sorted[sorted.length - 1]} ms`;
    };
    report(
      `e2e bridge: ${stats.matrixToIrc} messages crossed Matrix -> IRC (${fmt(stats.latencyMatrixToIrc)}), ` +
        `${stats.ircToMatrix} crossed IRC -> Matrix (${fmt(stats.latencyIrcToMatrix)})`,
    );
    await env?.teardown();
  }, 90_000);

  it('a. the bot is on IRC; joining the alias creates the portal and the puppet joins the channel', async () => {
    await guard(env, async () => {
      await pollUntil(
        'MatrixBridge to be online (ISON)',
        async () => {
          bob.send('ISON MatrixBridge');
          const ison = await bob.waitFor((l) => l.command === '303', 3000, 'ISON reply');
          return /(^|\s)MatrixBridge(\s|$)/i.test(ison.params[1] ?? '') ? true : undefined;
        },
        { timeoutMs: WAIT, intervalMs: 500 },
      );

      roomId = await alice.joinRoom(ALIAS);
      expect(roomId).toMatch(/^!/);
      const join = await bob.waitFor((l) => l.command === 'JOIN' && fromPuppet(l) && inChannel(l), WAIT, `JOIN ${CHANNEL} from ${PUPPET}`);
      expect(join.nick.toLowerCase()).toBe(PUPPET);

      const name = await pollUntil(
        'the room name',
        async () => {
          const state = await alice.getState(roomId, 'm.room.name');
          return typeof state?.name === 'string' && state.name !== '' ? state.name : undefined;
        },
        { timeoutMs: WAIT },
      );
      expect(name).toBe(CHANNEL);
    });
  }, STEP);

  it('d. members present before the portal existed are ghosts in the room (from NAMES)', async () => {
    await guard(env, async () => {
      const members = await alice.waitForMembers(roomId, (m) => ghostOf('ircbob') in m, WAIT, 'the ghost of ircbob');
      expect(members[ALICE]).toBe('Alice');
    });
  }, STEP);

  it('b. Matrix -> IRC: text, emote, notice and HTML formatting', async () => {
    await guard(env, async () => {
      const text = 'hello from matrix';
      aliceSent.push(text);
      const line = await matrixToIrc(
        () => alice.sendText(roomId, text),
        (l) => l.command === 'PRIVMSG' && l.params[1] === text,
        `PRIVMSG "${text}"`,
      );
      expect(line.params).toEqual([CHANNEL, text]);

      aliceSent.push('dances');
      await matrixToIrc(
        () => alice.sendEvent(roomId, 'm.room.message', { msgtype: 'm.emote', body: 'dances' }),
        (l) => l.command === 'PRIVMSG' && l.params[1] === '\x01ACTION dances\x01',
        'CTCP ACTION "dances"',
      );

      aliceSent.push('a notice from matrix');
      await matrixToIrc(
        () => alice.sendEvent(roomId, 'm.room.message', { msgtype: 'm.notice', body: 'a notice from matrix' }),
        (l) => l.command === 'NOTICE' && l.params[1] === 'a notice from matrix',
        'NOTICE "a notice from matrix"',
      );

      aliceSent.push('bold and it');
      const formatted = await matrixToIrc(
        () =>
          alice.sendText(roomId, 'bold and it', {
            format: 'org.matrix.custom.html',
            formatted_body: '<b>bold</b> and <i>it</i>',
          }),
        (l) => l.command === 'PRIVMSG' && stripIrcFormatting(l.params[1] ?? '') === 'bold and it',
        'the formatted PRIVMSG',
      );
      expect(formatted.params[1]).toContain('\x02bold\x02');
      expect(formatted.params[1]).toContain('\x1Dit\x1D');
    });
  }, STEP);

  it('c. IRC -> Matrix: text, ACTION, NOTICE and IRC formatting', async () => {
    await guard(env, async () => {
      const text = await ircToMatrix(
        `PRIVMSG ${CHANNEL} :hi from irc`,
        (e) => isMessage(e, ghostOf('ircbob'), 'm.text') && e.content.body === 'hi from irc',
        'm.text "hi from irc"',
      );
      expect(text.content.body).toBe('hi from irc');

      await ircToMatrix(
        `PRIVMSG ${CHANNEL} :\x01ACTION waves\x01`,
        (e) => isMessage(e, ghostOf('ircbob'), 'm.emote') && e.content.body === 'waves',
        'm.emote "waves"',
      );

      await ircToMatrix(
        `NOTICE ${CHANNEL} :a notice from irc`,
        (e) => isMessage(e, ghostOf('ircbob'), 'm.notice') && e.content.body === 'a notice from irc',
        'm.notice "a notice from irc"',
      );

      const bold = await ircToMatrix(
        `PRIVMSG ${CHANNEL} :\x02bold\x02 from irc`,
        (e) => isMessage(e, ghostOf('ircbob'), 'm.text') && e.content.body === 'bold from irc',
        'm.text "bold from irc" with HTML',
      );
      expect(bold.content.format).toBe('org.matrix.custom.html');
      expect(String(bold.content.formatted_body)).toContain('<b>bold</b>');

      // each IRC line arrived exactly once
      await alice.sync(1000);
      const copies = alice.events(roomId).filter((e) => e.type === 'm.room.message' && e.content.body === 'hi from irc');
      expect(copies).toHaveLength(1);
    });
  }, STEP);

  it('d. IRC JOIN, PART and QUIT move ghosts in and out of the room', async () => {
    await guard(env, async () => {
      const e = env as E2EEnv;
      const [claire, dave] = await Promise.all([e.ircClient('ircclaire'), e.ircClient('ircdave')]);
      await claire.join(CHANNEL);
      await alice.waitForMembers(roomId, (m) => ghostOf('ircclaire') in m, WAIT, 'the ghost of ircclaire to join');
      claire.part(CHANNEL, 'leaving now');
      await alice.waitForMembers(roomId, (m) => !(ghostOf('ircclaire') in m), WAIT, 'the ghost of ircclaire to leave');

      await dave.join(CHANNEL);
      await alice.waitForMembers(roomId, (m) => ghostOf('ircdave') in m, WAIT, 'the ghost of ircdave to join');
      await dave.quit('gone home');
      await alice.waitForMembers(roomId, (m) => !(ghostOf('ircdave') in m), WAIT, 'the ghost of ircdave to leave');
      // ircbob is unaffected
      expect(ghostOf('ircbob') in (await alice.getMembers(roomId))).toBe(true);
    });
  }, STEP);

  it('g. a two-line Matrix message becomes two PRIVMSGs in order, and nothing echoes back', async () => {
    await guard(env, async () => {
      aliceSent.push('first line', 'second line');
      const first = await matrixToIrc(
        () => alice.sendText(roomId, 'first line\nsecond line'),
        (l) => l.command === 'PRIVMSG' && l.params[1] === 'first line',
        'PRIVMSG "first line"',
      );
      const second = await bob.waitFor(
        (l) => fromPuppet(l) && l.command === 'PRIVMSG' && inChannel(l) && l.params[1] === 'second line',
        WAIT,
        'PRIVMSG "second line" after "first line"',
      );
      expect(bob.lines.indexOf(second)).toBeGreaterThan(bob.lines.indexOf(first));
      stats.matrixToIrc += 1;

      await expectNoEchoes();

      // and each Matrix message reached IRC exactly once
      for (const text of ['hello from matrix', 'first line', 'second line']) {
        const copies = bob.lines.filter((l) => l.command === 'PRIVMSG' && fromPuppet(l) && l.params[1] === text);
        expect([text, copies.length]).toEqual([text, 1]);
      }
    });
  }, STEP);

  it('f. after a restart the alias maps to the same room and messages cross both ways', async () => {
    await guard(env, async () => {
      const e = env as E2EEnv;
      await e.bridge.restart();
      expect(await alice.resolveAlias(ALIAS)).toBe(roomId);

      aliceSent.push('after restart from matrix');
      await matrixToIrc(
        () => alice.sendText(roomId, 'after restart from matrix'),
        (l) => l.command === 'PRIVMSG' && l.params[1] === 'after restart from matrix',
        'PRIVMSG "after restart from matrix"',
        25_000,
      );
      await ircToMatrix(
        `PRIVMSG ${CHANNEL} :after restart from irc`,
        (ev) => isMessage(ev, ghostOf('ircbob'), 'm.text') && ev.content.body === 'after restart from irc',
        'm.text "after restart from irc"',
        25_000,
      );
      await expectNoEchoes();
    });
  }, 120_000);

  it('e. when alice leaves the room her puppet leaves the channel', async () => {
    await guard(env, async () => {
      await alice.leave(roomId);
      const gone = await bob.waitFor(
        (l) => fromPuppet(l) && ((l.command === 'PART' && inChannel(l)) || l.command === 'QUIT'),
        WAIT,
        `PART ${CHANNEL} or QUIT from ${PUPPET}`,
      );
      expect(['PART', 'QUIT']).toContain(gone.command);
    });
  }, STEP);

  it('h. Prometheus metrics count the bridged messages; /health is ready', async () => {
    await guard(env, async () => {
      const b = (env as E2EEnv).bridge;
      const text = await (await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`)).text();
      const count = (direction: string): number =>
        Number(new RegExp(`^ircbridge_messages_total\\{direction="${direction}",outcome="sent"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
      // The restart in step f reset the counters: messages after it crossed in both directions.
      expect(count('matrix_to_irc')).toBeGreaterThan(0);
      expect(count('irc_to_matrix')).toBeGreaterThan(0);
      expect(text).toMatch(/^ircbridge_irc_connections\{network="test",state="bot_registered"\} 1$/m);
      expect(text).toMatch(/^ircbridge_transaction_seconds_count\{outcome="accepted"\} \d+$/m);
      expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
      const health = await fetch(`http://127.0.0.1:${b.asPort}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ready', networks: { test: { bot: 'connected' } } });
    });
  }, STEP);
});
