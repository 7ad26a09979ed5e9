/**
 * Checks the end-to-end harness itself against the real servers: InspIRCd with the
 * harness config, Synapse with an appservice registration, the raw IRC client and
 * the Matrix test client. Needs no bridge build.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startInspircd, type InspircdHandle } from './harness/inspircd';
import { IrcTestClient } from './harness/irc-client';
import { MatrixRequestError, MatrixTestClient } from './harness/matrix-client';
import { portAccepts } from './harness/ports';
import { report } from './harness/proc';
import { startSynapse, type SynapseHandle } from './harness/synapse';

const WAIT = 15_000;

describe('e2e harness: real InspIRCd and Synapse', () => {
  let dir = '';
  let ircd: InspircdHandle | undefined;
  let synapse: SynapseHandle | undefined;
  const clients: IrcTestClient[] = [];
  let passed = 0;
  const ircPort = (): number => {
    if (ircd === undefined) throw new Error('InspIRCd did not start');
    return ircd.port;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mib-harness-'));
    const registrationPath = path.join(dir, 'registration.yaml');
    fs.writeFileSync(
      registrationPath,
      [
        'id: e2e-harness',
        'url: http://127.0.0.1:9',
        `as_token: ${'a'.repeat(40)}`,
        `hs_token: ${'h'.repeat(40)}`,
        'sender_localpart: harnessbot',
        'rate_limited: false',
        'namespaces:',
        '  users: [{ exclusive: true, regex: "@harness_.*:localhost" }]',
        '  aliases: [{ exclusive: true, regex: "#harness_.*:localhost" }]',
        '  rooms: []',
        '',
      ].join('\n'),
    );
    const t0 = Date.now();
    ircd = await startInspircd(path.join(dir, 'inspircd'));
    const t1 = Date.now();
    synapse = await startSynapse(path.join(dir, 'synapse'), { registrationPath });
    const t2 = Date.now();
    report(`e2e harness: InspIRCd ready in ${t1 - t0} ms, Synapse ready in ${t2 - t1} ms`);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit().catch(() => undefined)));
    const ports = [ircd?.port, synapse?.port];
    await synapse?.stop();
    await ircd?.stop();
    for (const port of ports) {
      if (port !== undefined && (await portAccepts(port, 500))) report(`e2e harness: port ${port} still open after stop`);
    }
    if (passed === 3 && process.env.E2E_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
    else report(`e2e harness: kept ${dir}`);
  }, 60_000);

  it('InspIRCd offers the IRCv3 capabilities and ISUPPORT the bridge relies on', async () => {
    const probe = await IrcTestClient.connect({
      port: ircPort(),
      nick: 'capprobe',
      caps: ['message-tags', 'server-time', 'echo-message'],
    });
    clients.push(probe);
    for (const cap of [
      'message-tags',
      'echo-message',
      'labeled-response',
      'batch',
      'server-time',
      'account-tag',
      'extended-join',
      'chghost',
      'setname',
      'multi-prefix',
      'userhost-in-names',
    ]) {
      expect([cap, probe.offeredCaps.has(cap)]).toEqual([cap, true]);
    }
    expect([...probe.acceptedCaps].sort()).toEqual(['echo-message', 'message-tags', 'server-time']);
    const isupport = probe.lines
      .filter((l) => l.command === '005')
      .flatMap((l) => l.params.slice(1, -1));
    expect(isupport).toEqual(expect.arrayContaining(['LINELEN=512', 'NICKLEN=30', 'CASEMAPPING=ascii']));
    passed += 1;
  });

  it('two raw IRC clients exchange messages and client tags in a channel', async () => {
    const tagCaps = ['message-tags', 'server-time'];
    const [alice, bob] = await Promise.all([
      IrcTestClient.connect({ port: ircPort(), nick: 'h_alice', caps: tagCaps }),
      IrcTestClient.connect({ port: ircPort(), nick: 'h_bob', caps: tagCaps }),
    ]);
    clients.push(alice, bob);
    await alice.join('#harness');
    const names = await bob.joinAndNames('#harness');
    expect(names.sort()).toEqual(['h_alice', 'h_bob']);
    await alice.waitFor((l) => l.command === 'JOIN' && l.nick === 'h_bob', WAIT, 'bob JOIN');

    const sentAt = Date.now();
    alice.privmsg('#harness', 'hello \x02bold\x02 world');
    const got = await bob.waitFor((l) => l.command === 'PRIVMSG' && l.nick === 'h_alice', WAIT, 'PRIVMSG from h_alice');
    expect(got.params).toEqual(['#harness', 'hello \x02bold\x02 world']);
    expect(got.tags.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    report(`e2e harness: IRC -> IRC latency ${got.at - sentAt} ms`);

    alice.send('@+draft/react=\u{1F44D};+draft/reply=abc TAGMSG #harness');
    const tagmsg = await bob.waitFor((l) => l.command === 'TAGMSG', WAIT, 'TAGMSG');
    expect(tagmsg.tags['+draft/react']).toBe('\u{1F44D}');
    expect(tagmsg.tags['+draft/reply']).toBe('abc');

    bob.notice('h_alice', 'private notice');
    const notice = await alice.waitFor((l) => l.command === 'NOTICE' && l.nick === 'h_bob', WAIT, 'NOTICE');
    expect(notice.params).toEqual(['h_alice', 'private notice']);

    await bob.quit('bye now');
    const quit = await alice.waitFor((l) => l.command === 'QUIT' && l.nick === 'h_bob', WAIT, 'QUIT of h_bob');
    expect(quit.params[0]).toContain('bye now');
    passed += 1;
  });

  it('Synapse registers users who create a room and see each other through /sync', async () => {
    if (synapse === undefined) throw new Error('Synapse did not start');
    const hs = synapse;
    const [alice, bob] = await Promise.all([hs.registerUser('h_alice'), hs.registerUser('h_bob')]);
    expect(alice.userId).toBe('@h_alice:localhost');
    const aliceClient = await MatrixTestClient.create(hs.url, alice.userId, alice.accessToken);
    const bobClient = await MatrixTestClient.create(hs.url, bob.userId, bob.accessToken);
    await aliceClient.setDisplayName('Alice H');

    // Synapse read the registration: the appservice's alias namespace is exclusive
    const refused = await aliceClient
      .request('POST', '/_matrix/client/v3/createRoom', { room_alias_name: 'harness_taken' })
      .then(
        () => 'created',
        (e: unknown) => (e instanceof MatrixRequestError ? e.errcode : String(e)),
      );
    expect(refused).toBe('M_EXCLUSIVE');

    const created = await aliceClient.request<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom', {
      preset: 'public_chat',
      room_alias_name: 'h_room',
      name: 'Harness room',
    });
    expect(await bobClient.resolveAlias('#h_room:localhost')).toBe(created.room_id);
    const roomId = await bobClient.joinRoom('#h_room:localhost');
    expect(roomId).toBe(created.room_id);

    const sentAt = Date.now();
    await aliceClient.sendText(roomId, 'hello bob', { format: 'org.matrix.custom.html', formatted_body: '<b>hello</b> bob' });
    const ev = await bobClient.waitForEvent(
      roomId,
      (e) => e.type === 'm.room.message' && e.content.body === 'hello bob',
      WAIT,
      'the message from alice',
    );
    expect(ev.sender).toBe('@h_alice:localhost');
    expect(ev.content.formatted_body).toBe('<b>hello</b> bob');
    report(`e2e harness: Matrix -> Matrix latency ${ev.receivedAt - sentAt} ms`);

    const members = await aliceClient.waitForMembers(
      roomId,
      (m) => '@h_bob:localhost' in m,
      WAIT,
      'bob in the member list',
    );
    expect(members['@h_alice:localhost']).toBe('Alice H');
    expect((await aliceClient.getState(roomId, 'm.room.name'))?.name).toBe('Harness room');

    await bobClient.leave(roomId);
    const leave = await aliceClient.waitForEvent(
      roomId,
      (e) => e.type === 'm.room.member' && e.state_key === '@h_bob:localhost' && e.content.membership === 'leave',
      WAIT,
      'bob leaving',
    );
    expect(leave.sender).toBe('@h_bob:localhost');
    passed += 1;
  });
});
