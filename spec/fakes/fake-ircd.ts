/**
 * A scripted IRC server on loopback for connection specs. It records every line each client
 * sends, lets the test send lines to a client, and answers registration the way a small ircd
 * does: CAP LS (offering `caps`), CAP REQ (ACK when all of it is offered, else NAK), NICK (433 for nicks in
 * `nicksInUse`), USER, and after CAP END (when CAP was started) 001-005 and 376.
 * With `register: false` it accepts the socket and stays silent (connect timeouts).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { parseIrcLine } from '../e2e/harness/irc-client';

export interface FakeIrcdOptions {
  serverName?: string;
  /** ISUPPORT tokens sent in 005. */
  isupport?: string[];
  /** Capabilities offered in the CAP LS answer. */
  caps?: string[];
  /** Nicks refused with 433 during registration. */
  nicksInUse?: string[];
  /** Nicks refused with 432 (erroneous nickname) during registration. */
  nicksErroneous?: string[];
  /** Answer registration (default true). */
  register?: boolean;
  /** Wait this long before welcoming a client (default 0): slow registrations. */
  welcomeDelayMs?: number;
  /** 004 after the server name: version, user modes, channel modes (default `fake-1.0 iow ovbkl`). */
  myInfo?: string;
  /** Called for each AUTHENTICATE line during registration; the test scripts the answers. */
  onAuthenticate?: (client: FakeIrcClient, line: ReceivedLine) => void;
  /** Serve TLS with this key and certificate, asking clients for a certificate. */
  tls?: { key: string; cert: string } | null;
}

export interface ReceivedLine {
  raw: string;
  /** IRCv3 tags the client sent (a `label`, for instance). */
  tags: Record<string, string>;
  command: string;
  params: string[];
  /** Date.now() when the line arrived. */
  at: number;
}

export const DEFAULT_ISUPPORT = ['NICKLEN=30', 'CASEMAPPING=ascii', 'CHANTYPES=#', 'PREFIX=(ov)@+'];
const DEFAULT_WAIT_MS = 2000;

/** Parses a client line (the client sends no prefix worth keeping). */
export function parseClientLine(raw: string, at = Date.now()): ReceivedLine {
  const { tags, command, params } = parseIrcLine(raw, at);
  return { raw, tags, command, params, at };
}

type Waiter = { pred: (l: ReceivedLine) => boolean; resolve: (l: ReceivedLine) => void };

/** One accepted client socket, seen from the server. */
export class FakeIrcClient {
  readonly received: ReceivedLine[] = [];
  nick: string | null = null;
  registered = false;
  /** SHA-256 fingerprint of the certificate the client presented over TLS, if any. */
  peerCertFingerprint: string | null = null;
  closed = false;
  private user = false;
  private capPending = false;
  private welcoming = false;
  private buffer = '';
  private syncCounter = 0;
  private waiters: Waiter[] = [];
  private readonly closeWaiters: Array<() => void> = [];

  /** Whether the client's PINGs are answered (a test turns this off to play a dead link). */
  answerPings = true;

