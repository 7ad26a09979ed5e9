/**
 * Passwords a Matrix user sends to IRC services (NickServ REGISTER, IDENTIFY, SET PASSWORD ...),
 * with `!cmd` or in a direct chat with the services' ghost. Services may repeat them in their
 * answer (Atheme's REGISTER: "... is now registered to ..., with the password ..."), and that
 * answer becomes a message in the user's direct chat, kept by the homeserver. So the bridge
 * remembers each such password for a while, in memory only, and masks it in the private
 * messages it relays to that user on that network; the user's own message is redacted.
 */

/** Where the password is in a services command (its words, the command first, upper-cased). */
const PASSWORD_AT: Record<string, (words: readonly string[]) => ReadonlyArray<string | undefined>> = {
  REGISTER: (w) => [w[1]], // REGISTER <password> [<email>]
  IDENTIFY: (w) => [w.length > 1 ? w[w.length - 1] : undefined], // IDENTIFY [<account>] <password>
  ID: (w) => [w.length > 1 ? w[w.length - 1] : undefined],
  LOGIN: (w) => [w.length > 1 ? w[w.length - 1] : undefined],
  AUTH: (w) => [w.length > 1 ? w[w.length - 1] : undefined], // Q: AUTH <account> <password>
  SET: (w) => (/^PASS(WORD)?$/i.test(w[1] ?? '') ? [w[2]] : []), // SET PASSWORD <password>
  GHOST: (w) => [w[2]], // GHOST <nick> [<password>], and the same for the rest
  RECOVER: (w) => [w[2]],
  RELEASE: (w) => [w[2]],
  REGAIN: (w) => [w[2]],
  GROUP: (w) => [w[2]],
  DROP: (w) => [w[2]],
};

/** Nicks of services that take passwords on common networks (Atheme, Anope, QuakeNet's Q,
 *  Undernet's X, GameSurge's AuthServ), also as `nick@server`. Messages to anyone else are
 *  conversation: "register now" to a friend holds no password. */
const SERVICES = /^(nickserv|chanserv|ns|cs|q|x|authserv|userserv)(@\S*)?$/i;

/** The passwords in a message to `target` ([] when it is no services command). */
export function secretsIn(target: string, text: string): string[] {
  if (!SERVICES.test(target)) {
    return [];
  }
  const words = text.trim().split(/\s+/);
  const find = PASSWORD_AT[(words[0] ?? '').toUpperCase()];
  return find ? find(words).filter((s): s is string => s !== undefined && s !== '') : [];
}

/** How long a password is masked after it was sent, and how many are kept per user. */
const KEEP_MS = 10 * 60_000;
const PER_USER = 8;
/** Shorter strings are not masked: they would blank out ordinary letters of every answer. */
const MIN_MASKED = 4;
const MASK = '********';

export class SecretMask {
  private readonly byUser = new Map<string, Array<{ secret: string; until: number }>>();

  /** Passwords this user just sent to services. */
  remember(userId: string, secrets: readonly string[], now = Date.now()): void {
    if (secrets.length === 0) {
      return; // most messages: nothing to do
    }
    const kept = this.live(userId, now).filter((k) => !secrets.includes(k.secret));
    for (const secret of secrets) {
      if (secret.length >= MIN_MASKED) {
        kept.push({ secret, until: now + KEEP_MS });
      }
    }
    if (kept.length === 0) {
      this.byUser.delete(userId);
    } else {
      this.byUser.set(userId, kept.slice(-PER_USER));
    }
    if (this.byUser.size > 1000) { // users who sent one and were never answered
      for (const user of [...this.byUser.keys()]) {
        this.live(user, now);
      }
    }
  }

  /** `text` with every password this user sent lately replaced by asterisks. */
  mask(userId: string, text: string, now = Date.now()): string {
    let out = text;
    for (const { secret } of this.live(userId, now)) {
      out = out.split(secret).join(MASK);
    }
    return out;
  }

  private live(userId: string, now: number): Array<{ secret: string; until: number }> {
    const kept = (this.byUser.get(userId) ?? []).filter((k) => k.until > now);
    if (kept.length === 0) {
      this.byUser.delete(userId);
    }
    return kept;
  }
}
