import { createServer } from 'node:net';
import { MatrixApiError, MatrixClient, newTxnId } from '../../src/matrix/client';
import { createHttpSend } from '../../src/matrix/http';
import { FakeHomeserver } from '../fakes/fake-homeserver';

const AS_TOKEN = 'as-token-abc';
const SEND = /^\/_matrix\/client\/v3\/rooms\/[^/]+\/send\/[^/]+\/[^/]+$/;

describe('MatrixClient against a recording homeserver', () => {
  let hs: FakeHomeserver;
  let url: string;

  beforeEach(async () => {
    hs = new FakeHomeserver();
    url = await hs.listen();
  });
  afterEach(async () => {
    await hs.close();
  });

  const client = (over: { maxAttempts?: number; backoffMs?: number; onFailure?: (e: MatrixApiError) => void; maxInFlight?: number; timeoutMs?: number } = {}): MatrixClient =>
    new MatrixClient({ homeserverUrl: url, asToken: AS_TOKEN, maxAttempts: 3, backoffMs: 5, ...over });

  /** Awaits `p`, expecting a MatrixApiError, and returns it. */
  async function apiError(p: Promise<unknown>): Promise<MatrixApiError> {
    try {
      await p;
    } catch (err) {
      expect(err).toBeInstanceOf(MatrixApiError);
      return err as MatrixApiError;
    }
    throw new Error('expected a MatrixApiError');
  }

  describe('requests', () => {
    test('sends the as_token as a Bearer header, never in the query', async () => {
      hs.on('GET', '/_matrix/client/v3/account/whoami', { status: 200, body: { user_id: '@bridge:hs' } });
      await expect(client().whoami()).resolves.toEqual({ user_id: '@bridge:hs' });
      expect(hs.requests).toHaveLength(1);
      expect(hs.requests[0]?.headers.authorization).toBe(`Bearer ${AS_TOKEN}`);
      expect(hs.requests[0]?.query).toEqual({});
    });

    test('a trailing slash on the homeserver URL is ignored', async () => {
      hs.on('GET', '/_matrix/client/versions', { status: 200, body: { versions: ['v1.11'] } });
      const c = new MatrixClient({ homeserverUrl: url + '//', asToken: AS_TOKEN });
      await expect(c.versions()).resolves.toEqual({ versions: ['v1.11'] });
      expect(hs.requests[0]?.path).toBe('/_matrix/client/versions');
    });

    test('asUser impersonates with ?user_id= next to other query parameters', async () => {
      hs.on('POST', '/_matrix/media/v3/upload', { status: 200, body: { content_uri: 'mxc://hs/m1' } });
      const uri = await client().upload(Buffer.from('PNGDATA'), 'image/png', 'cat & dog.png', '@irc_bob:hs');
      expect(uri).toBe('mxc://hs/m1');
      const r = hs.requests[0];
      expect(r?.query).toEqual({ user_id: '@irc_bob:hs', filename: 'cat & dog.png' });
      expect(r?.headers['content-type']).toBe('image/png');
      expect(r?.rawBody).toBe('PNGDATA');
    });

    test.each([
      { name: 'setDisplayName', run: (c: MatrixClient) => c.setDisplayName('@irc_bob:hs', 'bob (IRC)'),
        method: 'PUT', path: '/_matrix/client/v3/profile/%40irc_bob%3Ahs/displayname',
        query: { user_id: '@irc_bob:hs' }, body: { displayname: 'bob (IRC)' } },
      { name: 'joinRoom by alias', run: (c: MatrixClient) => c.joinRoom('#irc_#chan:hs', '@irc_bob:hs'),
        method: 'POST', path: '/_matrix/client/v3/join/%23irc_%23chan%3Ahs', query: { user_id: '@irc_bob:hs' }, body: {} },
      { name: 'invite as the bot', run: (c: MatrixClient) => c.invite('!r:hs', '@alice:hs'),
        method: 'POST', path: '/_matrix/client/v3/rooms/!r%3Ahs/invite', query: {}, body: { user_id: '@alice:hs' } },
      { name: 'leave with a reason', run: (c: MatrixClient) => c.leave('!r:hs', '@irc_bob:hs', 'quit'),
        method: 'POST', path: '/_matrix/client/v3/rooms/!r%3Ahs/leave', query: { user_id: '@irc_bob:hs' }, body: { reason: 'quit' } },
      { name: 'leave without a reason', run: (c: MatrixClient) => c.leave('!r:hs', '@irc_bob:hs'),
        method: 'POST', path: '/_matrix/client/v3/rooms/!r%3Ahs/leave', query: { user_id: '@irc_bob:hs' }, body: {} },
      { name: 'kick', run: (c: MatrixClient) => c.kick('!r:hs', '@alice:hs', 'kicked on IRC', '@irc_op:hs'),
        method: 'POST', path: '/_matrix/client/v3/rooms/!r%3Ahs/kick', query: { user_id: '@irc_op:hs' },
        body: { user_id: '@alice:hs', reason: 'kicked on IRC' } },
      { name: 'sendState', run: (c: MatrixClient) => c.sendState('!r:hs', 'm.room.topic', '', { topic: 't' }),
        method: 'PUT', path: '/_matrix/client/v3/rooms/!r%3Ahs/state/m.room.topic/', query: {}, body: { topic: 't' } },
      { name: 'setDirectoryVisibility', run: (c: MatrixClient) => c.setDirectoryVisibility('!r:hs', 'private', '@bot:hs'),
        method: 'PUT', path: '/_matrix/client/v3/directory/list/room/!r%3Ahs', query: { user_id: '@bot:hs' },
        body: { visibility: 'private' } },
      { name: 'createRoom', run: (c: MatrixClient) => c.createRoom({ name: '#chan' }),
        method: 'POST', path: '/_matrix/client/v3/createRoom', query: {}, body: { name: '#chan' } },
    ])('$name: method, encoded path, query and JSON body', async ({ run, method, path, query, body }) => {
      hs.on(method, path, { status: 200, body: { room_id: '!r:hs', event_id: '$e' } });
      await run(client());
      expect(hs.requests).toHaveLength(1);
      const r = hs.requests[0];
      expect({ method: r?.method, path: r?.path, query: r?.query, body: r?.body }).toEqual({ method, path, query, body });
      expect(r?.headers['content-type']).toBe('application/json');
      expect(r?.headers.authorization).toBe(`Bearer ${AS_TOKEN}`);
    });

    test('getStateEvent asks for the whole event (sender included); none is null', async () => {
      hs.on('GET', '/_matrix/client/v3/rooms/!r%3Ahs/state/m.room.create/',
        { status: 200, body: { type: 'm.room.create', sender: '@c:hs', content: { room_version: '12' } } },
        { status: 404, body: { errcode: 'M_NOT_FOUND' } });
      expect(await client().getStateEvent('!r:hs', 'm.room.create')).toEqual({ type: 'm.room.create', sender: '@c:hs',
        content: { room_version: '12' } });
      expect(hs.requests[0]?.query).toEqual({ format: 'event' });
      expect(await client().getStateEvent('!r:hs', 'm.room.create')).toBeNull();
    });

    test('joinRoom returns the room ID the server answers', async () => {
      hs.on('POST', /^\/_matrix\/client\/v3\/join\//, { status: 200, body: { room_id: '!joined:hs' } });
      await expect(client().joinRoom('#a:hs', '@u:hs')).resolves.toBe('!joined:hs');
    });

    test('joinedMembers returns the joined map, {} when absent', async () => {
      hs.on('GET', '/_matrix/client/v3/rooms/!r%3Ahs/joined_members',
        { status: 200, body: { joined: { '@a:hs': { display_name: 'A' } } } }, { status: 200, body: {} });
      await expect(client().joinedMembers('!r:hs')).resolves.toEqual({ '@a:hs': { display_name: 'A' } });
      await expect(client().joinedMembers('!r:hs')).resolves.toEqual({});
    });

    test('an empty 200 body is {}', async () => {
      hs.on('POST', /invite$/, { status: 200, rawBody: '' });
      await expect(client().invite('!r:hs', '@a:hs')).resolves.toEqual({});
    });
  });

  describe('sendEvent', () => {
    test('passes ts as a query parameter and uses a new txn ID per call', async () => {
      hs.on('PUT', SEND, { status: 200, body: { event_id: '$1' } }, { status: 200, body: { event_id: '$2' } });
      const c = client();
      await expect(c.sendEvent('!r:hs', 'm.room.message', { msgtype: 'm.text', body: 'a' }, '@irc_bob:hs', 1_700_000_000_123))
        .resolves.toBe('$1');
      await expect(c.sendEvent('!r:hs', 'm.room.message', { msgtype: 'm.text', body: 'b' })).resolves.toBe('$2');

      const [first, second] = hs.requests;
      expect(first?.query).toEqual({ user_id: '@irc_bob:hs', ts: '1700000000123' });
      expect(first?.body).toEqual({ msgtype: 'm.text', body: 'a' });
      expect(second?.query).toEqual({});
      const txn = (p: string | undefined): string => (p ?? '').split('/').pop() ?? '';
      expect(first?.path.startsWith('/_matrix/client/v3/rooms/!r%3Ahs/send/m.room.message/')).toBe(true);
      expect(txn(first?.path)).not.toBe('');
      expect(txn(first?.path)).not.toBe(txn(second?.path));
    });

    test('a null ts is not sent', async () => {
      hs.on('PUT', SEND, { status: 200, body: { event_id: '$1' } });
      await client().sendEvent('!r:hs', 'm.room.message', { body: 'x' }, '@u:hs', null);
      expect(hs.requests[0]?.query).toEqual({ user_id: '@u:hs' });
    });

    test('a retried send keeps its txn ID (the homeserver deduplicates on it)', async () => {
      hs.on('PUT', SEND, { status: 502, rawBody: 'bad gateway' }, { status: 200, body: { event_id: '$1' } });
      await client().sendEvent('!r:hs', 'm.room.message', { body: 'x' });
      expect(hs.requests).toHaveLength(2);
      expect(hs.requests[0]?.path).toBe(hs.requests[1]?.path);
    });

    test('txn IDs are unique across many calls', () => {
      const ids = new Set(Array.from({ length: 1000 }, () => newTxnId()));
      expect(ids.size).toBe(1000);
      // Only URL-safe characters: the ID goes into the path as is.
      expect([...ids].filter((id) => !/^[A-Za-z0-9._~-]+$/.test(id))).toEqual([]);
    });
  });

  describe('requests in flight', () => {
    test('at most maxInFlight at once; the others go as answers come back', async () => {
      hs.on('GET', /\/joined_members$/, { status: 200, body: { joined: {} }, delayMs: 150 });
      const c = client({ maxInFlight: 4 });
      const all = Promise.all(Array.from({ length: 10 }, (_, i) => c.joinedMembers(`!r${i}:hs`)));
      await new Promise((r) => setTimeout(r, 75));
      expect(hs.requests).toHaveLength(4);
      await all;
      expect(hs.requests.map((r) => decodeURIComponent(r.path.split('/')[5] ?? '')).sort())
        .toEqual(Array.from({ length: 10 }, (_, i) => `!r${i}:hs`).sort());
      // three waves of answers, not one
      const first = hs.requests[0]?.at ?? 0;
      expect((hs.requests[9]?.at ?? 0) - first).toBeGreaterThanOrEqual(280);
    });

    test('an urgent request (a catch-up read) goes before those waiting without it', async () => {
      hs.on('GET', /\/joined_members$/, { status: 200, body: { joined: {} }, delayMs: 60 })
        .on('GET', /\/messages$/, { status: 200, body: { chunk: [] } });
      const c = client({ maxInFlight: 1 });
      const bulk = Array.from({ length: 3 }, (_, i) => c.joinedMembers(`!r${i}:hs`));
      await new Promise((r) => setTimeout(r, 20)); // the first is in flight, two wait
      const read = c.roomMessages('!urgent:hs', { dir: 'b', limit: 10 });
      await Promise.all([...bulk, read]);
      expect(hs.requests.map((r) => (r.path.endsWith('/messages') ? 'messages' : 'members')))
        .toEqual(['members', 'messages', 'members', 'members']);
    });

    test('an attempt the homeserver does not answer in time is given up and retried, and frees its place', async () => {
      hs.on('GET', /\/joined_members$/, { status: 200, body: { joined: { '@late:hs': {} } }, delayMs: 400 },
        { status: 200, body: { joined: { '@ok:hs': {} } } });
      const c = client({ maxInFlight: 1, timeoutMs: 100 });
      const started = Date.now();
      await expect(c.joinedMembers('!r:hs')).resolves.toEqual({ '@ok:hs': {} });
      expect(Date.now() - started).toBeLessThan(350); // did not wait for the 400 ms answer
      expect(hs.requests).toHaveLength(2);
      await expect(c.joinedMembers('!r2:hs')).resolves.toBeDefined(); // the place was freed
    });

    test('a request waiting between retries does not hold a place', async () => {
      hs.on('GET', /slow.*\/joined_members$/, { status: 502, body: {} }, { status: 200, body: { joined: {} } });
      hs.on('GET', /other.*\/joined_members$/, { status: 200, body: { joined: {} } });
      const c = client({ maxInFlight: 1, backoffMs: 300 });
      const slow = c.joinedMembers('!slow:hs');
      await new Promise((r) => setTimeout(r, 50)); // the 502 is back; the retry waits 300 ms
      const started = Date.now();
      await c.joinedMembers('!other:hs');
      expect(Date.now() - started).toBeLessThan(200);
      await slow;
    });
  });

  describe('retries', () => {
    test('429 with retry_after_ms is retried after that delay', async () => {
      hs.on('GET', '/_matrix/client/v3/rooms/!r%3Ahs/joined_members',
        { status: 429, body: { errcode: 'M_LIMIT_EXCEEDED', error: 'slow down', retry_after_ms: 150 } },
        { status: 200, body: { joined: {} } });
      await expect(client({ backoffMs: 1 }).joinedMembers('!r:hs')).resolves.toEqual({});
      expect(hs.requests).toHaveLength(2);
      const gap = (hs.requests[1]?.at ?? 0) - (hs.requests[0]?.at ?? 0);
      expect(gap).toBeGreaterThanOrEqual(140);
    });

    test('429 without retry_after_ms waits backoffMs', async () => {
      hs.on('POST', '/_matrix/client/v3/createRoom', { status: 429, body: { errcode: 'M_LIMIT_EXCEEDED' } },
        { status: 200, body: { room_id: '!new:hs' } });
      await expect(client({ backoffMs: 60 }).createRoom({})).resolves.toEqual({ room_id: '!new:hs' });
      const gap = (hs.requests[1]?.at ?? 0) - (hs.requests[0]?.at ?? 0);
      expect(gap).toBeGreaterThanOrEqual(50);
    });

    test('429 on every attempt ends in an error carrying retryAfterMs', async () => {
      hs.on('POST', '/_matrix/client/v3/createRoom',
        { status: 429, body: { errcode: 'M_LIMIT_EXCEEDED', error: 'slow down', retry_after_ms: 10 } });
      const err = await apiError(client({ maxAttempts: 2 }).createRoom({}));
      expect(err).toMatchObject({ status: 429, errcode: 'M_LIMIT_EXCEEDED', retryAfterMs: 10, method: 'POST',
        path: '/_matrix/client/v3/createRoom' });
      expect(hs.requests).toHaveLength(2);
    });

    test('5xx is retried up to maxAttempts, then MatrixApiError with status and errcode', async () => {
      hs.on('POST', '/_matrix/client/v3/createRoom', { status: 500, body: { errcode: 'M_UNKNOWN', error: 'db locked' } });
      const err = await apiError(client({ maxAttempts: 4 }).createRoom({ name: 'x' }));
      expect(err).toMatchObject({ status: 500, errcode: 'M_UNKNOWN', detail: 'db locked', retryAfterMs: null });
      expect(err.message).toContain('POST /_matrix/client/v3/createRoom: 500 M_UNKNOWN');
      expect(err.message).not.toContain(AS_TOKEN);
      expect(hs.requests).toHaveLength(4);
      expect(hs.requests.every((r) => JSON.stringify(r.body) === '{"name":"x"}')).toBe(true);
    });

    test('backoff doubles between 5xx attempts', async () => {
      hs.on('POST', '/_matrix/client/v3/createRoom', { status: 503, rawBody: 'unavailable' });
      await apiError(client({ maxAttempts: 3, backoffMs: 40 }).createRoom({}));
      const at = hs.requests.map((r) => r.at);
      expect(at).toHaveLength(3);
      expect((at[1] ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(35);
      expect((at[2] ?? 0) - (at[1] ?? 0)).toBeGreaterThanOrEqual(75);
    });

    test('a non-JSON error body gives errcode HTTP_<status> and the text as detail', async () => {
      hs.on('POST', '/_matrix/client/v3/createRoom', { status: 502, rawBody: '<html>Bad Gateway</html>' });
      const err = await apiError(client({ maxAttempts: 1 }).createRoom({}));
      expect(err).toMatchObject({ status: 502, errcode: 'HTTP_502', detail: '<html>Bad Gateway</html>' });
    });

    test('a 5xx followed by success resolves', async () => {
      hs.on('PUT', SEND, { status: 500, body: {} }, { status: 504, body: {} }, { status: 200, body: { event_id: '$ok' } });
      await expect(client().sendEvent('!r:hs', 'm.room.message', {})).resolves.toBe('$ok');
      expect(hs.requests).toHaveLength(3);
    });

    test.each([
      { status: 400, errcode: 'M_BAD_JSON' },
      { status: 401, errcode: 'M_UNKNOWN_TOKEN' },
      { status: 403, errcode: 'M_FORBIDDEN' },
      { status: 404, errcode: 'M_NOT_FOUND' },
      { status: 409, errcode: 'M_CONFLICT' },
    ])('$status $errcode is not retried', async ({ status, errcode }) => {
      hs.on('POST', '/_matrix/client/v3/createRoom', { status, body: { errcode, error: 'no' } });
      const err = await apiError(client({ maxAttempts: 5 }).createRoom({}));
      expect(err).toMatchObject({ status, errcode, detail: 'no' });
      expect(hs.requests).toHaveLength(1);
    });

    test('noRetry calls (whoami) try once even on 5xx', async () => {
      hs.on('GET', '/_matrix/client/v3/account/whoami', { status: 500, body: { errcode: 'M_UNKNOWN' } });
      expect((await apiError(client({ maxAttempts: 5 }).whoami())).status).toBe(500);
      expect(hs.requests).toHaveLength(1);
    });

    test('a homeserver that cannot be reached: M_CONNECTION with status 0 after maxAttempts', async () => {
      const port = await closedPort();
      let calls = 0;
      const httpSend = createHttpSend();
      const c = new MatrixClient({
        homeserverUrl: `http://127.0.0.1:${port}`, asToken: AS_TOKEN, maxAttempts: 3, backoffMs: 1,
        send: (url, req, timeoutMs) => {
          calls++;
          return httpSend(url, req, timeoutMs);
        },
      });
      const err = await apiError(c.createRoom({}));
      expect(err).toMatchObject({ status: 0, errcode: 'M_CONNECTION' });
      expect(calls).toBe(3);
    });
  });

  describe('register', () => {
    const REGISTER = '/_matrix/client/v3/register';

    test('registers an appservice user with inhibit_login', async () => {
      hs.on('POST', REGISTER, { status: 200, body: { user_id: '@irc_bob:hs' } });
      await client().register('irc_bob');
      expect(hs.requests[0]?.query).toEqual({ kind: 'user' });
      expect(hs.requests[0]?.body).toEqual({ type: 'm.login.application_service', username: 'irc_bob', inhibit_login: true });
    });

    test('M_USER_IN_USE is not an error', async () => {
      hs.on('POST', REGISTER, { status: 400, body: { errcode: 'M_USER_IN_USE', error: 'taken' } });
      await expect(client().register('irc_bob')).resolves.toBeUndefined();
      expect(hs.requests).toHaveLength(1);
    });

    test.each([
      { status: 400, errcode: 'M_EXCLUSIVE' },
      { status: 400, errcode: 'M_INVALID_USERNAME' },
      { status: 403, errcode: 'M_FORBIDDEN' },
    ])('$errcode is an error', async ({ status, errcode }) => {
      hs.on('POST', REGISTER, { status, body: { errcode } });
      expect((await apiError(client().register('irc_bob'))).errcode).toBe(errcode);
    });
  });

  describe('lookups that turn 404 into null', () => {
    test('resolveAlias: room ID, null on 404, error otherwise (no retry)', async () => {
      hs.on('GET', '/_matrix/client/v3/directory/room/%23known%3Ahs', { status: 200, body: { room_id: '!k:hs', servers: [] } });
      hs.on('GET', '/_matrix/client/v3/directory/room/%23missing%3Ahs', { status: 404, body: { errcode: 'M_NOT_FOUND' } });
      hs.on('GET', '/_matrix/client/v3/directory/room/%23broken%3Ahs', { status: 500, body: { errcode: 'M_UNKNOWN' } });
      const c = client();
      await expect(c.resolveAlias('#known:hs')).resolves.toBe('!k:hs');
      await expect(c.resolveAlias('#missing:hs')).resolves.toBeNull();
      expect((await apiError(c.resolveAlias('#broken:hs'))).status).toBe(500);
      expect(hs.requests).toHaveLength(3);
    });

    test('getState: content, null on 404, error on 403', async () => {
      hs.on('GET', '/_matrix/client/v3/rooms/!r%3Ahs/state/m.room.topic/', { status: 200, body: { topic: 't' } });
      hs.on('GET', '/_matrix/client/v3/rooms/!r%3Ahs/state/m.room.name/', { status: 404, body: { errcode: 'M_NOT_FOUND' } });
      hs.on('GET', '/_matrix/client/v3/rooms/!r%3Ahs/state/m.room.member/%40a%3Ahs', { status: 403, body: { errcode: 'M_FORBIDDEN' } });
      const c = client();
      await expect(c.getState('!r:hs', 'm.room.topic')).resolves.toEqual({ topic: 't' });
      await expect(c.getState('!r:hs', 'm.room.name')).resolves.toBeNull();
      expect((await apiError(c.getState('!r:hs', 'm.room.member', '@a:hs'))).status).toBe(403);
    });

    test('getDisplayName: the name, or null on any failure or a missing name', async () => {
      hs.on('GET', '/_matrix/client/v3/profile/%40a%3Ahs/displayname', { status: 200, body: { displayname: 'Alice' } });
      hs.on('GET', '/_matrix/client/v3/profile/%40b%3Ahs/displayname', { status: 200, body: {} });
      hs.on('GET', '/_matrix/client/v3/profile/%40c%3Ahs/displayname', { status: 500, body: {} });
      const c = client();
      await expect(c.getDisplayName('@a:hs')).resolves.toBe('Alice');
      await expect(c.getDisplayName('@b:hs')).resolves.toBeNull();
      await expect(c.getDisplayName('@c:hs')).resolves.toBeNull();
      expect(hs.requests).toHaveLength(3);
    });
  });
  test('onFailure hears of each request that fails for good, once, and of no success', async () => {
    const failures: number[] = [];
    hs.on('GET', '/_matrix/client/v3/account/whoami', { status: 200, body: { user_id: '@bot:hs' } });
    hs.on('PUT', SEND, { status: 500, body: { errcode: 'M_UNKNOWN' } });
    const c = client({ onFailure: (e) => failures.push(e.status) });
    await c.whoami();
    await apiError(c.sendEvent('!r:hs', 'm.room.message', { body: 'x' }));
    expect(failures).toEqual([500]);
    expect(hs.requestsTo('PUT', SEND)).toHaveLength(3);
  });
});

/** A loopback port with nothing listening (bound, read, closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
