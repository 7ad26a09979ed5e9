/**
 * The benchmark's IRC observer: a small raw node:net IRC client that stamps every line with
 * nowMs() the moment it is read and hands it to listeners. (The e2e harness's IrcTestClient keeps
 * lines for waitFor(); the benchmark needs a callback per line and sub-millisecond times, so this
 * reuses only its line parser.)
 */
import * as net from 'node:net';
import { type IrcLine, parseIrcLine } from '../spec/e2e/harness/irc-client';
import { nowMs } from './fake-homeserver';

export type StampedLine = IrcLine & { receivedMs: number };
type Listener = (line: StampedLine) => void;

export class IrcObserver {
  nick: string;
  private socket: net.Socket | null = null;
  private buffer = '';
  private readonly listeners = new Set<Listener>();
  private closed = false;
  /** The last lines read, for error messages. */
  private readonly recent: string[] = [];

  private constructor(nick: string) {
    this.nick = nick;
  }

  /** Connects, registers and waits (bounded) for 001. */
  static async connect(port: number, nick: string, timeoutMs = 15_000): Promise<IrcObserver> {
    const o = new IrcObserver(nick);
    await o.open(port, timeoutMs);
    return o;
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first line (read from now on) matching pred; rejects after timeoutMs. */
  waitFor(pred: (l: StampedLine) => boolean, timeoutMs: number, what: string): Promise<StampedLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${this.nick}: timed out after ${timeoutMs} ms waiting for ${what}\n${this.recentLines()}`));
      }, timeoutMs);
      const off = this.on((l) => {
        if (pred(l)) {
          clearTimeout(timer);
          off();
          resolve(l);
        }
      });
    });
  }

  send(raw: string): void {
    if (/[\r\n\0]/.test(raw)) {
      throw new Error('refusing to send CR, LF or NUL');
    }
    if (!this.socket || this.closed) {
      throw new Error(`IRC connection of ${this.nick} is closed`);
    }
    this.socket.write(`${raw}\r\n`);
  }

  async join(channel: string, timeoutMs = 15_000): Promise<void> {
    const done = this.waitFor((l) => l.command === '366' && (l.params[1] ?? '').toLowerCase() === channel.toLowerCase(),
      timeoutMs, `end of NAMES for ${channel}`);
    this.send(`JOIN ${channel}`);
    await done;
  }

  recentLines(): string {
    return this.recent.map((l) => `  << ${l}`).join('\n');
  }

  async quit(reason = 'bench done'): Promise<void> {
    const socket = this.socket;
    if (!socket || this.closed) {
      return;
    }
    try {
      this.send(`QUIT :${reason}`);
    } catch {
      // closing already
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

  private async open(port: number, timeoutMs: number): Promise<void> {
    const socket = net.connect({ host: '127.0.0.1', port });
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`IRC connect to 127.0.0.1:${port} timed out`));
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
    const welcome = this.waitFor((l) => ['001', '433', 'ERROR'].includes(l.command), timeoutMs, '001');
    this.send(`NICK ${this.nick}`);
    this.send(`USER ${this.nick.replace(/[^A-Za-z0-9]/g, '').slice(0, 9) || 'bench'} 0 * :matrix-irc-bridge bench observer`);
    const line = await welcome;
    if (line.command !== '001') {
      socket.destroy();
      throw new Error(`IRC registration of ${this.nick} failed: ${line.raw}`);
    }
    this.nick = line.params[0] ?? this.nick;
  }

  private onData(chunk: string): void {
    const receivedMs = nowMs();
    this.buffer += chunk;
    for (let i = 0; i < 100_000; i++) {
      const nl = this.buffer.indexOf('\n');
      if (nl < 0) {
        break;
      }
      const raw = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      if (raw === '') {
        continue;
      }
      const line: StampedLine = { ...parseIrcLine(raw), receivedMs };
      if (line.command === 'PING') {
        this.send(`PONG :${line.params[0] ?? ''}`);
      }
      this.recent.push(raw);
      if (this.recent.length > 20) {
        this.recent.shift();
      }
      for (const l of [...this.listeners]) {
        l(line);
      }
    }
  }
}
