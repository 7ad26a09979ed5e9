import { request as httpRequest } from 'node:http';
import { configureLogging } from '../../src/log';
import { AppserviceServer, type AppserviceHandlers } from '../../src/matrix/appservice';

const HS_TOKEN = 'hs-token-0123456789';

/** Handlers that record every call in order and answer what the test scripted. */
class RecordingHandlers implements AppserviceHandlers {
  readonly calls: Array<{ name: string; args: unknown[] }> = [];
  acceptResult: boolean | Error = true;
  users = new Set<string>();
  aliases = new Set<string>();
  protocols: Record<string, unknown> = {};
  ready = true;

  acceptTransaction(txnId: string, events: unknown[]): boolean {
    this.calls.push({ name: 'acceptTransaction', args: [txnId, events] });
    if (this.acceptResult instanceof Error) {
      throw this.acceptResult;
    }
    return this.acceptResult;
  }
  afterTransaction(): void {
    this.calls.push({ name: 'afterTransaction', args: [] });
  }
  async queryUser(userId: string): Promise<boolean> {
    this.calls.push({ name: 'queryUser', args: [userId] });
    return this.users.has(userId);
  }
  async queryAlias(alias: string): Promise<boolean> {
    this.calls.push({ name: 'queryAlias', args: [alias] });
    return this.aliases.has(alias);
  }
  thirdPartyProtocol(protocol: string): unknown {
    this.calls.push({ name: 'thirdPartyProtocol', args: [protocol] });
    return this.protocols[protocol] ?? null;
  }
  thirdPartyLocations(protocol: string | null, fields: Record<string, string>): Promise<unknown[]> | null {
    this.calls.push({ name: 'thirdPartyLocations', args: [protocol, fields] });
    return protocol === 'unknown' ? null : Promise.resolve([{ alias: '#irc_chan:hs', protocol, fields }]);
  }
  thirdPartyUsers(protocol: string | null, fields: Record<string, string>): Promise<unknown[]> | null {
    this.calls.push({ name: 'thirdPartyUsers', args: [protocol, fields] });
    return protocol === 'unknown' ? null : Promise.resolve([{ userid: '@irc_bob:hs', protocol, fields }]);
  }
  health(): { ready: boolean; detail: Record<string, unknown> } {
    this.calls.push({ name: 'health', args: [] });
    return { ready: this.ready, detail: { networks: 1 } };
  }
  observeTransaction(seconds: number, outcome: string): void {
    this.calls.push({ name: 'observeTransaction', args: [seconds, outcome] });
  }
  async provision(action: string, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
    this.calls.push({ name: 'provision', args: [action, body] });
    return { status: 202, body: { status: 'waiting_for_consent', operator: 'op' } };
  }

