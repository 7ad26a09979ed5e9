import fc from 'fast-check';
import { stripIrcCodes } from '../../src/format/irc-codes';
import {
  SIMPLE_CLUSTER_RANGES,
  graphemeClusters,
  ircLineBudget,
  sanitizeIrcText,
  splitForIrc,
  utf8ByteLength,
} from '../../src/format/split';
import { nastyText } from './arbitraries';

const graphemes = (s: string): string[] =>
  [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(s)].map((g) => g.segment);

describe('utf8ByteLength', () => {
  const cases = [
    { name: 'empty', input: '', expected: 0 },
    { name: 'ASCII', input: 'hello', expected: 5 },
    { name: 'two-byte letters', input: 'éß', expected: 4 },
    { name: 'three-byte CJK', input: '日本', expected: 6 },
    { name: 'astral emoji (surrogate pair)', input: '👍', expected: 4 },
    { name: 'emoji with skin tone modifier', input: '👍🏽', expected: 8 },
    { name: 'lone high surrogate counts as U+FFFD', input: '\ud800', expected: 3 },
    { name: 'lone low surrogate before ASCII', input: '\udc00a', expected: 4 },
  ];
  test.each(cases)('$name', ({ input, expected }) => {
    expect(utf8ByteLength(input)).toBe(expected);
  });

  test('agrees with Buffer.byteLength for arbitrary strings', () => {
    fc.assert(
      fc.property(nastyText(), (s) => {
        expect(utf8ByteLength(s)).toBe(Buffer.byteLength(s, 'utf8'));
      }),
    );
  });
});

describe('graphemeClusters', () => {
  const cases = [
    { name: 'empty', input: '', expected: [] },
    { name: 'ASCII', input: 'ab c', expected: ['a', 'b', ' ', 'c'] },
    { name: 'CR LF is one cluster', input: 'a\r\nb', expected: ['a', '\r\n', 'b'] },
    { name: 'ASCII letter takes a following combining mark', input: 'ae\u0301z', expected: ['a', 'e\u0301', 'z'] },
    { name: 'flags pair up', input: 'x🇫🇷🇩🇪', expected: ['x', '🇫🇷', '🇩🇪'] },
    { name: 'ZWJ sequence', input: '日👨\u200d👩\u200d👧本', expected: ['日', '👨\u200d👩\u200d👧', '本'] },
    { name: 'Hangul jamo compose', input: 'a\u1100\u1161\u11a8b', expected: ['a', '\u1100\u1161\u11a8', 'b'] },
    { name: 'Devanagari conjunct', input: 'क्षa', expected: ['क्ष', 'a'] },
  ];
  test.each(cases)('$name', ({ input, expected }) => {
    expect(graphemeClusters(input)).toEqual(expected);
  });

  test('every "simple" code point is a cluster of its own next to anything simple', () => {
    const seg = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    const count = (s: string): number => [...seg.segment(s)].length;
    const wrong: string[] = [];
    for (const [lo, hi] of SIMPLE_CLUSTER_RANGES) {
      for (let c = lo; c <= hi; c++) {
        const ch = String.fromCharCode(c);
        if (ch === '\r' || ch === '\n') continue;
        // a ÷ ch (not Extend, SpacingMark, ZWJ), ch ÷ ch (not a regional indicator or jamo), ch ÷ é
        // (not Prepend): four clusters.
        if (count(`a${ch}${ch}\u00e9`) !== 4) wrong.push(c.toString(16));
      }
    }
    expect(wrong).toEqual([]);
  });

  test('property: same clusters as the segmenter on the whole string, also past window edges', () => {
    const seg = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    // No two "simple" characters in a row, so the segmenter sees regions longer than its window.
    const complexUnit = fc.oneof(
      fc.constantFrom('🇫🇷', '🇩', '👨\u200d👩\u200d👧', '👍🏽', 'e\u0301', '\u0301', '\u200d', '\u1100\u1161', 'क्ष'),
      fc.integer({ min: 0x10000, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp)),
    );
    const long = fc.string({ unit: complexUnit, minLength: 300, maxLength: 700 });
    fc.assert(
      fc.property(fc.oneof(nastyText(), long), (s) => {
        expect(graphemeClusters(s)).toEqual(Array.from(seg.segment(s), (g) => g.segment));
      }),
      { numRuns: 150 },
    );
  });

  test('a cluster longer than the segmenting window stays whole', () => {
    const zalgo = `a${'\u0301'.repeat(1500)}`;
    expect(graphemeClusters(`${zalgo}日${zalgo}`)).toEqual([zalgo, '日', zalgo]);
  });
});

