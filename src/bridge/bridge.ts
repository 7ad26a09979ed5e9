/**
 * The bridge core's entry point: receives stored Matrix events and routes them per room, in
 * order; answers the homeserver's queries; starts and stops the networks.
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config';
import type { RoomId, UserId } from '../ids';
import { getLogger } from '../log';
import type { AppserviceHandlers } from '../matrix/appservice';
import { parseMatrixEvent } from '../matrix/events';
import type { BridgeContext } from './context';
import { MatrixOutbox } from './matrix-outbox';
import { MatrixToIrc } from './matrix-to-irc';
import { MatrixModeration } from './matrix-moderation';
import { NetworkBridge } from './network';
import { Portals } from './portals';
import { KeyedQueue } from './room-queue';

const log = getLogger('bridge');

/**
 * Events of one Matrix user (their messages, their membership) are handled in order, each
 * user's independently: a user whose IRC connection is still registering delays nobody else.
 * Other events are ordered per room.
 */
function orderingKey(raw: unknown, roomId: string | null): string {
  const e = raw as { type?: unknown; sender?: unknown; state_key?: unknown };
  if (e?.type === 'm.room.member' && typeof e.state_key === 'string') {
    return `u:${e.state_key}`;
  }
  if (e?.type === 'm.room.message' && typeof e.sender === 'string') {
    return `u:${e.sender}`;
  }
  return `r:${roomId ?? '-'}`;
}
const TXN_RETENTION_MS = 7 * 24 * 3600 * 1000;

export class Bridge implements AppserviceHandlers {
  readonly networks = new Map<string, NetworkBridge>();
  readonly portals: Portals;
  readonly outbox: MatrixOutbox;
  private readonly matrixToIrc: MatrixToIrc;
  private readonly moderation: MatrixModeration;
  private readonly queue: KeyedQueue;
  /** Highest inbound sequence number already handed to a room queue. */
  private dispatchedSeq = 0;
  private started = false;

  constructor(private readonly ctx: BridgeContext, networks: Config['networks']) {
    const notify = (roomId: RoomId, text: string): Promise<void> => this.notifyRoom(roomId, text);
    const maxDelay = Math.max(...Object.values(networks).map((n) => n.reconnect_max_delay_ms));
    this.outbox = new MatrixOutbox(ctx, (network, roomId, item) => {
      const net = this.networks.get(network);
      if (!net) {
        throw new Error(`network ${network} is no longer configured`);
      }
      return net.deliverToMatrix(roomId, item);
    }, maxDelay);
    for (const [id, cfg] of Object.entries(networks)) {
      this.networks.set(id, new NetworkBridge(ctx, id, cfg, notify, this.outbox));
    }
    this.portals = new Portals(ctx, this.networks);
    this.matrixToIrc = new MatrixToIrc(ctx, notify);
    this.moderation = new MatrixModeration(ctx, notify);
    this.queue = new KeyedQueue((key, err) => log.error('Matrix event handling failed', { key, err }));
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
    this.dispatchInbound();
  }

  /** Quits every connection (with each network's quit_message unless `reason` is given). */
  async stop(reason?: string): Promise<void> {
    this.started = false;
    await Promise.all([...this.networks.values()].map((n) => n.stop(reason ?? n.cfg.quit_message)));
    await this.outbox.stop();
    // Work still queued fails fast now that the networks are stopped; what is not finished
    // stays in the store and is handled at the next start.
    await Promise.race([this.queue.idle(), new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  // ---- AppserviceHandlers ----

  acceptTransaction(txnId: string, events: unknown[]): boolean {
    const rows = events.map((e) => ({
      roomId: typeof (e as { room_id?: unknown })?.room_id === 'string' ? (e as { room_id: string }).room_id : null,
      json: JSON.stringify(e),
    }));
    // Retries carry the same events; what identifies them is their event IDs (or, for events
    // without one, their content).
    const digest = createHash('sha256')
      .update(events.map((e, i) => (typeof (e as { event_id?: unknown })?.event_id === 'string'
        ? (e as { event_id: string }).event_id : rows[i]?.json ?? '')).join('\n'))
      .digest('base64');
    return this.ctx.store.acceptTransaction(txnId, rows, digest);
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
    if (!net || !channel || !/^[#&+!][^\s,\x07]+$/.test(channel)) {
      return Promise.resolve([]);
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

  observeTransaction(seconds: number, outcome: string): void {
    this.ctx.metrics.transactionSeconds.observe({ outcome }, seconds);
  }

  // ---- internals ----

  /** Hands every stored event not yet dispatched to its room's queue. */
  private dispatchInbound(): void {
    if (!this.started) {
      return;
    }
    for (const ev of this.ctx.store.listInboundEvents(this.dispatchedSeq)) {
      this.dispatchedSeq = ev.seq;
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
      });
    }
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
          await this.matrixToIrc.handleMatrixMember(net, mapping.channel, mapping.key, e);
        }
        break;
      case 'topic':
        await this.moderation.handleMatrixTopic(net, mapping.channel, mapping.key, e);
        break;
      default:
        break;
    }
  }

  private isGhost(userId: string): boolean {
    for (const net of this.networks.values()) {
      if (net.ghosts.isGhost(userId)) {
        return true;
      }
    }
    return false;
  }

  /** After a restart: Matrix users of bridged rooms get their puppets back. */
  private reconnectMembers(): void {
    for (const net of this.networks.values()) {
      for (const m of this.ctx.store.listRoomMappings(net.id)) {
        for (const member of this.ctx.store.listMembers(m.roomId)) {
          if (net.exclusionOf(member.userId) !== null) {
            continue;
          }
          void net.puppets.joinChannel(member.userId, member.displayName, m.channel, m.key).catch((err: Error) =>
            log.warn('puppet reconnect failed', { network: net.id, user_id: member.userId, err: err.message }));
        }
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