  constructor(private readonly socket: net.Socket, private readonly opts: Required<FakeIrcdOptions>) {
    if (socket instanceof tls.TLSSocket) {
      this.peerCertFingerprint = socket.getPeerCertificate()?.fingerprint256 ?? null;
    }
    socket.setEncoding('utf8');
    // Without this, Nagle on our side and delayed ACKs on the client's add ~40 ms per exchange.
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.closeWaiters.splice(0).forEach((w) => w());
    });
  }

  /** Sends one raw line (without CRLF) to the client. */
  send(line: string): void {
    if (!this.closed) {
      this.socket.write(line + '\r\n');
    }
  }

  /** Sends one line of raw bytes (CRLF added), e.g. text that is not UTF-8. */
  sendBytes(line: Buffer): void {
    if (!this.closed) {
      this.socket.write(Buffer.concat([line, Buffer.from('\r\n')]));
    }
  }

  /** Sends `:fake.irc <numeric> <nick> <rest>`. */
  numeric(code: string, rest: string): void {
    this.send(`:${this.opts.serverName} ${code} ${this.nick ?? '*'} ${rest}`);
  }

  /** The first line (already received or still to come) matching `pred`, from index `from`. */
  waitFor(pred: (l: ReceivedLine) => boolean, timeoutMs = DEFAULT_WAIT_MS, from = 0): Promise<ReceivedLine> {
    const found = this.received.slice(from).find(pred);
    if (found) {
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`fake ircd: no matching line within ${timeoutMs} ms; got:\n` +
          this.received.map((l) => '  ' + l.raw).join('\n')));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  waitForCommand(command: string, timeoutMs = DEFAULT_WAIT_MS, from = 0): Promise<ReceivedLine> {
    return this.waitFor((l) => l.command === command, timeoutMs, from);
  }

  /** Lines received so far with this command. */
  linesOf(command: string): ReceivedLine[] {
    return this.received.filter((l) => l.command === command);
  }

  /** A barrier: PING the client and wait for its PONG. Every line sent before has then been
   *  read and handled by the client. */
  async sync(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const token = `sync-${++this.syncCounter}`;
    this.send(`PING :${token}`);
    await this.waitFor((l) => l.command === 'PONG' && l.params[l.params.length - 1] === token, timeoutMs);
  }

  /** Drops the connection from the server side. */
  drop(): void {
    this.socket.destroy();
  }

  waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    if (this.closed) {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fake ircd: socket still open after ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let eol: number;
    while ((eol = this.buffer.indexOf('\n')) >= 0) {
      const raw = this.buffer.slice(0, eol).replace(/\r$/, '');
      this.buffer = this.buffer.slice(eol + 1);
      if (raw !== '') {
        this.onLine(parseClientLine(raw));
      }
    }
  }

  private onLine(line: ReceivedLine): void {
    this.received.push(line);
    for (const w of this.waiters.filter((x) => x.pred(line))) {
      this.waiters = this.waiters.filter((x) => x !== w);
      w.resolve(line);
    }
    if (line.command === 'PING' && this.opts.register) {
      if (!this.answerPings) {
        return;
      }
      this.send(`:${this.opts.serverName} PONG ${this.opts.serverName} :${line.params[0] ?? ''}`);
    } else if (this.opts.register && !this.registered) {
      this.register(line);
    } else if (this.registered && line.command === 'NICK') {
      this.changeNick(line.params[0] ?? '');
    }
  }

  // CAP LS [302] / CAP REQ :caps / CAP END / NICK <nick> / USER <user> 0 * :<realname>
  private register(line: ReceivedLine): void {
    const p = line.params;
    switch (line.command) {
      case 'CAP': {
        const sub = (p[0] ?? '').toUpperCase();
        if (sub === 'LS') {
          this.capPending = true;
          this.send(`:${this.opts.serverName} CAP * LS :${this.opts.caps.join(' ')}`);
        } else if (sub === 'REQ') {
          // A REQ holds registration too; it is taken whole or not at all.
          this.capPending = true;
          const asked = (p[1] ?? '').split(' ').filter((c) => c !== '');
          const offered = new Set(this.opts.caps.map((c) => c.split('=')[0]));
          const all = asked.every((c) => offered.has(c.replace(/^-/, '')));
          this.send(`:${this.opts.serverName} CAP * ${all ? 'ACK' : 'NAK'} :${p[1] ?? ''}`);
        } else if (sub === 'END') {
          this.capPending = false;
        }
        break;
      }
      case 'NICK': {
        const wanted = p[0] ?? '';
        if (this.opts.nicksErroneous.includes(wanted)) {
          this.send(`:${this.opts.serverName} 432 ${this.nick ?? '*'} ${wanted} :Erroneous Nickname`);
        } else if (this.opts.nicksInUse.includes(wanted)) {
          this.send(`:${this.opts.serverName} 433 ${this.nick ?? '*'} ${wanted} :Nickname is already in use`);
        } else {
          this.nick = wanted;
        }
        break;
      }
      case 'USER':
        this.user = true;
        break;
      case 'AUTHENTICATE':
        this.opts.onAuthenticate(this, line);
        break;
      default:
        break;
    }
    if (this.nick !== null && this.user && !this.capPending && !this.welcoming) {
      this.welcoming = true;
      if (this.opts.welcomeDelayMs > 0) {
        setTimeout(() => {
          if (!this.closed) this.welcome();
        }, this.opts.welcomeDelayMs);
      } else {
        this.welcome();
      }
    }
  }

  // NICK <nick> after registration: 432 for an erroneous nick, 433 for a nick in use, else the
  // change is confirmed.
  private changeNick(wanted: string): void {
    if (this.opts.nicksErroneous.includes(wanted)) {
      this.numeric('432', `${wanted} :Erroneous Nickname`);
      return;
    }
    if (this.opts.nicksInUse.includes(wanted)) {
      this.numeric('433', `${wanted} :Nickname is already in use`);
      return;
    }
    this.send(`:${this.nick ?? '*'}!user@fake.host NICK :${wanted}`);
    this.nick = wanted;
  }

  private welcome(): void {
    this.registered = true;
    const s = this.opts.serverName;
    this.numeric('001', ':Welcome to the fake network');
    this.numeric('002', `:Your host is ${s}, running version fake-1.0`);
    this.numeric('003', ':This server was created today');
    this.numeric('004', `${s} ${this.opts.myInfo}`);
    this.numeric('005', `${this.opts.isupport.join(' ')} :are supported by this server`);
    this.numeric('376', ':End of /MOTD command.');
  }
}

export class FakeIrcd {
  readonly clients: FakeIrcClient[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly opts: Required<FakeIrcdOptions>;
  private clientWaiters: Array<(c: FakeIrcClient) => void> = [];

  constructor(opts: FakeIrcdOptions = {}) {
    this.opts = {
      serverName: opts.serverName ?? 'fake.irc',
      isupport: opts.isupport ?? DEFAULT_ISUPPORT,
      caps: opts.caps ?? [],
      nicksInUse: opts.nicksInUse ?? [],
      nicksErroneous: opts.nicksErroneous ?? [],
      register: opts.register ?? true,
      welcomeDelayMs: opts.welcomeDelayMs ?? 0,
      myInfo: opts.myInfo ?? 'fake-1.0 iow ovbkl',
      onAuthenticate: opts.onAuthenticate ?? (() => undefined),
      tls: opts.tls ?? null,
    };
    const onSocket = (socket: net.Socket): void => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      const client = new FakeIrcClient(socket, this.opts);
      this.clients.push(client);
      this.clientWaiters.splice(0).forEach((w) => w(client));
    };
    this.server = this.opts.tls
      ? tls.createServer({ key: this.opts.tls.key, cert: this.opts.tls.cert, requestCert: true, rejectUnauthorized: false },
        onSocket)
      : net.createServer(onSocket);
  }

  /** Listens on 127.0.0.1, a port the kernel picks; returns it. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port));
    });
  }

  /** The first client not yet taken by an earlier call (index `n`, default the first). */
  client(n = 0, timeoutMs = DEFAULT_WAIT_MS): Promise<FakeIrcClient> {
    const existing = this.clients[n];
    if (existing) {
      return Promise.resolve(existing);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fake ircd: no client #${n} within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        const c = this.clients[n];
        if (c) {
          clearTimeout(timer);
          resolve(c);
        } else {
          this.clientWaiters.push(check);
        }
      };
      this.clientWaiters.push(check);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
