import fc from 'fast-check';
import { MatrixToIrcOptions, matrixToIrc, stripReplyFallback } from '../../src/format/matrix-to-irc';
import { nastyText } from './arbitraries';

const B = '\x02';
const I = '\x1d';
const U = '\x1f';
const S = '\x1e';
const C = '\x03';

const resolvers: MatrixToIrcOptions = {
  resolveUserPill: (id) => ({ '@bob:example.org': 'bob', '@al ice:example.org': 'alice[m]' })[id] ?? null,
  resolveRoomPill: (id) => ({ '#room:example.org': '#room', '!abc:example.org': '#other' })[id] ?? null,
};

describe('matrixToIrc plain bodies', () => {
  const cases = [
    { name: 'empty', body: '', html: null, expected: '' },
    { name: 'plain text', body: 'hello world', html: null, expected: 'hello world' },
    { name: 'empty HTML falls back to the body', body: 'hi', html: '', expected: 'hi' },
    { name: 'whitespace-only HTML falls back to the body', body: 'hi', html: '  \n', expected: 'hi' },
    { name: 'undefined HTML', body: 'hi', html: undefined, expected: 'hi' },
    { name: 'CRLF and CR become LF', body: 'a\r\nb\rc', html: null, expected: 'a\nb\nc' },
    { name: 'tab becomes a space', body: 'a\tb', html: null, expected: 'a b' },
    { name: 'NUL and other controls dropped', body: 'a\0b\x07c\x7fd\x1be', html: null, expected: 'abcde' },
    { name: 'typed IRC codes stripped with their digits', body: '\x02b\x02 \x0304,01red\x03 \x1di', html: null, expected: 'b red i' },
    { name: 'CTCP injection is defused', body: '\x01DCC SEND x 1 2 3\x01', html: null, expected: 'DCC SEND x 1 2 3' },
    { name: 'emoji and long UTF-8 untouched', body: '👨‍👩‍👧 🇫🇷 Grüße'.repeat(50), html: null, expected: '👨‍👩‍👧 🇫🇷 Grüße'.repeat(50) },
  ];
  test.each(cases)('$name', ({ body, html, expected }) => {
    expect(matrixToIrc(body, html)).toBe(expected);
  });
});

