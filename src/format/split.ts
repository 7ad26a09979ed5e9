/**
 * Fitting text into IRC lines: byte counting, the per-line byte budget, and splitting that never
 * cuts a UTF-8 sequence or a grapheme cluster and carries mIRC formatting across cuts.
 */
import { IrcStyle, PLAIN_STYLE, colourGuard, reopenCodes, stripIrcCodes, tokenizeIrc } from './irc-codes';

/** Bytes `s` takes in UTF-8; a lone surrogate counts as U+FFFD (3 bytes), as encoders write it. */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Makes `s` safe as one IRC parameter: CRLF and LF become a space, lone CR and NUL are dropped.
 * The last line of defence before a line is written; it does not enforce length.
 */
export function sanitizeIrcText(s: string): string {
  return s.replace(/\r?\n/g, ' ').replace(/[\r\0]/g, '');
}

/** Who sends what to whom: the parts of the line prefix a server relays to other clients. */
export interface IrcLineBudgetParams {
  nick: string;
  user: string;
  host: string;
  target: string;
  command: 'PRIVMSG' | 'NOTICE';
  lineLen?: number;
  action?: boolean;
}

/** Smallest budget ircLineBudget returns, so that a caller can always make progress. */
export const MIN_LINE_BUDGET = 16;

const ACTION_WRAPPER_BYTES = utf8ByteLength('\x01ACTION \x01');

/**
 * Bytes left for the message text once the server has prefixed `:nick!user@host COMMAND target :`
 * and appended CRLF (tags do not count: they have their own limit). Pass the longest host the
 * server may show. At least MIN_LINE_BUDGET.
 */
export function ircLineBudget(p: IrcLineBudgetParams): number {
  const prefix = `:${p.nick}!${p.user}@${p.host} ${p.command} ${p.target} :`;
  const budget = (p.lineLen ?? 512) - utf8ByteLength(prefix) - 2 - (p.action ? ACTION_WRAPPER_BYTES : 0);
  return Math.max(MIN_LINE_BUDGET, budget);
}

interface Unit {
  s: string;
  bytes: number;
  code: boolean;
  space: boolean;
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const SEGMENT_WINDOW = 512;

const isHighSurrogate = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;

/**
 * Clusters of text[start, end), where both ends are known cluster boundaries. V8's segmenter slows
 * down quadratically on long strings, so the region is segmented in windows; the last cluster of
 * a window may be cut short by the window's end, so it is segmented again with the next window.
 */
function segmentRegion(text: string, start: number, end: number, out: string[]): void {
  let pos = start;
  let size = SEGMENT_WINDOW;
  while (pos < end) {
    let stop = Math.min(end, pos + size);
    // Never end a window between the halves of a surrogate pair: the half would look like a
    // different character and could move the boundary before it.
    if (stop < end && isHighSurrogate(text.charCodeAt(stop - 1))) stop--;
    const segments = Array.from(segmenter.segment(text.slice(pos, stop)), (s) => s.segment);
    if (stop < end) {
      if (segments.length < 2) {
        size *= 2; // one cluster longer than the window: widen until it ends inside
        continue;
      }
      segments.pop();
    }
    for (const g of segments) {
      out.push(g);
      pos += g.length;
    }
    size = SEGMENT_WINDOW;
  }
}

// Code points whose grapheme break property is Other or Control (never Extend, SpacingMark,
// Prepend, ZWJ, regional indicator or Hangul): Latin, Greek, Cyrillic, kana, CJK ideographs and
// fullwidth forms. Between two of them there is always a cluster boundary (CR LF excepted), so
// such text can skip the segmenter. The spec checks every one of these code points.
export const SIMPLE_CLUSTER_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x0000, 0x007f],
  [0x00a0, 0x02ff],
  [0x0370, 0x0482],
  [0x048a, 0x052f],
  [0x3041, 0x3096],
  [0x30a0, 0x30ff],
  [0x4e00, 0x9fff],
  [0xff01, 0xff5e],
];

function isSimple(text: string, i: number): boolean {
  if (i >= text.length) return true;
  const c = text.charCodeAt(i);
  if (c < 0x80) return true;
  for (const [lo, hi] of SIMPLE_CLUSTER_RANGES) if (c >= lo && c <= hi) return true;
  return false;
}

const simpleBreak = (text: string, i: number): boolean =>
  isSimple(text, i) && isSimple(text, i + 1) && !(text[i] === '\r' && text[i + 1] === '\n');

/** Grapheme clusters of `text`, in order; simple stretches skip the (slow) segmenter. */
export function graphemeClusters(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (simpleBreak(text, i)) {
      out.push(text.charAt(i++));
      continue;
    }
    let j = i + 1;
    while (j < text.length && !simpleBreak(text, j)) j++;
    const end = Math.min(text.length, j + 1);
    segmentRegion(text, i, end, out);
    i = end;
  }
  return out;
}

