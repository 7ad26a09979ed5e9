/**
 * The bridge core's entry point: receives stored Matrix events and routes them per room, in
 * order; answers the homeserver's queries; starts and stops the networks.
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config';
import type { RoomId, UserId } from '../ids';
import { getLogger } from '../log';
import type { AppserviceHandlers } from '../matrix/appservice';
import { type MatrixEvent, parseMatrixEvent } from '../matrix/events';
import type { InboundEvent, InboundEventInput } from '../store/store';
import { builtinCommands } from './admin-commands';
import { AdminRooms, type AdminServices, CHANNEL_PATTERN } from './admin-room';
import { CatchUp } from './catch-up';
import { Plumbing } from './plumbing';
import { secretsIn } from './services-secrets';
import { PrivateMessages } from './private-messages';
import type { BridgeContext } from './context';
import { MatrixOutbox } from './matrix-outbox';
import { MatrixToIrc } from './matrix-to-irc';
import { MatrixModeration } from './matrix-moderation';
import { MatrixRoomState } from './matrix-room-state';
import { NetworkBridge } from './network';
import { Portals } from './portals';
import { KeyedQueue } from './room-queue';

const log = getLogger('bridge');

/** A stored row for an event from a transaction or from room history. */
function inboundRow(e: unknown): InboundEventInput {
  const ev = e as { room_id?: unknown; event_id?: unknown; origin_server_ts?: unknown };
  return {
    roomId: typeof ev?.room_id === 'string' ? ev.room_id : null,
    json: JSON.stringify(e),
    eventId: typeof ev?.event_id === 'string' ? ev.event_id : undefined,
    ts: typeof ev?.origin_server_ts === 'number' ? ev.origin_server_ts : undefined,
  };
}

/**
 * Events of one Matrix user (their messages, their membership) are handled in order, each
 * user's independently: a user whose IRC connection is still registering delays nobody else.
 * Other events are ordered per room.
 */
function orderingKey(raw: unknown, roomId: string | null): string {
  const e = raw as { type?: unknown; sender?: unknown; state_key?: unknown; content?: { membership?: unknown } };
  if (e?.type === 'm.room.member' && e.content?.membership === 'invite' && typeof e.sender === 'string') {
    // An invite (of the bot or a ghost, to a direct chat) is ordered with what its sender says
    // next: their first message must find the chat already set up.
    return `u:${e.sender}`;
  }
  if (e?.type === 'm.room.member' && typeof e.state_key === 'string') {
    return `u:${e.state_key}`;
  }
  if (e?.type === 'm.room.message' && typeof e.sender === 'string') {
    return `u:${e.sender}`;
  }
  return `r:${roomId ?? '-'}`;
}
/** Events by origin_server_ts (one without takes the latest time before it); stable, so equal
 *  times keep arrival order. */
function inTimeOrder(events: readonly InboundEvent[]): InboundEvent[] {
  let latest = 0;
  const keyed = events.map((ev) => {
    const ts = (ev.event as { origin_server_ts?: unknown })?.origin_server_ts;
    latest = typeof ts === 'number' ? Math.max(latest, ts) : latest;
    return { ev, key: typeof ts === 'number' ? ts : latest };
  });
  return keyed.sort((a, b) => a.key - b.key).map((k) => k.ev);
}

const TXN_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** How long accepted event IDs are remembered (a catch-up needs only its own window). */
const SEEN_RETENTION_MS = 24 * 3600 * 1000;
/** How often the homeserver is asked whether it is up, to notice the end of an outage. */
const PROBE_INTERVAL_MS = 15_000;
/** A catch-up waits this long after a trigger, so what the homeserver re-sends comes first. */
const CATCH_UP_DELAY_MS = 3000;
/** Matrix events wait at most this long for a catch-up before they are handled regardless. */
const CATCH_UP_HOLD_MAX_MS = 15_000;

