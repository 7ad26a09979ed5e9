/**
 * What the server announces about itself in RPL_ISUPPORT (005): `KEY=value` tokens, and
 * `-KEY` taking one back. The values the bridge reads are parsed here once, when they come.
 */
import { DEFAULT_CHANMODES } from './modes';

/** The tokens get() and int() answer for; the rest of an announcement is not kept (its size is
 *  the server's to choose). PREFIX, CHANMODES and CHANTYPES are kept parsed, below. */
const KEPT = new Set(['NICKLEN', 'LINELEN', 'EXTBAN', 'CASEMAPPING']);
const PARSED = new Set(['PREFIX', 'CHANMODES', 'CHANTYPES']);

const DEFAULT_PREFIX: ReadonlyArray<{ mode: string; symbol: string }> = [{ mode: 'o', symbol: '@' }, { mode: 'v', symbol: '+' }];

export class Isupport {
  private readonly tokens = new Map<string, string>();
  /** PREFIX: status modes, highest first. */
  prefix: ReadonlyArray<{ mode: string; symbol: string }> = DEFAULT_PREFIX;
  /** CHANMODES=A,B,C,D. */
  chanmodes: readonly string[] = DEFAULT_CHANMODES;
  /** CHANTYPES: the characters a channel name starts with. */
  chantypes = '#&';

  /** The tokens of one 005 line: its parameters between the nick and the trailing text. */
  add(tokens: readonly string[]): void {
    for (const token of tokens) {
      if (token === '') {
        continue;
      }
      if (token.startsWith('-')) {
        this.tokens.delete(token.slice(1).toUpperCase());
        this.update(token.slice(1).toUpperCase(), undefined);
        continue;
      }
      const eq = token.indexOf('=');
      const key = (eq < 0 ? token : token.slice(0, eq)).toUpperCase();
      if (!KEPT.has(key) && !PARSED.has(key)) {
        continue;
      }
      const value = eq < 0 ? '' : unescapeValue(token.slice(eq + 1));
      if (KEPT.has(key)) {
        this.tokens.set(key, value);
      }
      this.update(key, value);
    }
  }

  /** A kept token's value ('' for a token without one), or undefined when not announced. */
  get(key: string): string | undefined {
    return this.tokens.get(key);
  }

  /** A positive integer token, or `fallback`. */
  int(key: string, fallback: number): number {
    const v = Number(this.tokens.get(key));
    return Number.isInteger(v) && v > 0 ? v : fallback;
  }

  private update(key: string, value: string | undefined): void {
    switch (key) {
      case 'PREFIX':
        this.prefix = (value === undefined ? null : parsePrefix(value)) ?? DEFAULT_PREFIX;
        break;
      case 'CHANMODES':
        this.chanmodes = value ? value.split(',') : DEFAULT_CHANMODES;
        break;
      case 'CHANTYPES':
        this.chantypes = value ?? '#&';
        break;
      default:
    }
  }
}

/** `(qaohv)~&@%+` -> [{ mode: 'q', symbol: '~' }, ...]; null when malformed. `PREFIX=` (no status
 *  modes at all) gives an empty list. */
export function parsePrefix(value: string): Array<{ mode: string; symbol: string }> | null {
  if (value === '') {
    return [];
  }
  const m = /^\(([^)]*)\)(.*)$/.exec(value);
  if (!m || (m[1] as string).length !== (m[2] as string).length) {
    return null;
  }
  const modes = m[1] as string;
  const symbols = m[2] as string;
  return [...modes].map((mode, i) => ({ mode, symbol: symbols[i] as string }));
}

/** ISUPPORT values escape bytes as `\xHH` (a space, `=` or `\` itself). */
function unescapeValue(v: string): string {
  return v.includes('\\x') ? v.replace(/\\x([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : v;
}
