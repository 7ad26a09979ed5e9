/**
 * Puppets: one IRC connection per Matrix user per network, opened when the user is in a bridged
 * room and closed when they leave the last one. Nicks come from the template, are fitted to the
 * server's NICKLEN and remembered in the store.
 */
import { createHash } from 'node:crypto';
import type { NetworkConfig } from '../config';
import { addressInPrefix, parseIpv6Prefix } from '../format/ipv6';
import type { Channel, NetworkId, UserId } from '../ids';
import { localpartOf } from '../ids';
import { type IrcAuth, IrcBannedError, IrcConnection } from '../irc/connection';
import type { IrcEvent } from '../irc/events';
import { getLogger } from '../log';
import { nextNickCandidate, renderPuppetNick } from '../format/nick';
import type { BridgeContext } from './context';
import { renderTemplate } from './templates';
import { RegistrationGate } from './registration-gate';

export interface Puppet {
  userId: UserId;
  displayName: string | null;
  conn: IrcConnection | null;
  connecting: Promise<IrcConnection> | null;
  /** Channels (folded) the puppet should be in. */
  channels: Map<string, { name: string; key: string | null }>;
  /** Next reconnect delay; doubles per failure up to reconnect_max_delay_ms. */
  retryMs: number;
  retryTimer: NodeJS.Timeout | null;
  /** Set when the network banned this user's connection: no more attempts until restart. */
  banned: string | null;
  /** When the user last did something through the puppet (Date.now()); decides who reconnects
   *  first when many connections wait for a slot. */
  lastActive: number;
  /** The lastActive value last written to the store (writes are thinned out). */
  lastActiveSaved: number;
}

/** How long disconnect() waits for a connection that is still registering. */
const DISCONNECT_WAIT_MS = 2000;

/** Numerics that refuse a NICK change. */
const NICK_REFUSALS = new Set(['431', '432', '433', '435', '436', '437', '438', '447']);

/** A connect storm (see RegistrationGate): a puppet holds its CAP END while at least
 *  REGISTRATION_STORM others are still opening, at most REGISTRATION_HOLD_MS. */
const REGISTRATION_STORM = 20;
const REGISTRATION_HOLD_MS = 3000;

/** Activity is written to the store at most this often per puppet. */
const ACTIVITY_SAVE_INTERVAL_MS = 60_000;

/** What a puppet connection reports upward; the network decides what it means for Matrix. */
export type PuppetEventHandler = (puppet: Puppet, event: IrcEvent) => void;

export class Puppets {
  private readonly log;
  private readonly puppets = new Map<UserId, Puppet>();
  private readonly byNick = new Map<string, UserId>();
  private inFlight = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Connections waiting to get their user's nick back, with that nick. */
  private readonly regaining = new Map<IrcConnection, string>();
  private stopped = false;
  /** Connection attempts waiting for a slot; the most recently active user goes first. */
  private readonly waiting: Array<{ puppet: Puppet; go: () => void }> = [];
  /** Connections closed on purpose to reconnect (new credentials): their events are not news. */
  private readonly replaced = new WeakSet<IrcConnection>();
  /** Usernames given to puppets in this process, by user: one per user, never shared. */
  private readonly claimedUsernames = new Map<string, UserId>();
  private readonly registrations = new RegistrationGate(REGISTRATION_STORM, REGISTRATION_HOLD_MS);

  constructor(
    private readonly ctx: BridgeContext,
    private readonly network: NetworkId,
    private readonly cfg: NetworkConfig,
    private readonly server: { nickLen(): number; fold(s: string): string; whenReady(timeoutMs: number): Promise<void>;
      /** A nick stopped being one of our puppets' (quit, closed, renamed away from). */
      nickReleased?(nick: string): void },
    private readonly onEvent: PuppetEventHandler,
  ) {
    this.log = getLogger('bridge.puppets', { network });
  }

  get(userId: UserId): Puppet | undefined {
    return this.puppets.get(userId);
  }

  all(): Puppet[] {
    return [...this.puppets.values()];
  }

