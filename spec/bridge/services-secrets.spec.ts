/** Passwords sent to IRC services: found in the command, masked in what comes back. */
import { SecretMask, secretsIn } from '../../src/bridge/services-secrets';

describe('secretsIn', () => {
  test.each([
    ['NickServ', 'REGISTER hunter2 alice@example.org', ['hunter2']],
    ['nickserv', 'register hunter2', ['hunter2']],
    ['NickServ', 'IDENTIFY hunter2', ['hunter2']],
    ['NickServ', 'IDENTIFY alice hunter2', ['hunter2']],
    ['NS', 'id alice s3cret', ['s3cret']],
    ['NickServ', 'SET PASSWORD n3w-pass', ['n3w-pass']],
    ['NickServ', 'SET EMAIL alice@example.org', []],
    ['NickServ', 'GHOST Alice hunter2', ['hunter2']],
    ['NickServ', 'GHOST Alice', []],
    ['NickServ@services.example.net', '  REGISTER   hunter2 a@b  ', ['hunter2']],
    ['Q@CServe.quakenet.org', 'AUTH alice hunter2', ['hunter2']],
    ['X', 'LOGIN alice hunter2', ['hunter2']],
    ['NickServ', 'INFO alice', []],
    ['NickServ', 'REGISTER', []],
    ['NickServ', '', []],
    // to anyone else it is conversation
    ['friend', 'register now for the meetup', []],
    ['ircbob', 'IDENTIFY yourself', []],
  ])('to %s: %j', (target, text, expected) => {
    expect(secretsIn(target, text)).toEqual(expected);
  });
});

describe('SecretMask', () => {
  test('masks what this user sent, everywhere in the text, and nobody else\'s', () => {
    const m = new SecretMask();
    m.remember('@alice:hs', ['hunter2']);
    expect(m.mask('@alice:hs', 'Alice is now registered, with the password hunter2 (hunter2).'))
      .toBe('Alice is now registered, with the password ******** (********).');
    expect(m.mask('@bob:hs', 'hunter2')).toBe('hunter2');
  });

  test('forgets after ten minutes; short strings are never masked; at most eight kept', () => {
    const m = new SecretMask();
    const t0 = 1_000_000;
    m.remember('@alice:hs', ['hunter2', 'abc'], t0);
    expect(m.mask('@alice:hs', 'hunter2 abc', t0 + 1000)).toBe('******** abc');
    expect(m.mask('@alice:hs', 'hunter2', t0 + 10 * 60_000 + 1)).toBe('hunter2');
    for (let i = 0; i < 10; i++) {
      m.remember('@alice:hs', [`secret-${i}`], t0 + i);
    }
    expect(m.mask('@alice:hs', 'secret-0 secret-1 secret-2 secret-9', t0 + 20)).toBe('secret-0 secret-1 ******** ********');
  });

  test('users whose passwords expired are forgotten once there are many', () => {
    const m = new SecretMask();
    for (let i = 0; i < 1000; i++) {
      m.remember(`@u${i}:hs`, ['hunter2'], 0);
    }
    m.remember('@late:hs', ['hunter2'], 11 * 60_000);
    expect((m as unknown as { byUser: Map<string, unknown> }).byUser.size).toBe(1);
  });

  test('the same password sent twice is kept once, with the later expiry', () => {
    const m = new SecretMask();
    m.remember('@alice:hs', ['hunter2'], 0);
    m.remember('@alice:hs', ['hunter2'], 9 * 60_000);
    expect(m.mask('@alice:hs', 'hunter2', 15 * 60_000)).toBe('********');
  });
});
