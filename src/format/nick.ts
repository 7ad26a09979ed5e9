/**
 * IRC nicks for Matrix users: transliteration to the nick alphabet, template rendering fitted to
 * the network's NICKLEN, and alternatives on collision.
 */

/** One character allowed in an IRC nick (RFC 2812 letters, digits and specials). */
export const IRC_NICK_CHARS = /[A-Za-z0-9[\]\\`_^{|}-]/;

const NOT_NICK_CHARS = /[^A-Za-z0-9[\]\\`_^{|}-]/g;
const VALID_NICK = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/;
const VALID_FIRST = /^[A-Za-z[\]\\`_^{|}]/;
const PLAIN_NICK_PART = /^[A-Za-z0-9[\]\\`_^{|}-]*$/;

// Latin letters that Unicode decomposition leaves alone but readers expect spelt out.
const LATIN_LETTERS: Record<string, string> = {
  ß: 'ss', ẞ: 'SS', æ: 'ae', Æ: 'AE', œ: 'oe', Œ: 'OE', ø: 'o', Ø: 'O', ł: 'l', Ł: 'L',
  đ: 'd', Đ: 'D', ð: 'd', Ð: 'D', þ: 'th', Þ: 'Th', ı: 'i', ħ: 'h', Ħ: 'H', ŧ: 't', Ŧ: 'T',
  ŋ: 'n', Ŋ: 'N', ĸ: 'k', ſ: 's',
};
const LATIN_PATTERN = new RegExp(`[${Object.keys(LATIN_LETTERS).join('')}]`, 'g');

/**
 * Transliterates free text (a display name, a localpart) to the nick alphabet: accents dropped,
 * common Latin letters spelt out, separators to '_'; '' when no letter or digit survives.
 */
export function cleanNickPart(s: string): string {
  // Text already in the nick alphabet (most localparts) only has its underscores tidied.
  const cleaned = PLAIN_NICK_PART.test(s) ? s.replace(/_+/g, '_').replace(/^_+|_+$/g, '') : s
    .replace(LATIN_PATTERN, (c) => LATIN_LETTERS[c] ?? '')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[\s.=/+]/g, '_')
    .replace(NOT_NICK_CHARS, '')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /[A-Za-z0-9]/.test(cleaned) ? cleaned : '';
}

interface Part {
  text: string;
  variable: boolean;
}

/** Joins parts into at most nickLen characters, shortening variables and keeping literals whole. */
function fit(parts: readonly Part[], nickLen: number): string {
  const literalLength = parts.reduce((n, p) => n + (p.variable ? 0 : p.text.length), 0);
  const hasVariable = parts.some((p) => p.variable && p.text !== '');
  // A suffix that leaves no room for the name itself is dropped rather than shown alone.
  const used = hasVariable && literalLength >= nickLen ? parts.filter((p) => p.variable) : parts;
  let room = nickLen - used.reduce((n, p) => n + (p.variable ? 0 : p.text.length), 0);
  let out = '';
  for (const part of used) {
    if (!part.variable) {
      out += part.text;
      continue;
    }
    let text = part.text.slice(0, Math.max(0, room));
    if (text.length < part.text.length) text = text.replace(/[_-]+$/, '') || text;
    room -= text.length;
    out += text;
  }
  return out.slice(0, nickLen);
}

function templateParts(template: string, vars: { display: string | null; localpart: string }): Part[] {
  const localpart = cleanNickPart(vars.localpart);
  const display = cleanNickPart(vars.display ?? '');
  const values: Record<string, string> = {
    DISPLAY: display.length >= 2 ? display : localpart || 'matrix',
    LOCALPART: localpart || 'matrix',
  };
  const parts: Part[] = [];
  for (const piece of (template === '' ? '$DISPLAY' : template).split(/(\$DISPLAY|\$LOCALPART)/)) {
    if (piece === '$DISPLAY' || piece === '$LOCALPART') {
      parts.push({ text: values[piece.slice(1)] ?? '', variable: true });
    } else if (piece !== '') {
      parts.push({ text: piece.replace(NOT_NICK_CHARS, ''), variable: false });
    }
  }
  return parts;
}

/**
 * Renders a puppet nick template ($DISPLAY, $LOCALPART) for one Matrix user, fitted to nickLen
 * with the template's literal text kept whole. Always returns a valid nick of at most nickLen.
 */
export function renderPuppetNick(
  template: string,
  vars: { display: string | null; localpart: string },
  nickLen: number,
): string {
  const max = Math.max(1, Math.floor(nickLen) || 1);
  const parts = templateParts(template, vars);
  let nick = fit(parts, max);
  if (!VALID_FIRST.test(nick)) nick = `_${fit(parts, max - 1)}`;
  return VALID_NICK.test(nick) ? nick : 'matrix'.slice(0, max);
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/**
 * The attempt-th tag: 1-99 in decimal, then base-36 tags that start with a digit (so they stand
 * apart from the name) and end with a letter (so they never equal a decimal tag): "1a" .. "9z",
 * "10a" ...
 */
function collisionTag(attempt: number): string {
  if (attempt <= 99) return String(attempt);
  let n = attempt - 100;
  let width = 2;
  while (n >= 9 * 26 * 36 ** (width - 2)) {
    n -= 9 * 26 * 36 ** (width - 2);
    width++;
  }
  const last = LETTERS[n % 26] ?? 'a';
  n = Math.floor(n / 26);
  const first = String(1 + (n % 9));
  const middle = width > 2 ? Math.floor(n / 9).toString(36).padStart(width - 2, '0') : '';
  return first + middle + last;
}

/**
 * The attempt-th (1, 2, ...) alternative to `nick` when it is taken: a tag inserted before
 * `suffix` (when the nick ends with it) or appended, the base shortened to fit nickLen. Pass the
 * originally wanted nick each time; the same arguments always give the same answer.
 */
export function nextNickCandidate(nick: string, attempt: number, nickLen: number, suffix?: string): string {
  const max = Math.max(1, Math.floor(nickLen) || 1);
  attempt = Math.max(1, Math.floor(attempt) || 1);
  const tag = collisionTag(attempt);
  let base = nick;
  let tail = '';
  if (suffix && nick.length > suffix.length && nick.endsWith(suffix)) {
    base = nick.slice(0, -suffix.length);
    tail = suffix;
  }
  // A base that already ends in the tag's characters could give back the refused nick itself:
  // then another tag is used (a few tries always suffice; the last resort is the bare tag).
  for (let k = 0; k < 5; k++) {
    const t = k === 0 ? tag : collisionTag(attempt + k * 1_000_003);
    const candidate = withTag(base, t, tail, max);
    if (candidate !== nick) {
      return candidate;
    }
  }
  return withTag('', `_${tag}`, '', max);
}

function withTag(base: string, tag: string, suffix: string, max: number): string {
  const tail = tag.length + suffix.length >= max ? '' : suffix;
  const room = Math.max(0, max - tag.length - tail.length);
  let head = base.slice(0, room);
  if (!VALID_FIRST.test(head + tag)) head = `_${base}`.slice(0, room);
  return (head + tag + tail).slice(0, max);
}