  names(): string[] {
    return this.calls.map((c) => c.name);
  }
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

describe('AppserviceServer', () => {
  let server: AppserviceServer;
  let handlers: RecordingHandlers;
  let base: string;
  const logLines: string[] = [];

  beforeAll(() => configureLogging({ level: 'debug', format: 'json', sink: { write: (l) => logLines.push(l) } }));
  afterAll(() => configureLogging({ level: 'info', format: 'text', sink: { write: (l) => process.stderr.write(l + '\n') } }));

  beforeEach(async () => {
    logLines.length = 0;
    handlers = new RecordingHandlers();
    server = new AppserviceServer({ hsToken: HS_TOKEN, bind: '127.0.0.1', port: 0, maxBodyBytes: 64 * 1024 }, handlers);
    const port = await server.listen();
    expect(port).toBeGreaterThan(0);
    base = `http://127.0.0.1:${port}`;
  });
  afterEach(async () => {
    await server.close();
  });

  async function call(method: string, path: string, o: { token?: string | null; body?: string; query?: string } = {}):
    Promise<Reply> {
    const headers: Record<string, string> = {};
    const token = o.token === undefined ? HS_TOKEN : o.token;
    if (token !== null) {
      headers.authorization = `Bearer ${token}`;
    }
    if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(base + path + (o.query ?? ''), { method, headers, body: o.body });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  }

  const putTxn = (txnId: string, body: unknown, token?: string | null): Promise<Reply> =>
    call('PUT', `/_matrix/app/v1/transactions/${encodeURIComponent(txnId)}`,
      { body: typeof body === 'string' ? body : JSON.stringify(body), token });

  describe('authentication', () => {
    const routes: Array<{ method: string; path: string; body?: string }> = [
      { method: 'PUT', path: '/_matrix/app/v1/transactions/t1', body: '{"events":[]}' },
      { method: 'GET', path: '/_matrix/app/v1/users/%40irc_bob%3Ahs' },
      { method: 'GET', path: '/_matrix/app/v1/rooms/%23irc_chan%3Ahs' },
      { method: 'POST', path: '/_matrix/app/v1/ping', body: '{}' },
      { method: 'GET', path: '/_matrix/app/v1/thirdparty/protocol/irc' },
      { method: 'GET', path: '/_matrix/app/v1/thirdparty/location/irc' },
      { method: 'GET', path: '/_matrix/app/v1/thirdparty/location' },
      { method: 'GET', path: '/_matrix/app/v1/thirdparty/user/irc' },
      { method: 'GET', path: '/_matrix/app/v1/thirdparty/user' },
      { method: 'GET', path: '/_matrix/app/v1/no-such-route' },
      // Legacy unprefixed paths are authenticated the same way.
      { method: 'PUT', path: '/transactions/t1', body: '{"events":[]}' },
      { method: 'GET', path: '/users/%40irc_bob%3Ahs' },
      { method: 'GET', path: '/rooms/%23irc_chan%3Ahs' },
    ];

    test.each(routes)('$method $path without a token -> 401 M_UNAUTHORIZED', async ({ method, path, body }) => {
      const r = await call(method, path, { token: null, body });
      expect(r).toEqual({ status: 401, body: { errcode: 'M_UNAUTHORIZED', error: expect.any(String) } });
      expect(handlers.calls).toEqual([]);
    });

    test.each(routes)('$method $path with an empty Bearer token -> 401 M_UNAUTHORIZED', async ({ method, path, body }) => {
      const r = await call(method, path, { token: '', body });
      expect(r.status).toBe(401);
      expect(r.body.errcode).toBe('M_UNAUTHORIZED');
    });

    test.each(routes)('$method $path with a wrong Bearer token -> 403 M_FORBIDDEN', async ({ method, path, body }) => {
      const r = await call(method, path, { token: 'wrong', body });
      expect(r).toEqual({ status: 403, body: { errcode: 'M_FORBIDDEN', error: expect.any(String) } });
      expect(handlers.calls).toEqual([]);
    });

    test.each(routes)('$method $path with a wrong access_token query -> 403 M_FORBIDDEN', async ({ method, path, body }) => {
      const r = await call(method, path, { token: null, body, query: '?access_token=wrong' });
      expect(r.status).toBe(403);
      expect(r.body.errcode).toBe('M_FORBIDDEN');
      expect(handlers.calls).toEqual([]);
    });

    test.each([
      { name: 'a prefix of the token', token: HS_TOKEN.slice(0, -1) },
      { name: 'the token plus a character', token: HS_TOKEN + 'x' },
      { name: 'the token in another case', token: HS_TOKEN.toUpperCase() },
    ])('$name is refused', async ({ token }) => {
      expect((await putTxn('t', { events: [] }, token)).status).toBe(403);
    });

    test('the right token in the access_token query is accepted', async () => {
      const r = await call('PUT', '/_matrix/app/v1/transactions/q1',
        { token: null, body: '{"events":[]}', query: `?access_token=${HS_TOKEN}` });
      expect(r).toEqual({ status: 200, body: {} });
      expect(handlers.calls[0]).toEqual({ name: 'acceptTransaction', args: ['q1', []] });
    });

    test('a non-Bearer Authorization header does not count as a token', async () => {
      const res = await fetch(`${base}/_matrix/app/v1/users/x`, { headers: { authorization: `Basic ${HS_TOKEN}` } });
      expect(res.status).toBe(401);
      await res.text();
    });

    test('the token never reaches the log', async () => {
      handlers.acceptResult = new Error('store is broken');
      await putTxn('t', { events: [] });
      await call('GET', '/_matrix/app/v1/users/x', { token: null, query: `?access_token=${HS_TOKEN}` });
      expect(logLines.length).toBeGreaterThan(0);
      expect(logLines.join('\n')).not.toContain(HS_TOKEN);
    });
  });

  describe('transactions', () => {
    test('a new transaction: acceptTransaction, then the 200, then afterTransaction', async () => {
      const events = [{ type: 'm.room.message', event_id: '$1' }, { type: 'm.room.member', event_id: '$2' }];
      const r = await putTxn('txn 1/a', { events });
      expect(r).toEqual({ status: 200, body: {} });
      expect(handlers.names()).toEqual(['acceptTransaction', 'observeTransaction', 'afterTransaction']);
      expect(handlers.calls[0]?.args).toEqual(['txn 1/a', events]);
      const [seconds, outcome] = handlers.calls[1]?.args ?? [];
      expect(outcome).toBe('accepted');
      expect(seconds).toEqual(expect.any(Number));
      expect(seconds as number).toBeGreaterThanOrEqual(0);
    });

    test('a duplicate still answers 200 and does not call afterTransaction', async () => {
      handlers.acceptResult = false;
      const r = await putTxn('t1', { events: [{ type: 'x' }] });
      expect(r).toEqual({ status: 200, body: {} });
      expect(handlers.names()).toEqual(['acceptTransaction', 'observeTransaction']);
      expect(handlers.calls[1]?.args[1]).toBe('duplicate');
    });

    test('extra keys (ephemeral, to-device) are fine as long as events is an array', async () => {
      const r = await putTxn('t', { events: [], ephemeral: [{ type: 'm.typing' }], 'de.sorunome.msc2409.to_device': [] });
      expect(r.status).toBe(200);
    });

    test.each([
      { name: 'not JSON', body: 'this is not json', errcode: 'M_NOT_JSON' },
      { name: 'truncated JSON', body: '{"events": [', errcode: 'M_NOT_JSON' },
      { name: 'empty body', body: '', errcode: 'M_NOT_JSON' },
      { name: 'missing events', body: '{}', errcode: 'M_BAD_JSON' },
      { name: 'events is an object', body: '{"events": {}}', errcode: 'M_BAD_JSON' },
      { name: 'events is null', body: '{"events": null}', errcode: 'M_BAD_JSON' },
      { name: 'a JSON array', body: '[]', errcode: 'M_BAD_JSON' },
      { name: 'JSON null', body: 'null', errcode: 'M_BAD_JSON' },
      { name: 'a JSON number', body: '42', errcode: 'M_BAD_JSON' },
    ])('$name -> 400 $errcode, nothing accepted', async ({ body, errcode }) => {
      const r = await putTxn('t', body);
      expect(r).toEqual({ status: 400, body: { errcode, error: expect.any(String) } });
      expect(handlers.calls).toEqual([]);
    });

    test('acceptTransaction throwing -> 500 M_UNKNOWN, no afterTransaction, and the server keeps serving', async () => {
      handlers.acceptResult = new Error('disk full');
      const r = await putTxn('t1', { events: [] });
      expect(r).toEqual({ status: 500, body: { errcode: 'M_UNKNOWN', error: 'Internal error' } });
      expect(handlers.names()).toEqual(['acceptTransaction']);
      expect(logLines.some((l) => l.includes('appservice request failed'))).toBe(true);
      expect(JSON.stringify(r.body)).not.toContain('disk full');

      handlers.acceptResult = true;
      const again = await putTxn('t1', { events: [] });
      expect(again).toEqual({ status: 200, body: {} });
      expect(handlers.names()).toEqual(['acceptTransaction', 'acceptTransaction', 'observeTransaction', 'afterTransaction']);
    });

    test.each([
      { method: 'GET', path: '/_matrix/app/v1/transactions/t1' },
      { method: 'POST', path: '/_matrix/app/v1/transactions/t1' },
      { method: 'PUT', path: '/_matrix/app/v1/transactions/' },
      { method: 'PUT', path: '/_matrix/app/v1/transactions/a/b' },
    ])('$method $path is not a transaction', async ({ method, path }) => {
      const r = await call(method, path, method === 'GET' ? {} : { body: '{"events":[]}' });
      expect(r.status).toBe(404);
      expect(r.body.errcode).toBe('M_UNRECOGNIZED');
      expect(handlers.calls).toEqual([]);
    });

    test('a concurrent burst of transactions is each accepted once', async () => {
      const ids = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
      const replies = await Promise.all(ids.map((id) => putTxn(id, { events: [{ id }] })));
      expect(replies.every((r) => r.status === 200)).toBe(true);
      const accepted = handlers.calls.filter((c) => c.name === 'acceptTransaction').map((c) => c.args[0]);
      expect([...accepted].sort()).toEqual([...ids].sort());
      expect(handlers.names().filter((n) => n === 'afterTransaction')).toHaveLength(20);
    });
  });

  describe('queries', () => {
    test('user query: 200 when the handler says it exists, 404 M_NOT_FOUND otherwise; the ID is decoded', async () => {
      handlers.users.add('@irc_bob:hs');
      expect(await call('GET', '/_matrix/app/v1/users/%40irc_bob%3Ahs')).toEqual({ status: 200, body: {} });
      expect(await call('GET', '/_matrix/app/v1/users/%40nobody%3Ahs'))
        .toEqual({ status: 404, body: { errcode: 'M_NOT_FOUND', error: expect.any(String) } });
      expect(handlers.calls).toEqual([
        { name: 'queryUser', args: ['@irc_bob:hs'] },
        { name: 'queryUser', args: ['@nobody:hs'] },
      ]);
    });

    test('alias query: 200 / 404; the alias is decoded', async () => {
      handlers.aliases.add('#irc_#chan:hs');
      expect((await call('GET', '/_matrix/app/v1/rooms/%23irc_%23chan%3Ahs')).status).toBe(200);
      expect((await call('GET', '/_matrix/app/v1/rooms/%23other%3Ahs')).status).toBe(404);
      expect(handlers.calls.map((c) => c.args[0])).toEqual(['#irc_#chan:hs', '#other:hs']);
    });

    test('a query handler that rejects -> 500', async () => {
      handlers.queryUser = async (): Promise<boolean> => {
        throw new Error('homeserver down');
      };
      expect((await call('GET', '/_matrix/app/v1/users/%40x%3Ahs')).status).toBe(500);
      expect((await call('GET', '/_matrix/app/v1/rooms/%23x%3Ahs')).status).toBe(404);
    });

    test('thirdparty protocol: 200 with the handler\'s object, 404 M_NOT_FOUND for null', async () => {
      handlers.protocols.irc = { user_fields: ['network', 'nickname'], location_fields: ['network', 'channel'] };
      expect(await call('GET', '/_matrix/app/v1/thirdparty/protocol/irc'))
        .toEqual({ status: 200, body: handlers.protocols.irc });
      expect(await call('GET', '/_matrix/app/v1/thirdparty/protocol/xmpp'))
        .toEqual({ status: 404, body: { errcode: 'M_NOT_FOUND', error: expect.any(String) } });
    });

    test('thirdparty location/user pass the protocol and query fields, without access_token', async () => {
      const loc = await call('GET', '/_matrix/app/v1/thirdparty/location/irc',
        { token: null, query: `?access_token=${HS_TOKEN}&network=libera&channel=%23chan` });
      expect(loc).toEqual({ status: 200, body: expect.any(Array) });
      expect(handlers.calls.at(-1)).toEqual({ name: 'thirdPartyLocations', args: ['irc', { network: 'libera', channel: '#chan' }] });

      const user = await call('GET', '/_matrix/app/v1/thirdparty/user', { query: '?nickname=bob' });
      expect(user.status).toBe(200);
      expect(handlers.calls.at(-1)).toEqual({ name: 'thirdPartyUsers', args: [null, { nickname: 'bob' }] });
    });

    test.each([
      '/_matrix/app/v1/thirdparty/location/unknown',
      '/_matrix/app/v1/thirdparty/user/unknown',
    ])('%s -> 404 when the handler returns null', async (path) => {
      expect(await call('GET', path)).toEqual({ status: 404, body: { errcode: 'M_NOT_FOUND', error: expect.any(String) } });
    });

    test('ping -> 200 {}', async () => {
      expect(await call('POST', '/_matrix/app/v1/ping', { body: '{"transaction_id":"abc"}' })).toEqual({ status: 200, body: {} });
      expect(await call('POST', '/_matrix/app/v1/ping')).toEqual({ status: 200, body: {} });
      expect(handlers.calls).toEqual([]);
    });
  });

  describe('health and unknown paths', () => {
    test.each([
      { path: '/health', ready: true, status: 200, state: 'ready' },
      { path: '/health', ready: false, status: 503, state: 'starting' },
      { path: '/health/ready', ready: true, status: 200, state: 'ready' },
      { path: '/health/ready', ready: false, status: 503, state: 'starting' },
      { path: '/health/live', ready: false, status: 200, state: 'live' },
    ])('$path with ready=$ready -> $status', async ({ path, ready, status, state }) => {
      handlers.ready = ready;
      const r = await call('GET', path, { token: null });
      expect(r.status).toBe(status);
      expect(r.body.status).toBe(state);
      if (path !== '/health/live') {
        expect(r.body.networks).toBe(1);
      }
    });

    test.each(['/', '/favicon.ico', '/_matrix/client/versions', '/metrics', '/healthz'])(
      '%s -> 404 M_UNRECOGNIZED (no token needed to learn that)', async (path) => {
        const r = await call('GET', path, { token: null });
        expect(r).toEqual({ status: 404, body: { errcode: 'M_UNRECOGNIZED', error: expect.any(String) } });
      });

    test('an unknown /_matrix/app/v1 route with a good token -> 404 M_UNRECOGNIZED', async () => {
      const r = await call('GET', '/_matrix/app/v1/something');
      expect(r.status).toBe(404);
      expect(r.body.errcode).toBe('M_UNRECOGNIZED');
    });
  });

  describe('limits and lifecycle', () => {
    test('a body over maxBodyBytes is refused and nothing is accepted', async () => {
      const big = JSON.stringify({ events: [{ body: 'x'.repeat(100 * 1024) }] });
      const outcome = await rawPut(base, '/_matrix/app/v1/transactions/big', big);
      // Either a 413 answer or the connection being cut: never a 200.
      expect(outcome === 'reset' || outcome === 413).toBe(true);
      expect(handlers.calls).toEqual([]);
      expect((await putTxn('small', { events: [] })).status).toBe(200);
    });

    // The body is read to its end (and dropped) so that the 413 reaches the homeserver.
    test('a body over maxBodyBytes is answered 413', async () => {
      const big = JSON.stringify({ events: [{ body: 'x'.repeat(100 * 1024) }] });
      expect(await rawPut(base, '/_matrix/app/v1/transactions/big', big)).toBe(413);
    });

    test('close() stops listening; a second close() is harmless', async () => {
      await server.close();
      await server.close();
      await expect(fetch(`${base}/health`)).rejects.toThrow();
    });

    test('listen() on a port in use rejects', async () => {
      const port = Number(new URL(base).port);
      const other = new AppserviceServer({ hsToken: HS_TOKEN, bind: '127.0.0.1', port }, handlers);
      await expect(other.listen()).rejects.toThrow(/EADDRINUSE/);
      await other.close();
    });
  });
});

describe('AppserviceServer: the provisioning API', () => {
  const SECRET = 'provisioning-secret-0123456789abcdef';
  const LINK = '/_matrix/provision/v1/link';
  let server: AppserviceServer;
  let handlers: RecordingHandlers;
  let base: string;

  async function start(secret: string | null): Promise<void> {
    handlers = new RecordingHandlers();
    server = new AppserviceServer({ hsToken: HS_TOKEN, bind: '127.0.0.1', port: 0, provisioningSecret: secret }, handlers);
    base = `http://127.0.0.1:${await server.listen()}`;
  }

  async function post(path: string, token: string | null, body: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(base + path, { method: 'POST', body,
      headers: { 'content-type': 'application/json', ...(token !== null ? { authorization: `Bearer ${token}` } : {}) } });
    return { status: res.status, body: JSON.parse(await res.text()) as unknown };
  }

  beforeAll(() => configureLogging({ level: 'error', sink: { write: () => undefined } }));
  afterEach(async () => {
    await server.close();
  });

  test('with the secret, a JSON object reaches the handler and its answer goes back', async () => {
    await start(SECRET);
    const r = await post(LINK, SECRET, JSON.stringify({ room_id: '!r:hs', channel: '#c' }));
    expect(r).toEqual({ status: 202, body: { status: 'waiting_for_consent', operator: 'op' } });
    expect(handlers.calls).toEqual([{ name: 'provision', args: ['link', { room_id: '!r:hs', channel: '#c' }] }]);
  });

  test.each([
    { name: 'no token', token: null, status: 401, errcode: 'M_UNAUTHORIZED' },
    { name: 'a wrong secret', token: 'x'.repeat(40), status: 403, errcode: 'M_FORBIDDEN' },
    { name: 'the hs_token', token: HS_TOKEN, status: 403, errcode: 'M_FORBIDDEN' },
  ])('$name -> $status, the handler is not called', async ({ token, status, errcode }) => {
    await start(SECRET);
    const r = await post(LINK, token, '{}');
    expect(r).toEqual({ status, body: { errcode, error: expect.any(String) } });
    expect(handlers.calls).toEqual([]);
  });

  test('the secret is not taken from the query string', async () => {
    await start(SECRET);
    const res = await fetch(`${base}${LINK}?access_token=${SECRET}`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
  });

  test.each([
    { name: 'not JSON', body: 'link please', status: 400, errcode: 'M_NOT_JSON' },
    { name: 'a JSON array', body: '[]', status: 400, errcode: 'M_BAD_JSON' },
    { name: 'a body over 64 KiB', body: JSON.stringify({ x: 'y'.repeat(70 * 1024) }), status: 413, errcode: 'M_TOO_LARGE' },
  ])('$name -> $status', async ({ body, status, errcode }) => {
    await start(SECRET);
    expect(await post(LINK, SECRET, body)).toEqual({ status, body: { errcode, error: expect.any(String) } });
    expect(handlers.calls).toEqual([]);
  });

  test('without a secret configured the API does not exist', async () => {
    await start(null);
    expect((await post(LINK, SECRET, '{}')).status).toBe(404);
    expect(handlers.calls).toEqual([]);
  });
});

/** PUT with node:http so a cut connection is seen as such: the status, or 'reset'. */
function rawPut(base: string, path: string, body: string): Promise<number | 'reset'> {
  return new Promise((resolve) => {
    const req = httpRequest(base + path, {
      method: 'PUT', headers: { authorization: `Bearer ${HS_TOKEN}`, 'content-type': 'application/json' },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve('reset'));
    req.setTimeout(2000, () => req.destroy());
    req.end(body);
  });
}
