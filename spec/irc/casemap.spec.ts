import { type CaseMapping, foldTable, ircEquals, ircFold, parseCaseMapping } from '../../src/irc/casemap';

describe('ircFold', () => {
  // Each row: the input and its fold under ascii, rfc1459 and strict-rfc1459.
  const cases: Array<{ input: string; ascii: string; rfc1459: string; strict: string }> = [
    { input: '', ascii: '', rfc1459: '', strict: '' },
    { input: 'alice', ascii: 'alice', rfc1459: 'alice', strict: 'alice' },
    { input: 'ALICE', ascii: 'alice', rfc1459: 'alice', strict: 'alice' },
    { input: 'AzZa09', ascii: 'azza09', rfc1459: 'azza09', strict: 'azza09' },
    { input: '#Chan', ascii: '#chan', rfc1459: '#chan', strict: '#chan' },
    { input: '[]\\~', ascii: '[]\\~', rfc1459: '{}|~', strict: '{}|~' },
    { input: '[]\\^', ascii: '[]\\^', rfc1459: '{}|~', strict: '{}|^' },
    { input: '{}|^', ascii: '{}|^', rfc1459: '{}|~', strict: '{}|^' },
    { input: '{}|~', ascii: '{}|~', rfc1459: '{}|~', strict: '{}|~' },
    { input: '[Bot]^', ascii: '[bot]^', rfc1459: '{bot}~', strict: '{bot}^' },
    { input: 'Nick_-`', ascii: 'nick_-`', rfc1459: 'nick_-`', strict: 'nick_-`' },
    // The neighbours of the folded ranges are never touched.
    { input: '@_`', ascii: '@_`', rfc1459: '@_`', strict: '@_`' },
    // Only ASCII folds: non-ASCII letters keep their case under every mapping.
    { input: 'ÄÖÜ', ascii: 'ÄÖÜ', rfc1459: 'ÄÖÜ', strict: 'ÄÖÜ' },
    { input: 'Émile', ascii: 'Émile', rfc1459: 'Émile', strict: 'Émile' },
    { input: 'İI', ascii: 'İi', rfc1459: 'İi', strict: 'İi' },
    { input: 'X👍Y', ascii: 'x👍y', rfc1459: 'x👍y', strict: 'x👍y' },
  ];

  test.each(cases)('ascii: $input', ({ input, ascii }) => {
    expect(ircFold(input, 'ascii')).toBe(ascii);
  });
  test.each(cases)('rfc1459: $input', ({ input, rfc1459 }) => {
    expect(ircFold(input, 'rfc1459')).toBe(rfc1459);
  });
  test.each(cases)('strict-rfc1459: $input', ({ input, strict }) => {
    expect(ircFold(input, 'strict-rfc1459')).toBe(strict);
  });

  test('defaults to rfc1459', () => {
    expect(ircFold('[Bot]^')).toBe('{bot}~');
  });

  const mappings: CaseMapping[] = ['ascii', 'rfc1459', 'strict-rfc1459'];
  test.each(mappings)('%s: folding is idempotent over every printable ASCII character', (mapping) => {
    let all = '';
    for (let c = 0x20; c < 0x7f; c++) {
      all += String.fromCharCode(c);
    }
    const once = ircFold(all, mapping);
    expect(ircFold(once, mapping)).toBe(once);
    expect(once).toHaveLength(all.length);
    expect(once).not.toMatch(/[A-Z]/);
  });

  test.each([
    { mapping: 'ascii' as const, same: [['Alice', 'aLICE']], different: [['[a]', '{a}'], ['a^', 'a~']] },
    { mapping: 'rfc1459' as const, same: [['[a]', '{a}'], ['a\\', 'a|'], ['a^', 'a~']], different: [['a', 'b']] },
    { mapping: 'strict-rfc1459' as const, same: [['[a]', '{a}'], ['a\\', 'a|']], different: [['a^', 'a~']] },
  ])('$mapping: which names are the same', ({ mapping, same, different }) => {
    for (const [x, y] of same) {
      expect(ircFold(x as string, mapping)).toBe(ircFold(y as string, mapping));
    }
    for (const [x, y] of different) {
      expect(ircFold(x as string, mapping)).not.toBe(ircFold(y as string, mapping));
    }
  });
});

describe('ircEquals', () => {
  const mappings: CaseMapping[] = ['ascii', 'rfc1459', 'strict-rfc1459'];

  test.each(mappings)('%s: agrees with comparing folds, for every pair of printable ASCII characters', (mapping) => {
    for (let a = 0x20; a < 0x7f; a++) {
      for (let b = 0x20; b < 0x7f; b++) {
        const x = `n${String.fromCharCode(a)}k`;
        const y = `n${String.fromCharCode(b)}k`;
        expect([x, y, ircEquals(x, y, mapping)]).toEqual([x, y, ircFold(x, mapping) === ircFold(y, mapping)]);
      }
    }
  });

  test.each([
    { a: 'Alice', b: 'aLICE', mapping: 'ascii' as const, same: true },
    { a: '[Bot]^', b: '{bot}~', mapping: 'rfc1459' as const, same: true },
    { a: '[Bot]^', b: '{bot}~', mapping: 'strict-rfc1459' as const, same: false },
    { a: 'alice', b: 'alice_', mapping: 'rfc1459' as const, same: false },
    { a: '', b: '', mapping: 'rfc1459' as const, same: true },
    { a: 'Émile', b: 'émile', mapping: 'rfc1459' as const, same: false },
  ])('$a vs $b under $mapping: $same', ({ a, b, mapping, same }) => {
    expect(ircEquals(a, b, mapping)).toBe(same);
  });
});

describe('foldTable', () => {
  const mappings: CaseMapping[] = ['ascii', 'rfc1459', 'strict-rfc1459'];

  test.each(mappings)('%s: every Latin-1 byte folds as ircFold folds its character', (mapping) => {
    const table = foldTable(mapping);
    for (let c = 0; c < 256; c++) {
      expect([c, String.fromCharCode(table[c] as number)]).toEqual([c, ircFold(String.fromCharCode(c), mapping)]);
    }
  });

  test('one table per mapping, made once', () => {
    expect(foldTable('ascii')).toBe(foldTable('ascii'));
    expect(foldTable('ascii')[0x5b]).toBe(0x5b); // [ stays under ascii
    expect(foldTable('rfc1459')[0x5b]).toBe(0x7b); // [ -> { under rfc1459
  });
});

describe('parseCaseMapping', () => {
  test.each([
    { value: 'ascii', expected: 'ascii' },
    { value: 'ASCII', expected: 'ascii' },
    { value: 'rfc1459', expected: 'rfc1459' },
    { value: 'strict-rfc1459', expected: 'strict-rfc1459' },
    { value: 'Strict-RFC1459', expected: 'strict-rfc1459' },
    // Unknown or absent: the broader rfc1459 is the safe assumption.
    { value: undefined, expected: 'rfc1459' },
    { value: '', expected: 'rfc1459' },
    { value: 'rfc7613', expected: 'rfc1459' },
    { value: 'utf8', expected: 'rfc1459' },
    { value: ' ascii', expected: 'rfc1459' },
  ])('$value -> $expected', ({ value, expected }) => {
    expect(parseCaseMapping(value)).toBe(expected);
  });
});
