import { ircFold } from '../../src/irc/casemap';
import { accountMask, banMaskFor, isHostmask, maskMatches, parseExtban } from '../../src/irc/masks';

const rfc = (s: string): string => ircFold(s, 'rfc1459');
const BOB = { nick: 'ircbob', ident: '~bob', host: 'host.example', account: null };

describe('parseExtban', () => {
  it.each([
    { raw: ',ACNOQRSTUcjmprsz', expected: { prefix: '', letters: 'ACNOQRSTUcjmprsz' } },
    { raw: '$,ajrxz', expected: { prefix: '$', letters: 'ajrxz' } },
    { raw: ['~', 'acfjmnpqrtCGOST'], expected: { prefix: '~', letters: 'acfjmnpqrtCGOST' } },
    { raw: undefined, expected: null },
    { raw: 'nocomma', expected: null },
  ])('$raw', ({ raw, expected }) => {
    expect(parseExtban(raw)).toEqual(expected);
  });
});

describe('accountMask', () => {
  it.each([
    { extban: { prefix: '', letters: 'ACNOQRSTUcjmprsz' }, expected: 'R:bob' },
    { extban: { prefix: '$', letters: 'ajrxz' }, expected: '$a:bob' },
    { extban: { prefix: '~', letters: 'acfj' }, expected: '~a:bob' },
    { extban: { prefix: '', letters: 'cjm' }, expected: null },
    { extban: null, expected: null },
  ])('$extban', ({ extban, expected }) => {
    expect(accountMask('bob', extban)).toBe(expected);
  });
});

describe('banMaskFor', () => {
  const inspircd = { prefix: '', letters: 'R' };
  it.each([
    { name: 'user@host, ident tilde dropped', who: BOB, style: 'account_or_user_host' as const, expected: '*!*bob@host.example' },
    { name: 'host only', who: BOB, style: 'host' as const, expected: '*!*@host.example' },
    { name: 'account when known', who: { ...BOB, account: 'bobacct' }, style: 'account_or_user_host' as const, expected: 'R:bobacct' },
    { name: 'account or host', who: { ...BOB, account: 'bobacct' }, style: 'account_or_host' as const, expected: 'R:bobacct' },
    { name: 'account not wanted', who: { ...BOB, account: 'bobacct' }, style: 'user_host' as const, expected: '*!*bob@host.example' },
    { name: 'no ident at all', who: { ...BOB, ident: '~' }, style: 'user_host' as const, expected: '*!*@host.example' },
  ])('$name', ({ who, style, expected }) => {
    expect(banMaskFor(who, style, inspircd)).toBe(expected);
  });

  it('falls back to the host mask when the server has no account extban', () => {
    expect(banMaskFor({ ...BOB, account: 'bobacct' }, 'account_or_host', null)).toBe('*!*@host.example');
  });
});

describe('maskMatches', () => {
  const alice = { nick: 'Alice[m]', ident: '~alice', host: '127.0.0.1' };
  it.each([
    { mask: '*!*@127.0.0.1', matches: true },
    { mask: '*!*alice@*', matches: true },
    { mask: '*!~alice@127.0.0.*', matches: true },
    { mask: 'alice{m}!*@*', matches: true }, // rfc1459 folds [ ] to { }
    { mask: 'ALICE[M]!*@*', matches: true },
    { mask: 'alice?m?!*@*', matches: true },
    { mask: '*!*bob@*', matches: false },
    { mask: '*!*@127.0.0.10', matches: false },
    { mask: 'R:alice', matches: false }, // an extban: not evaluated
    { mask: '*!*@127.0.0.1.', matches: false },
    { mask: '*!*@127a0a0a1', matches: false }, // '.' is literal
  ])('$mask -> $matches', ({ mask, matches }) => {
    expect(maskMatches(mask, alice, rfc)).toBe(matches);
  });

  it.each([['*!*@*', true], ['nick', false], ['a!b', false], ['$a:x', false], ['a!b@c d', false]])('isHostmask(%s)', (mask, ok) => {
    expect(isHostmask(mask as string)).toBe(ok);
  });
});
