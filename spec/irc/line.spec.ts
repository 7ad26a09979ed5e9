import fc from 'fast-check';
import { buildLine, UnsafeLineError } from '../../src/irc/line';

describe('buildLine', () => {
  describe('parameters', () => {
    test.each([
      { name: 'no parameters', command: 'QUIT', params: [], expected: 'QUIT' },
      { name: 'one plain parameter', command: 'JOIN', params: ['#chan'], expected: 'JOIN #chan' },
      { name: 'plain trailing needs no colon', command: 'PRIVMSG', params: ['#chan', 'hi'], expected: 'PRIVMSG #chan hi' },
      { name: 'trailing with a space gets a colon', command: 'PRIVMSG', params: ['#chan', 'hello world'],
        expected: 'PRIVMSG #chan :hello world' },
      { name: 'trailing starting with a colon gets a colon', command: 'PRIVMSG', params: ['#chan', ':)'],
        expected: 'PRIVMSG #chan ::)' },
      { name: 'empty trailing gets a colon', command: 'TOPIC', params: ['#chan', ''], expected: 'TOPIC #chan :' },
      { name: 'a lone empty parameter is trailing', command: 'AWAY', params: [''], expected: 'AWAY :' },
      { name: 'trailing of only spaces', command: 'PRIVMSG', params: ['#c', '  '], expected: 'PRIVMSG #c :  ' },
      { name: 'trailing with a leading space', command: 'PRIVMSG', params: ['#c', ' x'], expected: 'PRIVMSG #c : x' },
      { name: 'colon inside a word is plain', command: 'PRIVMSG', params: ['#c', 'a:b'], expected: 'PRIVMSG #c a:b' },
      { name: 'several middles', command: 'KICK', params: ['#chan', 'bob', 'go away'], expected: 'KICK #chan bob :go away' },
      { name: 'JOIN with a key', command: 'JOIN', params: ['#chan', 'key'], expected: 'JOIN #chan key' },
      { name: 'CTCP ACTION', command: 'PRIVMSG', params: ['#c', '\x01ACTION waves\x01'],
        expected: 'PRIVMSG #c :\x01ACTION waves\x01' },
      { name: 'formatting codes and tabs are allowed', command: 'PRIVMSG', params: ['#c', '\x02b\x02\tx'],
        expected: 'PRIVMSG #c \x02b\x02\tx' },
      { name: 'UTF-8 text', command: 'PRIVMSG', params: ['#c', 'héllo 👍'], expected: 'PRIVMSG #c :héllo 👍' },
    ])('$name', ({ command, params, expected }) => {
      expect(buildLine(command, params)).toBe(expected);
    });

    test.each([
      { name: 'middle with a space', params: ['#a b', 'text'] },
      { name: 'empty middle', params: ['', 'text'] },
      { name: 'middle starting with a colon', params: [':#chan', 'text'] },
      { name: 'second middle with a space', params: ['#chan', 'bo b', 'reason'] },
    ])('refuses a $name', ({ params }) => {
      expect(() => buildLine('KICK', params)).toThrow(/middle parameter/);
      expect(() => buildLine('KICK', params)).not.toThrow(UnsafeLineError);
    });
  });

  describe('CR, LF and NUL', () => {
    const bad = ['\r', '\n', '\0', '\r\n'];
    const positions = [
      { where: 'alone', wrap: (c: string) => c },
      { where: 'at the start', wrap: (c: string) => `${c}QUIT :pwned` },
      { where: 'in the middle', wrap: (c: string) => `hi${c}QUIT :pwned` },
      { where: 'at the end', wrap: (c: string) => `hi${c}` },
    ];
    const rows = bad.flatMap((c) => positions.map((p) => ({ char: JSON.stringify(c), where: p.where, value: p.wrap(c) })));

    test.each(rows)('$char $where of the trailing parameter -> UnsafeLineError', ({ value }) => {
      expect(() => buildLine('PRIVMSG', ['#chan', value])).toThrow(UnsafeLineError);
    });

    test.each(rows)('$char $where of a middle parameter -> UnsafeLineError', ({ value }) => {
      expect(() => buildLine('PRIVMSG', [`#chan${value}`, 'text'])).toThrow(UnsafeLineError);
    });

    test('the error names the command, not the content', () => {
      try {
        buildLine('PRIVMSG', ['#chan', 'secret\r\n']);
        throw new Error('expected a throw');
      } catch (err) {
        expect(err).toBeInstanceOf(UnsafeLineError);
        expect((err as Error).name).toBe('UnsafeLineError');
        expect((err as Error).message).toContain('PRIVMSG');
        expect((err as Error).message).not.toContain('secret');
      }
    });

    test('CR/LF in a tag value is escaped, never written raw', () => {
      const line = buildLine('TAGMSG', ['#c'], { '+x': 'a\r\nQUIT' });
      expect(line).toBe('@+x=a\\r\\nQUIT TAGMSG #c');
      expect(line).not.toMatch(/[\r\n]/);
    });

    // Tag keys, tag values and the command are checked too: CR, LF and NUL never reach the wire.
    test.each([
      { name: 'tag key with CRLF', build: () => buildLine('PRIVMSG', ['#c', 'hi'], { 'a\r\nQUIT :x': '' }) },
      { name: 'tag key with NUL', build: () => buildLine('PRIVMSG', ['#c', 'hi'], { 'a\0': 'v' }) },
      { name: 'tag value with NUL', build: () => buildLine('PRIVMSG', ['#c', 'hi'], { '+a': 'x\0y' }) },
      { name: 'command with CRLF', build: () => buildLine('PRIVMSG\r\nQUIT', ['#c', 'hi']) },
    ])('$name -> UnsafeLineError', ({ build }) => {
      expect(build).toThrow(UnsafeLineError);
    });
  });

  describe('tags', () => {
    test.each<{ name: string; tags: Record<string, string> | undefined; expected: string }>([
      { name: 'no tags argument', tags: undefined, expected: 'PRIVMSG #c hi' },
      { name: 'empty tags object', tags: {}, expected: 'PRIVMSG #c hi' },
      { name: 'one plain tag', tags: { label: 'abc' }, expected: '@label=abc PRIVMSG #c hi' },
      { name: 'empty value has no =', tags: { '+typing': '' }, expected: '@+typing PRIVMSG #c hi' },
      { name: 'several tags keep their order', tags: { a: '1', '+draft/reply': '$ev', c: '' },
        expected: '@a=1;+draft/reply=$ev;c PRIVMSG #c hi' },
      { name: 'semicolon', tags: { a: 'x;y' }, expected: '@a=x\\:y PRIVMSG #c hi' },
      { name: 'space', tags: { a: 'x y' }, expected: '@a=x\\sy PRIVMSG #c hi' },
      { name: 'backslash', tags: { a: 'x\\y' }, expected: '@a=x\\\\y PRIVMSG #c hi' },
      { name: 'CR and LF', tags: { a: '\r\n' }, expected: '@a=\\r\\n PRIVMSG #c hi' },
      { name: 'everything at once', tags: { a: 'a;b c\\d\r\ne' }, expected: '@a=a\\:b\\sc\\\\d\\r\\ne PRIVMSG #c hi' },
      { name: 'equals sign and UTF-8 need no escape', tags: { a: 'k=v é' }, expected: '@a=k=v\\sé PRIVMSG #c hi' },
    ])('$name', ({ tags, expected }) => {
      expect(buildLine('PRIVMSG', ['#c', 'hi'], tags)).toBe(expected);
    });
  });
});