export interface BridgeOptions {
  /** admin.bridge_admins: regular expressions of Matrix user IDs. */
  bridgeAdmins?: readonly string[];
  /** The bridge's version, for !bridgeversion. */
  version?: string;
  /** homeserver.catch_up_max_age_ms; 0 (the default here) turns catching up off. */
  catchUpMaxAgeMs?: number;
  /** How often to probe the homeserver (ms); for tests. */
  probeIntervalMs?: number;
  /** Delay between a trigger and the catch-up (ms); for tests. */
  catchUpDelayMs?: number;
}

export class Bridge implements AppserviceHandlers {
  readonly networks = new Map<string, NetworkBridge>();
  readonly portals: Portals;
  readonly outbox: MatrixOutbox;
  private readonly matrixToIrc: MatrixToIrc;
  private readonly moderation: MatrixModeration;
  private readonly roomState: MatrixRoomState;
  private readonly plumbing: Plumbing;
  private readonly queue: KeyedQueue;
  /** Highest inbound sequence number already handed to a room queue. */
  private dispatchedSeq = 0;
  private started = false;
  readonly catchUp: CatchUp;
  /** The last numeric transaction ID accepted, to notice skipped or restarted numbering. */
  private lastTxnNumber: number | null = null;
  private homeserverDown = false;
  readonly adminRooms: AdminRooms;
  readonly privateMessages: PrivateMessages;
  private probeTimer: NodeJS.Timeout | null = null;
  /** While a catch-up is due, accepted events of the rooms it reads wait, so that missed ones
   *  found in history can be handled in their place (by timestamp), not after events that came
   *  later. Set while such a hold lasts (it bounds it). */
  private holdTimer: NodeJS.Timeout | null = null;
  /** Rooms the catch-up has read since it was last asked for: their events no longer wait. */
  private readonly caughtUp = new Set<string>();
  /** Events taken from the store while their room waits for the catch-up, by room. */
  private readonly held = new Map<string, InboundEvent[]>();
  /** Messages dispatched and not yet handled, per network and sender (`network|user`). */
  private readonly pendingMessages = new Map<string, number>();

  constructor(private readonly ctx: BridgeContext, networks: Config['networks'], private readonly opts: BridgeOptions = {}) {
    const notify = (roomId: RoomId, text: string): Promise<void> => this.notifyRoom(roomId, text);
    const maxDelay = Math.max(...Object.values(networks).map((n) => n.reconnect_max_delay_ms));
    this.outbox = new MatrixOutbox(ctx, (network, roomId, item, txnId) => {
      const net = this.networks.get(network);
      if (!net) {
        throw new Error(`network ${network} is no longer configured`);
      }
      return net.deliverToMatrix(roomId, item, txnId);
    }, maxDelay);
    for (const [id, cfg] of Object.entries(networks)) {
      this.networks.set(id, new NetworkBridge(ctx, id, cfg, notify, this.outbox));
    }
    this.portals = new Portals(ctx, this.networks);
    this.matrixToIrc = new MatrixToIrc(ctx, notify);
    this.moderation = new MatrixModeration(ctx, notify);
    this.roomState = new MatrixRoomState(ctx, notify);
    this.queue = new KeyedQueue((key, err) => log.error('Matrix event handling failed', { key, err }));
    const admins = (opts.bridgeAdmins ?? []).map((r) => new RegExp(r));
    const services: AdminServices = {
      networks: this.networks,
      ensurePortal: (net, channel, key) => this.portals.ensurePortal(net, channel, key),
      aliasOf: (net, channel) => this.portals.alias(net, channel),
      isBridgeAdmin: (userId) => admins.some((re) => re.test(userId)),
      version: opts.version ?? 'unknown',
    };
    this.adminRooms = new AdminRooms(ctx, services, []);
    this.adminRooms.addCommands(builtinCommands(ctx, services, (u) => this.adminRooms.helpFor(u)));
    const plumbing = new Plumbing(ctx, this.portals, (u) => u === ctx.botUserId || this.isGhost(u));
    this.plumbing = plumbing;
    this.adminRooms.addCommands(plumbing.commands());
    const tellUser = (userId: UserId, text: string): void => void this.adminRooms.tell(userId, text);
    this.privateMessages = new PrivateMessages(ctx, (u) => this.networkOfGhost(u), tellUser);
    for (const net of this.networks.values()) {
      net.hooks = {
        privateMessage: (n, p, e) => this.privateMessages.onIrcMessage(n, p, e),
        privateRefusal: (n, p, e) => void this.privateMessages.onRefusal(n, p, e),
        botPrivateMessage: (n, e) => plumbing.onBotMessage(n, e),
        invited: (n, p, e) => void this.portals.onIrcInvite(n, p.userId, e.channel, e.by, tellUser),
        tellUser,
        networkCount: () => this.networks.size,
      };
    }
    this.catchUp = new CatchUp(ctx, {
      maxAgeMs: opts.catchUpMaxAgeMs ?? 0,
      // Bridged rooms and private-message rooms: both carry messages for IRC.
      rooms: () => [...this.networks.values()].flatMap((n) => [...ctx.store.listRoomMappings(n.id).map((m) => m.roomId),
        ...ctx.store.listPmRooms(n.id).map((pm) => pm.roomId)]),
      isOurs: (u) => u === ctx.botUserId || this.isGhost(u),
      accept: (label, events) => {
        const stored = ctx.store.acceptEvents(label, events.map((e) => inboundRow(e)));
        if (stored > 0) {
          this.dispatchInbound();
        }
        return stored;
      },
      done: () => this.releaseHold(),
      roomDone: (roomId) => this.releaseRoom(roomId),
    });
  }

