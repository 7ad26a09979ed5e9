import { configureLogging, getLogger } from '../src/log';

describe('log', () => {
  let lines: string[];
  beforeEach(() => {
    lines = [];
    configureLogging({ level: 'debug', format: 'json', sink: { write: (l) => lines.push(l) } });
  });
  afterAll(() => configureLogging({ level: 'error', format: 'text' }));

  test.each([
    { name: 'as_token', fields: { as_token: 'secret-a' } },
    { name: 'nested password', fields: { cfg: { network: { password: 'secret-b' } } } },
    { name: 'sasl blob', fields: { saslPayload: 'secret-c' } },
    { name: 'authorization header', fields: { headers: { Authorization: 'Bearer secret-d' } } },
    { name: 'in an array', fields: { list: [{ hs_token: 'secret-e' }] } },
    { name: 'stored credentials', fields: { credentials: { account: 'a', password: 'secret-f' } } },
    { name: 'a client certificate and key', fields: { clientCert: { certificate: 'c', privateKey: 'secret-g' } } },
    { name: 'a private key (camelCase)', fields: { privateKey: 'secret-h' } },
    { name: 'a sealed password column', fields: { password_sealed: 'v1:secret-i' } },
    { name: 'an IRC connection config', fields: { opts: { saslAccount: 'a', saslPassword: 'secret-j' } } },
  ])('a secret field is never written: $name', ({ fields }) => {
    getLogger('t').info('msg', fields);
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/secret-/);
    expect(lines[0]).toContain('[redacted]');
  });

  test('json lines carry module, level, message and child fields', () => {
    getLogger('bridge', { network: 'libera' }).child({ room_id: '!r:x' }).warn('something happened', { nick: 'bob' });
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: 'warn', module: 'bridge', msg: 'something happened', network: 'libera', room_id: '!r:x', nick: 'bob',
    });
  });

  test('text lines quote values with spaces; levels below the threshold are dropped', () => {
    configureLogging({ level: 'info', format: 'text', sink: { write: (l) => lines.push(l) } });
    const log = getLogger('m');
    log.debug('hidden');
    log.info('shown', { reason: 'two words', n: 3 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/INFO +\[m\] shown reason="two words" n=3$/);
  });

  test('errors are written with their message', () => {
    getLogger('m').error('failed', { err: new Error('boom') });
    expect(JSON.parse(lines[0] as string).err.message).toBe('boom');
  });
});
