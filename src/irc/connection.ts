/**
 * One IRC connection: the bridge bot's or one Matrix user's puppet: registration (CAP, SASL,
 * nick retries, a connect timeout), keep-alive PINGs, ISUPPORT, flood control and one typed
 * event stream. Lines are parsed with irc-framework's parser; the rest is the bridge's own, kept
 * small because a bridge holds thousands of these (irc-framework's client costs about 0.8 ms of
 * CPU and most of 28 KB of heap per connection, see docs/performance.md).
 *
 * A 'bot' connection reports all channel traffic. A 'puppet' connection reports only what
 * concerns its own user (PMs to it, its own joins, kicks of it, numerics); other channel traffic
 * is dropped before it is parsed, because every puppet in a channel receives every line of that
 * channel.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ircLineParser, type IrcMessage } from 'irc-framework';
import { CapNegotiation } from './cap';
import { type CaseMapping, ircEquals, ircFold, parseCaseMapping } from './casemap';
import { decodeWireField, encodeWireText } from './encoding';
import { Isupport } from './isupport';
import { getLogger } from '../log';
import { LatinLineTransport } from './transport';
import type { IrcEvent, IrcSource } from './events';
import type { IdentEntry, IdentRegistry } from './identd';
import { buildLine } from './line';
import { parseExtban } from './masks';
import { type ModeRules, parseModeChanges } from './modes';
import { SendQueue } from './send-queue';
import { type IrcAuth, Identification } from './identification';
import { type WhoisInfo, WhoisRequests } from './whois';

export type { IrcAuth } from './identification';
export type { WhoisInfo } from './whois';

export interface IrcConnectionOptions {
  host: string;
  port: number;
  tls: boolean;
  tlsVerify: boolean;
  password: string | null;
  nick: string;
  username: string;
  realname: string;
  role: 'bot' | 'puppet';
  sendBurst: number;
  sendRate: number;
  connectTimeoutMs: number;
  /** How long sendAll() waits for the server's answer (default 30 s). */
  confirmTimeoutMs?: number;
  /** Called when the server refuses the nick during registration: the next nick to try, or
   *  null to give up. `erroneous` is true for 432 (the server rejects the nick's form), false
   *  for 433/436 (the nick is taken). */
  nextNick?: (attempt: number, refused: string, erroneous: boolean) => string | null;
  /** How to identify to services; null or absent: do not. */
  auth?: IrcAuth | null;
  /** Local address to connect from (a per-user IPv6 address); null: the system's choice. */
  outgoingAddr?: string | null;
  /** Where the open socket is registered for the ident server; null: no ident. */
  ident?: IdentRegistry | null;
  /** Puppets only: the user mode that makes the server send no channel messages ("deaf"):
   *  'auto' picks it from the server's name and user modes (004), 'off' never sets one, a
   *  letter sets that mode. Default 'off'. */
  deafMode?: string;
  /** Called when capability negotiation (and SASL) is done: CAP END, and so the server's
   *  completion of the registration, waits until it resolves (see RegistrationGate). */
  registrationGate?: () => Promise<void>;
  /** Keep-alive: a PING after this long without a line from the server, and the link counts
   *  as dead after four times as long (default 30 s). */
  keepaliveMs?: number;
}

const log = getLogger('irc.connection');

/** The network refused this connection as banned (465, or an ERROR naming a K/G/Z-line):
 *  reconnecting would only repeat the refusal. */
export class IrcBannedError extends Error {
  constructor(readonly reason: string) {
    super(`banned from the network: ${reason}`);
    this.name = 'IrcBannedError';
  }
}

const BAN_TEXT = /\bbanned\b|\b[kgzd]-?lined?\b|\bakill/i;

export type ConnectionState = 'idle' | 'connecting' | 'registered' | 'closed';

/** How long sendAll() waits for the server to answer its PING (or label) before counting
 *  nothing sent. */
const CONFIRM_TIMEOUT_MS = 30_000;

/** The value of the `label` tag of a raw line that has tags, or null. Our labels are plain
 *  `[a-z0-9-]`, so the tag value needs no unescaping to be compared. */
export function labelOf(line: string): string | null {
  if (line.charCodeAt(0) !== 0x40) {
    return null;
  }
  const end = line.indexOf(' ');
  const tags = end < 0 ? line : line.slice(0, end);
  const at = tags.startsWith('@label=') ? 1 : tags.indexOf(';label=') + 1;
  if (at <= 0) {
    return null;
  }
  const stop = tags.indexOf(';', at);
  return tags.slice(at + 6, stop < 0 ? undefined : stop);
}

