import fc from 'fast-check';
import { IRC_NICK_CHARS, cleanNickPart, nextNickCandidate, renderPuppetNick } from '../../src/format/nick';
import { nastyText } from './arbitraries';

const VALID_NICK = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/;

describe('IRC_NICK_CHARS', () => {
  const cases = [
    ...[...'azAZ09[]\\`_^{|}-'].map((c) => ({ name: `accepts ${c}`, input: c, expected: true })),
    ...[...' .@!:#,*~é\u00a0'].map((c) => ({ name: `rejects ${JSON.stringify(c)}`, input: c, expected: false })),
  ];
  test.each(cases)('$name', ({ input, expected }) => {
    expect(IRC_NICK_CHARS.test(input)).toBe(expected);
  });
});

describe('cleanNickPart', () => {
  const cases = [
    { name: 'empty', input: '', expected: '' },
    { name: 'already clean', input: 'Alice', expected: 'Alice' },
    { name: 'accents dropped', input: 'José Müller', expected: 'Jose_Muller' },
    { name: 'sharp s', input: 'Straße', expected: 'Strasse' },
    { name: 'ligatures and slashed letters', input: 'Ærøskøbing', expected: 'AEroskobing' },
    { name: 'Polish', input: 'Łódź', expected: 'Lodz' },
    { name: 'Icelandic', input: 'Þórður', expected: 'Thordur' },
    { name: 'separators become one underscore', input: 'a.b=c/d+e  f', expected: 'a_b_c_d_e_f' },
    { name: 'underscores trimmed and collapsed', input: '  __spaced___out__ ', expected: 'spaced_out' },
    { name: 'nick specials kept', input: 'x[m]|^{}`\\-', expected: 'x[m]|^{}`\\-' },
    { name: 'other punctuation dropped', input: 'a@b:c!d#e', expected: 'abcde' },
    { name: 'emoji only', input: '🎉🎉', expected: '' },
    { name: 'emoji between words', input: 'Zoë 🎉 B', expected: 'Zoe_B' },
    { name: 'Cyrillic only', input: 'Дмитрий', expected: '' },
    { name: 'CJK only', input: '李小龙', expected: '' },
    { name: 'compatibility forms', input: 'ﬁne Ｆｕｌｌ', expected: 'fine_Full' },
    { name: 'only specials is not readable', input: '[]-_', expected: '' },
    { name: 'U+FFFD dropped', input: 'a\ufffdb', expected: 'ab' },
  ];
  test.each(cases)('$name', ({ input, expected }) => {
    expect(cleanNickPart(input)).toBe(expected);
  });

  test('property: output uses the nick alphabet only, no edge or double underscores', () => {
    fc.assert(
      fc.property(nastyText(), (s) => {
        const out = cleanNickPart(s);
        expect(out).toMatch(/^(?:[A-Za-z0-9[\]\\`^{|}-](?:[A-Za-z0-9[\]\\`^{|}-]|_(?!_))*)?$/);
        expect(out.endsWith('_')).toBe(false);
      }),
    );
  });
});

