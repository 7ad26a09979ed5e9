/**
 * Who each IRC user is (nick!user@host, services account), as the bot sees them: kept once per
 * network, from every line that shows it, so that bans can target one user and ban masks can
 * be matched against puppets.
 */
import type { IrcEvent } from '../irc/events';
import type { IrcIdentity } from '../irc/masks';

export class IrcUsers {
  private readonly users = new Map<string, IrcIdentity>();

  constructor(private readonly fold: (s: string) => string) {}

  get(nick: string): IrcIdentity | null {
    return this.users.get(this.fold(nick)) ?? null;
  }

  /** Called with every event of the bot's connection, before it is handled. */
  track(e: IrcEvent): void {
    switch (e.type) {
      case 'join':
        this.set(e.user.nick, e.user.ident, e.user.host, e.account);
        break;
      case 'message':
        if (e.from.nick && e.from.host) {
          this.set(e.from.nick, e.from.ident, e.from.host, e.tags['account'] ?? undefined);
        }
        break;
      case 'names':
        for (const u of e.users) {
          if (u.host !== undefined) {
            this.set(u.nick, u.ident ?? '', u.host);
          }
        }
        break;
      case 'account': {
        const had = this.users.get(this.fold(e.nick));
        if (had) {
          had.account = e.account;
        }
        break;
      }
      case 'nick': {
        const had = this.users.get(this.fold(e.nick));
        this.users.delete(this.fold(e.nick));
        if (had) {
          this.users.set(this.fold(e.newNick), { ...had, nick: e.newNick });
        }
        break;
      }
      case 'quit':
        this.users.delete(this.fold(e.nick));
        break;
      default:
        break;
    }
  }

  /** `account` undefined keeps what was known; null means logged out. */
  private set(nick: string, ident: string, host: string, account?: string | null): void {
    const folded = this.fold(nick);
    const had = this.users.get(folded);
    this.users.set(folded, { nick, ident, host, account: account === undefined ? (had?.account ?? null) : account });
  }
}
