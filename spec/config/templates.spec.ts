import {
  checkTemplate, literalEnds, mayOverlap, parseTemplate, renderTemplate, type TemplateRule,
} from '../../src/config/templates';

describe('parseTemplate', () => {
  it.each([
    { template: '$NETWORK_$NICK', parts: [{ variable: 'NETWORK' }, { literal: '_' }, { variable: 'NICK' }] },
    { template: '$DISPLAY[m]', parts: [{ variable: 'DISPLAY' }, { literal: '[m]' }] },
    { template: 'irc.$NICKx', parts: [{ literal: 'irc.' }, { variable: 'NICK' }, { literal: 'x' }] },
    { template: 'plain', parts: [{ literal: 'plain' }] },
    { template: '', parts: [] },
    { template: 'a$b', parts: [{ literal: 'a$b' }] },
  ])('$template', ({ template, parts }) => {
    expect(parseTemplate(template)).toEqual(parts);
  });
});

describe('renderTemplate', () => {
  it('substitutes every variable', () => {
    expect(renderTemplate('$NETWORK_$NICK', { NETWORK: 'libera', NICK: 'alice' })).toBe('libera_alice');
    expect(renderTemplate('$DISPLAY[m]', { DISPLAY: 'Bob' })).toBe('Bob[m]');
  });

  it('throws on a variable without a value', () => {
    expect(() => renderTemplate('$NICK', {})).toThrow('no value for $NICK');
  });
});

describe('checkTemplate', () => {
  const ghost: TemplateRule = {
    allowed: ['NETWORK', 'NICK'], requireOneOf: ['NICK'], literalChars: /[a-z0-9._=/-]/, literalText: 'a-z 0-9 . _ = / -',
  };
  const nick: TemplateRule = { allowed: ['DISPLAY', 'LOCALPART'], requireOneOf: ['DISPLAY', 'LOCALPART'] };

  it.each([
    { rule: ghost, template: '$NETWORK_$NICK', problems: [] },
    { rule: ghost, template: 'irc/$NICK', problems: [] },
    { rule: ghost, template: '$NETWORK', problems: ['must contain $NICK'] },
    { rule: ghost, template: 'IRC_$NICK', problems: ['literal text may only contain a-z 0-9 . _ = / -'] },
    { rule: ghost, template: '$NETWORK_$NICKNAME', problems: ['unknown variable $NICKNAME (allowed: $NETWORK, $NICK)', 'must contain $NICK'] },
    { rule: ghost, template: '$nick', problems: ['$ must start a variable in capitals (allowed: $NETWORK, $NICK)', 'must contain $NICK'] },
    { rule: nick, template: '$DISPLAY[m]', problems: [] },
    { rule: nick, template: '$LOCALPART|m', problems: [] },
    { rule: nick, template: '$NICK[m]', problems: ['unknown variable $NICK (allowed: $DISPLAY, $LOCALPART)', 'must contain $DISPLAY or $LOCALPART'] },
  ])('$template', ({ rule, template, problems }) => {
    const got: string[] = [];
    checkTemplate(template, rule, (m) => got.push(m));
    expect(got).toEqual(problems);
  });
});

describe('literalEnds and mayOverlap', () => {
  it('substitutes $NETWORK and keeps the text around the other variables', () => {
    expect(literalEnds('$NETWORK_$NICK', 'libera')).toEqual({ prefix: 'libera_', suffix: '' });
    expect(literalEnds('irc.$NICK.$NETWORK', 'oftc')).toEqual({ prefix: 'irc.', suffix: '.oftc' });
  });

  it.each([
    { a: ['$NETWORK_$NICK', 'libera'], b: ['$NETWORK_$NICK', 'oftc'], overlap: false },
    { a: ['$NETWORK_$NICK', 'a'], b: ['$NETWORK_$NICK', 'a-b'], overlap: false },
    { a: ['$NETWORK-$NICK', 'a'], b: ['$NETWORK-$NICK', 'a-b'], overlap: true }, // a + "b-x" = a-b + "x"
    { a: ['$NICK.$NETWORK', 'libera'], b: ['$NICK.$NETWORK', 'oftc'], overlap: false },
    { a: ['$NICK-$NETWORK', 'a'], b: ['$NICK-$NETWORK', 'b-a'], overlap: true },
    { a: ['$NETWORK_$NICK', 'libera'], b: ['libera_$NICK', 'oftc'], overlap: true },
    { a: ['irc_$NICK', 'libera'], b: ['oftc_$NICK', 'oftc'], overlap: false },
    { a: ['$NICK', 'libera'], b: ['$NICK', 'oftc'], overlap: true },
    { a: ['$NICK', 'libera'], b: ['oftc_$NICK', 'oftc'], overlap: true },
  ])('$a.0 ($a.1) vs $b.0 ($b.1)', ({ a, b, overlap }) => {
    const ends = (t: string[]) => literalEnds(t[0] ?? '', t[1] ?? '');
    expect(mayOverlap(ends(a), ends(b))).toBe(overlap);
    expect(mayOverlap(ends(b), ends(a))).toBe(overlap);
  });
});
