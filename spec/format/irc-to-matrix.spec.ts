import fc from 'fast-check';
import { NickMention, ircToMatrix } from '../../src/format/irc-to-matrix';
import { nastyText } from './arbitraries';

const font = (fg: string | null, bg: string | null = null): string =>
  `<font${fg ? ` color="${fg}" data-mx-color="${fg}"` : ''}${bg ? ` data-mx-bg-color="${bg}"` : ''}>`;

describe('ircToMatrix formatting', () => {
  const cases: Array<{ name: string; input: string; body: string; html: string | null }> = [
    { name: 'empty input', input: '', body: '', html: null },
    { name: 'plain text has no HTML', input: 'hello world', body: 'hello world', html: null },
    { name: 'only codes', input: '\x02\x1d\x0304\x0f\x03', body: '', html: null },
    { name: 'formatting that shows nothing', input: '\x02\x02hi\x0399x', body: 'hix', html: null },
    { name: 'bold', input: '\x02bold\x02 text', body: 'bold text', html: '<b>bold</b> text' },
    { name: 'italic', input: 'a \x1dit\x1d', body: 'a it', html: 'a <i>it</i>' },
    { name: 'underline', input: '\x1fu\x1f', body: 'u', html: '<u>u</u>' },
    { name: 'strikethrough', input: '\x1egone\x1e', body: 'gone', html: '<del>gone</del>' },
    { name: 'monospace', input: 'run \x11ls -l\x11', body: 'run ls -l', html: 'run <code>ls -l</code>' },
    { name: 'reverse is stripped and ignored', input: '\x16rev\x16', body: 'rev', html: null },
    { name: 'unclosed bold is closed', input: '\x02bold', body: 'bold', html: '<b>bold</b>' },
    { name: 'nesting', input: '\x02b\x1dbi\x1d\x02', body: 'bbi', html: '<b>b<i>bi</i></b>' },
    {
      name: 'overlapping codes stay well nested',
      input: '\x02a\x1db\x02c\x1d',
      body: 'abc',
      html: '<b>a<i>b</i></b><i>c</i>',
    },
    { name: 'reset closes everything', input: '\x02\x1d\x1fab\x0fc', body: 'abc', html: '<b><i><u>ab</u></i></b>c' },
    { name: 'colour', input: '\x0304red\x03 plain', body: 'red plain', html: `${font('#ff0000')}red</font> plain` },
    { name: 'one-digit colour', input: '\x032x', body: 'x', html: `${font('#00007f')}x</font>` },
    {
      name: 'foreground and background',
      input: '\x0302,08x',
      body: 'x',
      html: `${font('#00007f', '#ffff00')}x</font>`,
    },
    { name: 'extended palette', input: '\x0352a\x0388b', body: 'ab', html: `${font('#ff0000')}a</font>${font('#000000')}b</font>` },
    { name: 'colour 99 is the default', input: '\x0399,04x', body: 'x', html: `${font(null, '#ff0000')}x</font>` },
    {
      name: 'new foreground keeps the background',
      input: '\x0304,01a\x0309b',
      body: 'ab',
      html: `${font('#ff0000', '#000000')}a</font>${font('#00fc00', '#000000')}b</font>`,
    },
    { name: 'bare \\x03 resets both colours', input: '\x0304,01a\x03b', body: 'ab', html: `${font('#ff0000', '#000000')}a</font>b` },
    { name: 'at most two colour digits', input: '\x030412', body: '12', html: `${font('#ff0000')}12</font>` },
    { name: 'a comma without digit is text', input: '\x0304,x', body: ',x', html: `${font('#ff0000')},x</font>` },
    { name: 'bare \\x03 before a comma', input: '\x03,5', body: ',5', html: null },
    { name: 'hex colour', input: '\x04FF8800text', body: 'text', html: `${font('#ff8800')}text</font>` },
    {
      name: 'hex colour with background',
      input: '\x04ff8800,000000t',
      body: 't',
      html: `${font('#ff8800', '#000000')}t</font>`,
    },
    { name: 'malformed hex colour resets and stays text', input: '\x04zz', body: 'zz', html: null },
    {
      name: 'colour stays outside bold',
      input: '\x02\x0304a\x02b',
      body: 'ab',
      html: `${font('#ff0000')}<b>a</b>b</font>`,
    },
    {
      name: 'colour change under bold reopens bold',
      input: '\x02\x0304a\x0309b',
      body: 'ab',
      html: `${font('#ff0000')}<b>a</b></font>${font('#00fc00')}<b>b</b></font>`,
    },
    {
      name: 'HTML special characters are escaped',
      input: '\x02<script>&"\'\x02',
      body: '<script>&"\'',
      html: '<b>&lt;script&gt;&amp;&quot;&#39;</b>',
    },
    { name: 'markup in plain text needs no HTML', input: '<b>not bold</b>', body: '<b>not bold</b>', html: null },
    { name: 'CTCP markers and other controls are removed', input: '\x01ACTION waves\x01\x07', body: 'ACTION waves', html: null },
    { name: 'emoji inside formatting', input: '\x02👍🏽 ok 🇫🇷\x02', body: '👍🏽 ok 🇫🇷', html: '<b>👍🏽 ok 🇫🇷</b>' },
    { name: 'U+FFFD passes through', input: '\ufffd\x02x', body: '\ufffdx', html: '\ufffd<b>x</b>' },
    {
      name: 'long UTF-8',
      input: `\x1d${'Grüße 日本 '.repeat(300)}`,
      body: 'Grüße 日本 '.repeat(300),
      html: `<i>${'Grüße 日本 '.repeat(300)}</i>`,
    },
  ];
  test.each(cases)('$name', ({ input, body, html }) => {
    expect(ircToMatrix(input)).toEqual({ body, html, mentions: [] });
  });
});