describe('buildLine properties', () => {
  const anyText = fc.string({ unit: fc.constantFrom('a', ' ', ':', '\r', '\n', '\0', 'é', '🎉', '\x01', ';', '\\') });

  test('for any parameters and tags: either UnsafeLineError (or a parameter error), or one clean line', () => {
    fc.assert(
      fc.property(fc.constantFrom('PRIVMSG', 'NOTICE', 'JOIN', 'PRIVMSG\r\nQUIT'), fc.array(anyText, { maxLength: 4 }),
        fc.dictionary(fc.oneof(anyText, fc.constantFrom('a', '+draft/reply', 'label', 'k\r\n')), anyText, { maxKeys: 3 }),
        (command, params, tags) => {
          let line: string;
          try {
            line = buildLine(command, params, tags);
          } catch (err) {
            expect((err as Error).message).toMatch(/refusing to send/);
            return;
          }
          // A line came out: nothing in it ends it or hides a NUL. Tag values may have held CR or
          // LF (they are escaped); nothing else that went in did.
          expect(line).not.toMatch(/[\r\n\0]/);
          expect([command, ...params, ...Object.keys(tags)].some((p) => /[\r\n\0]/.test(p))).toBe(false);
          expect(Object.values(tags).some((v) => v.includes('\0'))).toBe(false);
        }),
      { numRuns: 1000 },
    );
  });
});
