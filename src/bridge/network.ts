/**
 * One IRC network: its bot connection (the one source of channel traffic), its puppets and
 * ghosts, and the IRC -> Matrix direction. Channel membership is kept here once per network,
 * never per puppet.
 */
import type { NetworkConfig } from '../config';
import { ircToMatrix } from '../format/irc-to-matrix';
import type { NetworkId, RoomId, UserId } from '../ids';
import { IrcBannedError, IrcConnection, type WhoisInfo } from '../irc/connection';
import type { IrcEvent, IrcEventOf } from '../irc/events';
import { banMaskFor, type IrcIdentity } from '../irc/masks';
import { operatorSymbols } from '../irc/modes';
import { getLogger } from '../log';
import type { BridgeContext } from './context';
import { Ghosts } from './ghosts';
import { IrcModeration } from './irc-moderation';
import { IrcUsers } from './irc-users';
import type { PrefixLevels } from './power-levels';
import { IrcRoomState, rulesOfModes } from './room-state';
import { type Puppet, Puppets } from './puppets';
import { SecretMask } from './services-secrets';
import type { MatrixOutbox, OutboxItem } from './matrix-outbox';

/** A QUIT reason of two server names ("hub.example.net leaf.example.net") is a netsplit. */
const NETSPLIT = /^[\w-]+(\.[\w-]+)+ [\w-]+(\.[\w-]+)+$/;
/** Status changes read within this long of each other become one power-levels event. */
const STATUS_BATCH_MS = 300;
/** Channel modes that become room rules. */
const RULE_MODES = new Set(['i', 'k', 'm', 's', 'p']);
/** How long a nick one of our puppets let go of stays ours for what the bot has yet to read of it. */
const RELEASED_NICK_MS = 60_000;

export interface NetworkHooks {
  /** A private message (PRIVMSG, NOTICE, ACTION) to a user's puppet. */
  privateMessage?: (net: NetworkBridge, puppet: Puppet, e: IrcEventOf<'message'>) => void;
  /** The server refused something a puppet sent to a nick (401 No such nick). */
  privateRefusal?: (net: NetworkBridge, puppet: Puppet, e: IrcEventOf<'refused'>) => void;
  /** A private message to the bridge bot (answers to a link request, `unlink`). */
  botPrivateMessage?: (net: NetworkBridge, e: IrcEventOf<'message'>) => void;
  /** Someone on IRC invited a user's puppet to a channel. */
  invited?: (net: NetworkBridge, puppet: Puppet, e: IrcEventOf<'invite'>) => void;
  /** Something about a user's IRC connection that they should know (their admin room). */
  tellUser?: (userId: UserId, text: string) => void;
  networkCount?: () => number;
}

interface ChannelState {
  name: string;
  /** folded nick -> nick as spelt */
  nicks: Map<string, string>;
  /** folded nick -> status symbols (`@`, `+`), from NAMES and MODE */
  prefixes: Map<string, string>;
  topic: string | null;
  /** Channel modes that become room rules (i, k, m, s, p) that are set. */
  modes: Set<string>;
  /** The bot asked for the mode list since it joined. */
  modesAsked: boolean;
  /** Resolved when the bot's JOIN completed (end of NAMES); rejected when refused. */
  ready: Promise<void>;
  settle: { resolve: () => void; reject: (err: Error) => void };
  joined: boolean;
}

export class NetworkBridge {
  readonly id: NetworkId;
  readonly ghosts: Ghosts;
  readonly puppets: Puppets;
  /** Passwords users of this network just sent to services, masked in what comes back. */
  readonly secrets = new SecretMask();
  private readonly log;
  private bot: IrcConnection | null = null;
  private readonly channels = new Map<string, ChannelState>();
  private stopped = false;
  private botRetryMs = 1000;
  private botTimer: NodeJS.Timeout | null = null;
  private lastNickLen = 9;
  private readyWaiters: Array<() => void> = [];
  /** What the bot knows of each IRC user it shares a channel with. */
  private readonly users: IrcUsers;
  private readonly moderation: IrcModeration;
  private readonly roomState: IrcRoomState;
  /** Set by the bridge: where private messages, their refusals and notices for a user go. */
  hooks: NetworkHooks = {};
  private readonly exclusions: ReadonlyArray<{ regex: RegExp; reason: string }>;
  /** Nicks that quit in a netsplit, with the timer that makes their ghosts leave. */
  private readonly splitQuits = new Map<string, NodeJS.Timeout>();
  /** Folded nicks our puppets let go of (quit, connection closed, renamed) while the bot still
   *  saw them in a channel, with when they stop counting as ours. The bot reads the puppet's
   *  QUIT, PART or NICK on its own socket, often after the puppet's connection told us: until
   *  then its lines are still our own echo. Insertion order is expiry order. */
  private readonly releasedNicks = new Map<string, number>();

