/**
 * Builds IRC text line by line for matrixToIrc: collapses whitespace the way a browser does and
 * emits only the formatting changes the text needs, so every line opens and closes its own codes.
 */
import { BOLD, COLOUR, ITALIC, STRIKE, UNDERLINE, colourGuard } from './irc-codes';

/** Formatting matrixToIrc can express; colours are mIRC palette indices. */
export interface OutStyle {
  readonly bold: boolean;
  readonly italic: boolean;
  readonly underline: boolean;
  readonly strike: boolean;
  readonly fg: number | null;
  readonly bg: number | null;
}

/** No formatting at all. */
export const PLAIN_OUT: OutStyle = Object.freeze({
  bold: false,
  italic: false,
  underline: false,
  strike: false,
  fg: null,
  bg: null,
});

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Codes that turn formatting `from` into `to`: colour first, so toggles separate it from text. */
function transition(from: OutStyle, to: OutStyle): string {
  let out = '';
  if (from.fg !== to.fg || from.bg !== to.bg) {
    if (to.fg === null && to.bg === null) {
      out += COLOUR;
    } else {
      // "\x03NN" keeps the old background, so dropping a background needs a full reset first.
      if (to.bg === null && from.bg !== null) out += COLOUR;
      out += `${COLOUR}${pad2(to.fg ?? 99)}${to.bg === null ? '' : `,${pad2(to.bg)}`}`;
    }
  }
  if (from.bold !== to.bold) out += BOLD;
  if (from.italic !== to.italic) out += ITALIC;
  if (from.underline !== to.underline) out += UNDERLINE;
  if (from.strike !== to.strike) out += STRIKE;
  return out;
}

const weight = (s: OutStyle): number =>
  [s.bold, s.italic, s.underline, s.strike, s.fg !== null, s.bg !== null].filter(Boolean).length;

// C0 controls (tab, LF, FF and CR excepted: HTML treats them as whitespace), DEL and C1 controls.
const CONTROLS = /[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]/g;

/** Text with every control character removed and tabs turned into spaces (for <pre> lines). */
export function cleanLiteral(s: string): string {
  return s.replace(/\t/g, ' ').replace(/[\x00-\x1f\x7f-\x9f]/g, '');
}

/** Collects finished lines; whitespace-only lines are never kept. */
export class IrcLines {
  private readonly done: string[] = [];
  private cur = '';
  private style: OutStyle = PLAIN_OUT;
  /** Style of a space waiting for the next word; null when none is waiting. */
  private spaceStyle: OutStyle | null = null;

  /** Adds inline text; runs of whitespace become one space, dropped at the start and end of a line. */
  text(raw: string, style: OutStyle): void {
    let s = raw.replace(CONTROLS, '').replace(/[ \t\n\f\r]+/g, ' ');
    if (s === '') return;
    if (s.startsWith(' ')) {
      this.holdSpace(style);
      s = s.slice(1);
    }
    const trailing = s.endsWith(' ');
    if (trailing) s = s.slice(0, -1);
    if (s !== '') {
      if (this.spaceStyle !== null) {
        // The space takes the plainest formatting around it, so underline, strike-through and
        // backgrounds do not spill onto the gap between differently formatted words.
        const space = [this.style, style, this.spaceStyle].reduce((a, b) => (weight(b) < weight(a) ? b : a));
        const codes = transition(this.style, space);
        this.cur += `${codes}${colourGuard(codes, ' ')} `;
        this.style = space;
        this.spaceStyle = null;
      }
      const codes = transition(this.style, style);
      this.cur += codes + colourGuard(codes, s) + s;
      this.style = style;
    }
    if (trailing) this.holdSpace(style);
  }

  private holdSpace(style: OutStyle): void {
    if (this.cur !== '' && this.spaceStyle === null) this.spaceStyle = style;
  }

  /** Ends the current line, closing its formatting; does nothing on an empty line. */
  break(): void {
    if (this.cur !== '') this.done.push(this.cur + transition(this.style, PLAIN_OUT));
    this.cur = '';
    this.style = PLAIN_OUT;
    this.spaceStyle = null;
  }

  /** Adds a finished line verbatim (already cleaned), on its own. */
  literal(line: string): void {
    this.break();
    if (line.trim() !== '') this.done.push(line);
  }

  /** Adds lines finished elsewhere (a list item, a quote), each on its own. */
  append(lines: readonly string[]): void {
    this.break();
    for (const line of lines) if (line.trim() !== '') this.done.push(line);
  }

  /** Ends the current line and returns every line so far. */
  finish(): string[] {
    this.break();
    return this.done;
  }
}