/** Keep-alive: a PING when nothing came for this long; the link counts as dead when nothing
 *  (not even the PONG) came for four times as long. */
const KEEPALIVE_MS = 30_000;

/** Commands whose channel form a puppet ignores unless it concerns the puppet itself. */
const CHANNEL_TRAFFIC = new Set(['PRIVMSG', 'NOTICE', 'TAGMSG', 'JOIN', 'PART', 'QUIT', 'KICK', 'NICK',
  'TOPIC', 'MODE', 'AWAY', 'ACCOUNT', 'CHGHOST', 'SETNAME', '353', '366', '332', '333']);
/**
 * The capabilities a puppet asks for. A puppet reads only what concerns itself (the bot reads
 * the channels), and every other capability makes the server's lines to it longer: with
 * extended-join, account-tag and server-time each JOIN of a big channel (which reaches every
 * puppet in it) carries the joiner's account, realname and a timestamp, and with
 * userhost-in-names and multi-prefix the NAMES list each puppet gets on joining is about three
 * times the size. (A private message to a puppet is stamped when it is read.)
 */
const PUPPET_CAPS = new Set(['sasl', 'labeled-response', 'batch', 'cap-notify']);
/** The capabilities the bot asks for: it reads the channels, with their members' accounts,
 *  statuses and hosts, and the time each line was sent. */
const BOT_CAPS = new Set(['sasl', 'labeled-response', 'batch', 'cap-notify', 'multi-prefix', 'message-tags',
  'away-notify', 'invite-notify', 'account-notify', 'account-tag', 'server-time', 'userhost-in-names', 'extended-join']);

/** Numerics that mean "the server refused what you asked". */
const REFUSALS = new Set(['401', '403', '404', '405', '421', '431', '432', '433', '435', '436', '437', '438', '441', '442', '447',
  '471', '473', '474', '475', '476', '477', '482', '489', '520']);

export class IrcConnection extends EventEmitter<{ event: [IrcEvent] }> {
  private transport: LatinLineTransport | null = null;
  private cap: CapNegotiation | null = null;
  private readonly isupport = new Isupport();
  private currentNick: string;
  /** Registration in progress: what the next 001, refusal or close settles. */
  private registering: { nickAttempt: number; done(nick: string): void; fail(err: Error): void } | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private readonly whoisRequests = new WhoisRequests((nick) => this.fold(nick));
  private queue: SendQueue;
  private _state: ConnectionState = 'idle';
  private selfUser = '';
  /** The last ERROR or 465 text the server sent: why it is closing the link. */
  private closingReason: string | null = null;
  private banned = false;
  /** From 004 (RPL_MYINFO): the server software's version and its user modes. */
  private serverVersion = '';
  private userModes = '';
  /** Channel messages a puppet connection dropped before irc-framework parsed them. */
  droppedChannelLines = 0;
  private caseMappingCache: { raw: string | undefined; mapping: CaseMapping } = { raw: undefined, mapping: parseCaseMapping(undefined) };
  /** sendAll() calls waiting for the PONG to their PING, by token. */
  private readonly confirms = new Map<string, (ok: boolean) => void>();
  private confirmCounter = 0;
  /** The server acknowledged IRCv3 labeled-response: it answers every labeled command (an ACK
   *  at least), so sendAll() confirms a message with a label on its last line instead of a
   *  PING behind it. That halves the lines a message costs against the server's flood limit. */
  private labels = false;
  /** quit() has sent QUIT: what the server sends a puppet from then on is not read. */
  private quitSent = false;
  private selfHost = '';
  private readonly names = new Map<string, Array<{ nick: string; prefixes: string; ident?: string; host?: string }>>();
  private readonly identification: Identification;
  private identEntry: IdentEntry | null = null;

  constructor(private readonly opts: IrcConnectionOptions) {
    super();
    this.currentNick = opts.nick;
    this.queue = this.newQueue();
    this.identification = new Identification(opts.auth ?? null, opts.tls, opts.nick, {
      nick: () => this.nick,
      privmsg: (target, text) => this.queue.push(buildLine('PRIVMSG', [target, text])),
      told: (e) => this.emitEvent(e),
    });
  }

  get state(): ConnectionState {
    return this._state;
  }

  get nick(): string {
    return this.currentNick;
  }

  /** user@host as others see this connection; a conservative guess before the server says. */
  get userHost(): { user: string; host: string } {
    return { user: this.selfUser || '~' + this.opts.username, host: this.selfHost || 'x'.repeat(63) };
  }

  get nickLen(): number {
    return this.isupport.int('NICKLEN', 9);
  }

  get lineLen(): number {
    return this.isupport.int('LINELEN', 512);
  }