  /** The Matrix user behind an IRC nick, when the nick is one of our puppets. */
  userIdOfNick(nick: string): UserId | undefined {
    return this.byNick.get(this.server.fold(nick));
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = { connecting: 0, registered: 0 };
    for (const p of this.puppets.values()) {
      if (p.conn?.state === 'registered') {
        c.registered = (c.registered ?? 0) + 1;
      } else if (p.connecting) {
        c.connecting = (c.connecting ?? 0) + 1;
      }
    }
    return c;
  }

  /**
   * Returns the user's registered connection, connecting it first when needed. `stored`: the
   * user's stored activity when the caller has already read it (null: no puppet record), which
   * spares two store reads per user when thousands reconnect at start.
   */
  async connection(userId: UserId, displayName: string | null, stored?: number | null): Promise<IrcConnection> {
    const p = this.puppetOf(userId, displayName, stored);
    if (p.conn?.state === 'registered') {
      return p.conn;
    }
    if (p.banned !== null) {
      throw new IrcBannedError(p.banned);
    }
    if (!p.connecting) {
      if (p.retryTimer) {
        clearTimeout(p.retryTimer);
        p.retryTimer = null;
      }
      const puppet = p;
      p.connecting = this.connect(puppet).finally(() => {
        puppet.connecting = null;
      });
    }
    return p.connecting;
  }

  /** The user's puppet record, made when there is none (`stored` as for connection()). */
  private puppetOf(userId: UserId, displayName: string | null, stored?: number | null): Puppet {
    let p = this.puppets.get(userId);
    if (!p) {
      // A user seen for the first time is active now; a known one keeps their stored activity, so
      // after a restart the users who spoke last reconnect first.
      const known = stored !== undefined ? stored !== null : this.ctx.store.getPuppet(userId, this.network) !== null;
      const lastActive = !known ? Date.now() : stored ?? this.ctx.store.getPuppetActivity(userId, this.network);
      p = { userId, displayName, conn: null, connecting: null, channels: new Map(), retryMs: 1000, retryTimer: null, banned: null,
        lastActive, lastActiveSaved: known ? lastActive : 0 };
      this.puppets.set(userId, p);
    }
    if (displayName !== null) {
      p.displayName = displayName;
    }
    return p;
  }

