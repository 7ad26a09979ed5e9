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
    i.add(['NICKLEN=30', 'EXTBAN', 'PREFIX=(qaohv)~&@%+', 'CHANMODES=beI,k,l,imnpst', 'CHANTYPES=#!', 'CASEMAPPING=a\\x20b']);
    expect(i.int('NICKLEN', 9)).toBe(30);
    expect(i.get('EXTBAN')).toBe('');
    expect(i.prefix.map((p) => p.mode + p.symbol)).toEqual(['q~', 'a&', 'o@', 'h%', 'v+']);
    expect(i.chantypes).toBe('#!');
    expect(i.get('CASEMAPPING')).toBe('a b');
    i.add(['-PREFIX', '-CHANTYPES', 'nicklen=12']);
    expect(i.prefix).toEqual([{ mode: 'o', symbol: '@' }, { mode: 'v', symbol: '+' }]);
    expect(i.chantypes).toBe('#&');
    expect(i.int('NICKLEN', 9)).toBe(12); // keys are case-insensitive
  });

  test('tokens the bridge does not read are not kept, however many come', () => {
    const i = new Isupport();
    for (let n = 0; n < 100; n++) {
      i.add(Array.from({ length: 100 }, (_, k) => `X${n}_${k}=${'v'.repeat(100)}`));
    }
    i.add(['NETWORK=Libera', 'NAMESX', 'LINELEN=2048']);
    expect(i.get('X0_0')).toBeUndefined();
    expect(i.get('NETWORK')).toBeUndefined();
    expect(i.get('NAMESX')).toBeUndefined();
    expect(i.int('LINELEN', 512)).toBe(2048);
    expect((i as unknown as { tokens: Map<string, string> }).tokens.size).toBe(1);
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