describe('renderPuppetNick', () => {
  const T = '$DISPLAY[m]';
  const cases: Array<{ name: string; template: string; display: string | null; localpart: string; nickLen: number; expected: string }> = [
    { name: 'display name with suffix', template: T, display: 'Alice', localpart: 'alice', nickLen: 30, expected: 'Alice[m]' },
    { name: 'long name shortened, suffix kept', template: T, display: 'Bartholomew', localpart: 'b', nickLen: 9, expected: 'Bartho[m]' },
    { name: 'cut name loses a trailing underscore', template: T, display: 'Joann B', localpart: 'j', nickLen: 9, expected: 'Joann[m]' },
    { name: 'accents transliterated', template: T, display: 'Zoë Ærø', localpart: 'z', nickLen: 30, expected: 'Zoe_AEro[m]' },
    { name: 'emoji-only display falls back to localpart', template: T, display: '🎉🎉', localpart: 'party.time', nickLen: 30, expected: 'party_time[m]' },
    { name: 'Cyrillic display falls back to localpart', template: T, display: 'Дмитрий', localpart: 'dima', nickLen: 30, expected: 'dima[m]' },
    { name: 'CJK display falls back to localpart', template: T, display: '李小龙', localpart: 'bruce', nickLen: 30, expected: 'bruce[m]' },
    { name: 'one-letter display falls back', template: T, display: 'X', localpart: 'xavier', nickLen: 30, expected: 'xavier[m]' },
    { name: 'spaces-only display falls back', template: T, display: '   ', localpart: 'sp', nickLen: 30, expected: 'sp[m]' },
    { name: 'no display name', template: T, display: null, localpart: 'carol', nickLen: 30, expected: 'carol[m]' },
    { name: 'nothing readable at all', template: T, display: '🎉', localpart: '_', nickLen: 30, expected: 'matrix[m]' },
    { name: 'leading digit gets an underscore', template: T, display: null, localpart: '42bob', nickLen: 9, expected: '_42bob[m]' },
    { name: 'leading dash gets an underscore', template: T, display: '-dash-', localpart: 'd', nickLen: 30, expected: '_-dash-[m]' },
    { name: 'underscore prefix still fits', template: T, display: '1234567890', localpart: 'n', nickLen: 9, expected: '_12345[m]' },
    { name: 'localpart template', template: '$LOCALPART|m', display: 'Alice', localpart: 'ali.ce', nickLen: 30, expected: 'ali_ce|m' },
    { name: 'both variables', template: 'm_$LOCALPART_$DISPLAY', display: 'Al', localpart: 'al', nickLen: 30, expected: 'm_al_Al' },
    { name: 'suffix that leaves no room is dropped', template: '$DISPLAY[matrixuser]', display: 'Alice', localpart: 'a', nickLen: 9, expected: 'Alice' },
    { name: 'invalid literal characters dropped', template: '$DISPLAY@m', display: 'Alice', localpart: 'a', nickLen: 30, expected: 'Alicem' },
    { name: 'unknown $words are literal text', template: '$DISPLAY$constructor', display: 'Al', localpart: 'a', nickLen: 30, expected: 'Alconstructor' },
    { name: 'underscore prefix with a long suffix', template: '$DISPLAY|matrixx', display: '9lives', localpart: 'a', nickLen: 9, expected: '_9lives' },
    { name: 'empty template means $DISPLAY', template: '', display: 'Alice', localpart: 'a', nickLen: 30, expected: 'Alice' },
    { name: 'long UTF-8 display', template: T, display: 'Ü'.repeat(200), localpart: 'u', nickLen: 16, expected: `${'U'.repeat(13)}[m]` },
  ];
  test.each(cases)('$name', ({ template, display, localpart, nickLen, expected }) => {
    expect(renderPuppetNick(template, { display, localpart }, nickLen)).toBe(expected);
  });

  test('property: always a valid nick within nickLen', () => {
    const template = fc.oneof(fc.constantFrom('$DISPLAY[m]', '$LOCALPART', '[m]$DISPLAY', '9$DISPLAY', '$DISPLAY|matrix-bridge'), nastyText(12));
    fc.assert(
      fc.property(template, fc.option(nastyText(40)), nastyText(20), fc.integer({ min: 9, max: 64 }), (t, display, localpart, nickLen) => {
        const nick = renderPuppetNick(t, { display, localpart }, nickLen);
        expect(nick).toMatch(VALID_NICK);
        expect(nick.length).toBeLessThanOrEqual(nickLen);
      }),
      { numRuns: 500 },
    );
  });
});

