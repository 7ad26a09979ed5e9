/**
 * WHOIS requests of one connection. Asking twice for the same nick while an answer is on its
 * way sends one WHOIS; every asker gets the answer (311, 312, 317, 319, 330 gathered until 318),
 * or null for 401, a timeout, or a closed connection.
 */

/** What a WHOIS told about a nick (text decoded; empty strings where the server said nothing). */
export interface WhoisInfo {
  nick: string;
  user: string;
  host: string;
  realname: string;
  server: string;
  account: string;
  channels: string[];
  idleSeconds: number | null;
}

/** What a WHOIS in progress has gathered so far. */
interface WhoisCollector {
  info: WhoisInfo;
  seen: boolean;
  done: Array<(info: WhoisInfo | null) => void>;
}

export class WhoisRequests {
  /** Answers being gathered, by folded nick. */
  private readonly pending = new Map<string, WhoisCollector>();

  constructor(private readonly fold: (nick: string) => string) {}

  /** Resolves with what the server said of `nick`, or null. `send` sends the WHOIS (unless
   *  one is on its way already) and says whether it could. */
  ask(nick: string, send: () => boolean, timeoutMs: number): Promise<WhoisInfo | null> {
    const key = this.fold(nick);
    let collector = this.pending.get(key);
    if (!collector) {
      if (!send()) {
        return Promise.resolve(null);
      }
      collector = { seen: false, done: [], info: { nick, user: '', host: '', realname: '', server: '', account: '',
        channels: [], idleSeconds: null } };
      this.pending.set(key, collector);
    }
    const waiting = collector;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = waiting.done.indexOf(finish);
        if (i >= 0) {
          waiting.done.splice(i, 1);
        }
        if (waiting.done.length === 0 && this.pending.get(key) === waiting) {
          this.pending.delete(key);
        }
        resolve(null);
      }, timeoutMs);
      const finish = (info: WhoisInfo | null): void => {
        clearTimeout(timer);
        resolve(info);
      };
      waiting.done.push(finish);
    });
  }

  /** One line of a WHOIS answer (311, 312, 317, 319, 330), its end (318) or 401. */
  onLine(command: string, p: readonly string[]): void {
    const key = this.fold(p[1] ?? '');
    const w = this.pending.get(key);
    if (!w) {
      return;
    }
    const info = w.info;
    switch (command) {
      case '311': // <me> <nick> <user> <host> * :<realname>
        w.seen = true;
        info.nick = p[1] ?? info.nick;
        info.user = p[2] ?? '';
        info.host = p[3] ?? '';
        info.realname = p[p.length - 1] ?? '';
        return;
      case '312': // <me> <nick> <server> :<info>
        info.server = p[2] ?? '';
        return;
      case '317': { // <me> <nick> <idle> <signon> :seconds idle
        const idle = Number(p[2]);
        info.idleSeconds = Number.isFinite(idle) ? idle : null;
        return;
      }
      case '319': // <me> <nick> :<channels> (may come in several lines)
        info.channels.push(...(p[2] ?? '').split(' ').filter((c) => c !== ''));
        return;
      case '330': // <me> <nick> <account> :is logged in as
        info.account = p[2] ?? '';
        return;
      default: // 318 end, 401 no such nick
        this.pending.delete(key);
        w.done.forEach((finish) => finish(command === '318' && w.seen ? info : null));
    }
  }

  /** The connection is gone: every waiting asker gets null. */
  cancelAll(): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    all.forEach((w) => w.done.forEach((finish) => finish(null)));
  }
}
