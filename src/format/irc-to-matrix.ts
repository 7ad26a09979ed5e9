/**
 * IRC line -> Matrix message content: mIRC codes become nested HTML tags, nicks that the caller
 * recognises become user pills.
 */
import { mircIndexToHex } from './colours';
import { IrcColour, IrcStyle, PLAIN_STYLE, isPlainStyle, tokenizeIrc } from './irc-codes';

/** What the caller knows about a nick: the Matrix user behind it and the name to show. */
export interface NickMention {
  userId: string;
  displayName: string;
}

/** A Matrix text message: plain `body`, HTML (null when plain text says it all), mentioned users. */
export interface MatrixText {
  body: string;
  html: string | null;
  mentions: string[];
}

interface Run {
  start: number;
  end: number;
  style: IrcStyle;
}

interface Pill {
  start: number;
  end: number;
  mention: NickMention;
}

const NICK_TOKEN = /[A-Za-z0-9[\]\\`_^{|}-]+/g;
const URL = /\bhttps?:\/\/\S+/gi;
// C0 controls other than tab and newline, plus DEL: invisible on IRC, confusing in Matrix clients.
const STRAY_CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** A matrix.to permalink for a user ID, percent-encoded but keeping '@' and ':' readable. */
export function userPermalink(userId: string): string {
  return `https://matrix.to/#/${encodeURIComponent(userId).replace(/%40/g, '@').replace(/%3A/gi, ':')}`;
}

/** Removes the codes and returns the plain text plus the style of every stretch of it. */
function parseRuns(text: string): { body: string; runs: Run[] } {
  let body = '';
  const runs: Run[] = [];
  let style = PLAIN_STYLE;
  for (const token of tokenizeIrc(text)) {
    if (token.kind === 'code') {
      style = token.style;
      continue;
    }
    const clean = token.text.replace(STRAY_CONTROLS, '');
    if (clean === '') continue;
    const last = runs[runs.length - 1];
    if (last && last.style === style) last.end += clean.length;
    else runs.push({ start: body.length, end: body.length + clean.length, style });
    body += clean;
  }
  return { body, runs };
}

function findPills(body: string, resolveNick: (word: string) => NickMention | null): Pill[] {
  const urls = Array.from(body.matchAll(URL), (m) => [m.index, m.index + m[0].length] as const);
  let u = 0; // words come in order, so the URLs before the current word can be forgotten
  const inUrl = (at: number): boolean => {
    while (u < urls.length && (urls[u]?.[1] ?? 0) <= at) u++;
    return (urls[u]?.[0] ?? Infinity) <= at;
  };
  const cache = new Map<string, NickMention | null>();
  const pills: Pill[] = [];
  for (const m of body.matchAll(NICK_TOKEN)) {
    if (inUrl(m.index)) continue;
    const word = m[0];
    let mention = cache.get(word);
    if (mention === undefined) {
      mention = resolveNick(word) ?? null;
      cache.set(word, mention);
    }
    if (mention) pills.push({ start: m.index, end: m.index + word.length, mention });
  }
  return pills;
}

function colourHex(c: IrcColour | null): string | null {
  if (c === null) return null;
  return c.kind === 'hex' ? c.hex : mircIndexToHex(c.index);
}

/** The open tags a style needs, outermost first, each with the key used to compare stacks. */
function tagsFor(style: IrcStyle): Array<{ key: string; open: string; close: string }> {
  const tags: Array<{ key: string; open: string; close: string }> = [];
  const fg = colourHex(style.fg);
  const bg = colourHex(style.bg);
  if (fg || bg) {
    const attrs = [
      fg ? ` color="${fg}" data-mx-color="${fg}"` : '',
      bg ? ` data-mx-bg-color="${bg}"` : '',
    ].join('');
    tags.push({ key: `font${attrs}`, open: `<font${attrs}>`, close: '</font>' });
  }
  const simple: Array<[boolean, string]> = [
    [style.bold, 'b'],
    [style.italic, 'i'],
    [style.underline, 'u'],
    [style.strike, 'del'],
    [style.mono, 'code'],
  ];
  for (const [on, name] of simple) if (on) tags.push({ key: name, open: `<${name}>`, close: `</${name}>` });
  return tags;
}

/** Writes HTML keeping a stack of open tags so that every change of style stays well nested. */
class HtmlWriter {
  private out = '';
  private stack: Array<{ key: string; close: string }> = [];

  setStyle(style: IrcStyle): void {
    const want = tagsFor(style);
    let keep = 0;
    while (keep < this.stack.length && keep < want.length && this.stack[keep]?.key === want[keep]?.key) keep++;
    while (this.stack.length > keep) this.out += this.stack.pop()?.close ?? '';
    for (const tag of want.slice(keep)) {
      this.out += tag.open;
      this.stack.push(tag);
    }
  }

  text(s: string): void {
    this.out += escapeHtml(s).replace(/\n/g, '<br>');
  }

  raw(s: string): void {
    this.out += s;
  }

  finish(): string {
    this.setStyle(PLAIN_STYLE);
    return this.out;
  }
}

function renderHtml(body: string, runs: Run[], pills: Pill[]): string {
  const w = new HtmlWriter();
  let pos = 0;
  let p = 0;
  for (const run of runs) {
    let i = Math.max(run.start, pos);
    if (i >= run.end) continue;
    w.setStyle(run.style);
    while (i < run.end) {
      const pill = pills[p];
      if (pill && pill.start < run.end) {
        w.text(body.slice(i, pill.start));
        w.raw(`<a href="${escapeHtml(userPermalink(pill.mention.userId))}">`);
        w.text(pill.mention.displayName);
        w.raw('</a>');
        i = pill.end;
        p++;
      } else {
        w.text(body.slice(i, run.end));
        i = run.end;
      }
    }
    pos = i;
  }
  return w.finish();
}

/**
 * Converts one IRC message text (codes included, CTCP wrapper already removed by the caller) to
 * Matrix content. `resolveNick` is called at most once per distinct word and must be synchronous
 * and side-effect free; never throws on any input.
 */
export function ircToMatrix(text: string, resolveNick?: (word: string) => NickMention | null): MatrixText {
  const { body, runs } = parseRuns(text);
  const pills = resolveNick ? findPills(body, resolveNick) : [];
  const mentions = [...new Set(pills.map((p) => p.mention.userId))];
  const styled = runs.some((r) => !isPlainStyle(r.style));
  const html = styled || pills.length > 0 ? renderHtml(body, runs, pills) : null;
  return { body, html, mentions };
}
