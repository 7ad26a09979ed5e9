/**
 * Ban masks: building one that targets one IRC user, and matching a mask against a user.
 * Pure; the casemapping comes in as a fold function.
 */

export interface IrcIdentity {
  nick: string;
  ident: string;
  host: string;
  /** Services account, when the network told (extended-join, account-tag, ACCOUNT). */
  account: string | null;
}

export type BanMaskStyle = 'account_or_user_host' | 'account_or_host' | 'user_host' | 'host';

/** ISUPPORT EXTBAN=<prefix>,<letters> as irc-framework keeps it (a string, or split). */
export function parseExtban(raw: unknown): { prefix: string; letters: string } | null {
  const text = Array.isArray(raw) ? raw.join(',') : typeof raw === 'string' ? raw : null;
  if (text === null) {
    return null;
  }
  const comma = text.indexOf(',');
  return comma < 0 ? null : { prefix: text.slice(0, comma), letters: text.slice(comma + 1) };
}

/** The account extban of this server: `R:acct` (InspIRCd), `$a:acct` (Solanum, Charybdis),
 *  `~a:acct` (UnrealIRCd); null when the server announces none of these. */
export function accountMask(account: string, extban: { prefix: string; letters: string } | null): string | null {
  if (!extban) {
    return null;
  }
  if (extban.prefix === '' && extban.letters.includes('R')) {
    return `R:${account}`;
  }
  if ((extban.prefix === '$' || extban.prefix === '~') && extban.letters.includes('a')) {
    return `${extban.prefix}a:${account}`;
  }
  return null;
}

/** A mask that targets this user and, as far as the style allows, nobody else. A leading `~`
 *  (no ident reply) is covered by the `*` before the username. */
export function banMaskFor(who: IrcIdentity, style: BanMaskStyle, extban: { prefix: string; letters: string } | null): string {
  if (who.account && (style === 'account_or_user_host' || style === 'account_or_host')) {
    const byAccount = accountMask(who.account, extban);
    if (byAccount) {
      return byAccount;
    }
  }
  const user = who.ident.replace(/^~/, '');
  return style === 'host' || style === 'account_or_host' || !user ? `*!*@${who.host}` : `*!*${user}@${who.host}`;
}

/** Is this a plain `nick!user@host` mask (not an extban the bridge cannot evaluate)? */
export function isHostmask(mask: string): boolean {
  return /^[^!@\s]+![^!@\s]+@[^!@\s]+$/.test(mask);
}

/** Does the `nick!user@host` mask (with * and ?) match the user, under the server's folding? */
export function maskMatches(mask: string, who: Pick<IrcIdentity, 'nick' | 'ident' | 'host'>, fold: (s: string) => string): boolean {
  if (!isHostmask(mask)) {
    return false;
  }
  const pattern = fold(mask).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`, 's').test(fold(`${who.nick}!${who.ident}@${who.host}`));
}