describe('ircToMatrix mentions', () => {
  const users: Record<string, NickMention> = {
    alice: { userId: '@alice:example.org', displayName: 'Alice' },
    bob: { userId: '@bob:example.org', displayName: 'Bob <the builder> & co' },
    'foo[m]': { userId: '@foo:example.org', displayName: 'Foo' },
    odd: { userId: '@od/d?:example.org', displayName: 'Odd' },
  };
  // What each pill must look like: escaped display name, percent-encoded ID ('@' and ':' kept).
  const pills: Record<string, string> = {
    alice: '<a href="https://matrix.to/#/@alice:example.org">Alice</a>',
    bob: '<a href="https://matrix.to/#/@bob:example.org">Bob &lt;the builder&gt; &amp; co</a>',
    'foo[m]': '<a href="https://matrix.to/#/@foo:example.org">Foo</a>',
    odd: '<a href="https://matrix.to/#/@od%2Fd%3F:example.org">Odd</a>',
  };
  const pill = (nick: string): string => pills[nick] ?? 'missing';
  const cases: Array<{ name: string; input: string; body: string; html: string | null; mentions: string[]; offered: string[] }> = [
    {
      name: 'a known nick becomes a pill',
      input: 'alice: hi',
      body: 'alice: hi',
      html: `${pill('alice')}: hi`,
      mentions: ['@alice:example.org'],
      offered: ['alice', 'hi'],
    },
    {
      name: 'each word offered once, mentions deduplicated in order',
      input: 'bob, alice, bob and alice',
      body: 'bob, alice, bob and alice',
      html: `${pill('bob')}, ${pill('alice')}, ${pill('bob')} and ${pill('alice')}`,
      mentions: ['@bob:example.org', '@alice:example.org'],
      offered: ['bob', 'alice', 'and'],
    },
    {
      name: 'words inside URLs are not offered',
      input: 'see https://example.org/alice?x=bob alice',
      body: 'see https://example.org/alice?x=bob alice',
      html: `see https://example.org/alice?x=bob ${pill('alice')}`,
      mentions: ['@alice:example.org'],
      offered: ['see', 'alice'],
    },
    {
      name: 'nick characters such as [ ] are part of the word',
      input: 'foo[m]: ping',
      body: 'foo[m]: ping',
      html: `${pill('foo[m]')}: ping`,
      mentions: ['@foo:example.org'],
      offered: ['foo[m]', 'ping'],
    },
    {
      name: 'user ID is percent-encoded in the link',
      input: 'odd',
      body: 'odd',
      html: pill('odd'),
      mentions: ['@od/d?:example.org'],
      offered: ['odd'],
    },
    {
      name: 'pill inside formatting',
      input: '\x02alice\x02 hi',
      body: 'alice hi',
      html: `<b>${pill('alice')}</b> hi`,
      mentions: ['@alice:example.org'],
      offered: ['alice', 'hi'],
    },
    {
      name: 'a pill is atomic even when formatting changes inside the nick',
      input: '\x02al\x02ice!',
      body: 'alice!',
      html: `<b>${pill('alice')}</b>!`,
      mentions: ['@alice:example.org'],
      offered: ['alice'],
    },
    {
      name: 'unknown words leave plain text plain',
      input: 'nobody here',
      body: 'nobody here',
      html: null,
      mentions: [],
      offered: ['nobody', 'here'],
    },
    {
      name: 'mention in a CTCP ACTION text',
      input: 'waves at bob',
      body: 'waves at bob',
      html: `waves at ${pill('bob')}`,
      mentions: ['@bob:example.org'],
      offered: ['waves', 'at', 'bob'],
    },
  ];
  test.each(cases)('$name', ({ input, body, html, mentions, offered }) => {
    const seen: string[] = [];
    const result = ircToMatrix(input, (word) => {
      seen.push(word);
      return users[word] ?? null;
    });
    expect(result).toEqual({ body, html, mentions });
    expect(seen).toEqual(offered);
  });
});

describe('ircToMatrix properties', () => {
  const unescape = (s: string): string =>
    s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

  test('never throws; body has no formatting codes; HTML is balanced and shows the body', () => {
    fc.assert(
      fc.property(nastyText(), (text) => {
        const { body, html } = ircToMatrix(text);
        expect(body).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
        if (html === null) return;
        const stack: string[] = [];
        for (const m of html.matchAll(/<(\/?)(b|i|u|del|code|font|a|br)\b[^>]*>/g)) {
          const [, closing, name] = m as unknown as [string, string, string];
          if (name === 'br') continue;
          if (closing) expect(stack.pop()).toBe(name);
          else stack.push(name);
        }
        expect(stack).toEqual([]);
        expect(unescape(html.replace(/<br>/g, '\n').replace(/<[^>]*>/g, ''))).toBe(body);
      }),
      { numRuns: 500 },
    );
  });

  test('offers every distinct word at most once, whatever the resolver says', () => {
    fc.assert(
      fc.property(nastyText(), fc.boolean(), (text, hit) => {
        const seen: string[] = [];
        const result = ircToMatrix(text, (word) => {
          seen.push(word);
          return hit ? { userId: `@${word}:x`, displayName: word } : null;
        });
        expect(new Set(seen).size).toBe(seen.length);
        expect(result.mentions).toEqual(hit ? seen.map((w) => `@${w}:x`) : []);
      }),
    );
  });
});