  constructor(
    private readonly ctx: BridgeContext,
    id: string,
    readonly cfg: NetworkConfig,
    /** Tells a Matrix user in a room that something they did failed. */
    private readonly notifyRoom: (roomId: RoomId, text: string) => Promise<void>,
    private readonly outbox: MatrixOutbox,
  ) {
    this.id = id as NetworkId;
    this.log = getLogger('bridge.network', { network: id });
    this.ghosts = new Ghosts(ctx, {
      network: this.id, userTemplate: cfg.ghost_user_template, displayNameTemplate: cfg.ghost_display_name_template,
    }, (s) => this.fold(s));
    this.puppets = new Puppets(ctx, this.id, cfg, {
      nickLen: () => this.nickLen(),
      whenReady: (ms) => this.whenReady(ms),
      fold: (s) => this.fold(s),
      nickReleased: (nick) => this.nickReleased(nick),
    }, (p, e) => this.onPuppetEvent(p, e));
    this.users = new IrcUsers((s) => this.fold(s));
    this.moderation = new IrcModeration(ctx, this, outbox, notifyRoom);
    this.roomState = new IrcRoomState(ctx, this, outbox, STATUS_BATCH_MS);
    this.exclusions = cfg.excluded_users.map((rule) => ({ regex: new RegExp(rule.regex), reason: rule.reason }));
  }

  fold(s: string): string {
    return this.bot ? this.bot.fold(s) : s.toLowerCase();
  }

  nickLen(): number {
    return this.bot?.state === 'registered' ? (this.lastNickLen = this.bot.nickLen) : this.lastNickLen;
  }