describe('matrixToIrc HTML', () => {
  const cases: Array<{ name: string; html: string; expected: string; body?: string }> = [
    { name: 'bold and strong', html: '<b>a</b> <strong>b</strong>', expected: `${B}a${B} ${B}b${B}` },
    { name: 'italic and em', html: '<i>a</i><em>b</em>', expected: `${I}ab${I}` },
    { name: 'underline and ins', html: '<u>a</u> <ins>b</ins>', expected: `${U}a${U} ${U}b${U}` },
    { name: 'del, s and strike', html: '<del>a</del> <s>b</s> <strike>c</strike>', expected: `${S}a${S} ${S}b${S} ${S}c${S}` },
    { name: 'nesting', html: '<b>a <i>b</i> c</b>', expected: `${B}a ${I}b${I} c${B}` },
    { name: 'unclosed tags are closed at the end of the line', html: '<b>x <i>y', expected: `${B}x ${I}y${B}${I}` },
    { name: 'space next to formatting stays plain', html: 'a<u> b </u>c', expected: `a ${U}b${U} c` },
    { name: 'inline code in backticks', html: 'run <code>npm i</code> now', expected: 'run `npm i` now' },
    {
      name: 'code block lines as-is',
      html: '<p>see:</p><pre><code class="language-js">if (x) {\n  y();\n}\n</code></pre>',
      expected: 'see:\nif (x) {\n  y();\n}',
    },
    { name: 'no formatting inside pre', html: '<pre><b>x</b>\n<i>y</i></pre>', expected: 'x\ny' },
    { name: 'pre keeps CRLF lines apart', html: '<pre>a\r\nb</pre>', expected: 'a\nb' },
    { name: 'br', html: 'a<br>b<br/>c', expected: 'a\nb\nc' },
    { name: 'no blank-line spam', html: '<p></p><p>a</p><br><br><br><p>b</p><div></div>', expected: 'a\nb' },
    { name: 'paragraphs and divs', html: '<p>one</p><div>two</div>three', expected: 'one\ntwo\nthree' },
    { name: 'whitespace collapsed like a browser', html: '<p>  a \n\n\t b  </p>\n<p>c\r\nd</p>', expected: 'a b\nc d' },
    { name: 'headings become bold lines', html: '<h1>Title</h1><h3>Sub <i>x</i></h3>text', expected: `${B}Title${B}\n${B}Sub ${I}x${B}${I}\ntext` },
    { name: 'bullet list', html: '<ul>\n<li>a</li>\n<li>b</li>\n</ul>', expected: '• a\n• b' },
    { name: 'ordered list with start', html: '<ol start="3"><li>a</li><li>b</li></ol>', expected: '3. a\n4. b' },
    { name: 'ordered list with li value', html: '<ol><li>a</li><li value="7">b</li><li>c</li></ol>', expected: '1. a\n7. b\n8. c' },
    {
      name: 'nested lists indent two spaces per level',
      html: '<ul><li>a<ul><li>b<ol><li>c</li></ol></li></ul></li><li>d</li></ul>',
      expected: '• a\n  • b\n    1. c\n• d',
    },
    { name: 'list item with paragraphs', html: '<ol><li><p>a</p><p>b</p></li></ol>', expected: '1. a\n  b' },
    {
      name: 'blockquote',
      html: '<blockquote><p>a</p><p>b</p></blockquote><p>reply</p>',
      expected: '> a\n> b\nreply',
    },
    { name: 'nested blockquote', html: '<blockquote>a<blockquote>b</blockquote></blockquote>', expected: '> a\n> > b' },
    { name: 'list inside a quote', html: '<blockquote><ul><li>x</li></ul></blockquote>', expected: '> • x' },
    { name: 'hr separates lines', html: 'a<hr>b', expected: 'a\nb' },
    {
      name: 'table rows are lines, cells separated',
      html: '<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>',
      expected: 'a | b\n1 | 2',
    },
    { name: 'link with text', html: '<a href="https://x.org/">site</a>', expected: 'site <https://x.org/>' },
    { name: 'link whose text is the URL', html: '<a href="https://x.org/a">https://x.org/a</a>', expected: 'https://x.org/a' },
    { name: 'link whose text is the URL without scheme', html: '<a href="https://x.org/">x.org</a>', expected: 'https://x.org/' },
    { name: 'mailto link', html: '<a href="mailto:a@b.org">a@b.org</a>', expected: 'a@b.org' },
    { name: 'link without href', html: '<a name="x">anchor</a>', expected: 'anchor' },
    { name: 'formatted link text', html: '<a href="https://x.org"><b>bold</b> link</a>', expected: `${B}bold${B} link <https://x.org>` },
    { name: 'user pill resolved to a nick', html: '<a href="https://matrix.to/#/@bob:example.org">Bob</a>: hi', expected: 'bob: hi' },
    {
      name: 'user pill URL-decoded before lookup',
      html: '<a href="https://matrix.to/#/%40al%20ice%3Aexample.org">Alice</a>',
      expected: 'alice[m]',
    },
    { name: 'unknown user pill keeps its name', html: '<a href="https://matrix.to/#/@eve:x.org">Eve</a>', expected: 'Eve' },
    { name: 'matrix: URI user pill', html: '<a href="matrix:u/bob:example.org">Bob</a>', expected: 'bob' },
    { name: 'room alias pill', html: 'join <a href="https://matrix.to/#/#room:example.org">#room:example.org</a>', expected: 'join #room' },
    { name: 'room ID pill with via', html: '<a href="https://matrix.to/#/!abc:example.org?via=example.org">Other</a>', expected: '#other' },
    { name: 'unknown room pill keeps its text', html: '<a href="https://matrix.to/#/#x:y.org">#x:y.org</a>', expected: '#x:y.org' },
    {
      name: 'event permalink is an ordinary link',
      html: '<a href="https://matrix.to/#/!abc:example.org/$ev">that</a>',
      expected: 'that <https://matrix.to/#/!abc:example.org/$ev>',
    },
    { name: 'image', html: 'look <img src="mxc://x/y" alt="a cat">', expected: 'look [image: a cat]' },
    { name: 'image without alt', html: '<img src="mxc://x/y">', expected: '[image]' },
    { name: 'custom emoji shows its shortcode', html: '<img data-mx-emoticon src="mxc://x/y" alt=":party:">', expected: ':party:' },
    { name: 'font colour', html: '<font color="#ff0000">red</font> x', expected: `${C}04red${C} x` },
    { name: 'nearest palette colour', html: '<font data-mx-color="#0101f0">blue</font>', expected: `${C}12blue${C}` },
    { name: 'short hex colour', html: '<span data-mx-color="#f00">r</span>', expected: `${C}04r${C}` },
    { name: 'background colour only', html: '<span data-mx-bg-color="#ffff00">x</span>', expected: `${C}99,08x${C}` },
    {
      name: 'inner colour restored to the outer one',
      html: '<font color="#ff0000">a<span data-mx-color="#00fc00">b</span>c</font>',
      expected: `${C}04a${C}09b${C}04c${C}`,
    },
    {
      name: 'dropping a background resets before restoring the foreground',
      html: '<font color="#ff0000">a<span data-mx-bg-color="#000000">b</span>c</font>',
      expected: `${C}04a${C}04,01b${C}${C}04c${C}`,
    },
    { name: 'invalid colour ignored', html: '<font color="red">x</font>', expected: 'x' },
    { name: 'colour with bold', html: '<b><font color="#ff0000">x</font></b>', expected: `${C}04${B}x${C}${B}` },
    { name: 'digits after a closing colour are guarded', html: '<font color="#ff0000">a</font>5', expected: `${C}04a${C}\x02\x025` },
    { name: 'comma after a colour is guarded', html: 'x<font color="#ff0000">,5</font>', expected: `x${C}04\x02\x02,5${C}` },
    { name: 'spoiler', html: 'see <span data-mx-spoiler="">secret</span>!', expected: `see [spoiler] ${C}01,01secret${C}!` },
    {
      name: 'reply fallback removed',
      html: '<mx-reply><blockquote><a href="https://matrix.to/#/!r:x/$e">In reply to</a> <a href="https://matrix.to/#/@bob:example.org">bob</a><br>old</blockquote></mx-reply>new',
      expected: 'new',
    },
    {
      name: 'only a reply in the HTML: plain body without its fallback',
      html: '<mx-reply><blockquote>old</blockquote></mx-reply>',
      body: '> <@bob:example.org> old\n\nnew',
      expected: 'new',
    },
    { name: 'entities decoded', html: '&lt;b&gt; &amp; &quot;x&quot; &#x1F600; &nbsp;!', expected: '<b> & "x" 😀 \u00a0!' },
    { name: 'unknown tags show their text', html: '<marquee>hi</marquee> <x-custom>there</x-custom>', expected: 'hi there' },
    { name: 'script and style dropped', html: '<style>p{}</style><script>alert(1)</script>ok<!-- note -->', expected: 'ok' },
    { name: 'malformed HTML', html: '</p></div><b>a<p>b</i>c', expected: `${B}a${B}\n${B}bc${B}` },
    { name: 'control characters in HTML text dropped', html: 'a&#1;b\x02c\x00d\x03e', expected: 'abcde' },
    { name: 'CTCP marker in HTML dropped', html: '<b>\x01ACTION x\x01</b>', expected: `${B}ACTION x${B}` },
    { name: 'emoji', html: '<b>👍🏽 🇫🇷</b>', expected: `${B}👍🏽 🇫🇷${B}` },
  ];
  test.each(cases)('$name', ({ html, expected, body }) => {
    expect(matrixToIrc(body ?? 'fallback body', html, resolvers)).toBe(expected);
  });

  test('pills without resolvers use the link text', () => {
    const html = '<a href="https://matrix.to/#/@bob:example.org">Bob</a> in <a href="https://matrix.to/#/#room:example.org">Room</a>';
    expect(matrixToIrc('', html)).toBe('Bob in Room');
  });

  test('a resolver is asked once per pill with the decoded ID', () => {
    const asked: string[] = [];
    matrixToIrc('', '<a href="https://matrix.to/#/%40a%3Ab.c">A</a> <a href="matrix:r/room:b.c">R</a>', {
      resolveUserPill: (id) => (asked.push(id), null),
      resolveRoomPill: (id) => (asked.push(id), null),
    });
    expect(asked).toEqual(['@a:b.c', '#room:b.c']);
  });
});