describe('nextNickCandidate', () => {
  const cases: Array<{ name: string; nick: string; attempt: number; nickLen: number; suffix?: string; expected: string }> = [
    { name: 'number before the suffix', nick: 'alice[m]', attempt: 1, nickLen: 30, suffix: '[m]', expected: 'alice1[m]' },
    { name: 'second attempt', nick: 'alice[m]', attempt: 2, nickLen: 30, suffix: '[m]', expected: 'alice2[m]' },
    { name: 'no suffix: appended', nick: 'alice', attempt: 3, nickLen: 30, expected: 'alice3' },
    { name: 'suffix given but absent', nick: 'bob', attempt: 1, nickLen: 9, suffix: '[m]', expected: 'bob1' },
    { name: 'exactly fits', nick: 'alice[m]', attempt: 1, nickLen: 9, suffix: '[m]', expected: 'alice1[m]' },
    { name: 'base shortened to fit', nick: 'alicealice[m]', attempt: 1, nickLen: 9, suffix: '[m]', expected: 'alice1[m]' },
    { name: 'two digits shorten more', nick: 'alice[m]', attempt: 12, nickLen: 9, suffix: '[m]', expected: 'alic12[m]' },
    { name: 'attempt 99', nick: 'alice[m]', attempt: 99, nickLen: 30, suffix: '[m]', expected: 'alice99[m]' },
    { name: 'after 99: base-36 tag', nick: 'alice[m]', attempt: 100, nickLen: 30, suffix: '[m]', expected: 'alice1a[m]' },
    { name: 'next base-36 tag', nick: 'alice[m]', attempt: 101, nickLen: 30, suffix: '[m]', expected: 'alice1b[m]' },
    { name: 'wider base-36 tag later', nick: 'alice[m]', attempt: 100 + 234, nickLen: 30, suffix: '[m]', expected: 'alice10a[m]' },
    { name: 'base-36 tag fitted', nick: 'alice[m]', attempt: 100, nickLen: 9, suffix: '[m]', expected: 'alic1a[m]' },
    { name: 'nick that is only the suffix', nick: '[m]', attempt: 1, nickLen: 9, suffix: '[m]', expected: '[m]1' },
    { name: 'attempt below 1 counts as 1', nick: 'x', attempt: 0, nickLen: 9, expected: 'x1' },
  ];
  test.each(cases)('$name', ({ nick, attempt, nickLen, suffix, expected }) => {
    expect(nextNickCandidate(nick, attempt, nickLen, suffix)).toBe(expected);
  });

  test('2000 attempts give 2000 distinct valid nicks, the same each time', () => {
    for (const nickLen of [9, 16, 30]) {
      const seen = new Set<string>();
      for (let attempt = 1; attempt <= 2000; attempt++) {
        const nick = nextNickCandidate('alice[m]', attempt, nickLen, '[m]');
        expect(nick).toMatch(VALID_NICK);
        expect(nick.length).toBeLessThanOrEqual(nickLen);
        expect(nextNickCandidate('alice[m]', attempt, nickLen, '[m]')).toBe(nick);
        seen.add(nick);
      }
      expect(seen.size).toBe(2000);
    }
  });

  test.each([
    { nick: 'aalice1201[m]', attempt: 1, nickLen: 13 },
    { nick: 'bob9[m]', attempt: 9, nickLen: 7 },
  ])('a candidate never gives back the refused nick itself ($nick, attempt $attempt)', ({ nick, attempt, nickLen }) => {
    const next = nextNickCandidate(nick, attempt, nickLen, '[m]');
    expect(next).not.toBe(nick);
    expect(next.length).toBeLessThanOrEqual(nickLen);
    expect(next).toMatch(VALID_NICK);
  });

  test('property: candidates of a rendered nick stay valid', () => {
    fc.assert(
      fc.property(nastyText(30), fc.integer({ min: 1, max: 100000 }), fc.integer({ min: 9, max: 40 }), (display, attempt, nickLen) => {
        const nick = renderPuppetNick('$DISPLAY[m]', { display, localpart: 'user' }, nickLen);
        const next = nextNickCandidate(nick, attempt, nickLen, '[m]');
        expect(next).toMatch(VALID_NICK);
        expect(next.length).toBeLessThanOrEqual(nickLen);
        expect(next).not.toBe(nick);
      }),
      { numRuns: 500 },
    );
  });
});
