/** The bound on one user's messages waiting for their IRC connection (max_pending_messages). */
import { BOT, type Fixture, memberEvent, messageEvent, startFixture, until } from './fixture';

const STATIC = '!static:hs.test';
const ALICE = '@alice:hs.test';

describe('messages waiting for a connection are bounded per user', () => {
  let f: Fixture;

  afterEach(async () => {
    await f?.close();
  });

  test('beyond max_pending_messages a message is not queued and its sender is told which one', async () => {
    // the server never answers registration: nobody's connection comes up, so everything waits
    f = await startFixture({
      ircd: { register: false },
      network: { mappings: [{ channel: '#static', room_id: STATIC }], max_pending_messages: 3, message_timeout_ms: 60_000,
        connect_timeout_ms: 60_000 },
    });
    f.push(memberEvent(STATIC, ALICE, 'join', { displayname: 'Alice' }));
    for (let i = 1; i <= 5; i++) {
      f.push(messageEvent(STATIC, ALICE, `message number ${i}`));
    }
    f.push(messageEvent(STATIC, '@bob:hs.test', 'bob is counted apart'));
    const notices = await until(() => {
      const n = f.sentBy(BOT, STATIC).filter((b) => b.includes('was not sent to IRC'));
      return n.length === 2 ? n : null;
    }, 'two refusals');
    expect(notices).toEqual([
      '@alice:hs.test: your message "message number 4" was not sent to IRC: 3 of your messages are already waiting for your IRC connection. Send it again once they are through.',
      '@alice:hs.test: your message "message number 5" was not sent to IRC: 3 of your messages are already waiting for your IRC connection. Send it again once they are through.',
    ]);
    // the three admitted ones (and bob's, and alice's join) are still stored, waiting
    const bodies = f.store.listInboundEvents().map((e) => (e.event as { content?: { body?: string } }).content?.body);
    expect(bodies.filter((b) => b?.startsWith('message number'))).toEqual(['message number 1', 'message number 2', 'message number 3']);
    expect(bodies).toContain('bob is counted apart');
  });
});
