import * as net from 'node:net';

/** One parsed IRC line. */
export interface IrcLine {
  raw: string;
  tags: Record<string, string>;
  /** Full prefix without the colon (nick!user@host or a server name), '' if none. */
  prefix: string;
  /** The nick part of the prefix ('' if none). */
  nick: string;
  command: string;
  params: string[];
  /** Date.now() when the line was read. */
  at: number;
}

function unescapeTagValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] ?? '';
    if (c !== '\\') {
      out += c;
      continue;
    }
    i += 1;
    const n = value[i];
    if (n === undefined) break;
    out += n === ':' ? ';' : n === 's' ? ' ' : n === 'r' ? '\r' : n === 'n' ? '\n' : n;
  }
  return out;
}

export function parseIrcLine(raw: string, at = Date.now()): IrcLine {
  let rest = raw;
  const tags: Record<string, string> = {};
  if (rest.startsWith('@')) {
    const space = rest.indexOf(' ');
    const tagText = rest.slice(1, space < 0 ? undefined : space);
    rest = space < 0 ? '' : rest.slice(space + 1).trimStart();
    for (const item of tagText.split(';')) {
      if (item === '') continue;
      const eq = item.indexOf('=');
      if (eq < 0) tags[item] = '';
      else tags[item.slice(0, eq)] = unescapeTagValue(item.slice(eq + 1));
    }
  }
  let prefix = '';
  if (rest.startsWith(':')) {
    const space = rest.indexOf(' ');
    prefix = rest.slice(1, space < 0 ? undefined : space);
    rest = space < 0 ? '' : rest.slice(space + 1).trimStart();
  }
  const params: string[] = [];
  let command = '';
  while (rest.length > 0) {
    if (command !== '' && rest.startsWith(':')) {
      params.push(rest.slice(1));
      break;
    }
    const space = rest.indexOf(' ');
    const word = space < 0 ? rest : rest.slice(0, space);
    rest = space < 0 ? '' : rest.slice(space + 1).trimStart();
    if (command === '') command = word.toUpperCase();
    else params.push(word);
  }
  const bang = prefix.indexOf('!');
  const nick = bang >= 0 ? prefix.slice(0, bang) : prefix.includes('.') ? '' : prefix;
  return { raw, tags, prefix, nick, command, params, at };
}

export interface IrcConnectOptions {
  port: number;
  nick: string;
  host?: string;
  /** Capabilities to request with CAP LS 302 / CAP REQ before registering. */
  caps?: string[];
  /** Milliseconds to wait for 001 (default 15 000). */
  timeoutMs?: number;
}

type Predicate = (line: IrcLine) => boolean;

interface Waiter {
  pred: Predicate;
  resolve: (line: IrcLine) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const MAX_KEPT_LINES = 5000;

/**
 * A raw IRC test client over node:net: it answers PING, records every line it
 * reads, and lets a test wait for a line matching a predicate.
 */
export class IrcTestClient {
  readonly lines: IrcLine[] = [];
  /** Capabilities the server offered in CAP LS (only when caps were requested). */
  readonly offeredCaps = new Map<string, string>();
  readonly acceptedCaps = new Set<string>();
  nick: string;
  private socket: net.Socket | undefined;
  private buffer = '';
  private waiters = new Set<Waiter>();
  private closed = false;
  /** Index of the first line not yet returned by waitFor (see waitFor's fromStart). */
  private cursor = 0;

  private constructor(nick: string) {
    this.nick = nick;
  }

  static async connect(opts: IrcConnectOptions): Promise<IrcTestClient> {
    const client = new IrcTestClient(opts.nick);
    await client.open(opts);
    return client;
  }