describe('sanitizeIrcText', () => {
  const cases = [
    { name: 'empty', input: '', expected: '' },
    { name: 'clean text untouched', input: 'hello \x02world\x02', expected: 'hello \x02world\x02' },
    { name: 'LF becomes a space', input: 'a\nb', expected: 'a b' },
    { name: 'CRLF becomes one space', input: 'a\r\nb', expected: 'a b' },
    { name: 'lone CR dropped', input: 'a\rb', expected: 'ab' },
    { name: 'NUL dropped', input: 'a\0b', expected: 'ab' },
    { name: 'command injection attempt flattened', input: 'hi\r\nQUIT :bye', expected: 'hi QUIT :bye' },
    { name: 'CTCP markers are not its business', input: '\x01ACTION waves\x01', expected: '\x01ACTION waves\x01' },
  ];
  test.each(cases)('$name', ({ input, expected }) => {
    expect(sanitizeIrcText(input)).toBe(expected);
  });

  test('never leaves CR, LF or NUL', () => {
    fc.assert(
      fc.property(nastyText(), (s) => {
        expect(sanitizeIrcText(s)).not.toMatch(/[\r\n\0]/);
      }),
    );
  });
});

describe('ircLineBudget', () => {
  // ":alice!al@example.org PRIVMSG #chan :" is 37 bytes; CRLF is 2.
  const base = { nick: 'alice', user: 'al', host: 'example.org', target: '#chan' };
  const cases = [
    { name: 'PRIVMSG on a 512-byte line', input: { ...base, command: 'PRIVMSG' as const }, expected: 512 - 37 - 2 },
    { name: 'NOTICE is one byte shorter', input: { ...base, command: 'NOTICE' as const }, expected: 512 - 36 - 2 },
    {
      name: 'CTCP ACTION wrapper costs 9 bytes',
      input: { ...base, command: 'PRIVMSG' as const, action: true },
      expected: 512 - 37 - 2 - 9,
    },
    { name: 'custom line length', input: { ...base, command: 'PRIVMSG' as const, lineLen: 100 }, expected: 100 - 39 },
    {
      name: 'multi-byte nick counted in bytes',
      input: { ...base, nick: 'élise', command: 'PRIVMSG' as const },
      expected: 512 - 38 - 2,
    },
    {
      name: 'never below 16 even with an absurd host',
      input: { ...base, host: 'h'.repeat(600), command: 'PRIVMSG' as const },
      expected: 16,
    },
  ];
  test.each(cases)('$name', ({ input, expected }) => {
    expect(ircLineBudget(input)).toBe(expected);
  });

  test('an ACTION split to the budget fits the relayed 512-byte line', () => {
    const who = { nick: 'bob[m]', user: 'bob', host: 'matrix.example.org', target: '#room' };
    const budget = ircLineBudget({ ...who, command: 'PRIVMSG', action: true });
    const chunks = splitForIrc('waves 👋 '.repeat(200), budget);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      const line = `:${who.nick}!${who.user}@${who.host} PRIVMSG ${who.target} :\x01ACTION ${chunk}\x01\r\n`;
      expect(Buffer.byteLength(line)).toBeLessThanOrEqual(512);
    }
  });
});

