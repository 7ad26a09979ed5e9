/**
 * Templates for ghost user IDs and portal aliases, and their inverses. `$NETWORK_$NICK` renders
 * to `libera_alice`; the same template parses `libera_alice` back to the nick `alice`.
 */
import { parseTemplate, renderTemplate } from '../config';

export { renderTemplate };

/** A regex source matching what `template` renders to, with `capture` as the one group. */
export function templateRegexSource(template: string, fixed: Record<string, string>, capture: string): string {
  return parseTemplate(template)
    .map((part) => {
      if ('literal' in part) {
        return escapeRegex(part.literal);
      }
      const value = fixed[part.variable];
      return part.variable === capture ? '(.+)' : value !== undefined ? escapeRegex(value) : '.*';
    })
    .join('');
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Matrix localparts allow only [a-z0-9._=/-]; IRC nicks and channels have more. Everything else
 * (upper case included, since IRC names are case-insensitive) is written `=xx` (hex), so the
 * mapping is reversible and two different IRC names never share a Matrix ID.
 */
export function escapeLocalpart(s: string): string {
  let out = '';
  for (const ch of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(ch);
    out += /[a-z0-9._/-]/.test(c) ? c : '=' + ch.toString(16).padStart(2, '0');
  }
  return out;
}

export function unescapeLocalpart(s: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '=') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) {
        return null;
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(c.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