  private async open(opts: IrcConnectOptions): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const socket = net.connect({ host: opts.host ?? '127.0.0.1', port: opts.port });
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => {
      this.onData(chunk);
    });
    socket.on('close', () => {
      this.onClose();
    });
    socket.on('error', () => {
      // 'close' follows and fails pending waits
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`IRC connect to port ${opts.port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const caps = opts.caps ?? [];
    if (caps.length > 0) this.send('CAP LS 302');
    this.send(`NICK ${opts.nick}`);
    this.send(`USER ${opts.nick.replace(/[^A-Za-z0-9]/g, '').slice(0, 9) || 'user'} 0 * :e2e test user ${opts.nick}`);
    if (caps.length > 0) await this.negotiateCaps(caps, timeoutMs);
    const welcome = await this.waitFor(
      (l) => l.command === '001' || l.command === '433' || l.command === 'ERROR',
      timeoutMs,
      `001 for ${opts.nick}`,
    );
    if (welcome.command !== '001') {
      this.socket.destroy();
      throw new Error(`IRC registration of ${opts.nick} failed: ${welcome.raw}`);
    }
    this.nick = welcome.params[0] ?? opts.nick;
  }

  private async negotiateCaps(wanted: string[], timeoutMs: number): Promise<void> {
    // CAP LS 302 may span several lines: "CAP * LS * :..." until one without the '*'.
    for (let i = 0; i < 20; i++) {
      const ls = await this.waitFor((l) => l.command === 'CAP' && l.params[1] === 'LS', timeoutMs, 'CAP LS');
      const more = ls.params[2] === '*';
      const list = ls.params[ls.params.length - 1] ?? '';
      for (const item of list.split(' ')) {
        if (item === '') continue;
        const eq = item.indexOf('=');
        this.offeredCaps.set(eq < 0 ? item : item.slice(0, eq), eq < 0 ? '' : item.slice(eq + 1));
      }
      if (!more) break;
    }
    const request = wanted.filter((c) => this.offeredCaps.has(c));
    if (request.length > 0) {
      this.send(`CAP REQ :${request.join(' ')}`);
      const answer = await this.waitFor(
        (l) => l.command === 'CAP' && (l.params[1] === 'ACK' || l.params[1] === 'NAK'),
        timeoutMs,
        'CAP ACK/NAK',
      );
      if (answer.params[1] === 'ACK') {
        for (const c of (answer.params[2] ?? '').split(' ')) if (c !== '') this.acceptedCaps.add(c);
      }
    }
    this.send('CAP END');
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let i = 0; i < 10_000; i++) {
      const nl = this.buffer.indexOf('\n');
      if (nl < 0) break;
      const raw = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      if (raw === '') continue;
      this.onLine(parseIrcLine(raw));
    }
  }

  private onLine(line: IrcLine): void {
    if (line.command === 'PING') {
      this.send(`PONG :${line.params[0] ?? ''}`);
    }
    if (line.command === 'NICK' && line.nick.toLowerCase() === this.nick.toLowerCase()) {
      this.nick = line.params[0] ?? this.nick;
    }
    this.lines.push(line);
    if (this.lines.length > MAX_KEPT_LINES) {
      const drop = this.lines.length - MAX_KEPT_LINES;
      this.lines.splice(0, drop);
      this.cursor = Math.max(0, this.cursor - drop);
    }
    for (const waiter of [...this.waiters]) {
      if (waiter.pred(line)) {
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        this.cursor = this.lines.length;
        waiter.resolve(line);
      }
    }
  }

  private onClose(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`IRC connection of ${this.nick} closed while waiting\n${this.recent()}`));
    }
  }

  /** Sends one raw line; CR and LF inside it are refused. */
  send(raw: string): void {
    if (/[\r\n\0]/.test(raw)) throw new Error(`refusing to send a line with CR/LF/NUL: ${JSON.stringify(raw)}`);
    if (this.socket === undefined || this.closed) throw new Error(`IRC connection of ${this.nick} is closed`);
    this.socket.write(`${raw}\r\n`);
  }

  join(channel: string): Promise<IrcLine> {
    this.send(`JOIN ${channel}`);
    const me = this.nick.toLowerCase();
    return this.waitFor(
      (l) =>
        l.command === 'JOIN' && l.nick.toLowerCase() === me && (l.params[0] ?? '').toLowerCase() === channel.toLowerCase(),
      15_000,
      `own JOIN ${channel}`,
    );
  }

  /** Joins and waits for the end of NAMES (366), returning the nicks listed. */
  async joinAndNames(channel: string): Promise<string[]> {
    const from = this.lines.length;
    await this.join(channel);
    await this.waitFor((l) => l.command === '366', 15_000, `end of NAMES for ${channel}`);
    const names: string[] = [];
    for (const l of this.lines.slice(from)) {
      if (l.command !== '353') continue;
      for (const n of (l.params[l.params.length - 1] ?? '').split(' ')) {
        if (n !== '') names.push(n.replace(/^[~&@%+]+/, '').split('!')[0] ?? n);
      }
    }
    return names;
  }

  privmsg(target: string, text: string): void {
    this.send(`PRIVMSG ${target} :${text}`);
  }

  notice(target: string, text: string): void {
    this.send(`NOTICE ${target} :${text}`);
  }

  part(channel: string, reason = 'bye'): void {
    this.send(`PART ${channel} :${reason}`);
  }

  /**
   * Resolves with the first line matching pred. With fromStart, lines already
   * recorded since the last successful waitFor are checked first, so a line that
   * arrived just before the call is not missed; otherwise only new lines count.
   */
  waitFor(pred: Predicate, timeoutMs: number, what: string, fromStart = true): Promise<IrcLine> {
    if (fromStart) {
      for (let i = this.cursor; i < this.lines.length; i++) {
        const line = this.lines[i];
        if (line !== undefined && pred(line)) {
          this.cursor = i + 1;
          return Promise.resolve(line);
        }
      }
    }
    if (this.closed) {
      return Promise.reject(new Error(`IRC connection of ${this.nick} is closed; wanted ${what}\n${this.recent()}`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`${this.nick}: timed out after ${timeoutMs} ms waiting for ${what}\n${this.recent()}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Marks every line read so far as seen: the next waitFor only looks at newer lines. */
  skipSeen(): void {
    this.cursor = this.lines.length;
  }

  /** The last lines read, for failure messages. */
  recent(count = 25): string {
    const shown = this.lines.slice(-count).map((l) => `  << ${l.raw}`);
    return `last ${shown.length} lines seen by ${this.nick}:\n${shown.join('\n')}`;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends QUIT and waits (bounded) for the server to close the connection. */
  async quit(reason = 'test done'): Promise<void> {
    const socket = this.socket;
    if (socket === undefined || this.closed) return;
    try {
      this.send(`QUIT :${reason}`);
    } catch {
      // already closing
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, 3000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Drops the connection without QUIT. */
  destroy(): void {
    this.socket?.destroy();
  }
}
