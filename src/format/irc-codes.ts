/**
 * mIRC formatting codes: one tokenizer shared by ircToMatrix (to render them), splitForIrc (to
 * re-open formatting after a cut) and matrixToIrc (to strip codes a Matrix user typed).
 */
import { nearestMircIndex } from './colours';

export const BOLD = '\x02';
export const COLOUR = '\x03';
export const HEX_COLOUR = '\x04';
export const RESET = '\x0f';
export const MONOSPACE = '\x11';
export const REVERSE = '\x16';
export const ITALIC = '\x1d';
export const STRIKE = '\x1e';
export const UNDERLINE = '\x1f';

/** A colour as the line spelled it: a palette index (0-98) or a `#rrggbb` from \x04. */
export type IrcColour = { kind: 'index'; index: number } | { kind: 'hex'; hex: string };

/** The formatting in effect at a point of a line. Reverse video is parsed but not tracked. */
export interface IrcStyle {
  readonly bold: boolean;
  readonly italic: boolean;
  readonly underline: boolean;
  readonly strike: boolean;
  readonly mono: boolean;
  readonly fg: IrcColour | null;
  readonly bg: IrcColour | null;
}

/** The style at the start of every IRC line. */
export const PLAIN_STYLE: IrcStyle = Object.freeze({
  bold: false,
  italic: false,
  underline: false,
  strike: false,
  mono: false,
  fg: null,
  bg: null,
});

/** A run of text, or one formatting code together with the style in effect after it. */
export type IrcToken = { kind: 'text'; text: string } | { kind: 'code'; raw: string; style: IrcStyle };

const TOGGLES: ReadonlyArray<[string, 'bold' | 'italic' | 'underline' | 'strike' | 'mono']> = [
  [BOLD, 'bold'],
  [ITALIC, 'italic'],
  [UNDERLINE, 'underline'],
  [STRIKE, 'strike'],
  [MONOSPACE, 'mono'],
];

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Reads up to two digits at `at`; 99 (or any value above 98) means "default colour". */
function readIndex(s: string, at: number): { colour: IrcColour | null; end: number } | null {
  if (!isDigit(s[at])) return null;
  const end = isDigit(s[at + 1]) ? at + 2 : at + 1;
  const n = Number(s.slice(at, end));
  return { colour: n <= 98 ? { kind: 'index', index: n } : null, end };
}

function readHex(s: string, at: number): { colour: IrcColour; end: number } | null {
  const hex = s.slice(at, at + 6);
  return /^[0-9a-f]{6}$/i.test(hex) ? { colour: { kind: 'hex', hex: `#${hex.toLowerCase()}` }, end: at + 6 } : null;
}

/** Parses the colour code at `at` (\x03 or \x04); returns its end and the new colours. */
function readColour(s: string, at: number, style: IrcStyle): { end: number; style: IrcStyle } {
  const read = s[at] === COLOUR ? readIndex : readHex;
  const fg = read(s, at + 1);
  if (fg === null) return { end: at + 1, style: { ...style, fg: null, bg: null } };
  if (s[fg.end] === ',') {
    const bg = read(s, fg.end + 1);
    if (bg !== null) return { end: bg.end, style: { ...style, fg: fg.colour, bg: bg.colour } };
  }
  return { end: fg.end, style: { ...style, fg: fg.colour } };
}

function isCode(c: string): boolean {
  return '\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f'.includes(c);
}

/** Splits one IRC line into text runs and formatting codes, in order; never throws. */
export function tokenizeIrc(line: string): IrcToken[] {
  const tokens: IrcToken[] = [];
  let style = PLAIN_STYLE;
  let textStart = 0;
  let i = 0;
  while (i < line.length) {
    const c = line.charAt(i);
    if (!isCode(c)) {
      i++;
      continue;
    }
    if (i > textStart) tokens.push({ kind: 'text', text: line.slice(textStart, i) });
    let end = i + 1;
    if (c === COLOUR || c === HEX_COLOUR) {
      const parsed = readColour(line, i, style);
      end = parsed.end;
      style = parsed.style;
    } else if (c === RESET) {
      style = PLAIN_STYLE;
    } else {
      const toggle = TOGGLES.find(([code]) => code === c);
      if (toggle) style = { ...style, [toggle[1]]: !style[toggle[1]] };
    }
    tokens.push({ kind: 'code', raw: line.slice(i, end), style });
    i = end;
    textStart = end;
  }
  if (line.length > textStart) tokens.push({ kind: 'text', text: line.slice(textStart) });
  return tokens;
}

/** The text of an IRC line with every formatting code (and its colour digits) removed. */
export function stripIrcCodes(line: string): string {
  let out = '';
  for (const t of tokenizeIrc(line)) if (t.kind === 'text') out += t.text;
  return out;
}

/** True when the style renders like plain text (reverse video is never tracked). */
export function isPlainStyle(style: IrcStyle): boolean {
  return (
    !style.bold && !style.italic && !style.underline && !style.strike && !style.mono && !style.fg && !style.bg
  );
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

function toIndex(c: IrcColour | null): number {
  if (c === null) return 99;
  return c.kind === 'index' ? c.index : (nearestMircIndex(c.hex) ?? 99);
}

function colourCodes(style: IrcStyle): string {
  const { fg, bg } = style;
  if (!fg && !bg) return '';
  // \x04 can only express "hex foreground [, hex background]"; anything else goes through \x03.
  if (fg?.kind === 'hex' && bg === null) return `${HEX_COLOUR}${fg.hex.slice(1)}`;
  if (fg?.kind === 'hex' && bg?.kind === 'hex') return `${HEX_COLOUR}${fg.hex.slice(1)},${bg.hex.slice(1)}`;
  return `${COLOUR}${pad2(toIndex(fg))}${bg ? `,${pad2(toIndex(bg))}` : ''}`;
}

/**
 * Codes that switch a fresh line (plain style) to `style`: colour first, then the toggles. The
 * result may end in a colour code; pass it through `colourGuard` before appending text.
 */
export function reopenCodes(style: IrcStyle): string {
  let out = colourCodes(style);
  for (const [code, key] of TOGGLES) if (style[key]) out += code;
  return out;
}

const TRAILING_COLOUR = /(?:\x03(\d{0,2})(,\d{1,2})?|\x04((?:[0-9a-f]{6})?)(,[0-9a-f]{6})?)$/i;

/**
 * '\x02\x02' when the start of `next` would be read as part of a colour code that ends `codes`
 * (a digit after a bare or one-digit \x03, a comma after a colour without background...), else ''.
 * The guard toggles bold twice, so it shows nothing.
 */
export function colourGuard(codes: string, next: string): string {
  const m = TRAILING_COLOUR.exec(codes);
  if (!m || next === '') return '';
  const c = next.charAt(0);
  let absorbed: boolean;
  if (m[1] !== undefined) {
    const bg = m[2];
    absorbed = bg !== undefined ? bg.length < 3 && isDigit(c) : c === ',' || (m[1].length < 2 && isDigit(c));
  } else {
    absorbed = m[4] === undefined && (c === ',' || (m[3] === '' && /[0-9a-f]/i.test(c)));
  }
  return absorbed ? BOLD + BOLD : '';
}