  /** A client-server call failed for good: a connection failure or 5xx means an outage, whose
   *  end is then watched for (it triggers a catch-up). */
  noteHomeserverFailure(status: number): void {
    if ((status === 0 || status >= 500) && !this.homeserverDown) {
      this.homeserverDown = true;
      log.warn('the homeserver is failing; watching for its return', { status });
    }
  }

  async start(): Promise<void> {
    this.ctx.store.pruneTransactions(TXN_RETENTION_MS);
    const written = this.ctx.store.deleteWrittenInbound();
    if (written > 0) {
      log.info('messages written to IRC before the last stop are not sent again', { count: written });
    }
    this.outbox.start();
    for (const net of this.networks.values()) {
      net.start();
    }
    await this.portals.applyStaticMappings((u) => u === this.ctx.botUserId || this.isGhost(u));
    for (const net of this.networks.values()) {
      net.joinMappedChannels();
    }
    this.started = true;
    this.reconnectMembers();
    if (this.catchUp.enabled) {
      this.ctx.store.pruneSeenEvents(Math.max(SEEN_RETENTION_MS, 2 * (this.opts.catchUpMaxAgeMs ?? 0)));
      // Before the first dispatch: what was accepted before the start (the homeserver's first
      // re-sends among it) waits for the catch-up like what comes after.
      this.requestCatchUp('bridge start');
      this.startProbe();
    }
    this.dispatchInbound();
  }

  /** Schedules a catch-up and holds new events back until it has run (bounded). */
  private requestCatchUp(reason: string): void {
    if (!this.catchUp.enabled) {
      return;
    }
    if (!this.holdTimer) {
      this.holdTimer = setTimeout(() => {
        log.warn('a catch-up is taking long; handling Matrix events without waiting for it');
        this.releaseHold();
      }, CATCH_UP_HOLD_MAX_MS);
      this.holdTimer.unref();
    }
    this.caughtUp.clear(); // a new reason to look: every room is read again before its events go on
    this.catchUp.request(reason, this.opts.catchUpDelayMs ?? CATCH_UP_DELAY_MS);
  }

  /** The catch-up is over (or took too long): everything that waited is handled, in time order. */
  private releaseHold(): void {
    if (this.holdTimer) {
      clearTimeout(this.holdTimer);
      this.holdTimer = null;
      this.caughtUp.clear();
      const waited = [...this.held.values()].flat();
      this.held.clear();
      this.dispatchInbound(waited);
    }
  }