describe('stripReplyFallback', () => {
  const cases = [
    { name: 'empty', input: '', expected: '' },
    { name: 'no fallback', input: 'hello\n\nworld', expected: 'hello\n\nworld' },
    { name: 'one quoted line', input: '> <@bob:example.org> hi\n\nreply', expected: 'reply' },
    {
      name: 'multi-line quote',
      input: '> <@bob:example.org> line one\n> line two\n\nreply\nmore',
      expected: 'reply\nmore',
    },
    { name: 'emote fallback', input: '> * <@bob:example.org> waves\n\nhi', expected: 'hi' },
    { name: 'CRLF', input: '> <@bob:example.org> hi\r\n\r\nreply', expected: 'reply' },
    { name: 'an ordinary quote is kept', input: '> to be or not\n\nthat is', expected: '> to be or not\n\nthat is' },
    { name: 'quote not at the start is kept', input: 'hi\n> <@bob:x> q', expected: 'hi\n> <@bob:x> q' },
  ];
  test.each(cases)('$name', ({ input, expected }) => {
    expect(stripReplyFallback(input)).toBe(expected);
  });
});

describe('matrixToIrc properties', () => {
  const allowed = (s: string): void => {
    // Only LF and the codes matrixToIrc emits may appear among the control characters.
    expect(s).not.toMatch(/[\x00\x01\x04-\x09\x0b-\x1c\x7f\r]/);
  };

  test('never throws and never emits CR, NUL or stray controls, for any body', () => {
    fc.assert(
      fc.property(nastyText(), (body) => {
        allowed(matrixToIrc(body, null));
      }),
    );
  });

  const tag = fc.constantFrom(
    'b', 'i', 'u', 'del', 'code', 'pre', 'p', 'br', 'ul', 'ol', 'li', 'blockquote', 'h2', 'a', 'span', 'font',
    'table', 'tr', 'td', 'mx-reply', 'img', 'x-unknown',
  );
  const attrs = fc.constantFrom(
    '', ' href="https://matrix.to/#/@bob:example.org"', ' href="https://x.org"', ' color="#123456"',
    ' data-mx-bg-color="#ff0000"', ' data-mx-spoiler', ' start="5"', ' alt="a\x01b"',
  );
  const htmlPiece = fc.oneof(
    fc.tuple(tag, attrs).map(([t, a]) => `<${t}${a}>`),
    tag.map((t) => `</${t}>`),
    nastyText(20),
    fc.constantFrom('&amp;', '&#0;', '&#x1;', '&lt;', '<', '>', '"', '\n', ' '),
  );
  const html = fc.array(htmlPiece, { maxLength: 40 }).map((parts) => parts.join(''));

  test.each([
    { body: '  ', html: '' },
    { body: ' ', html: '\n' },
    { body: ' ', html: '<b>' },
    { body: '  ', html: '&#x1;' },
  ])('a message of only white space gives nothing to send ($body, $html)', ({ body, html: h }) => {
    expect(matrixToIrc(body, h, resolvers)).toBe('');
  });

  test('never throws and never emits CR, NUL or stray controls, for any HTML', () => {
    fc.assert(
      // Plain bodies keep their blank lines (the splitter drops them); HTML output never has any.
      fc.property(nastyText(40).map((b) => b.replace(/[\r\n]/g, '')), html, (body, h) => {
        const out = matrixToIrc(body, h, resolvers);
        allowed(out);
        // An empty formatted_body means "no HTML": the plain body (blank or not) is used as it is.
        if (h !== '' && out !== '') for (const line of out.split('\n')) expect(line.trim()).not.toBe('');
      }),
      { numRuns: 500 },
    );
  });

  test('deep nesting does not exhaust the stack', () => {
    const deep = `${'<b><i>'.repeat(10000)}x${'</i></b>'.repeat(10000)}`;
    expect(() => matrixToIrc('', deep)).not.toThrow();
    expect(matrixToIrc('', deep).replace(/[\x02\x1d]/g, '')).toBe('x');
  });
});
