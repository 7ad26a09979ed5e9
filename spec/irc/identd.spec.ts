import * as net from 'node:net';
import { IrcConnection } from '../../src/irc/connection';
import { IdentRegistry, IdentServer, parseIdentQuery } from '../../src/irc/identd';
import { FakeIrcd } from '../fakes/fake-ircd';

/** An RFC 1413 client: sends each line, collects the answers, until the server closes or
 *  `expect` answers arrived (bounded). */
function ask(port: number, lines: string[], expect = lines.length, timeoutMs = 3000): Promise<{ answers: string[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = '';
    let closed = false;
    const answers: string[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`ident: ${answers.length}/${expect} answers within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answers, closed });
    };
    socket.setEncoding('latin1');
    socket.on('connect', () => lines.forEach((l) => socket.write(l)));
    socket.on('data', (d: string) => {
      buf += d;
      let eol: number;
      while ((eol = buf.indexOf('\r\n')) >= 0) {
        answers.push(buf.slice(0, eol));
        buf = buf.slice(eol + 2);
      }
      if (answers.length >= expect) {
        finish();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
  });
}

describe('parseIdentQuery', () => {
  test.each([
    { input: '6193, 23', expected: [6193, 23] },
    { input: '6193,23', expected: [6193, 23] },
    { input: '  6193 ,  23  ', expected: [6193, 23] },
    { input: '65535, 1', expected: [65535, 1] },
    { input: '0, 23', expected: null },
    { input: '65536, 23', expected: null },
    { input: '6193', expected: null },
    { input: '6193, 23, 5', expected: null },
    { input: 'a, b', expected: null },
    { input: '', expected: null },
    { input: '-1, 23', expected: null },
  ])('$input', ({ input, expected }) => {
    expect(parseIdentQuery(input)).toEqual(expected);
  });
});

describe('IdentServer', () => {
  let registry: IdentRegistry;
  let server: IdentServer;
  let port: number;
  beforeEach(async () => {
    registry = new IdentRegistry();
    server = new IdentServer({ bind: '127.0.0.1', port: 0, registry, lateRegistrationMs: 100 });
    port = await server.listen();
  });
  afterEach(() => server.close());

  test('answers USERID for a connection the bridge owns, NO-USER otherwise', async () => {
    registry.add({ localPort: 40001, remotePort: 6667, remoteAddress: '127.0.0.1', username: 'alice7f3k' });
    const { answers } = await ask(port, ['40001, 6667\r\n', '40002, 6667\r\n', '40001 , 6668\n'], 3);
    expect(answers).toEqual([
      '40001, 6667 : USERID : UNIX : alice7f3k',
      '40002, 6667 : ERROR : NO-USER',
      '40001, 6668 : ERROR : NO-USER',
    ]);
  });

  test('only the host at the other end of the connection gets its username', async () => {
    registry.add({ localPort: 40001, remotePort: 6667, remoteAddress: '10.1.2.3', username: 'alice7f3k' });
    expect((await ask(port, ['40001, 6667\r\n'])).answers).toEqual(['40001, 6667 : ERROR : NO-USER']);
  });

  test('a connection that registers a moment after the query is still found', async () => {
    setTimeout(() => registry.add({ localPort: 40003, remotePort: 6667, remoteAddress: '::ffff:127.0.0.1', username: 'late' }), 30);
    expect((await ask(port, ['40003, 6667\r\n'])).answers).toEqual(['40003, 6667 : USERID : UNIX : late']);
  });

  test.each([
    { name: 'junk', send: 'hello there\r\n' },
    { name: 'a port out of range', send: '70000, 6667\r\n' },
    { name: 'binary', send: '\x00\xff\x01, \x02\r\n' },
  ])('$name gets INVALID-PORT and the socket is closed', async ({ send }) => {
    const { answers, closed } = await ask(port, [send], 2); // waits for the close
    expect(answers).toEqual(['0, 0 : ERROR : INVALID-PORT']);
    expect(closed).toBe(true);
  });

  test('a line longer than the limit without a newline is cut off; the server keeps answering', async () => {
    const { answers, closed } = await ask(port, ['9'.repeat(10_000)], 1);
    expect(answers).toEqual([]);
    expect(closed).toBe(true);
    registry.add({ localPort: 40004, remotePort: 6667, remoteAddress: '127.0.0.1', username: 'bob' });
    expect((await ask(port, ['40004, 6667\r\n'])).answers).toEqual(['40004, 6667 : USERID : UNIX : bob']);
  });

  test('answers for a real IRC connection, by the ports the IRC server sees', async () => {
    const ircd = new FakeIrcd();
    const ircPort = await ircd.listen();
    const conn = new IrcConnection({
      host: '127.0.0.1', port: ircPort, tls: false, tlsVerify: true, password: null, nick: 'alice', username: 'alice7f3k',
      realname: '@alice:hs', role: 'puppet', sendBurst: 50, sendRate: 100, connectTimeoutMs: 3000, ident: registry,
    });
    try {
      await conn.connect();
      const peer = await ircd.client();
      // What an ircd does: the client's port, then its own port, asked of the client's address.
      const sock = (peer as unknown as { socket: net.Socket }).socket;
      const q = `${sock.remotePort}, ${sock.localPort}`;
      expect((await ask(port, [q + '\r\n'])).answers).toEqual([`${q} : USERID : UNIX : alice7f3k`]);
      await conn.quit('bye', 500);
      expect((await ask(port, [q + '\r\n'])).answers).toEqual([`${q} : ERROR : NO-USER`]);
    } finally {
      await conn.quit('bye', 200).catch(() => undefined);
      await ircd.close();
    }
  });

  test('listen fails clearly when the port is taken', async () => {
    const other = new IdentServer({ bind: '127.0.0.1', port, registry });
    await expect(other.listen()).rejects.toThrow(/EADDRINUSE/);
  });
});
