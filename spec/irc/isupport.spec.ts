/** RPL_ISUPPORT tokens as the connection keeps them. */
import { Isupport, parsePrefix } from '../../src/irc/isupport';

describe('Isupport', () => {
  test('defaults before the server says anything', () => {
    const i = new Isupport();
    expect(i.prefix).toEqual([{ mode: 'o', symbol: '@' }, { mode: 'v', symbol: '+' }]);
    expect(i.chanmodes).toEqual(['beI', 'k', 'l', 'imnpst']);
    expect(i.chantypes).toBe('#&');
    expect(i.get('NICKLEN')).toBeUndefined();
    expect(i.int('NICKLEN', 9)).toBe(9);
  });

  test('values, tokens without one, escapes, and -KEY taking one back', () => {
    const i = new Isupport();
    i.add(['NICKLEN=30', 'NAMESX', 'PREFIX=(qaohv)~&@%+', 'CHANMODES=beI,k,l,imnpst', 'CHANTYPES=#!', 'NETWORK=Libera\\x20Chat']);
    expect(i.int('NICKLEN', 9)).toBe(30);
    expect(i.get('NAMESX')).toBe('');
    expect(i.prefix.map((p) => p.mode + p.symbol)).toEqual(['q~', 'a&', 'o@', 'h%', 'v+']);
    expect(i.chantypes).toBe('#!');
    expect(i.get('NETWORK')).toBe('Libera Chat');
    i.add(['-PREFIX', '-CHANTYPES', 'nicklen=12']);
    expect(i.prefix).toEqual([{ mode: 'o', symbol: '@' }, { mode: 'v', symbol: '+' }]);
    expect(i.chantypes).toBe('#&');
    expect(i.int('NICKLEN', 9)).toBe(12); // keys are case-insensitive
  });

  test.each([
    ['(ov)@+', [{ mode: 'o', symbol: '@' }, { mode: 'v', symbol: '+' }]],
    ['', []],
    ['(ov)@', null],
    ['ov@+', null],
  ])('parsePrefix(%j)', (value, expected) => {
    expect(parsePrefix(value)).toEqual(expected);
  });

  test('a malformed PREFIX keeps the default; an empty CHANTYPES means no channels', () => {
    const i = new Isupport();
    i.add(['PREFIX=(ov)@', 'CHANTYPES=']);
    expect(i.prefix).toEqual([{ mode: 'o', symbol: '@' }, { mode: 'v', symbol: '+' }]);
    expect(i.chantypes).toBe('');
  });
});