  /** How this server's channel MODE lines are read (ISUPPORT PREFIX and CHANMODES). */
  get modeRules(): ModeRules {
    return { prefix: this.isupport.prefix, chanmodes: this.isupport.chanmodes };
  }

  /** ISUPPORT EXTBAN (prefix and letters), or null when the server announces none. */
  get extban(): { prefix: string; letters: string } | null {
    return parseExtban(this.isupport.get('EXTBAN'));
  }

  get caseMapping(): CaseMapping {
    const raw = this.isupport.get('CASEMAPPING');
    if (raw !== this.caseMappingCache.raw) { // parsed once per value the server announces
      this.caseMappingCache = { raw, mapping: parseCaseMapping(raw) };
    }
    return this.caseMappingCache.mapping;
  }

  fold(s: string): string {
    return ircFold(s, this.caseMapping);
  }

  isChannel(name: string): boolean {
    return name.length > 1 && this.isupport.chantypes.includes(name[0] as string);
  }

  /** Connects and registers. Resolves with the registered nick; rejects on timeout, refusal or
   *  close before registration. Call once per connection object. */
  connect(): Promise<string> {
    if (this._state !== 'idle') {
      return Promise.reject(new Error(`connect() called in state ${this._state}`));
    }
    this._state = 'connecting';
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`no registration within ${this.opts.connectTimeoutMs} ms`)),
        this.opts.connectTimeoutMs);
      const settle = (): boolean => {
        if (this.registering === null) {
          return false;
        }
        this.registering = null;
        clearTimeout(timer);
        return true;
      };
      const fail = (err: Error): void => {
        if (settle()) {
          this.destroy(err.message);
          reject(err);
        }
      };
      this.registering = {
        nickAttempt: 0,
        fail,
        done: (nick) => {
          if (settle()) {
            resolve(nick);
          }
        },
      };
      const transport = new LatinLineTransport();
      this.transport = transport;
      const plan = this.identification.plan();
      const wanted = new Set(this.opts.role === 'puppet' ? PUPPET_CAPS : BOT_CAPS);
      this.cap = new CapNegotiation(wanted, plan, {
        write: (line) => transport.writeLine(line),
        saslUnavailable: (reason) => this.identification.unavailable(reason),
        saslStarted: () => this.identification.saslStarted(),
        ...(this.opts.registrationGate ? { beforeEnd: this.opts.registrationGate } : {}),
      });
      if (this.opts.role === 'puppet') {
        transport.filter = {
          // After our QUIT nothing the server sends matters (in a shared channel every other
          // puppet's QUIT of a stopping bridge reaches each one still connected), except the
          // answers that confirm messages sent before it.
          dropAll: () => this.quitSent && this.confirms.size === 0,
          nick: () => this.currentNick,
          caseMapping: () => this.caseMapping,
          dropped: (lines) => {
            this.droppedChannelLines += lines;
          },
        };
      }
      transport.on('open', () => this.onOpen());
      transport.on('line', (line) => this.onLine(line));
      transport.on('close', (err) => this.onSocketClose(err));
      try {
        transport.connect({
          host: this.opts.host, port: this.opts.port, tls: this.opts.tls, rejectUnauthorized: this.opts.tlsVerify,
          clientCertificate: this.opts.auth?.clientCert ?? null, localAddress: this.opts.outgoingAddr ?? null,
        });
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** The socket is open: register (CAP LS, PASS, NICK, USER), as one write. */
  private onOpen(): void {
    const transport = this.transport;
    const socket = transport?.socket;
    if (!transport || !socket) {
      return;
    }
    // IRC lines are small writes: without this, Nagle and delayed ACKs add ~40 ms.
    socket.setNoDelay(true);
    this.registerIdent(socket);
    try {
      this.cap?.start();
      if (this.opts.password !== null) {
        transport.writeLine(encodeWireText(buildLine('PASS', [this.opts.password])));
      }
      transport.writeLine(encodeWireText(buildLine('NICK', [this.opts.nick])));
      transport.writeLine(encodeWireText(buildLine('USER', [this.opts.username, '0', '*', this.opts.realname])));
    } catch (err) {
      this.registering?.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private onSocketClose(err: Error | null): void {
    this.registering?.fail(this.banned ? new IrcBannedError(this.closingReason ?? 'banned')
      : new Error(`connection closed before registration${err ? ': ' + err.message : ''}`));
    this.onClosed(this.closingReason ?? (err ? err.message : 'connection closed'));
  }

  /** 001: registered under `nick`. */
  private onWelcome(nick: string): void {
    if (this._state !== 'connecting' || this.registering === null) {
      return;
    }
    this.currentNick = nick || this.currentNick;
    this._state = 'registered';
    this.labels = this.cap?.enabled.has('labeled-response') ?? false;
    this.startKeepalive();
    this.emit('event', { type: 'registered', nick: this.currentNick });
    this.identification.registered();
    this.registering.done(this.currentNick);
  }

  /** 432/433/436 during registration: the next nick from opts.nextNick, or give up. */
  private onNickRefused(refused: string, reason: string, erroneous: boolean): void {
    const reg = this.registering;
    if (reg === null || this._state !== 'connecting') {
      return;
    }
    const next = this.opts.nextNick?.(++reg.nickAttempt, refused, erroneous) ?? null;
    if (next === null || reg.nickAttempt > 50) {
      reg.fail(new Error(`nick refused: ${reason}`));
      return;
    }
    try {
      this.transport?.writeLine(encodeWireText(buildLine('NICK', [next])));
    } catch (err) {
      reg.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** A PING when the link has been quiet, and a close when it stayed silent too long. */
  private startKeepalive(): void {
    const idleMs = this.opts.keepaliveMs ?? KEEPALIVE_MS;
    this.keepalive = setInterval(() => {
      const transport = this.transport;
      if (!transport || this._state !== 'registered') {
        return;
      }
      const quiet = Date.now() - transport.lastReadAt;
      if (quiet >= 4 * idleMs) {
        this.closingReason = `no answer from the server for ${(quiet / 1000).toFixed(1)} s`;
        this.destroy(this.closingReason);
      } else if (quiet >= idleMs) {
        transport.writeLine('PING :keepalive');
      }
    }, idleMs);
    this.keepalive.unref();
  }

  /** Queues one command through flood control. Returns false when it cannot be queued. */
  send(command: string, params: readonly string[]): boolean {
    if (this._state !== 'registered') {
      return false;
    }
    return this.queue.push(buildLine(command, params));
  }

  /** Asks the server who `nick` is (WHOIS, through the send queue). Resolves with what it said,
   *  or null when there is no such nick, the connection is not registered, or no answer came. */
  whois(nick: string, timeoutMs = 10_000): Promise<WhoisInfo | null> {
    return this.whoisRequests.ask(nick, () => this._state === 'registered' && this.send('WHOIS', [nick]), timeoutMs);
  }

  /**
   * Queues lines of one command, then a PING, and resolves with how many of the lines the
   * server has certainly received: all of them once its PONG answers (the server handles a
   * client's lines in order), 0 if the connection is lost first or is not registered, or when
   * the queue has no room for all of them. A line written into a socket that is already dying
   * is therefore never counted as sent, and the caller can send the message again.
   * `onWritten` is called once all the lines are in the socket, before the PONG.
   */
  sendAll(command: string, paramsList: ReadonlyArray<readonly string[]>, onWritten?: () => void): Promise<number> {
    const lines = paramsList.map((p) => buildLine(command, p));
    if (this._state !== 'registered' || !this.queue.hasRoom(lines.length + 1)) {
      return Promise.resolve(0);
    }
    if (lines.length === 0) {
      return Promise.resolve(0);
    }
    const token = `mib-${(++this.confirmCounter).toString(36)}`;
    const labelled = this.labels;
    if (labelled) {
      lines[lines.length - 1] = buildLine(command, paramsList[paramsList.length - 1] as readonly string[], { label: token });
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (labelled && this.labels && this._state === 'registered') {
          // A server that announced labeled-response but does not answer labels: confirm with
          // PING from now on. (This message counts as not sent and is sent again.)
          this.labels = false;
        }
        finish(false);
      }, this.opts.confirmTimeoutMs ?? CONFIRM_TIMEOUT_MS);
      const finish = (ok: boolean): void => {
        if (this.confirms.delete(token)) {
          clearTimeout(timer);
          resolve(ok ? lines.length : 0);
        }
      };
      this.confirms.set(token, finish);
      lines.forEach((line, i) => {
        // Told as soon as the last line is in the socket (in the same tick as the write), not
        // when the PING behind it is: the PING may wait for a token, and a crash in between
        // would send the message again at the next start.
        this.queue.push(line, i === lines.length - 1 ? (written) => {
          if (written) {
            onWritten?.();
          } else if (labelled) {
            finish(false);
          }
        } : undefined);
      });
      if (labelled) {
        return;
      }
      this.queue.push(buildLine('PING', [token]), (written) => {
        if (!written) {
          finish(false);
        }
      });
    });
  }

  join(channel: string, key?: string | null): boolean {
    return this.send('JOIN', key ? [channel, key] : [channel]);
  }

  part(channel: string, reason: string): boolean {
    return this.send('PART', [channel, reason]);
  }

  kick(channel: string, nick: string, reason: string): boolean {
    return this.send('KICK', [channel, nick, reason]);
  }

  topic(channel: string, text: string): boolean {
    return this.send('TOPIC', [channel, text]);
  }

  say(target: string, text: string): boolean {
    return this.send('PRIVMSG', [target, text]);
  }

  notice(target: string, text: string): boolean {
    return this.send('NOTICE', [target, text]);
  }

  action(target: string, text: string): boolean {
    return this.send('PRIVMSG', [target, `\x01ACTION ${text}\x01`]);
  }

  /** Sends QUIT after what is already queued (bounded by `graceMs`), then closes. */
  async quit(reason: string, graceMs = 2000): Promise<void> {
    const transport = this.transport;
    if (!transport || this._state === 'closed') {
      this._state = 'closed';
      return;
    }
    const deadline = Date.now() + graceMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.queue.clear();
    const closed = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, graceMs);
      transport.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (transport.isConnected()) {
      this.quitSent = true;
      transport.writeLine(encodeWireText(buildLine('QUIT', [reason.replace(/[\r\n\0]/g, ' ')])));
      transport.end(graceMs);
    } else {
      transport.destroy();
    }
    await closed;
    this.destroy('quit');
  }

  private destroy(reason: string): void {
    this.queue.clear();
    this.transport?.destroy();
    this.onClosed(reason);
  }

  private onClosed(reason: string): void {
    if (this.identEntry) {
      this.opts.ident?.remove(this.identEntry);
      this.identEntry = null;
    }
    this.identification.close();
    if (this.keepalive) {
      clearInterval(this.keepalive);
      this.keepalive = null;
    }
    if (this._state === 'closed') {
      return;
    }
    const wasRegistered = this._state === 'registered';
    this._state = 'closed';
    this.queue.clear();
    [...this.confirms.values()].forEach((finish) => finish(false));
    this.whoisRequests.cancelAll();
    if (wasRegistered) {
      this.emit('event', { type: 'closed', reason, banned: this.banned });
    }
  }

  private newQueue(): SendQueue {
    return new SendQueue({ burst: this.opts.sendBurst, rate: this.opts.sendRate }, (line) => {
      this.transport?.writeLine(encodeWireText(line));
    });
  }

  private isSelf(nick: string): boolean {
    return ircEquals(nick, this.nick, this.caseMapping); // on the hot path: once per channel line
  }

  /** One parsed line from the server. */
  private handleMessage(command: string, wire: IrcMessage): void {
    if (this.opts.role === 'puppet' && CHANNEL_TRAFFIC.has(command) && !this.concernsSelf(command, wire)) {
      return;
    }
    const m = decodeMessage(wire);
    const from: IrcSource = { nick: m.nick, ident: m.ident, host: m.hostname };
    const p = m.params;
    switch (command) {
      case 'PRIVMSG':
      case 'NOTICE':
        this.onMessage(command, from, m);
        return;
      case 'JOIN':
        if (this.isSelf(m.nick)) {
          this.selfUser = m.ident;
          this.selfHost = m.hostname;
        }
        this.emitEvent({ type: 'join', channel: p[0] ?? '', user: from, account: accountOf(p[1]) });
        return;
      case 'PART':
        this.emitEvent({ type: 'part', channel: p[0] ?? '', nick: m.nick, reason: p[1] ?? '' });
        return;
      case 'KICK':
        this.emitEvent({ type: 'kick', channel: p[0] ?? '', nick: p[1] ?? '', by: m.nick, reason: p[2] ?? '' });
        return;
      case 'QUIT':
        this.emitEvent({ type: 'quit', nick: m.nick, reason: p[0] ?? '' });
        return;
      case 'NICK': {
        const self = this.isSelf(m.nick) && (p[0] ?? '') !== '';
        this.emitEvent({ type: 'nick', nick: m.nick, newNick: p[0] ?? '' });
        if (self) {
          this.currentNick = p[0] as string;
        }
        return;
      }
      case 'PING': { // answered at once, not queued; the token as sent, less bytes a line cannot carry
        const token = (p[p.length - 1] ?? '').replace(/[\r\n\0]/g, '');
        this.transport?.writeLine(encodeWireText(buildLine('PONG', [token])));
        return;
      }
      case 'TOPIC':
        this.emitEvent({ type: 'topic', channel: p[0] ?? '', topic: p[1] ?? '', by: m.nick || null });
        return;
      case 'ACCOUNT':
        this.emitEvent({ type: 'account', nick: m.nick, account: accountOf(p[0]) });
        return;
      case 'MODE':
        if (this.isChannel(p[0] ?? '')) {
          this.emitEvent({ type: 'mode', channel: p[0] ?? '', by: m.nick || null,
            changes: parseModeChanges(p[1] ?? '', p.slice(2), this.modeRules) });
        }
        return;
      case '324': // RPL_CHANNELMODEIS <me> <channel> <modes> [params]
        this.emitEvent({ type: 'mode', channel: p[1] ?? '', by: null, snapshot: true,
          changes: parseModeChanges(p[2] ?? '', p.slice(3), this.modeRules) });
        return;
      case 'INVITE': // INVITE <nick> <channel>
        this.emitEvent({ type: 'invite', nick: p[0] ?? '', channel: p[1] ?? '', by: m.nick });
        return;
      case '332':
        this.emitEvent({ type: 'topic', channel: p[1] ?? '', topic: p[2] ?? '', by: null });
        return;
      case '353':
        this.collectNames(p);
        return;
      case '366':
        this.emitNames(p[1] ?? '');
        return;
      case 'PONG':
        this.confirms.get(p[p.length - 1] ?? '')?.(true);
        return;
      case '465':
        this.banned = true;
        this.closingReason = p[p.length - 1] || 'banned from the network';
        return;
      case 'ERROR':
        if (!this.banned) { // a 465 before it gave the better reason
          this.closingReason = p[0] ?? 'ERROR';
          this.banned = BAN_TEXT.test(this.closingReason);
        }
        this.registering?.fail(this.banned ? new IrcBannedError(this.closingReason ?? p[0] ?? 'banned')
          : new Error(`server error: ${p[0] ?? 'ERROR'}`));
        return;
      case '464': // ERR_PASSWDMISMATCH
        this.registering?.fail(new Error(`server error: ${p[p.length - 1] || 'password incorrect'}`));
        return;
      case '001':
        this.onWelcome(p[0] ?? '');
        return;
      case '005': {
        const tokens = p.slice(1, -1);
        this.isupport.add(tokens);
        if (this.opts.role === 'bot' && tokens.includes('NAMESX') && !this.cap?.enabled.has('multi-prefix')) {
          this.send('PROTOCTL', ['NAMESX']); // every status of a member in NAMES, on servers without multi-prefix
        }
        return;
      }
      case '432': // ERR_ERRONEUSNICKNAME
      case '433': // ERR_NICKNAMEINUSE
      case '436': // ERR_NICKCOLLISION
        if (this._state === 'connecting') {
          this.onNickRefused(p[1] ?? '', p[p.length - 1] ?? '', command === '432');
          return;
        }
        break;
      case '004': {
        // It follows 001, so the connection counts as registered and can send.
        this.serverVersion = p[2] ?? '';
        this.userModes = p[3] ?? '';
        const deaf = this.opts.role === 'puppet' ? this.deafLetter() : null;
        if (deaf !== null) {
          this.send('MODE', [p[0] ?? this.nick, `+${deaf}`]); // the bot reads the channels; puppets need not
        }
        return;
      }
      case '396':
        this.selfHost = p[1] ?? this.selfHost;
        return;
      case 'CAP':
        this.cap?.onCap(p, this._state !== 'connecting');
        if (p[1] === 'DEL' && !this.cap?.enabled.has('labeled-response')) {
          this.labels = false;
        }
        return;
      case 'AUTHENTICATE':
        if (!this.cap?.onAuthenticate(p[0] ?? '')) {
          this.identification.settleSasl(false, 'the server asked for a SASL step this bridge does not know');
          this.cap?.end();
        }
        return;
      case '900': // RPL_LOGGEDIN <nick> <mask> <account> :text
        this.identification.loggedIn(p[2] ?? '');
        return;
      case '903': // RPL_SASLSUCCESS
      case '907': // ERR_SASLALREADY
        this.identification.settleSasl(true, p[p.length - 1] ?? '');
        this.cap?.end();
        return;
      case '902': // ERR_NICKLOCKED
      case '904': // ERR_SASLFAIL
      case '905': // ERR_SASLTOOLONG
      case '906': // ERR_SASLABORTED
        this.identification.settleSasl(false,
          this.identification.failureText(p[p.length - 1] ?? 'SASL authentication failed', command));
        this.cap?.end();
        return;
      case '908': // RPL_SASLMECHS <nick> <mechanisms> :are available SASL mechanisms
        this.identification.mechanisms = p[1] ?? null;
        return;
      case '311':
      case '312':
      case '317':
      case '318':
      case '319':
      case '330':
        this.whoisRequests.onLine(command, p);
        return;
      default:
    }
    if (command === '401') {
      this.whoisRequests.onLine(command, p);
      if (this.identification.waitingForNickServ && this.fold(p[1] ?? '') === this.fold('NickServ')) {
        this.identification.noNickServ();
        return;
      }
    }
    if (REFUSALS.has(command) && this._state === 'registered') {
      this.emitEvent({ type: 'refused', code: command, target: p[1] ?? '', reason: p[p.length - 1] ?? '' });
    }
  }

  private registerIdent(socket: Socket): void {
    const ident = this.opts.ident;
    if (!ident || !socket.localPort || !socket.remotePort || !socket.remoteAddress) {
      return;
    }
    this.identEntry = { localPort: socket.localPort, remotePort: socket.remotePort, remoteAddress: socket.remoteAddress,
      username: this.opts.username };
    ident.add(this.identEntry);
  }

  /** The deaf user mode to set on this puppet, if any (see `deafMode`). */
  private deafLetter(): string | null {
    const mode = this.opts.deafMode ?? 'off';
    if (mode === 'off') {
      return null;
    }
    if (mode !== 'auto') {
      return mode;
    }
    const version = this.serverVersion.toLowerCase();
    if (/inspircd|unreal/.test(version) && this.userModes.includes('d')) {
      return 'd';
    }
    if (/solanum|charybdis|ircd-seven|ratbox|hybrid/.test(version) && this.userModes.includes('D')) {
      return 'D';
    }
    return null;
  }

  /**
   * One line from the transport (a puppet's transport has already dropped, from the bytes,
   * others' JOIN, PART, QUIT and NICK and the NAMES and topic of a join). The answer to a
   * labelled command confirms a sendAll() (a bare ACK goes no further). And a puppet ignores
   * other people's channel messages (the bot reads those): with many puppets in a channel every
   * line arrives once per puppet, so they are recognised from the raw line and dropped
   * unparsed. Anything else is parsed and handled.
   */
  private onLine(line: string): void {
    if (this.confirms.size > 0 && line.charCodeAt(0) === 0x40) {
      const label = labelOf(line);
      const confirm = label === null ? undefined : this.confirms.get(label);
      if (confirm) {
        confirm(true); // whatever the answer (ACK, an echo, an error numeric): the server has the lines
        if (/^@\S+ :\S+ ACK\b/.test(line)) {
          return;
        }
      }
    }
    if (this.opts.role === 'puppet' && this.isOthersChannelMessage(line)) {
      this.droppedChannelLines++;
      return;
    }
    const message = this.parse(line);
    if (message.command === '') {
      return;
    }
    try {
      this.handleMessage(message.command, message);
    } catch (err) {
      // A line the server should not have sent: it is skipped, the connection goes on.
      log.warn('an IRC line could not be handled', { role: this.opts.role, command: message.command.slice(0, 20),
        err: err instanceof Error ? err.message : String(err) });
    }
  }

  /** irc-framework's line parser (tags unescaped, prefix split); a method so a spec can watch it. */
  private parse(line: string): IrcMessage {
    return ircLineParser(line);
  }

  /**
   * Whether a raw line is channel traffic that does not concern this puppet: the same rule as
   * `concernsSelf` in handleRaw, read from the raw line without parsing it. With N puppets in a
   * channel, each message, join, part and quit reaches the bridge N times (and joins of N
   * puppets make N*N lines), so this check is on the hot path. Lines it is unsure of go the
   * normal way.
   */
  private isOthersChannelMessage(line: string): boolean {
    let i = 0;
    if (line.charCodeAt(0) === 0x40) { // '@' tags
      i = line.indexOf(' ') + 1;
      if (i === 0) {
        return false;
      }
    }
    if (line.charCodeAt(i) !== 0x3a) { // ':' prefix
      return false;
    }
    const sp1 = line.indexOf(' ', i);
    if (sp1 < 0) {
      return false;
    }
    const sp2 = line.indexOf(' ', sp1 + 1);
    const command = line.slice(sp1 + 1, sp2 < 0 ? undefined : sp2);
    if (!CHANNEL_TRAFFIC.has(command)) {
      return false;
    }
    const param = (n: number): string => { // the n-th parameter (0-based), or ''
      let space = sp2;
      let start = space + 1;
      for (let k = 0; k < n && space >= 0; k++) {
        if (line.charCodeAt(start) === 0x3a) {
          return ''; // the trailing parameter came first
        }
        space = line.indexOf(' ', start);
        start = space + 1;
      }
      if (space < 0) {
        return '';
      }
      if (line.charCodeAt(start) === 0x3a) {
        return line.slice(start + 1);
      }
      const end = line.indexOf(' ', start);
      return line.slice(start, end < 0 ? undefined : end);
    };
    const prefix = line.slice(i + 1, sp1);
    const bang = prefix.indexOf('!');
    const source = bang < 0 ? prefix : prefix.slice(0, bang);
    switch (command) {
      case 'PRIVMSG':
      case 'NOTICE':
      case 'TAGMSG': {
        const target = param(0).replace(/^[@+%]+/, ''); // STATUSMSG (@#chan) is still the channel
        return target !== '' && this.isChannel(target);
      }
      case 'JOIN':
      case 'PART':
      case 'NICK':
      case 'QUIT':
        return !this.isSelf(source);
      case 'KICK':
        return param(1) !== '' && !this.isSelf(param(1));
      case 'MODE': {
        const target = param(0);
        return target !== '' && this.isChannel(target);
      }
      default:
        return true; // TOPIC, AWAY, ACCOUNT, CHGHOST, SETNAME, NAMES and topic numerics
    }
  }

  private concernsSelf(command: string, m: IrcMessage): boolean {
    switch (command) {
      case 'PRIVMSG':
      case 'NOTICE':
      case 'TAGMSG':
        return !this.isChannel(m.params[0] ?? '#');
      case 'JOIN':
      case 'PART':
      case 'NICK':
      case 'QUIT':
        return this.isSelf(m.nick);
      case 'KICK':
        return this.isSelf(m.params[1] ?? '');
      case 'MODE':
        return !this.isChannel(m.params[0] ?? '#');
      default:
        return false;
    }
  }

  private onMessage(command: string, from: IrcSource, m: IrcMessage): void {
    if (m.params.length < 2 || from.nick === '') {
      return; // a malformed line (no target or no text, or no sender): nothing to carry
    }
    const target = m.params[0] ?? '';
    let text = m.params[m.params.length - 1] ?? '';
    let kind: 'privmsg' | 'notice' | 'action' = command === 'NOTICE' ? 'notice' : 'privmsg';
    if (text.startsWith('\x01')) {
      const body = text.slice(1, text.endsWith('\x01') ? -1 : undefined);
      if (command === 'PRIVMSG' && /^ACTION( |$)/.test(body)) {
        kind = 'action';
        text = body.slice(7);
      } else {
        return; // other CTCP: not bridged
      }
    }
    if (!from.nick) {
      return; // server notice
    }
    if (this.identification.waitingForNickServ && kind === 'notice' && this.fold(from.nick) === this.fold('NickServ') &&
      !this.isChannel(target)) {
      this.identification.nickServNotice(text);
      return; // services chatter about our own IDENTIFY is not a conversation
    }
    const t = m.tags['time'] ? Date.parse(m.tags['time']) : NaN;
    this.emitEvent({ type: 'message', kind, from, target, text, tags: m.tags, time: Number.isFinite(t) ? t : null });
  }

  private collectNames(p: string[]): void {
    const channel = this.fold(p[2] ?? '');
    const prefixes = this.isupport.prefix.map((x) => x.symbol).join('') || '@+';
    const list = this.names.get(channel) ?? [];
    for (const entry of (p[3] ?? '').split(' ')) {
      if (!entry) {
        continue;
      }
      let i = 0;
      while (i < entry.length && prefixes.includes(entry[i] as string)) {
        i++;
      }
      // userhost-in-names: nick!user@host
      const m = /^([^!@]+)(?:!([^@]*)@(.*))?$/.exec(entry.slice(i));
      const nick = m?.[1] ?? '';
      if (nick) {
        list.push({ nick, prefixes: entry.slice(0, i), ...(m?.[3] !== undefined ? { ident: m[2] ?? '', host: m[3] } : {}) });
      }
    }
    this.names.set(channel, list);
  }

  private emitNames(channel: string): void {
    const folded = this.fold(channel);
    const users = this.names.get(folded) ?? [];
    this.names.delete(folded);
    this.emitEvent({ type: 'names', channel, users });
  }

  private emitEvent(e: IrcEvent): void {
    this.emit('event', e);
  }
}

/** The message with every field decoded (see encoding.ts); irc-framework keeps the wire form. */
function decodeMessage(m: IrcMessage): IrcMessage {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.tags)) {
    tags[k] = decodeWireField(v);
  }
  return {
    ...m, tags, nick: decodeWireField(m.nick), ident: decodeWireField(m.ident), hostname: decodeWireField(m.hostname),
    params: m.params.map(decodeWireField),
  };
}

function accountOf(param: string | undefined): string | null {
  return param && param !== '*' ? param : null;
}