/** Graphemes and formatting codes of one line, with the style in effect before each unit. */
function toUnits(line: string): { units: Unit[]; styles: IrcStyle[] } {
  const units: Unit[] = [];
  const styles: IrcStyle[] = [];
  let style = PLAIN_STYLE;
  for (const token of tokenizeIrc(line)) {
    if (token.kind === 'code') {
      styles.push(style);
      units.push({ s: token.raw, bytes: token.raw.length, code: true, space: false });
      style = token.style;
      continue;
    }
    for (const segment of graphemeClusters(token.text)) {
      styles.push(style);
      units.push({ s: segment, bytes: utf8ByteLength(segment), code: false, space: segment === ' ' });
    }
  }
  styles.push(style);
  return { units, styles };
}

/** Where to end the chunk starting at `start` with `room` bytes, and where the next one starts. */
function findCut(units: Unit[], start: number, room: number): { end: number; next: number } {
  let used = 0;
  let j = start;
  let lastSpace = -1;
  let bytesBeforeSpace = 0;
  for (; j < units.length; j++) {
    const u = units[j] as Unit;
    if (used + u.bytes > room) break;
    if (u.space) {
      lastSpace = j;
      bytesBeforeSpace = used;
    }
    used += u.bytes;
  }
  if (j === units.length) return { end: j, next: j };
  if (units[j]?.space) return { end: j, next: j + 1 };
  // A space in the first half would waste too much of the line; cut mid-word instead.
  if (lastSpace > start && bytesBeforeSpace * 2 >= room) return { end: lastSpace, next: lastSpace + 1 };
  return { end: j, next: j };
}

/** Joins units[start, end); trailing codes of a non-final chunk are dropped (the next re-opens). */
function joinUnits(units: Unit[], start: number, end: number, final: boolean): { text: string; visible: boolean } {
  let last = end;
  if (!final) while (last > start && units[last - 1]?.code) last--;
  let text = '';
  let visible = false;
  for (let k = start; k < last; k++) {
    const u = units[k] as Unit;
    text += u.s;
    if (!u.code && u.s.trim() !== '') visible = true;
  }
  return { text, visible };
}

/** Cuts a grapheme wider than the whole budget at code points; returns the part that fits. */
function takeCodePoints(s: string, room: number): string {
  let taken = '';
  let bytes = 0;
  for (const cp of s) {
    const b = utf8ByteLength(cp);
    if (bytes + b > room && taken !== '') break;
    taken += cp;
    bytes += b;
  }
  return taken;
}

function splitLine(line: string, budget: number, out: string[]): void {
  const { units, styles } = toUnits(line);
  let i = 0;
  while (i < units.length) {
    let prefix = reopenCodes(styles[i] ?? PLAIN_STYLE);
    let prefixCost = prefix.length + (colourGuard(prefix, ',') ? 2 : 0);
    // Formatting is cosmetic: when re-opening it would eat most of the line, the text wins.
    if (prefixCost * 2 > budget) {
      prefix = '';
      prefixCost = 0;
    }
    const { end, next } = findCut(units, i, budget - prefixCost);
    const u = units[i] as Unit;
    if (end === i && u.code) {
      i++; // a code that cannot fit; its effect still reaches the next chunk through `styles`
    } else if (end === i) {
      const piece = takeCodePoints(u.s, budget);
      if (piece.trim() !== '') out.push(piece);
      if (piece.length === u.s.length) i++;
      else units[i] = { ...u, s: u.s.slice(piece.length), bytes: u.bytes - utf8ByteLength(piece) };
    } else {
      const { text, visible } = joinUnits(units, i, end, next === units.length);
      if (visible) out.push(prefix + colourGuard(prefix, text) + text);
      i = next;
    }
  }
}

function clampBudget(budgetBytes: number): number {
  if (Number.isNaN(budgetBytes)) return 4;
  return Math.max(4, Math.floor(Math.min(budgetBytes, Number.MAX_SAFE_INTEGER)));
}

/**
 * Splits text into IRC message texts of at most `budgetBytes` UTF-8 bytes each (budgets below 4,
 * the widest code point, count as 4): one or more per non-blank '\n'-separated line, cut at a
 * space when one is in the second half of the chunk, else between grapheme clusters. Formatting
 * active at a cut is re-opened in the next chunk. Chunks contain no CR, LF or NUL. Never throws.
 */
export function splitForIrc(text: string, budgetBytes: number): string[] {
  const budget = clampBudget(budgetBytes);
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[\r\0]/g, '');
    if (stripIrcCodes(line).trim() === '') continue;
    if (utf8ByteLength(line) <= budget) out.push(line);
    else splitLine(line, budget, out);
  }
  return out;
}
