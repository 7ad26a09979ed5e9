import { type ModeChange, operatorSymbols, parseModeChanges, type ModeRules } from '../../src/irc/modes';

const INSPIRCD: ModeRules = {
  prefix: [{ mode: 'q', symbol: '~' }, { mode: 'a', symbol: '&' }, { mode: 'o', symbol: '@' }, { mode: 'h', symbol: '%' },
    { mode: 'v', symbol: '+' }],
  chanmodes: ['Ibeg', 'k', 'Ll', 'imnpst'],
};
const PLAIN: ModeRules = { prefix: [{ mode: 'o', symbol: '@' }, { mode: 'v', symbol: '+' }], chanmodes: ['b', 'k', 'l', 'imnpst'] };

const c = (adding: boolean, mode: string, param: string | null, kind: ModeChange['kind']): ModeChange => ({ adding, mode, param, kind });

describe('parseModeChanges', () => {
  it.each([
    { name: 'one op', modes: '+o', args: ['alice'], rules: PLAIN, expected: [c(true, 'o', 'alice', 'prefix')] },
    { name: 'mixed signs and kinds', modes: '+ob-v', args: ['alice', '*!*@host', 'bob'], rules: PLAIN,
      expected: [c(true, 'o', 'alice', 'prefix'), c(true, 'b', '*!*@host', 'list'), c(false, 'v', 'bob', 'prefix')] },
    { name: 'flags take no parameter', modes: '+nt-m', args: [], rules: PLAIN,
      expected: [c(true, 'n', null, 'flag'), c(true, 't', null, 'flag'), c(false, 'm', null, 'flag')] },
    { name: '+l takes one when set, -l none', modes: '+l-l+o', args: ['10', 'carol'], rules: PLAIN,
      expected: [c(true, 'l', '10', 'setting'), c(false, 'l', null, 'setting'), c(true, 'o', 'carol', 'prefix')] },
    { name: '-k takes one (type B)', modes: '-k+v', args: ['secret', 'dave'], rules: PLAIN,
      expected: [c(false, 'k', 'secret', 'setting'), c(true, 'v', 'dave', 'prefix')] },
    { name: 'the server\'s own PREFIX and CHANMODES', modes: '+qhg', args: ['x', 'y', 'badword'], rules: INSPIRCD,
      expected: [c(true, 'q', 'x', 'prefix'), c(true, 'h', 'y', 'prefix'), c(true, 'g', 'badword', 'list')] },
    { name: 'missing parameters are null, not shifted', modes: '+ov', args: ['alice'], rules: PLAIN,
      expected: [c(true, 'o', 'alice', 'prefix'), c(true, 'v', null, 'prefix')] },
    { name: 'an unknown letter is a flag', modes: '+Z', args: ['ignored'], rules: PLAIN, expected: [c(true, 'Z', null, 'flag')] },
    { name: 'empty', modes: '', args: [], rules: PLAIN, expected: [] },
  ])('$name', ({ modes, args, rules, expected }) => {
    expect(parseModeChanges(modes, args, rules)).toEqual(expected);
  });
});

describe('operatorSymbols', () => {
  it.each([
    { rules: INSPIRCD, expected: '~&@' },
    { rules: PLAIN, expected: '@' },
    { rules: { prefix: [{ mode: 'v', symbol: '+' }], chanmodes: [] }, expected: '' },
  ])('$rules.prefix.length status modes -> "$expected"', ({ rules, expected }) => {
    expect(operatorSymbols(rules.prefix)).toBe(expected);
  });
});