  /** The catch-up has read `roomId`: its events (with what was found missing) go on now, in time
   *  order, without waiting for the other rooms. */
  private releaseRoom(roomId: RoomId): void {
    if (!this.holdTimer || !this.started) {
      return;
    }
    this.caughtUp.add(roomId);
    const waited = this.held.get(roomId);
    this.held.delete(roomId);
    if (waited) {
      this.dispatchEvents(inTimeOrder(waited));
    }
  }

  /** A message that waits for the catch-up still moves its sender's puppet up the reconnect
   *  queue now, so the connection is there when the message goes on. */
  private prioritiseSender(ev: InboundEvent): void {
    const e = ev.event as { type?: unknown; sender?: unknown };
    if (e?.type !== 'm.room.message' || typeof e.sender !== 'string' || ev.roomId === null) {
      return;
    }
    const mapping = this.ctx.store.getMappingByRoom(ev.roomId as RoomId);
    if (mapping) {
      this.networks.get(mapping.network)?.puppets.touch(e.sender as UserId);
    }
  }

  /** Do events of this room wait for the catch-up? Those of the rooms it reads (bridged and
   *  private-message rooms), until it has read them. */
  private waitsForCatchUp(roomId: string | null): boolean {
    return this.holdTimer !== null && roomId !== null && !this.caughtUp.has(roomId) &&
      (this.ctx.store.getMappingByRoom(roomId as RoomId) !== null || this.ctx.store.getPmRoomById(roomId as RoomId) !== null);
  }

