/**
 * Matrix message content -> IRC text: HTML formatting becomes mIRC codes or plain-text
 * conventions that read well in any client, pills become nicks or names.
 */
import type { ChildNode, Element } from 'domhandler';
import { parseDocument } from 'htmlparser2';
import { nearestMircIndex } from './colours';
import { stripIrcCodes } from './irc-codes';
import { IrcLines, OutStyle, PLAIN_OUT, cleanLiteral } from './irc-lines';

/** Lookups for pills; each is called synchronously, at most once per pill, and may return null. */
export interface MatrixToIrcOptions {
  resolveUserPill?: (userId: string) => string | null;
  resolveRoomPill?: (roomIdOrAlias: string) => string | null;
}

type Handler = (r: Renderer, el: Element, style: OutStyle, out: IrcLines) => void;

// Deeper nesting than this is flattened to its text: no real message needs it, and recursion
// over a hostile 64 KiB event must not exhaust the stack.
const MAX_DEPTH = 48;

const isElement = (node: ChildNode): node is Element => node.type === 'tag';

/** All text below `nodes`, without recursion. */
function textOf(nodes: readonly ChildNode[]): string {
  let out = '';
  const stack: ChildNode[] = [...nodes].reverse();
  while (stack.length > 0) {
    const node = stack.pop() as ChildNode;
    if (node.type === 'text') out += node.data;
    else if (isElement(node) && node.name !== 'mx-reply') {
      for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i] as ChildNode);
    }
  }
  return out;
}

const collapse = (s: string): string => s.replace(/\s+/g, ' ').trim();

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A matrix.to or matrix: link to a user or a room (not to an event): its decoded ID or alias. */
export function parsePill(href: string): { kind: 'user' | 'room'; id: string } | null {
  let id: string | null = null;
  const web = /^https?:\/\/matrix\.to\/#\/([^/?]+)\/?(?:\?.*)?$/i.exec(href);
  if (web?.[1]) id = safeDecode(web[1]);
  const uri = /^matrix:(u|r|roomid)\/([^/?]+)\/?(?:\?.*)?$/i.exec(href);
  if (uri?.[1] && uri[2]) {
    const sigil = { u: '@', r: '#', roomid: '!' }[uri[1].toLowerCase() as 'u' | 'r' | 'roomid'];
    id = sigil + safeDecode(uri[2]);
  }
  if (id === null || id.length < 2) return null;
  if (id.startsWith('@')) return { kind: 'user', id };
  if (id.startsWith('#') || id.startsWith('!')) return { kind: 'room', id };
  return null;
}

const withoutScheme = (url: string): string => url.replace(/^[a-z][a-z0-9+.-]*:(\/\/)?/i, '').replace(/\/$/, '');

function renderLink(r: Renderer, el: Element, style: OutStyle, out: IrcLines): void {
  const href = collapse(el.attribs.href ?? '');
  const text = collapse(textOf(el.children));
  const pill = parsePill(href);
  if (pill) {
    const resolve = pill.kind === 'user' ? r.opts.resolveUserPill : r.opts.resolveRoomPill;
    out.text(resolve?.(pill.id) ?? (text || pill.id), style);
  } else if (href === '') {
    r.nodes(el.children, style, out);
  } else if (href.toLowerCase() === `mailto:${text.toLowerCase()}`) {
    out.text(text, style);
  } else if (text === '' || text === href || withoutScheme(text) === withoutScheme(href)) {
    out.text(href, style);
  } else {
    r.nodes(el.children, style, out);
    out.text(` <${href}>`, style);
  }
}

function renderList(r: Renderer, el: Element, style: OutStyle, out: IrcLines): void {
  const ordered = el.name === 'ol';
  const start = Number.parseInt(el.attribs.start ?? '', 10);
  let n = Number.isFinite(start) ? start : 1;
  const lines: string[] = [];
  for (const child of el.children) {
    const inner = new IrcLines();
    if (!isElement(child) || child.name !== 'li') {
      r.node(child, style, inner);
      lines.push(...inner.finish());
      continue;
    }
    const value = Number.parseInt(child.attribs.value ?? '', 10);
    if (ordered && Number.isFinite(value)) n = value;
    const marker = ordered ? `${n++}. ` : '• ';
    r.nodes(child.children, style, inner);
    const [first, ...rest] = inner.finish();
    if (first !== undefined) lines.push(marker + first, ...rest.map((l) => `  ${l}`));
  }
  out.append(lines);
}

function renderPre(_r: Renderer, el: Element, _style: OutStyle, out: IrcLines): void {
  const text = textOf(el.children).replace(/\r\n?/g, '\n').replace(/^\n/, '');
  out.break();
  for (const line of text.split('\n')) out.literal(cleanLiteral(line));
}

function renderRow(r: Renderer, el: Element, style: OutStyle, out: IrcLines): void {
  out.break();
  let cells = 0;
  for (const child of el.children) {
    if (isElement(child) && (child.name === 'td' || child.name === 'th')) {
      if (cells++ > 0) out.text(' | ', style);
    }
    r.node(child, style, out);
  }
  out.break();
}

function colourOf(el: Element, style: OutStyle): OutStyle {
  const fgAttr = el.attribs['data-mx-color'] ?? el.attribs.color;
  const bgAttr = el.attribs['data-mx-bg-color'];
  const fg = fgAttr === undefined ? null : nearestMircIndex(fgAttr);
  const bg = bgAttr === undefined ? null : nearestMircIndex(bgAttr);
  return { ...style, fg: fg ?? style.fg, bg: bg ?? style.bg };
}

