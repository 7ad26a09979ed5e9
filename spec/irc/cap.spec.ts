/** CAP negotiation and SASL at registration, line by line. */
import { CapNegotiation, type SaslPlan } from '../../src/irc/cap';

function negotiation(wanted: string[], plan: SaslPlan): { cap: CapNegotiation; lines: string[]; told: string[] } {
  const lines: string[] = [];
  const told: string[] = [];
  const cap = new CapNegotiation(new Set(wanted), plan, {
    write: (l) => lines.push(l),
    saslUnavailable: (reason) => told.push(`unavailable ${reason}`),
    saslStarted: () => told.push('started'),
  });
  cap.start();
  return { cap, lines, told };
}

const PLAIN: SaslPlan = { mechanism: 'PLAIN', account: 'acct', password: 'pw' };

describe('CapNegotiation', () => {
  test('everything wanted is asked for with the LS: one ACK and CAP END, no second round trip', () => {
    const { cap, lines } = negotiation(['batch', 'server-time', 'labeled-response'], null);
    expect(lines).toEqual(['CAP LS 302', 'CAP REQ :batch server-time labeled-response']);
    cap.onCap(['*', 'LS', 'batch server-time labeled-response multi-prefix'], false);
    expect(lines).toHaveLength(2); // the answer to the REQ comes next
    cap.onCap(['*', 'ACK', 'batch server-time labeled-response'], false);
    expect(lines.slice(2)).toEqual(['CAP END']);
    expect([...cap.enabled]).toEqual(['batch', 'server-time', 'labeled-response']);
  });

  test('a refused first request: the multi-line LS is read whole, then one REQ of what it offers', () => {
    const { cap, lines } = negotiation(['batch', 'server-time', 'labeled-response'], null);
    cap.onCap(['*', 'LS', '*', 'batch multi-prefix'], false);
    cap.onCap(['*', 'LS', 'server-time sts=port=6697'], false);
    expect(lines).toHaveLength(2);
    cap.onCap(['*', 'NAK', 'batch server-time labeled-response'], false);
    expect(lines.slice(2)).toEqual(['CAP REQ :batch server-time']);
    cap.onCap(['*', 'ACK', 'batch server-time'], false);
    expect(lines.slice(3)).toEqual(['CAP END']);
    expect([...cap.enabled]).toEqual(['batch', 'server-time']);
    // Only what the client wants is kept of the offer, with its value.
    expect([...cap.offered.keys()]).toEqual(['batch', 'server-time']);
  });

  test('a NAK that comes before the offer is whole waits for it', () => {
    const { cap, lines } = negotiation(['batch', 'labeled-response'], null);
    cap.onCap(['*', 'LS', '*', 'batch'], false);
    cap.onCap(['*', 'NAK', 'batch labeled-response'], false);
    expect(lines).toHaveLength(2);
    cap.onCap(['*', 'LS', 'multi-prefix'], false);
    expect(lines.slice(2)).toEqual(['CAP REQ :batch']);
  });

  test('an offer of thousands of capabilities keeps only the wanted ones', () => {
    const { cap, lines } = negotiation(['sasl', 'batch'], PLAIN);
    const junk = Array.from({ length: 5000 }, (_, i) => `x-cap-${i}=${'v'.repeat(50)}`).join(' ');
    cap.onCap(['*', 'LS', '*', junk], false);
    cap.onCap(['*', 'LS', `${junk} sasl=PLAIN,EXTERNAL batch`], false);
    expect([...cap.offered.entries()]).toEqual([['sasl', 'PLAIN,EXTERNAL'], ['batch', '']]);
    expect(lines.slice(1)).toEqual(['CAP REQ :sasl batch']);
  });

  test('nothing wanted on offer: CAP END after the refusal; nothing wanted at all: no REQ; a second NAK ends it', () => {
    const a = negotiation(['batch'], null);
    a.cap.onCap(['*', 'LS', 'multi-prefix'], false);
    a.cap.onCap(['*', 'NAK', 'batch'], false);
    expect(a.lines).toEqual(['CAP LS 302', 'CAP REQ :batch', 'CAP END']);
    const none = negotiation([], null);
    none.cap.onCap(['*', 'LS', 'multi-prefix'], false);
    expect(none.lines).toEqual(['CAP LS 302', 'CAP END']);
    const b = negotiation(['batch', 'sasl'], PLAIN);
    b.cap.onCap(['*', 'LS', 'batch sasl'], false);
    b.cap.onCap(['*', 'NAK', 'batch sasl'], false);
    expect(b.told).toEqual([]);
    b.cap.onCap(['*', 'NAK', 'batch sasl'], false);
    expect(b.lines).toEqual(['CAP LS 302', 'CAP REQ :batch sasl', 'CAP REQ :batch sasl', 'CAP END']);
    expect(b.told).toEqual(['unavailable capability_missing']);
  });

  test('SASL PLAIN: AUTHENTICATE after the ACK, the payload on +, CAP END only when the caller ends it', () => {
    const { cap, lines, told } = negotiation(['sasl'], PLAIN);
    cap.onCap(['*', 'LS', 'sasl=PLAIN,EXTERNAL'], false);
    cap.onCap(['*', 'ACK', 'sasl'], false);
    expect(told).toEqual(['started']);
    expect(cap.onAuthenticate('+')).toBe(true);
    expect(lines).toEqual(['CAP LS 302', 'CAP REQ :sasl', 'AUTHENTICATE PLAIN',
      `AUTHENTICATE ${Buffer.from('acct\0acct\0pw').toString('base64')}`]);
    cap.end();
    cap.end();
    expect(lines.filter((l) => l === 'CAP END')).toHaveLength(1);
  });

  test('a password in UTF-8 goes as its UTF-8 bytes, once', () => {
    const { cap, lines } = negotiation(['sasl'], { mechanism: 'PLAIN', account: 'zoë', password: 'pässwörd✓' });
    cap.onCap(['*', 'LS', 'sasl'], false);
    cap.onCap(['*', 'ACK', 'sasl'], false);
    cap.onAuthenticate('+');
    const sent = Buffer.from((lines.at(-1) ?? '').slice('AUTHENTICATE '.length), 'base64').toString('utf8');
    expect(sent).toBe('zoë\0zoë\0pässwörd✓');
  });

  test.each([
    { passwordBytes: 296, pieces: ['400 characters', 'AUTHENTICATE +'] }, // 300 bytes: exactly 400 base64 characters
    { passwordBytes: 200, pieces: ['272 characters'] },
    { passwordBytes: 500, pieces: ['400 characters', '272 characters'] },
  ])('a password of $passwordBytes bytes goes in pieces of at most 400 characters', ({ passwordBytes, pieces }) => {
    const password = 'x'.repeat(passwordBytes);
    const { cap, lines } = negotiation(['sasl'], { mechanism: 'PLAIN', account: 'a', password });
    cap.onCap(['*', 'LS', 'sasl'], false);
    cap.onCap(['*', 'ACK', 'sasl'], false);
    const from = lines.length;
    cap.onAuthenticate('+');
    const sent = lines.slice(from).map((l) => l.slice('AUTHENTICATE '.length));
    expect(sent.map((p) => (p === '+' ? 'AUTHENTICATE +' : `${p.length} characters`))).toEqual(pieces);
    expect(Buffer.from(sent.filter((p) => p !== '+').join(''), 'base64').toString()).toBe(`a\0a\0${password}`);
  });

  test('EXTERNAL answers + with an empty response', () => {
    const { cap, lines } = negotiation(['sasl'], { mechanism: 'EXTERNAL' });
    cap.onCap(['*', 'LS', 'sasl=EXTERNAL'], false);
    cap.onCap(['*', 'ACK', 'sasl'], false);
    cap.onAuthenticate('+');
    expect(lines.slice(-2)).toEqual(['AUTHENTICATE EXTERNAL', 'AUTHENTICATE +']);
  });

  test('a mechanism the server does not list: not tried, told, CAP END', () => {
    const { cap, lines, told } = negotiation(['sasl', 'batch'], PLAIN);
    cap.onCap(['*', 'LS', 'sasl=EXTERNAL batch'], false);
    cap.onCap(['*', 'ACK', 'sasl batch'], false);
    expect(told).toEqual(['unavailable unsupported_mechanism']);
    expect(lines.at(-1)).toBe('CAP END');
    expect(lines.some((l) => l.startsWith('AUTHENTICATE'))).toBe(false);
  });

  test('SASL not offered: refused with the first request, told once, not asked again; a challenge other than + is refused', () => {
    const { cap, lines, told } = negotiation(['sasl', 'batch'], PLAIN);
    cap.onCap(['*', 'LS', 'batch'], false);
    cap.onCap(['*', 'NAK', 'sasl batch'], false);
    expect(told).toEqual(['unavailable capability_missing']);
    cap.onCap(['*', 'ACK', 'batch'], false);
    expect(told).toEqual(['unavailable capability_missing']);
    expect(lines).toEqual(['CAP LS 302', 'CAP REQ :sasl batch', 'CAP REQ :batch', 'CAP END']);
    expect(cap.onAuthenticate('+')).toBe(false);
  });

  test('before registration a CAP NEW is noted but asks for nothing; after it, wanted ones are asked for', () => {
    const { cap, lines } = negotiation(['batch', 'server-time', 'sasl'], null);
    expect(lines).toEqual(['CAP LS 302', 'CAP REQ :batch server-time']); // no SASL planned: not asked for
    cap.onCap(['*', 'LS', 'batch'], false);
    cap.onCap(['*', 'NAK', 'batch server-time'], false);
    cap.onCap(['*', 'NEW', 'server-time'], false);
    cap.onCap(['*', 'ACK', 'batch'], false);
    expect(lines.slice(2)).toEqual(['CAP REQ :batch', 'CAP END']);
    cap.onCap(['nick', 'NEW', 'server-time sasl other'], true);
    expect(lines.at(-1)).toBe('CAP REQ :server-time');
    cap.onCap(['nick', 'ACK', 'server-time'], true);
    cap.onCap(['nick', 'DEL', 'batch'], true);
    expect([...cap.enabled]).toEqual(['server-time']);
    expect(lines.at(-1)).toBe('CAP REQ :server-time'); // no CAP END after registration
  });

  test('with a gate, CAP END waits for it (once), and goes even if the gate fails', async () => {
    const lines: string[] = [];
    let open: () => void = () => undefined;
    const cap = new CapNegotiation(new Set(['batch']), null, {
      write: (l) => lines.push(l),
      saslUnavailable: () => undefined,
      saslStarted: () => undefined,
      beforeEnd: () => new Promise<void>((r) => { open = r; }),
    });
    cap.start();
    cap.onCap(['*', 'LS', 'batch'], false);
    cap.onCap(['*', 'ACK', 'batch'], false);
    cap.end();
    await Promise.resolve();
    expect(lines).toEqual(['CAP LS 302', 'CAP REQ :batch']);
    open();
    await new Promise((r) => setImmediate(r));
    expect(lines.at(-1)).toBe('CAP END');
    expect(lines.filter((l) => l === 'CAP END')).toHaveLength(1);

    const failing: string[] = [];
    const cap2 = new CapNegotiation(new Set(), null, {
      write: (l) => failing.push(l), saslUnavailable: () => undefined, saslStarted: () => undefined,
      beforeEnd: () => Promise.reject(new Error('stopping')),
    });
    cap2.start();
    cap2.onCap(['*', 'LS', 'batch'], false);
    await new Promise((r) => setImmediate(r));
    expect(failing).toEqual(['CAP LS 302', 'CAP END']);
  });
});