  /** Resolves once the bot is registered, or after `timeoutMs` regardless. */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.connected) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(done, timeoutMs);
      this.readyWaiters.push(done);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
    });
  }

  /** `prefix_power_levels`: the Matrix level of each channel status. */
  get prefixLevels(): PrefixLevels {
    return this.cfg.prefix_power_levels;
  }

  get botNick(): string {
    return this.bot?.nick ?? this.cfg.bot_nick;
  }

  get stopping(): boolean {
    return this.stopped;
  }

  get connected(): boolean {
    return this.bot?.state === 'registered';
  }

  /** Starts the bot connection; retries with backoff until it registers or stop() is called. */
  start(): void {
    this.stopped = false;
    this.releasedNicks.clear();
    this.puppets.startIdleSweep();
    this.connectBot();
  }

  async stop(reason: string): Promise<void> {
    this.stopped = true;
    if (this.botTimer) {
      clearTimeout(this.botTimer);
    }
    for (const st of this.channels.values()) {
      if (!st.joined) {
        st.settle.reject(new Error('the bridge is stopping'));
      }
    }
    this.readyWaiters.splice(0).forEach((w) => w());
    this.splitQuits.forEach((t) => clearTimeout(t));
    this.splitQuits.clear();
    this.roomState.stop();
    await this.puppets.stopAll(reason);
    await this.bot?.quit(reason);
  }

  /** Joins the bot to `channel` and resolves once its NAMES list is in. */
  async joinChannel(channel: string, key: string | null, timeoutMs = 15_000): Promise<ChannelState> {
    const folded = this.fold(channel);
    let st = this.channels.get(folded);
    if (!st) {
      let settle!: ChannelState['settle'];
      const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      ready.catch(() => undefined);
      st = { name: channel, nicks: new Map(), prefixes: new Map(), topic: null, modes: new Set(), modesAsked: false, ready, settle,
        joined: false };
      this.channels.set(folded, st);
      if (this.connected) {
        this.bot?.join(channel, key);
      }
    }
    const state = st;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to JOIN ${channel} within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([state.ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return state;
  }

  /** The bot leaves `channel` (its room is no longer bridged). */
  partChannel(channel: string, reason: string): void {
    const folded = this.fold(channel);
    const st = this.channels.get(folded);
    this.channels.delete(folded);
    if (st?.joined) {
      this.sendAsBot('PART', [st.name, reason]);
    }
  }

  /** Channel operators (and higher) in `channel` other than the bridge's own, as last seen. */
  operatorsOf(channel: string): string[] {
    const nicks = this.channels.get(this.fold(channel))?.nicks.values() ?? [];
    return [...nicks].filter((n) => !this.isOwnNick(n) && this.isOperator(channel, n));
  }

  /** Is `nick` in `channel`, as the bot last saw it? */
  isInChannel(channel: string, nick: string): boolean {
    return this.channels.get(this.fold(channel))?.nicks.has(this.fold(nick)) ?? false;
  }

  /** The channel's topic as the bot last saw it (null before it knows). */
  channelTopic(channel: string): string | null {
    return this.channels.get(this.fold(channel))?.topic ?? null;
  }

  /** Is one of the modes that become room rules (i, k, m, s, p) set on the channel? */
  hasChannelMode(channel: string, mode: string): boolean {
    return this.channels.get(this.fold(channel))?.modes.has(mode) ?? false;
  }

  /** Is the channel secret or private (+s, +p), as the bot last saw it? */
  isSecret(channel: string): boolean {
    const modes = this.channels.get(this.fold(channel))?.modes;
    return modes !== undefined && rulesOfModes(modes).secret;
  }

  /** The status modes (letters, highest first) `nick` has in `channel`. */
  statusModes(channel: string, nick: string): string[] {
    const symbols = this.channels.get(this.fold(channel))?.prefixes.get(this.fold(nick)) ?? '';
    return this.statusPrefix().filter((p) => symbols.includes(p.symbol)).map((p) => p.mode);
  }

  /** The server's status modes (PREFIX), highest first. */
  statusPrefix(): ReadonlyArray<{ mode: string; symbol: string }> {
    return this.bot?.modeRules.prefix ?? [{ mode: 'o', symbol: '@' }, { mode: 'v', symbol: '+' }];
  }

  /** nick!user@host (and account) of an IRC user the bot has seen, or null. */
  identityOf(nick: string): IrcIdentity | null {
    return this.users.get(nick);
  }

  /** The ban mask (by `ban_mask`) that targets this IRC user. */
  banMask(who: IrcIdentity): string {
    return banMaskFor(who, this.cfg.ban_mask, this.bot?.extban ?? null);
  }

  /** The ban mask for a Matrix user's puppet: never by host alone, which is the bridge's and
   *  would ban every puppet. */
  puppetBanMask(who: IrcIdentity): string {
    const style = this.cfg.ban_mask.startsWith('account_') ? 'account_or_user_host' : 'user_host';
    return banMaskFor(who, style, this.bot?.extban ?? null);
  }

  /** Is `nick` a channel operator (or higher) in `channel`, as the bot last saw it? */
  isOperator(channel: string, nick: string): boolean {
    const symbols = this.channels.get(this.fold(channel))?.prefixes.get(this.fold(nick)) ?? '';
    const ops = operatorSymbols(this.bot?.modeRules.prefix ?? [{ mode: 'o', symbol: '@' }]);
    return [...symbols].some((c) => ops.includes(c));
  }

  /** Sends a command as the bridge bot; false when the bot is not connected. */
  sendAsBot(command: string, params: readonly string[]): boolean {
    return this.connected ? (this.bot?.send(command, params) ?? false) : false;
  }

  /** Why `userId` gets no IRC connection on this network, or null when it may have one. */
  exclusionOf(userId: string): string | null {
    return this.exclusions.find((rule) => rule.regex.test(userId))?.reason ?? null;
  }

  /** Is `nick` the bot or one of our puppets (so its lines are our own echo)? A puppet nick
   *  let go of a moment ago counts until the bot saw it leave. */
  isOwnNick(nick: string): boolean {
    return this.fold(nick) === this.fold(this.botNick) || this.puppets.userIdOfNick(nick) !== undefined ||
      this.isReleasedNick(nick);
  }

  private isReleasedNick(nick: string): boolean {
    const folded = this.fold(nick);
    const until = this.releasedNicks.get(folded);
    if (until === undefined) {
      return false;
    }
    // While stopping, every puppet quits: none of those QUITs is an IRC user leaving.
    if (this.stopped || until > Date.now()) {
      return true;
    }
    this.releasedNicks.delete(folded);
    return false;
  }

  /** A puppet let go of `nick`. When the bot still sees it in a channel, it is kept as ours
   *  until the bot reads it leave (QUIT, PART, NICK) or RELEASED_NICK_MS pass. */
  private nickReleased(nick: string): void {
    if (!this.stopped && !this.isInAnyChannel(nick)) {
      return; // the bot already saw it go, or never saw it
    }
    const folded = this.fold(nick);
    const now = Date.now();
    for (const [n, until] of this.releasedNicks) {
      if (until > now) {
        break;
      }
      this.releasedNicks.delete(n);
    }
    this.releasedNicks.delete(folded);
    this.releasedNicks.set(folded, now + RELEASED_NICK_MS);
  }

  private connectBot(): void {
    if (this.stopped) {
      return;
    }
    const bot = new IrcConnection({
      host: this.cfg.host, port: this.cfg.port, tls: this.cfg.tls, tlsVerify: this.cfg.tls_verify,
      password: this.cfg.password, nick: this.cfg.bot_nick, username: this.cfg.bot_username,
      realname: `Matrix bridge bot (${this.ctx.botUserId})`, role: 'bot',
      sendBurst: this.cfg.send_burst, sendRate: this.cfg.send_rate, connectTimeoutMs: this.cfg.connect_timeout_ms,
      nextNick: (attempt) => (attempt <= 9 ? `${this.cfg.bot_nick.slice(0, 8)}${attempt}` : null),
    });
    this.bot = bot;
    bot.on('event', (e) => this.onBotEvent(bot, e));
    bot.connect().then((nick) => {
      this.botRetryMs = 1000;
      this.log.info('bot connected', { nick });
      this.nickLen();
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      waiters.forEach((w) => w());
      for (const st of this.channels.values()) {
        st.nicks.clear();
        st.prefixes.clear();
        const mapping = this.ctx.store.getRoomByChannel(this.id, this.fold(st.name));
        bot.join(st.name, mapping?.key ?? null);
      }
    }, (err: Error) => {
      if (err instanceof IrcBannedError) {
        // Without its bot the network is not bridged; keep trying, as slowly as allowed.
        this.botRetryMs = this.cfg.reconnect_max_delay_ms;
        this.log.error('the network banned the bridge bot', { reason: err.reason, retry_ms: this.botRetryMs });
      } else {
        this.log.warn('bot connection failed; retrying', { err: err.message, retry_ms: this.botRetryMs });
      }
      this.scheduleBotReconnect();
    });
  }

  private scheduleBotReconnect(): void {
    if (this.stopped) {
      return;
    }
    const wait = this.botRetryMs * (0.5 + Math.random());
    this.botRetryMs = Math.min(this.cfg.reconnect_max_delay_ms, this.botRetryMs * 2);
    this.ctx.metrics.reconnects.inc({ network: this.id, role: 'bot' });
    this.botTimer = setTimeout(() => this.connectBot(), wait);
  }

  private onBotEvent(bot: IrcConnection, e: IrcEvent): void {
    if (bot !== this.bot) {
      return;
    }
    this.users.track(e);
    switch (e.type) {
      case 'message':
        this.handleIrcMessage(e);
        break;
      case 'join':
        this.handleIrcJoin(e);
        break;
      case 'part':
        this.handleIrcLeave(e.channel, e.nick, e.reason ? `Left IRC: ${e.reason}` : 'Left IRC');
        break;
      case 'kick':
        this.handleIrcKick(e);
        break;
      case 'quit':
        this.handleIrcQuit(e);
        break;
      case 'nick':
        this.handleIrcNick(e);
        break;
      case 'names':
        this.handleIrcNames(e);
        break;
      case 'topic':
        this.handleIrcTopic(e);
        break;
      case 'mode':
        this.handleIrcMode(e);
        break;
      case 'refused':
        this.handleBotRefusal(e);
        break;
      case 'closed':
        if (this.stopped) {
          break;
        }
        this.log.warn('bot connection lost; reconnecting', { reason: e.reason });
        for (const st of this.channels.values()) {
          st.joined = false;
        }
        this.scheduleBotReconnect();
        break;
      default:
        break;
    }
  }

  /** The room bridged to `channel`, or null. */
  roomOf(channel: string): RoomId | null {
    return this.ctx.store.getRoomByChannel(this.id, this.fold(channel))?.roomId ?? null;
  }

  private handleIrcMessage(e: IrcEventOf<'message'>): void {
    const roomId = this.roomOf(e.target);
    if (!roomId || this.isOwnNick(e.from.nick)) {
      if (!roomId && !this.bot?.isChannel(e.target) && !this.isOwnNick(e.from.nick)) {
        this.hooks.botPrivateMessage?.(this, e);
      }
      return;
    }
    this.outbox.push(this.id, roomId, {
      kind: 'message', userId: this.ghosts.userIdFor(e.from.nick), nick: e.from.nick, content: this.matrixContentOf(e),
      ts: e.time ?? Date.now(),
    });
  }

  /** The Matrix content of an IRC message: formatting as HTML, puppet nicks as pills. */
  matrixContentOf(e: IrcEventOf<'message'>): Record<string, unknown> {
    const text = ircToMatrix(e.text, (word) => this.mentionOf(word));
    const content: Record<string, unknown> = {
      msgtype: e.kind === 'action' ? 'm.emote' : e.kind === 'notice' ? 'm.notice' : 'm.text',
      body: text.body,
      'm.mentions': text.mentions.length > 0 ? { user_ids: text.mentions } : {},
    };
    if (text.html !== null) {
      content.format = 'org.matrix.custom.html';
      content.formatted_body = text.html;
    }
    return content;
  }

  /** WHOIS through the bot's connection; null when the nick is not on IRC or the bot is down. */
  whois(nick: string): Promise<WhoisInfo | null> {
    return this.bot?.whois(nick) ?? Promise.resolve(null);
  }

  /** Queues an item for a room through the durable outbox (delivered in order, retried). */
  pushToMatrix(roomId: RoomId, item: OutboxItem): void {
    this.outbox.push(this.id, roomId, item);
  }

  /** Carries out one stored IRC -> Matrix item (called by the outbox, in room order; throws
   *  to be retried). */
  async deliverToMatrix(roomId: RoomId, item: OutboxItem, txnId: string): Promise<void> {
    switch (item.kind) {
      case 'message':
        await this.ghosts.ensureInRoom(roomId, item.userId, item.nick);
        await this.ctx.matrix.sendEvent(roomId, 'm.room.message', item.content, item.userId, item.ts, txnId);
        this.ctx.metrics.message('irc_to_matrix', 'sent');
        break;
      case 'join':
        await this.ghosts.ensureInRoom(roomId, item.userId, item.nick);
        break;
      case 'leave':
        await this.ghosts.leaveRoom(roomId, item.userId, item.reason);
        break;
      case 'rename':
        await this.ghosts.ensureProfile(item.userId, item.nick);
        break;
      case 'topic':
      case 'kick':
      case 'ban':
      case 'unban':
        await this.moderation.deliver(roomId, item);
        break;
      case 'power_levels':
      case 'room_rules':
        await this.roomState.deliver(roomId, item);
        break;
      case 'sync': {
        const keep = new Set<string>(item.keep);
        const members = await this.ctx.matrix.joinedMembers(roomId);
        for (const userId of Object.keys(members)) {
          if (this.ghosts.isGhost(userId) && !keep.has(userId)) {
            await this.ghosts.leaveRoom(roomId, userId as UserId, 'Not on IRC any more');
          }
        }
        break;
      }
    }
  }

  /** A word of an IRC line that is the nick of a bridged Matrix user becomes a pill. */
  private mentionOf(word: string): { userId: string; displayName: string } | null {
    const userId = this.puppets.userIdOfNick(word);
    if (!userId) {
      return null;
    }
    return { userId, displayName: this.puppets.get(userId)?.displayName ?? word };
  }

  private handleIrcJoin(e: IrcEventOf<'join'>): void {
    const st = this.channels.get(this.fold(e.channel));
    if (!st) {
      return;
    }
    if (this.fold(e.user.nick) === this.fold(this.botNick)) {
      st.joined = true;
      st.modesAsked = false;
      st.nicks.clear();
      st.prefixes.clear();
      return;
    }
    // A nick a puppet let go of that joins again, not as our puppet, is someone else's now.
    this.releasedNicks.delete(this.fold(e.user.nick));
    st.nicks.set(this.fold(e.user.nick), e.user.nick);
    st.prefixes.set(this.fold(e.user.nick), '');
    const roomId = this.roomOf(e.channel);
    if (roomId && !this.isOwnNick(e.user.nick)) {
      this.outbox.push(this.id, roomId, { kind: 'join', userId: this.ghosts.userIdFor(e.user.nick), nick: e.user.nick });
      // A JOIN carries no status: a level the ghost had from an earlier visit goes.
      this.roomState.noteStatus(st.name, e.user.nick, [], true);
    }
  }

  private handleIrcLeave(channel: string, nick: string, reason: string): void {
    const st = this.channels.get(this.fold(channel));
    st?.nicks.delete(this.fold(nick));
    st?.prefixes.delete(this.fold(nick));
    if (this.fold(nick) === this.fold(this.botNick)) {
      if (st) {
        st.joined = false;
      }
      return;
    }
    const roomId = this.roomOf(channel);
    const own = this.isOwnNick(nick);
    if (!this.isInAnyChannel(nick)) {
      this.releasedNicks.delete(this.fold(nick)); // the last line of it the bot was to read
    }
    if (roomId && !own) {
      this.outbox.push(this.id, roomId, { kind: 'leave', userId: this.ghosts.userIdFor(nick), reason });
    }
  }

  private isInAnyChannel(nick: string): boolean {
    const folded = this.fold(nick);
    for (const st of this.channels.values()) {
      if (st.nicks.has(folded)) {
        return true;
      }
    }
    return false;
  }

  private handleIrcQuit(e: IrcEventOf<'quit'>): void {
    const folded = this.fold(e.nick);
    const own = this.isOwnNick(e.nick);
    this.releasedNicks.delete(folded);
    const channels: ChannelState[] = [];
    for (const st of this.channels.values()) {
      st.prefixes.delete(folded);
      if (st.nicks.delete(folded) && !own) {
        channels.push(st);
      }
    }
    if (channels.length === 0) {
      return;
    }
    const reason = e.reason ? `Quit: ${e.reason}` : 'Quit';
    if (NETSPLIT.test(e.reason) && this.cfg.netsplit_debounce_ms > 0) {
      // Most users of a split come back within seconds: their ghosts stay until the debounce
      // ends, then leave only the rooms whose channel they did not rejoin.
      const timer = setTimeout(() => {
        this.splitQuits.delete(folded);
        this.leaveUnlessBack(e.nick, channels, reason);
      }, this.cfg.netsplit_debounce_ms);
      timer.unref();
      clearTimeout(this.splitQuits.get(folded));
      this.splitQuits.set(folded, timer);
      return;
    }
    this.leaveUnlessBack(e.nick, channels, reason);
  }

  private leaveUnlessBack(nick: string, channels: ChannelState[], reason: string): void {
    for (const st of channels) {
      const roomId = this.roomOf(st.name);
      if (roomId && !st.nicks.has(this.fold(nick))) {
        this.outbox.push(this.id, roomId, { kind: 'leave', userId: this.ghosts.userIdFor(nick), reason });
      }
    }
  }

  private handleIrcNick(e: IrcEventOf<'nick'>): void {
    const oldFolded = this.fold(e.nick);
    const rooms: RoomId[] = [];
    for (const st of this.channels.values()) {
      if (st.nicks.delete(oldFolded)) {
        st.nicks.set(this.fold(e.newNick), e.newNick);
        st.prefixes.set(this.fold(e.newNick), st.prefixes.get(oldFolded) ?? '');
        st.prefixes.delete(oldFolded);
        const roomId = this.roomOf(st.name);
        if (roomId) {
          rooms.push(roomId);
        }
      }
    }
    if (this.fold(e.newNick) !== oldFolded) {
      // A nick a puppet let go of is the renaming user's now (the bot read the puppet leave first).
      this.releasedNicks.delete(this.fold(e.newNick));
    }
    const own = this.isOwnNick(e.nick) || this.isOwnNick(e.newNick);
    this.releasedNicks.delete(oldFolded);
    if (own || rooms.length === 0) {
      return;
    }
    // The ghost answers to the new nick from now on; its display name follows, ordered behind
    // what the first room already has queued.
    const userId = this.ghosts.rename(e.nick, e.newNick);
    this.outbox.push(this.id, rooms[0] as RoomId, { kind: 'rename', userId, nick: e.newNick });
  }

  // KICK <channel> <nick> [reason]
  private handleIrcKick(e: IrcEventOf<'kick'>): void {
    const userId = this.puppets.userIdOfNick(e.nick);
    const roomId = this.roomOf(e.channel);
    if (userId && roomId) {
      // The puppet's own connection forgets the channel; here the Matrix side follows, unless
      // the kick came from Matrix (sent by the bot or a puppet).
      const st = this.channels.get(this.fold(e.channel));
      st?.nicks.delete(this.fold(e.nick));
      st?.prefixes.delete(this.fold(e.nick));
      if (this.isOwnNick(e.by)) {
        return;
      }
      this.outbox.push(this.id, roomId, { kind: 'kick', userId, channel: e.channel, by: e.by, reason: e.reason });
      return;
    }
    this.handleIrcLeave(e.channel, e.nick, `Kicked by ${e.by}${e.reason ? ': ' + e.reason : ''}`);
  }

  // TOPIC <channel> :<topic> (332 on join carries by = null and is not bridged)
  private handleIrcTopic(e: IrcEventOf<'topic'>): void {
    const st = this.channels.get(this.fold(e.channel));
    if (st) {
      st.topic = e.topic;
    }
    const roomId = this.roomOf(e.channel);
    if (!roomId || e.by === null || this.isOwnNick(e.by)) {
      return;
    }
    this.roomState.flush(st?.name ?? e.channel); // an operator's level first, so their ghost may set it
    this.outbox.push(this.id, roomId, { kind: 'topic', userId: this.ghosts.userIdFor(e.by), nick: e.by, topic: e.topic });
  }

  // MODE <channel> <modes> [params...]: member statuses become ghost power levels, bans go to
  // moderation, +i +k +m +s +p become room rules; other modes are not bridged. A 324 (the
  // mode list the bot asks for after joining) lists every mode that is set.
  private handleIrcMode(e: IrcEventOf<'mode'>): void {
    const st = this.channels.get(this.fold(e.channel));
    if (!st) {
      return;
    }
    const prefix = this.statusPrefix();
    const before = rulesOfModes(st.modes);
    let rulesTouched = e.snapshot === true;
    if (e.snapshot) {
      st.modes.clear();
    }
    for (const c of e.changes) {
      if (c.kind === 'list' && c.mode === 'b' && c.param !== null) {
        this.moderation.handleIrcBan({ name: st.name, nicks: st.nicks.values() }, e.by, c);
        continue;
      }
      if (RULE_MODES.has(c.mode) && c.kind !== 'prefix' && c.kind !== 'list') {
        rulesTouched = true;
        if (c.adding) {
          st.modes.add(c.mode);
        } else {
          st.modes.delete(c.mode);
        }
        if (c.mode === 'k') {
          this.rememberKey(st.name, c.adding ? c.param : null);
        }
        continue;
      }
      if (c.kind !== 'prefix' || c.param === null) {
        if (c.kind === 'flag' || c.kind === 'setting') {
          this.log.debug('channel mode not bridged', { channel: st.name, mode: c.mode });
        }
        continue;
      }
      const folded = this.fold(c.param);
      const symbol = prefix.find((p) => p.mode === c.mode)?.symbol ?? '';
      const had = st.prefixes.get(folded) ?? '';
      const without = [...had].filter((x) => x !== symbol).join('');
      // Keep the server's order (highest status first).
      const next = c.adding ? prefix.map((p) => p.symbol).filter((x) => x === symbol || without.includes(x)).join('') : without;
      st.prefixes.set(folded, next);
      if (!this.isOwnNick(c.param) && st.nicks.has(folded)) {
        this.roomState.noteStatus(st.name, st.nicks.get(folded) as string, this.statusModes(st.name, c.param));
      }
    }
    if (rulesTouched) {
      this.roomState.noteRules(st.name, before, rulesOfModes(st.modes), e.snapshot === true);
    }
  }

  /** +k: the key is stored with the mapping, so puppets (and the bot, after a reconnect) can
   *  join; -k forgets it. */
  private rememberKey(channel: string, key: string | null): void {
    const mapping = this.ctx.store.getRoomByChannel(this.id, this.fold(channel));
    if (mapping && mapping.key !== key && (key === null || !/[\s,\0]/.test(key))) {
      this.ctx.store.upsertRoomMapping({ ...mapping, key }, this.fold(channel));
    }
  }

  private handleIrcNames(e: IrcEventOf<'names'>): void {
    const st = this.channels.get(this.fold(e.channel));
    if (!st) {
      return;
    }
    for (const u of e.users) {
      st.nicks.set(this.fold(u.nick), u.nick);
      st.prefixes.set(this.fold(u.nick), u.prefixes);
    }
    st.joined = true;
    st.settle.resolve();
    const roomId = this.roomOf(e.channel);
    if (roomId) {
      this.syncGhosts(roomId, st);
      this.noteStatuses(st);
    }
    if (!st.modesAsked) {
      st.modesAsked = true;
      this.sendAsBot('MODE', [st.name]); // the answer (324) states the channel's modes
    }
  }

  /** A channel became a room: what the bot knows of its statuses and modes follows (what it
   *  read before the room existed had nowhere to go). */
  noteChannelState(st: ChannelState): void {
    this.noteStatuses(st);
    this.roomState.noteRules(st.name, { inviteOnly: false, moderated: false, secret: false }, rulesOfModes(st.modes), false);
  }

  /** Every IRC user's status in the channel, as ghost power levels. */
  private noteStatuses(st: ChannelState): void {
    for (const nick of st.nicks.values()) {
      if (!this.isOwnNick(nick)) {
        this.roomState.noteStatus(st.name, nick, this.statusModes(st.name, nick));
      }
    }
  }

  /** Makes the room's ghosts match the channel's members: IRC users present join, ghosts of
   *  users no longer there leave. */
  syncGhosts(roomId: RoomId, st: ChannelState): void {
    const keep: UserId[] = [];
    for (const nick of st.nicks.values()) {
      if (!this.isOwnNick(nick)) {
        const userId = this.ghosts.userIdFor(nick);
        keep.push(userId);
        this.outbox.push(this.id, roomId, { kind: 'join', userId, nick });
      }
    }
    this.outbox.push(this.id, roomId, { kind: 'sync', keep });
  }

  private handleBotRefusal(e: IrcEventOf<'refused'>): void {
    const st = this.channels.get(this.fold(e.target));
    if (st && !st.joined) {
      this.channels.delete(this.fold(e.target));
      st.settle.reject(new Error(`${e.target}: ${e.reason} (${e.code})`));
    }
    this.log.warn('IRC server refused a bot command', { code: e.code, target: e.target, reason: e.reason });
  }

  private onPuppetEvent(p: Puppet, e: IrcEvent): void {
    switch (e.type) {
      case 'message':
        // Channel lines never get here (the bot reads those): this is a private message.
        if (!this.isOwnNick(e.from.nick)) {
          this.hooks.privateMessage?.(this, p, e);
        }
        break;
      case 'refused': {
        const roomId = this.roomOf(e.target);
        this.log.warn('IRC server refused a puppet command', { user_id: p.userId, code: e.code, target: e.target });
        if (roomId) {
          void this.notifyRoom(roomId, `${p.userId}: IRC refused your last action in ${e.target}: ${e.reason}`);
        } else if (e.code === '401' && !this.bot?.isChannel(e.target)) {
          this.hooks.privateRefusal?.(this, p, e); // No such nick: a private message that went nowhere
        }
        if (['471', '473', '474', '475', '477'].includes(e.code)) {
          this.puppets.forgetChannel(p.userId, e.target);
        }
        break;
      }
      case 'kick':
        this.puppets.forgetChannel(p.userId, e.channel);
        break;
      case 'invite':
        if (p.conn && this.fold(e.nick) === this.fold(p.conn.nick) && !this.isOwnNick(e.by)) {
          this.hooks.invited?.(this, p, e);
        }
        break;
      case 'closed':
        if (e.banned) {
          for (const roomId of this.ctx.store.listRoomsOfUser(p.userId)) {
            if (this.ctx.store.getMappingByRoom(roomId)?.network === this.id) {
              void this.notifyRoom(roomId, `${p.userId}: the IRC network ${this.cfg.name} banned your connection ` +
                `(${e.reason}). The bridge will not reconnect you; your messages here do not reach IRC.`);
            }
          }
          this.hooks.tellUser?.(p.userId, `The IRC network ${this.cfg.name} banned your connection: ${e.reason}. ` +
            'The bridge will not reconnect you to it; your messages in its rooms do not reach IRC. ' +
            `Once the ban is lifted, say !reconnect${this.hooks.networkCount?.() === 1 ? '' : ' ' + this.id} here.`);
        } else {
          this.log.warn('puppet connection lost; reconnecting', { user_id: p.userId, reason: e.reason });
        }
        break;
      case 'auth':
        if (!e.ok) { // the server's words only: never what was sent
          const how = e.mechanism === 'NICKSERV' ? 'NickServ IDENTIFY' : `SASL ${e.mechanism}`;
          this.hooks.tellUser?.(p.userId, `Identifying to ${this.cfg.name} with your stored credentials failed ` +
            `(${how}): ${e.reason}. You are connected without your account.`);
        }
        break;
      default:
        break;
    }
  }

  /** Channels of mapped rooms: (re)join them through the bot. */
  joinMappedChannels(): void {
    for (const m of this.ctx.store.listRoomMappings(this.id)) {
      void this.joinChannel(m.channel, m.key).catch((err: Error) =>
        this.log.warn('bot could not join a mapped channel', { channel: m.channel, err: err.message }));
    }
  }
}