function renderSpan(r: Renderer, el: Element, style: OutStyle, out: IrcLines): void {
  if (el.attribs['data-mx-spoiler'] === undefined) {
    r.nodes(el.children, colourOf(el, style), out);
    return;
  }
  out.text('[spoiler] ', style);
  r.nodes(el.children, { ...style, fg: 1, bg: 1 }, out);
}

function renderImage(_r: Renderer, el: Element, style: OutStyle, out: IrcLines): void {
  const alt = collapse(el.attribs.alt ?? el.attribs.title ?? '');
  if (el.attribs['data-mx-emoticon'] !== undefined && alt !== '') out.text(alt, style);
  else out.text(alt === '' ? '[image]' : `[image: ${alt}]`, style);
}

const inline =
  (change: Partial<OutStyle>): Handler =>
  (r, el, style, out) =>
    r.nodes(el.children, { ...style, ...change }, out);

const block =
  (change: Partial<OutStyle> = {}): Handler =>
  (r, el, style, out) => {
    out.break();
    r.nodes(el.children, { ...style, ...change }, out);
    out.break();
  };

const prefixed =
  (prefix: string): Handler =>
  (r, el, style, out) => {
    const inner = new IrcLines();
    r.nodes(el.children, style, inner);
    out.append(inner.finish().map((line) => prefix + line));
  };

const skip: Handler = () => undefined;

const HANDLERS: Record<string, Handler> = {
  b: inline({ bold: true }),
  strong: inline({ bold: true }),
  i: inline({ italic: true }),
  em: inline({ italic: true }),
  u: inline({ underline: true }),
  ins: inline({ underline: true }),
  del: inline({ strike: true }),
  s: inline({ strike: true }),
  strike: inline({ strike: true }),
  font: (r, el, style, out) => r.nodes(el.children, colourOf(el, style), out),
  span: renderSpan,
  code: (r, el, style, out) => {
    out.text('`', style);
    r.nodes(el.children, style, out);
    out.text('`', style);
  },
  pre: renderPre,
  br: (_r, _el, _style, out) => out.break(),
  hr: (_r, _el, _style, out) => out.break(),
  a: renderLink,
  img: renderImage,
  ul: renderList,
  ol: renderList,
  li: prefixed('• '),
  blockquote: prefixed('> '),
  tr: renderRow,
  'mx-reply': skip,
  head: skip,
  title: skip,
};
for (const name of ['h1', 'h2', 'h3', 'h4', 'h5', 'h6']) HANDLERS[name] = block({ bold: true });
const BLOCKS = [
  'p', 'div', 'section', 'article', 'header', 'footer', 'main', 'nav', 'aside', 'address', 'figure',
  'figcaption', 'details', 'summary', 'dl', 'dt', 'dd', 'table', 'thead', 'tbody', 'tfoot', 'caption',
];
for (const name of BLOCKS) HANDLERS[name] = block();

/** Walks the parsed HTML; one instance per conversion. */
class Renderer {
  private depth = 0;

  constructor(readonly opts: MatrixToIrcOptions) {}

  nodes(nodes: readonly ChildNode[], style: OutStyle, out: IrcLines): void {
    for (const node of nodes) this.node(node, style, out);
  }

  node(node: ChildNode, style: OutStyle, out: IrcLines): void {
    if (node.type === 'text') {
      out.text(node.data, style);
    } else if (node.type === 'cdata' || node.type === 'root') {
      this.nodes(node.children, style, out);
    } else if (isElement(node)) {
      if (this.depth >= MAX_DEPTH) {
        out.text(textOf(node.children), style);
        return;
      }
      this.depth++;
      const handler = Object.hasOwn(HANDLERS, node.name) ? HANDLERS[node.name] : undefined;
      if (handler) handler(this, node, style, out);
      else this.nodes(node.children, style, out);
      this.depth--;
    }
    // Comments, directives, <script> and <style> carry nothing to show.
  }
}

/** Plain text from a Matrix user: CR/CRLF -> LF, tabs -> spaces, codes and other controls dropped. */
function plainToIrc(body: string): string {
  return stripIrcCodes(body.replace(/\r\n?/g, '\n'))
    .replace(/\t/g, ' ')
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '');
}

/**
 * Removes the Matrix reply fallback from a plain body: the leading quoted "> <@user:server> ..."
 * lines and the blank line after them. Bodies that do not start with such a quote are returned
 * unchanged.
 */
export function stripReplyFallback(body: string): string {
  const lines = body.split('\n');
  if (!/^> (?:\* )?<[^>\n]+>/.test(lines[0] ?? '')) return body;
  let i = 0;
  while (i < lines.length && (lines[i] ?? '').startsWith('>')) i++;
  if (i < lines.length && (lines[i] === '' || lines[i] === '\r')) i++;
  return lines.slice(i).join('\n');
}

/**
 * Converts a Matrix message (plain `body`, optional `formatted_body` HTML) to IRC text. Lines are
 * separated by '\n' for the caller to split; the result holds no CR, NUL or control character
 * other than '\n' and the codes \x02 \x03 \x1d \x1e \x1f it emits. Never throws.
 */
export function matrixToIrc(body: string, html: string | null | undefined, opts: MatrixToIrcOptions = {}): string {
  if (html && html.trim() !== '') {
    const lines = new IrcLines();
    new Renderer(opts).nodes(parseDocument(html, { decodeEntities: true }).children, PLAIN_OUT, lines);
    const text = lines.finish().join('\n');
    // An event whose HTML shows nothing (only a reply quote, say) still has its plain body.
    if (text !== '') return text.replace(/[\r\0]/g, '');
    return blankToEmpty(plainToIrc(stripReplyFallback(body ?? '')));
  }
  return blankToEmpty(plainToIrc(body ?? ''));
}

/** A message of nothing but white space has nothing to send. */
function blankToEmpty(text: string): string {
  return text.trim() === '' ? '' : text;
}