describe('splitForIrc', () => {
  const family = '👨\u200d👩\u200d👧'; // 18 bytes, one grapheme
  const cases: Array<{ name: string; input: string; budget: number; expected: string[] }> = [
    { name: 'empty input', input: '', budget: 100, expected: [] },
    { name: 'only newlines and spaces', input: '\n \n\t\r\n', budget: 100, expected: [] },
    { name: 'only formatting codes', input: '\x02\x0304\x0f', budget: 100, expected: [] },
    { name: 'short line kept whole', input: 'hello world', budget: 100, expected: ['hello world'] },
    { name: 'lines split on LF, blank ones dropped', input: 'a\n\n  \nb', budget: 100, expected: ['a', 'b'] },
    { name: 'CRLF and NUL removed', input: 'a\r\nb\0c\r', budget: 100, expected: ['a', 'bc'] },
    { name: 'cut at a space in the second half', input: 'hello world foo', budget: 12, expected: ['hello world', 'foo'] },
    {
      name: 'space in the first half: cut mid-word instead',
      input: 'ab cdefghijklmnop',
      budget: 10,
      expected: ['ab cdefghi', 'jklmnop'],
    },
    { name: 'exactly the budget is not split', input: 'abcdefghij', budget: 10, expected: ['abcdefghij'] },
    { name: 'two-byte letters never halved', input: 'é'.repeat(5), budget: 5, expected: ['éé', 'éé', 'é'] },
    { name: 'flags stay whole', input: '🇫🇷🇩🇪', budget: 10, expected: ['🇫🇷', '🇩🇪'] },
    { name: 'ZWJ family stays whole', input: `abc${family}`, budget: 20, expected: ['abc', family] },
    { name: 'combining accents stay on their letter', input: 'e\u0301'.repeat(4), budget: 7, expected: ['e\u0301e\u0301', 'e\u0301e\u0301'] },
    {
      name: 'a grapheme wider than the budget falls back to code points',
      input: family,
      budget: 8,
      expected: ['👨\u200d', '👩\u200d', '👧'],
    },
    { name: 'budgets below 4 act as 4', input: '👍👍', budget: 1, expected: ['👍', '👍'] },
    {
      name: 'bold re-opened after the cut, counted in the budget',
      input: '\x02aaaa bbbb cccc',
      budget: 10,
      expected: ['\x02aaaa bbbb', '\x02cccc'],
    },
    {
      name: 'colour with background re-opened',
      input: `\x0304,01${'x'.repeat(20)}`,
      budget: 16,
      expected: [`\x0304,01${'x'.repeat(10)}`, `\x0304,01${'x'.repeat(10)}`],
    },
    {
      name: 'hex colour and italic re-opened, colour first',
      input: `\x1d\x04ff8800${'y'.repeat(12)}`,
      budget: 16,
      expected: [`\x1d\x04ff8800${'y'.repeat(8)}`, `\x04ff8800\x1d${'y'.repeat(4)}`],
    },
    {
      name: 'formatting closed before the cut is not re-opened',
      input: '\x02bold\x02 plain text here',
      budget: 12,
      expected: ['\x02bold\x02 plain', 'text here'],
    },
    {
      name: 'a code at the cut moves to the next chunk',
      input: 'aaaaaaa\x1fbbbb',
      budget: 8,
      expected: ['aaaaaaa', '\x1fbbbb'],
    },
    {
      name: 'guard keeps a re-opened colour from eating a following comma',
      input: `\x0304${'z'.repeat(10)},5`,
      budget: 13,
      expected: [`\x0304${'z'.repeat(10)}`, '\x0304\x02\x02,5'],
    },
    {
      name: 'CTCP ACTION markers in the text are ordinary bytes',
      input: '\x01ACTION dances\x01',
      budget: 10,
      expected: ['\x01ACTION', 'dances\x01'],
    },
    {
      name: 'bold re-opened after a mid-word cut',
      input: '\x02aaaa bbbbbbbbbbbb',
      budget: 10,
      expected: ['\x02aaaa', '\x02bbbbbbbbb', '\x02bbb'],
    },
    {
      name: 'a comma after a colour with background needs no guard',
      input: `\x0304,01${'q'.repeat(10)},5`,
      budget: 16,
      expected: [`\x0304,01${'q'.repeat(10)}`, '\x0304,01,5'],
    },
    { name: 'emoji with modifiers', input: '👍🏽👍🏽👍🏽', budget: 16, expected: ['👍🏽👍🏽', '👍🏽'] },
  ];
  test.each(cases)('$name', ({ input, budget, expected }) => {
    expect(splitForIrc(input, budget)).toEqual(expected);
  });

  test('long UTF-8 text: every chunk fits and nothing is lost', () => {
    const text = 'Grüße aus Köln, 日本語のテキスト, emoji 🎉🇫🇷 и кириллица. '.repeat(40);
    const chunks = splitForIrc(text, 100);
    for (const chunk of chunks) expect(Buffer.byteLength(chunk)).toBeLessThanOrEqual(100);
    expect(chunks.join('').replace(/\s/g, '')).toBe(text.replace(/\s/g, ''));
  });

  test('64 KiB in well under a second', () => {
    const text = `\x02${'lorem ipsum 日本 🎉 '.repeat(2800)}`.slice(0, 65536);
    const started = performance.now();
    const chunks = splitForIrc(text, 400);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(chunks.length).toBeGreaterThan(65536 / 400);
  });

  const budgets = fc.integer({ min: 4, max: 600 });
  const noSpace = (s: string): string => s.replace(/\s/g, '');

  test('property: chunks hold no CR, LF or NUL and never exceed the budget', () => {
    fc.assert(
      fc.property(nastyText(400), budgets, (text, budget) => {
        for (const chunk of splitForIrc(text, budget)) {
          expect(chunk).not.toMatch(/[\r\n\0]/);
          expect(Buffer.byteLength(chunk)).toBeLessThanOrEqual(budget);
          expect(chunk.trim()).not.toBe('');
        }
      }),
      { numRuns: 500 },
    );
  });

  test('property: all visible text survives, in order', () => {
    fc.assert(
      fc.property(nastyText(400), budgets, (text, budget) => {
        const kept = splitForIrc(text, budget).map((c) => stripIrcCodes(c)).join('');
        const wanted = text.split('\n').map((l) => stripIrcCodes(l.replace(/[\r\0]/g, ''))).join('');
        expect(noSpace(kept)).toBe(noSpace(wanted));
      }),
      { numRuns: 300 },
    );
  });

  test('property: cuts fall between grapheme clusters', () => {
    const text = fc.string({ unit: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }), fc.constant(' ')), maxLength: 300 });
    fc.assert(
      fc.property(text, fc.integer({ min: 40, max: 200 }), (s, budget) => {
        const line = s.replace(/[\r\n\0\x02-\x04\x0f\x11\x16\x1d-\x1f]/g, '');
        const pieces = splitForIrc(line, budget).flatMap(graphemes).filter((g) => g.trim() !== '');
        expect(pieces).toEqual(graphemes(line).filter((g) => g.trim() !== ''));
      }),
      { numRuns: 300 },
    );
  });

  test('property: never throws for arbitrary budgets', () => {
    fc.assert(
      fc.property(nastyText(), fc.oneof(fc.integer(), fc.double()), (text, budget) => {
        expect(() => splitForIrc(text, budget)).not.toThrow();
      }),
    );
  });
});