  /** Asks the homeserver now and then whether it is up; its return after an outage triggers a
   *  catch-up, since it may have lost events it had not yet sent. */
  private startProbe(): void {
    let probing = false;
    this.probeTimer = setInterval(() => {
      if (probing) {
        return;
      }
      probing = true;
      this.ctx.matrix.versions().then(() => true, (err: unknown) => {
        const status = (err as { status?: number }).status ?? 0;
        return status !== 0 && status < 500; // any answer but a 5xx means it is up
      }).then((up) => {
        probing = false;
        if (!up) {
          this.noteHomeserverFailure(0);
        } else if (this.homeserverDown) {
          this.homeserverDown = false;
          log.info('the homeserver answers again');
          this.requestCatchUp('homeserver back');
        }
      }, () => {
        probing = false;
      });
    }, this.opts.probeIntervalMs ?? PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  /** Quits every connection (with each network's quit_message unless `reason` is given). */
  async stop(reason?: string): Promise<void> {
    this.started = false;
    this.catchUp.stop();
    if (this.holdTimer) {
      clearTimeout(this.holdTimer);
      this.holdTimer = null;
    }
    this.held.clear(); // still in the store, for the next start
    if (this.probeTimer) {
      clearInterval(this.probeTimer);
      this.probeTimer = null;
    }
    await Promise.race([this.catchUp.idle(), new Promise((r) => setTimeout(r, 5000).unref())]);
    await Promise.all([...this.networks.values()].map((n) => n.stop(reason ?? n.cfg.quit_message)));
    await this.outbox.stop();
    // Work still queued fails fast now that the networks are stopped; what is not finished
    // stays in the store and is handled at the next start.
    await Promise.race([this.queue.idle(), new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  // ---- AppserviceHandlers ----

  acceptTransaction(txnId: string, events: unknown[]): boolean {
    const rows = events.map((e) => inboundRow(e));
    // Retries carry the same events; what identifies them is their event IDs (or, for events
    // without one, their content).
    const digest = createHash('sha256')
      .update(events.map((e, i) => (typeof (e as { event_id?: unknown })?.event_id === 'string'
        ? (e as { event_id: string }).event_id : rows[i]?.json ?? '')).join('\n'))
      .digest('base64');
    const accepted = this.ctx.store.acceptTransaction(txnId, rows, digest);
    if (accepted) {
      this.watchTxnNumbers(txnId);
    }
    return accepted;
  }

  /** Synapse numbers transactions 1, 2, 3...: a jump means one was skipped, and a step back
   *  means it restarted (and may have lost what it had not sent). Either way, catch up. */
  private watchTxnNumbers(txnId: string): void {
    if (!/^\d{1,15}$/.test(txnId)) {
      return;
    }
    const n = Number(txnId);
    const last = this.lastTxnNumber;
    this.lastTxnNumber = n;
    if (last !== null && n !== last + 1) {
      log.info('transaction numbering jumped; catching up from room history', { last, now: n });
      this.requestCatchUp(n > last ? 'transaction skipped' : 'homeserver restarted');
    }
  }

  afterTransaction(): void {
    this.dispatchInbound();
  }

  async queryUser(userId: string): Promise<boolean> {
    for (const net of this.networks.values()) {
      if (net.ghosts.isGhost(userId)) {
        await this.ctx.matrix.register(userId.slice(1, userId.indexOf(':')));
        return true;
      }
    }
    return false;
  }

  queryAlias(alias: string): Promise<boolean> {
    return this.portals.queryAlias(alias);
  }

  thirdPartyProtocol(protocol: string): unknown {
    if (protocol !== 'irc') {
      return null;
    }
    return {
      user_fields: ['network', 'nickname'],
      location_fields: ['network', 'channel'],
      icon: '',
      field_types: {
        network: { regexp: '[a-z0-9-]+', placeholder: 'network' },
        nickname: { regexp: '[^\\s]+', placeholder: 'nick' },
        channel: { regexp: '[#&+!][^\\s,]+', placeholder: '#channel' },
      },
      instances: [...this.networks.values()].map((n) => ({
        network_id: n.id, desc: n.cfg.name, icon: '', fields: { network: n.id },
      })),
    };
  }

  thirdPartyLocations(protocol: string | null, fields: Record<string, string>): Promise<unknown[]> | null {
    if (protocol !== null && protocol !== 'irc') {
      return null;
    }
    const net = fields.network ? this.networks.get(fields.network) : undefined;
    const channel = fields.channel;
    if (!net || !channel || !/^[#&+!][^\s,\x07]+$/.test(channel) || net.isSecret(channel)) {
      return Promise.resolve([]); // secret and private channels are not looked up
    }
    return Promise.resolve([{ alias: this.portals.alias(net, channel), protocol: 'irc', fields: { network: net.id, channel } }]);
  }

  thirdPartyUsers(protocol: string | null, fields: Record<string, string>): Promise<unknown[]> | null {
    if (protocol !== null && protocol !== 'irc') {
      return null;
    }
    const net = fields.network ? this.networks.get(fields.network) : undefined;
    const nick = fields.nickname;
    if (!net || !nick || /[\s,!@]/.test(nick)) {
      return Promise.resolve([]);
    }
    return Promise.resolve([{ userid: net.ghosts.peekUserId(nick), protocol: 'irc', fields: { network: net.id, nickname: nick } }]);
  }

  health(): { ready: boolean; detail: Record<string, unknown> } {
    const networks: Record<string, unknown> = {};
    for (const n of this.networks.values()) {
      networks[n.id] = { bot: n.connected ? 'connected' : 'connecting', puppets: n.puppets.counts() };
    }
    return { ready: this.started, detail: { networks } };
  }

  /**
   * The provisioning API: `link` {user_id, room_id (or alias), network, channel} asks a channel
   * operator to agree, answers 202 once asked, and tells the outcome in the user's admin room;
   * `unlink` {user_id, room_id, network} unlinks a room linked that way. `user_id` is the room
   * moderator the call acts for; their power level is checked as for !link.
   */
  async provision(action: string, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
    const bad = (error: string): { status: number; body: Record<string, unknown> } =>
      ({ status: 400, body: { errcode: 'M_INVALID_PARAM', error } });
    const field = (k: string): string | null => (typeof body[k] === 'string' ? body[k] as string : null);
    if (action !== 'link' && action !== 'unlink') {
      return { status: 404, body: { errcode: 'M_UNRECOGNIZED', error: 'Unknown provisioning call' } };
    }
    const userId = field('user_id');
    const roomRef = field('room_id');
    const network = field('network') ?? (this.networks.size === 1 ? [...this.networks.keys()][0] as string : null);
    const net = network !== null ? this.networks.get(network) : undefined;
    if (userId === null || !/^@[^:\s]+:\S+$/.test(userId)) {
      return bad('user_id must be a Matrix user ID');
    }
    if (roomRef === null || !/^(![^\s]+|#[^:\s]+:\S+)$/.test(roomRef)) {
      return bad('room_id must be a room ID or an alias');
    }
    if (!net) {
      return bad(`network must be one of ${[...this.networks.keys()].join(', ')}`);
    }
    let roomId: RoomId;
    try {
      roomId = await this.plumbing.resolve(roomRef);
    } catch (err) {
      return { status: 404, body: { errcode: 'M_NOT_FOUND', error: (err as Error).message } };
    }
    if (action === 'unlink') {
      const r = await this.plumbing.requestUnlink(userId as UserId, roomId, net);
      return r.ok ? { status: 200, body: { status: 'unlinked', channel: r.value } }
        : { status: 403, body: { errcode: 'M_FORBIDDEN', error: r.reason } };
    }
    const channel = field('channel');
    if (channel === null || !CHANNEL_PATTERN.test(channel)) {
      return bad('channel must be an IRC channel name');
    }
    const r = await this.plumbing.requestLink(userId as UserId, roomId, roomRef, net, channel,
      (text) => this.adminRooms.tell(userId as UserId, text));
    return r.ok ? { status: 202, body: { status: 'waiting_for_consent', operator: r.value } }
      : { status: 403, body: { errcode: 'M_FORBIDDEN', error: r.reason } };
  }

  observeTransaction(seconds: number, outcome: string): void {
    this.ctx.metrics.transactionSeconds.observe({ outcome }, seconds);
  }

  // ---- internals ----

  /** Hands every stored event not yet dispatched to its queue, except those of rooms that wait
   *  for the catch-up (kept aside until it has read their room). `waited`: events released at
   *  the end of a catch-up; they go with the new ones in time order, so that what was missed
   *  takes its place among what arrived meanwhile. */
  private dispatchInbound(waited?: InboundEvent[]): void {
    if (!this.started) {
      return;
    }
    const ready: InboundEvent[] = [];
    for (const ev of this.ctx.store.listInboundEvents(this.dispatchedSeq)) {
      this.dispatchedSeq = Math.max(this.dispatchedSeq, ev.seq);
      if (ev.roomId !== null && this.waitsForCatchUp(ev.roomId)) {
        const list = this.held.get(ev.roomId);
        if (list) {
          list.push(ev);
        } else {
          this.held.set(ev.roomId, [ev]);
        }
        this.catchUp.hurry(ev.roomId as RoomId);
        this.prioritiseSender(ev);
        continue;
      }
      ready.push(ev);
    }
    this.dispatchEvents(waited ? inTimeOrder([...waited, ...ready].sort((a, b) => a.seq - b.seq)) : ready);
  }

  /** Hands events to their queues, in the order given. */
  private dispatchEvents(events: readonly InboundEvent[]): void {
    for (const ev of events) {
      const pendingKey = this.pendingMessageKey(ev.event, ev.roomId);
      if (pendingKey !== null && !this.admitPendingMessage(pendingKey, ev.event, ev.seq)) {
        continue;
      }
      this.ctx.metrics.inboundBacklog.inc();
      void this.queue.push(orderingKey(ev.event, ev.roomId), async () => {
        try {
          await this.handleMatrixEvent(ev.event, ev.seq);
        } catch (err) {
          if (!this.started) {
            return; // interrupted by the stop: kept in the store for the next start
          }
          // A fault, not an outage: keeping the event would replay it at every start.
          log.error('Matrix event handling failed; event dropped', { room_id: ev.roomId, err });
        }
        this.ctx.store.deleteInboundEvent(ev.seq);
        this.ctx.metrics.inboundBacklog.dec();
        if (pendingKey !== null) {
          const left = (this.pendingMessages.get(pendingKey) ?? 1) - 1;
          if (left > 0) {
            this.pendingMessages.set(pendingKey, left);
          } else {
            this.pendingMessages.delete(pendingKey);
          }
        }
      });
    }
  }

  /** For a message in a bridged room: the key its sender's waiting messages are counted under
   *  (user and network), else null. */
  private pendingMessageKey(raw: unknown, roomId: string | null): string | null {
    const e = raw as { type?: unknown; sender?: unknown };
    if (e?.type !== 'm.room.message' || typeof e.sender !== 'string' || roomId === null) {
      return null;
    }
    const mapping = this.ctx.store.getMappingByRoom(roomId as RoomId);
    return mapping ? `${mapping.network}|${e.sender}` : null;
  }

  /** Counts one more waiting message for its sender; refuses it (and tells them) when
   *  `max_pending_messages` of theirs already wait. */
  private admitPendingMessage(key: string, raw: unknown, seq: number): boolean {
    const net = this.networks.get(key.slice(0, key.indexOf('|')));
    const pending = this.pendingMessages.get(key) ?? 0;
    if (!net || pending < net.cfg.max_pending_messages) {
      this.pendingMessages.set(key, pending + 1);
      return true;
    }
    const e = raw as { room_id?: unknown; sender?: unknown; content?: { body?: unknown } };
    const body = typeof e.content?.body === 'string' ? e.content.body.replace(/\s+/g, ' ') : '';
    const excerpt = body.length > 40 ? `${body.slice(0, 40)}…` : body;
    this.ctx.store.deleteInboundEvent(seq);
    this.ctx.metrics.message('matrix_to_irc', 'failed');
    log.warn('message refused: too many of the sender\'s messages wait for IRC', { user_id: String(e.sender), pending });
    void this.notifyRoom(String(e.room_id) as RoomId, `${String(e.sender)}: your message "${excerpt}" was not sent to IRC: ` +
      `${pending} of your messages are already waiting for your IRC connection. Send it again once they are through.`);
    return false;
  }

  private async handleMatrixEvent(raw: unknown, seq?: number): Promise<void> {
    const parsed = parseMatrixEvent(raw);
    if (!parsed.ok) {
      log.warn('malformed Matrix event skipped', { reason: parsed.reason });
      return;
    }
    const e = parsed.event;
    if (e.sender === this.ctx.botUserId || this.isGhost(e.sender)) {
      return; // our own echo
    }
    const mapping = this.ctx.store.getMappingByRoom(e.roomId as RoomId);
    if (!mapping) {
      await this.handleUnbridgedRoomEvent(e, seq);
      return;
    }
    const net = this.networks.get(mapping.network);
    if (!net) {
      log.warn('room mapped to a network no longer configured', { room_id: e.roomId, network: mapping.network });
      return;
    }
    switch (e.kind) {
      case 'message':
        await this.matrixToIrc.handleMatrixMessage(net, mapping.channel, mapping.key, e, seq);
        break;
      case 'member':
        if (net.ghosts.isGhost(e.stateKey)) {
          if (e.membership === 'ban') {
            await this.moderation.handleMatrixBan(net, mapping.channel, e);
          } else if (e.membership === 'leave' && e.prevMembership === 'ban') {
            await this.moderation.handleMatrixUnban(net, mapping.channel, e);
          } else if (e.membership === 'leave') {
            await this.moderation.handleMatrixKick(net, mapping.channel, e);
          } else if (e.membership === 'invite') {
            await this.roomState.handleMatrixInvite(net, mapping.channel, mapping.key, e);
          }
        } else if (this.isGhost(e.stateKey) || e.stateKey === this.ctx.botUserId) {
          break;
        } else if (e.membership === 'join' && e.prevMembership === 'join') {
          const before = this.ctx.store.getMember(e.roomId as RoomId, e.stateKey as UserId);
          this.ctx.store.addMember({ roomId: e.roomId as RoomId, userId: e.stateKey as UserId, displayName: e.displayName });
          if (before?.displayName !== e.displayName && net.exclusionOf(e.stateKey) === null) {
            await this.moderation.handleMatrixDisplayName(net, e.roomId as RoomId, e.stateKey as UserId, e.displayName);
          }
        } else {
          if (e.membership === 'leave' && e.prevMembership === 'ban') {
            await this.moderation.handleMatrixUnban(net, mapping.channel, e);
          } else if ((e.membership === 'leave' || e.membership === 'ban') && e.sender !== e.stateKey) {
            await this.moderation.handleMatrixKickOfUser(net, mapping.channel, e);
          }
          await this.matrixToIrc.handleMatrixMember(net, mapping.channel, mapping.key, e);
        }
        break;
      case 'topic':
        await this.moderation.handleMatrixTopic(net, mapping.channel, mapping.key, e);
        break;
      case 'power_levels':
        await this.roomState.handleMatrixPowerLevels(net, mapping.channel, e);
        break;
      case 'join_rules':
        await this.roomState.handleMatrixJoinRules(net, mapping.channel, e);
        break;
      default:
        break;
    }
  }

  /** Events of rooms that are not channels: admin rooms, direct chats, invites to either. */
  private async handleUnbridgedRoomEvent(e: MatrixEvent, seq?: number): Promise<void> {
    const roomId = e.roomId as RoomId;
    if (e.kind === 'member') {
      if (e.membership === 'invite' && e.stateKey === this.ctx.botUserId) {
        await this.adminRooms.onBotInvite(e);
      } else if (e.membership === 'invite' && this.isGhost(e.stateKey)) {
        await this.privateMessages.onGhostInvite(e);
      } else if ((e.membership === 'leave' || e.membership === 'ban') && !this.isGhost(e.stateKey)) {
        await this.adminRooms.onLeave(roomId, e.stateKey);
        await this.privateMessages.onLeave(roomId, e.stateKey);
      }
      return;
    }
    if (e.kind !== 'message') {
      return;
    }
    if (this.adminRooms.ownerOf(roomId) === e.sender) {
      await this.adminRooms.onMessage(e);
      return;
    }
    const target = this.privateMessages.targetOf(roomId, e.sender);
    if (target) {
      const secrets = secretsIn(target.nick, e.body);
      target.net.secrets.remember(e.sender, secrets); // masked in the services' answer
      await this.matrixToIrc.handleMatrixMessage(target.net, target.nick, null, e, seq, true);
      if (secrets.length > 0) {
        void this.privateMessages.hidePassword(roomId, e.eventId, target.net.ghosts.userIdFor(target.nick));
      }
    }
  }

  /** The network whose ghost this user is, if any. */
  private networkOfGhost(userId: string): NetworkBridge | null {
    for (const net of this.networks.values()) {
      if (net.ghosts.isGhost(userId)) {
        return net;
      }
    }
    return null;
  }

  private isGhost(userId: string): boolean {
    for (const net of this.networks.values()) {
      if (net.ghosts.isGhost(userId)) {
        return true;
      }
    }
    return false;
  }

  /** After a restart: Matrix users of bridged rooms get their puppets back, those who spoke
   *  most recently first (connection attempts are limited per network). One store read per
   *  network: with thousands of users, a read per user and room held up the start. */
  private reconnectMembers(): void {
    for (const net of this.networks.values()) {
      for (const m of this.ctx.store.listNetworkMembers(net.id)) {
        if (net.exclusionOf(m.userId) !== null) {
          continue;
        }
        void net.puppets.joinChannel(m.userId, m.displayName, m.channel, m.key, m.lastActive).catch((err: Error) => {
          if (!net.stopping) { // a stop ends every attempt still waiting: not worth a line each
            log.warn('puppet reconnect failed', { network: net.id, user_id: m.userId, err: err.message });
          }
        });
      }
    }
  }

  /** A notice from the bot in a room (the bot must be in it). */
  private async notifyRoom(roomId: RoomId, text: string): Promise<void> {
    try {
      await this.ctx.matrix.sendEvent(roomId, 'm.room.message', { msgtype: 'm.notice', body: text }, this.ctx.botUserId);
    } catch (err) {
      log.warn('could not send a notice to a room', { room_id: roomId, err: (err as Error).message });
    }
  }
}