  /** Renames the user's puppet on IRC (the new nick is remembered once the server confirms it).
   *  Resolves with the nick the server confirmed; rejects with the server's reason. */
  changeNick(userId: UserId, nick: string, timeoutMs = 10_000): Promise<string> {
    const conn = this.puppets.get(userId)?.conn;
    if (!conn || conn.state !== 'registered') {
      return Promise.reject(new Error('you are not connected to this network'));
    }
    const wanted = this.server.fold(nick);
    return new Promise((resolve, reject) => {
      const onEvent = (e: IrcEvent): void => {
        if (e.type === 'nick' && this.server.fold(e.newNick) === wanted) {
          finish();
          resolve(e.newNick);
        } else if (e.type === 'refused' && NICK_REFUSALS.has(e.code)) {
          finish();
          reject(new Error(`${e.reason} (${e.code})`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error('the server did not answer'));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        conn.off('event', onEvent);
      };
      conn.on('event', onEvent);
      this.regaining.delete(conn); // the user's choice replaces any nick we were waiting for
      if (!conn.send('NICK', [nick])) {
        finish();
        reject(new Error('the connection cannot send now'));
      }
    });
  }

  /** Remembers the nick a user wants for their next connection (they have none now). */
  rememberNick(userId: UserId, nick: string): void {
    const stored = this.ctx.store.getPuppet(userId, this.network);
    this.ctx.store.savePuppet({ userId, network: this.network, nick: nick as never,
      username: stored?.username ?? this.usernameFor(userId) });
  }

  /** Drops the user's connection and connects again (a ban noted earlier is forgotten: the
   *  user asks because it was lifted). Channels are rejoined. */
  async reconnect(userId: UserId): Promise<IrcConnection> {
    const p = this.puppets.get(userId);
    if (!p) {
      throw new Error('you have no connection to this network');
    }
    p.banned = null;
    const conn = p.conn;
    p.conn = null;
    if (conn) {
      this.replaced.add(conn); // its end is our doing: not reported, not retried
      this.forgetNick(conn.nick);
      await conn.quit('Reconnecting');
    }
    return this.connection(userId, null);
  }

  /**
   * Reconnects the user's puppet so it identifies with the credentials stored now (SASL happens
   * only at registration). Called after the user changed their credentials; keeps the puppet's
   * channels. Resolves false when the user has no puppet on this network or it is banned
   * (nothing to do: the next connection reads the new credentials anyway); rejects when the new
   * connection fails.
   */
  async reidentify(userId: UserId): Promise<boolean> {
    const p = this.puppets.get(userId);
    if (!p || p.banned !== null) {
      return false;
    }
    if (p.connecting) {
      await p.connecting.catch(() => null); // it may have read the old credentials
    }
    if (this.puppets.get(userId) !== p) {
      return false;
    }
    await this.reconnect(userId);
    return true;
  }

  /** The user acted through the puppet (sent a message): it is not idle. */
  touch(userId: UserId): void {
    const p = this.puppets.get(userId);
    if (p) {
      p.lastActive = Date.now();
      // Once connected the puppet has a stored record to write to.
      if (p.conn && p.lastActive - p.lastActiveSaved >= ACTIVITY_SAVE_INTERVAL_MS) {
        p.lastActiveSaved = p.lastActive;
        this.ctx.store.setPuppetActivity(userId, this.network, p.lastActive);
      }
    }
  }

  /** Starts disconnecting puppets idle longer than puppet_idle_timeout_ms (when it is set). */
  startIdleSweep(): void {
    const timeout = this.cfg.puppet_idle_timeout_ms;
    if (timeout <= 0 || this.idleTimer) {
      return;
    }
    this.idleTimer = setInterval(() => {
      const now = Date.now();
      for (const p of this.puppets.values()) {
        if (p.conn?.state === 'registered' && now - p.lastActive > timeout) {
          void this.disconnect(p.userId, 'Idle');
        }
      }
    }, Math.max(250, Math.min(60_000, Math.floor(timeout / 4))));
    this.idleTimer.unref();
  }

  /**
   * Puts the user's puppet in `channel` (connecting first). `stored` as for connection(). The
   * channel is the puppet's from now on: a connection that registers later (this one, or a
   * retry after this one failed, with backoff) joins it. Rejects when this connection attempt
   * fails; the retries go on.
   */
  async joinChannel(userId: UserId, displayName: string | null, channel: Channel, key: string | null,
    stored?: number | null): Promise<void> {
    const p = this.puppetOf(userId, displayName, stored);
    const folded = this.server.fold(channel);
    if (!p.channels.has(folded)) {
      p.channels.set(folded, { name: channel, key });
      if (p.conn?.state === 'registered') {
        p.conn.join(channel, key);
        return;
      }
    }
    await this.connection(userId, displayName, stored);
  }

  /** Takes the puppet out of `channel`; a puppet left in no channel quits. */
  async partChannel(userId: UserId, channel: string, reason: string): Promise<void> {
    const p = this.puppets.get(userId);
    if (!p) {
      return;
    }
    const folded = this.server.fold(channel);
    if (p.channels.delete(folded) && p.conn?.state === 'registered') {
      p.conn.part(channel, reason);
    }
    if (p.channels.size === 0) {
      await this.disconnect(userId, 'Left all bridged channels');
    }
  }

  /** The user chose another nick: stop asking for the one the connection had to give up. */
  stopNickRegain(userId: UserId): void {
    const conn = this.puppets.get(userId)?.conn;
    if (conn) {
      this.regaining.delete(conn);
    }
  }

  /** Forgets a channel the server removed the puppet from (kick). */
  forgetChannel(userId: UserId, channel: string): void {
    this.puppets.get(userId)?.channels.delete(this.server.fold(channel));
  }

  async disconnect(userId: UserId, reason: string): Promise<void> {
    const p = this.puppets.get(userId);
    if (!p) {
      return;
    }
    this.puppets.delete(userId);
    if (p.retryTimer) {
      clearTimeout(p.retryTimer);
    }
    // A connection still registering gets a moment; if it completes later, connectOnce sees the
    // puppet is no longer wanted and quits it. Waiting for its whole connect timeout here would
    // hold up a stop by that long.
    const conn = p.conn ?? (p.connecting ? await Promise.race([p.connecting.catch(() => null),
      new Promise<null>((r) => setTimeout(() => r(null), DISCONNECT_WAIT_MS).unref())]) : null);
    if (conn) {
      this.forgetNick(conn.nick);
      await conn.quit(reason);
    }
    this.log.info('puppet disconnected', { user_id: userId, reason });
  }

  async stopAll(reason: string): Promise<void> {
    this.stopped = true;
    if (this.idleTimer) {
      clearInterval(this.idleTimer);
      this.idleTimer = null;
    }
    this.waiting.splice(0).forEach((w) => w.go());
    this.registrations.release();
    await Promise.all([...this.puppets.keys()].map((u) => this.disconnect(u, reason)));
  }

  private async connect(p: Puppet): Promise<IrcConnection> {
    await this.acquireSlot(p);
    if (this.stopped) {
      this.releaseSlot();
      throw new Error('the bridge is stopping');
    }
    const endTimer = this.ctx.metrics.connectSeconds.startTimer({ network: this.network });
    try {
      const conn = await this.connectOnce(p);
      endTimer({ outcome: 'ok' });
      return conn;
    } catch (err) {
      endTimer({ outcome: 'failed' });
      if (err instanceof IrcBannedError) {
        this.onBanned(p, err.reason);
      } else {
        this.scheduleReconnect(p);
      }
      throw err;
    } finally {
      this.releaseSlot();
    }
  }

  /** A connection that should exist is gone: try again later, backing off with jitter. */
  private scheduleReconnect(p: Puppet): void {
    if (this.stopped || p.banned !== null || p.retryTimer || p.channels.size === 0 || this.puppets.get(p.userId) !== p) {
      return;
    }
    const wait = Math.round(p.retryMs * (0.5 + Math.random()));
    p.retryMs = Math.min(this.cfg.reconnect_max_delay_ms, p.retryMs * 2);
    this.ctx.metrics.reconnects.inc({ network: this.network, role: 'puppet' });
    p.retryTimer = setTimeout(() => {
      p.retryTimer = null;
      if (this.puppets.get(p.userId) === p && !p.conn && !p.connecting) {
        this.connection(p.userId, null).catch(() => undefined); // a failure schedules the next try
      }
    }, wait);
    p.retryTimer.unref();
  }

  private onBanned(p: Puppet, reason: string): void {
    if (p.banned === null) {
      p.banned = reason;
      this.log.warn('puppet banned from the network; not reconnecting', { user_id: p.userId, reason });
      this.onEvent(p, { type: 'closed', reason, banned: true });
    }
  }

  private async connectOnce(p: Puppet): Promise<IrcConnection> {
    // The bot's registration tells NICKLEN and CASEMAPPING; wait for it (bounded).
    await this.server.whenReady(this.cfg.connect_timeout_ms);
    const nickLen = this.server.nickLen();
    const stored = this.ctx.store.getPuppet(p.userId, this.network);
    const localpart = localpartOf(p.userId);
    const wanted = stored?.nick ??
      renderPuppetNick(this.cfg.puppet_nick_template, { display: p.displayName, localpart }, nickLen);
    const suffix = templateSuffix(this.cfg.puppet_nick_template);
    let base = wanted;
    let erroneousCount = 0;
    const username = stored?.username ?? this.usernameFor(p.userId);
    const registration = this.registrations.enter();
    const conn = new IrcConnection({
      host: this.cfg.host,
      port: this.cfg.port,
      tls: this.cfg.tls,
      tlsVerify: this.cfg.tls_verify,
      password: this.cfg.password,
      nick: wanted,
      username,
      realname: renderTemplate(this.cfg.puppet_realname_template,
        { MXID: p.userId, LOCALPART: localpart, DISPLAY: p.displayName ?? localpart }).replace(/[\r\n\0]/g, ' '),
      role: 'puppet',
      deafMode: this.cfg.puppet_deaf_mode,
      sendBurst: this.cfg.send_burst,
      sendRate: this.cfg.send_rate,
      connectTimeoutMs: this.cfg.connect_timeout_ms,
      auth: this.authOf(p),
      outgoingAddr: this.sourceAddressOf(p.userId),
      ident: this.ctx.ident ?? null,
      registrationGate: registration.gate,
      nextNick: (attempt, _refused, erroneous) => {
        if (erroneous) {
          // A form the server rejects (432) will not get better by numbering it: fall back to
          // the localpart, then to a plain stem with the suffix, then to letters and digits only.
          erroneousCount++;
          base = erroneousCount === 1 ? renderPuppetNick(this.cfg.puppet_nick_template, { display: null, localpart }, nickLen)
            : erroneousCount === 2 ? `matrix${suffix}`.slice(0, nickLen) : `matrix${attempt}`;
          return base;
        }
        return nextNickCandidate(base, attempt, nickLen, suffix);
      },
    });
    conn.on('event', (e) => this.onConnEvent(p, conn, e));
    const nick = await conn.connect().finally(registration.leave);
    if (this.puppets.get(p.userId) !== p) {
      // The user left while we were connecting.
      await conn.quit('Left all bridged channels');
      throw new Error('puppet no longer wanted');
    }
    p.conn = conn;
    p.retryMs = 1000;
    this.byNick.set(this.server.fold(nick), p.userId);
    if (!stored) {
      // The nick the user keeps; a numbered stand-in taken during a reconnect is not remembered.
      this.ctx.store.savePuppet({ userId: p.userId, network: this.network, nick: nick as never, username });
    }
    this.log.info('puppet connected', { user_id: p.userId, nick });
    for (const { name, key } of p.channels.values()) {
      conn.join(name, key);
    }
    if (stored && this.server.fold(nick) !== this.server.fold(stored.nick)) {
      this.regainNick(conn, stored.nick);
    }
    return conn;
  }

  /** The user's stored credentials for this network, read at every connect. */
  private authOf(p: Puppet): IrcAuth | null {
    let creds;
    try {
      creds = this.ctx.store.getCredentials(p.userId, this.network);
    } catch (err) {
      // Another key file, or a damaged row: connect unidentified and say why.
      this.log.warn('stored IRC credentials cannot be read', { user_id: p.userId, err: (err as Error).message });
      this.onEvent(p, { type: 'auth', ok: false, mechanism: 'PLAIN', account: null,
        reason: 'your stored credentials cannot be decrypted (the bridge\'s key file changed); store them again' });
      return null;
    }
    return creds ? { mode: this.cfg.auth, ...creds } : null;
  }

  /** A stable address for the user inside networks.<id>.ipv6_prefix, or null. */
  private sourceAddressOf(userId: UserId): string | null {
    const prefix = this.cfg.ipv6_prefix === null ? null : parseIpv6Prefix(this.cfg.ipv6_prefix);
    return prefix ? addressInPrefix(prefix, createHash('sha256').update(userId).digest()) : null;
  }

  /** Each Matrix user's puppet has its own username on the network, so that an IRC ban on
   *  `*!*user@host` hits one user: when another user's puppet has `base`, a digest of the full
   *  user ID (stable across restarts) replaces its end. */
  /** A new puppet's IRC username: from the template, unique per user on this network. */
  private usernameFor(userId: UserId): string {
    // With identd on, the server trusts the username we give: one of its own for each user.
    const localpart = localpartOf(userId);
    return this.uniqueUsername(userId, this.ctx.ident ? identUsername(userId, localpart)
      : makeUsername(renderTemplate(this.cfg.puppet_username_template, { LOCALPART: localpart })));
  }

  private uniqueUsername(userId: UserId, base: string): string {
    for (let i = 0; ; i++) {
      const candidate = i === 0 ? base
        : base.slice(0, 5) + createHash('sha256').update(i === 1 ? userId : `${userId}/${i}`).digest('hex').slice(0, 5);
      const claimant = this.claimedUsernames.get(candidate);
      if ((claimant === undefined || claimant === userId) && !this.ctx.store.isUsernameTaken(this.network, candidate, userId)) {
        // Held from now on: another user's puppet connecting before this one is stored must not take it.
        this.claimedUsernames.set(candidate, userId);
        return candidate;
      }
    }
  }

  /** A reconnect had to take a stand-in nick (the old connection's ghost still held the real
   *  one): ask for the user's nick again now and then, quietly, until it is free. */
  private regainNick(conn: IrcConnection, preferred: string): void {
    this.regaining.set(conn, preferred);
    const timer = setInterval(() => {
      if (conn.state !== 'registered' || this.server.fold(conn.nick) === this.server.fold(preferred) ||
        this.regaining.get(conn) !== preferred) {
        clearInterval(timer);
        this.regaining.delete(conn);
        return;
      }
      conn.send('NICK', [preferred]);
    }, this.cfg.nick_regain_interval_ms);
    timer.unref();
  }

  private onConnEvent(p: Puppet, conn: IrcConnection, e: IrcEvent): void {
    if (this.replaced.has(conn)) {
      return;
    }
    if (e.type === 'auth') {
      if (e.ok) {
        this.log.info('puppet identified', { user_id: p.userId, mechanism: e.mechanism, account: e.account });
      } else {
        this.log.warn('puppet could not identify', { user_id: p.userId, mechanism: e.mechanism, reason: e.reason });
      }
    }
    const preferred = this.regaining.get(conn);
    if (e.type === 'refused' && preferred !== undefined && ['432', '433', '436', '437'].includes(e.code) &&
      this.server.fold(e.target) === this.server.fold(preferred)) {
      return; // our own regain attempt: nothing the user needs to hear
    }
    if (e.type === 'nick' && this.server.fold(e.nick) === this.server.fold(conn.nick === e.newNick ? e.nick : conn.nick)) {
      this.byNick.set(this.server.fold(e.newNick), p.userId);
      if (this.server.fold(e.nick) !== this.server.fold(e.newNick)) {
        this.forgetNick(e.nick);
      }
      this.ctx.store.savePuppet({ userId: p.userId, network: this.network, nick: e.newNick as never,
        username: conn.userHost.user.replace(/^~/, '') });
    }
    if (e.type === 'closed') {
      this.forgetNick(conn.nick);
      if (p.conn === conn) {
        p.conn = null;
      }
      if (this.puppets.get(p.userId) !== p) {
        return; // we closed it on purpose
      }
      if (e.banned) {
        this.onBanned(p, e.reason);
        return;
      }
      this.scheduleReconnect(p);
    }
    this.onEvent(p, e);
  }

  /** The nick is no longer one of our puppets'; the network is told, since lines of it may
   *  still be on their way to its bot. */
  private forgetNick(nick: string): void {
    if (this.byNick.delete(this.server.fold(nick))) {
      this.server.nickReleased?.(nick);
    }
  }

  private acquireSlot(puppet: Puppet): Promise<void> {
    if (this.inFlight < this.cfg.max_concurrent_connects) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ puppet, go: () => {
      this.inFlight++;
      resolve();
    } }));
  }

  /** Frees a slot for the waiting user who was active most recently (read now, not when they
   *  started waiting: someone who speaks while waiting moves up). */
  private releaseSlot(): void {
    this.inFlight--;
    let best = -1;
    for (let i = 0; i < this.waiting.length; i++) {
      if (best < 0 || (this.waiting[i]?.puppet.lastActive ?? 0) > (this.waiting[best]?.puppet.lastActive ?? 0)) {
        best = i;
      }
    }
    if (best >= 0) {
      this.waiting.splice(best, 1)[0]?.go();
    }
  }
}

/** The literal text after the template's last variable (`[m]` in `$DISPLAY[m]`). */
export function templateSuffix(template: string): string {
  const m = /\$[A-Z]+([^$]*)$/.exec(template);
  return m?.[1] ?? '';
}

/** With identd on: a username unique to the Matrix user (the ident answer is trusted by the
 *  server, so two users must never share one): up to 6 characters of the localpart and 4 from a
 *  hash of the whole user ID. */
export function identUsername(userId: string, localpart: string): string {
  const stem = localpart.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 6) || 'm';
  const digest = createHash('sha256').update(userId).digest();
  const tag = (digest.readUInt32BE(0) % 36 ** 4).toString(36).padStart(4, '0');
  return /^[a-z]/.test(stem) ? stem + tag : `m${stem.slice(0, 5)}${tag}`;
}

/** An IRC username from a localpart: lower-case letters and digits, at most 10 characters. */
function makeUsername(s: string): string {
  const clean = s.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 10);
  return clean || 'matrix';
}
