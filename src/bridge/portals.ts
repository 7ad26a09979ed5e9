/**
 * Portal rooms: the Matrix room of one IRC channel, created on demand when someone asks the
 * homeserver for `#<network>_<channel>:<domain>`, or bridged statically from the config.
 */
import type { Channel, RoomId, UserId } from '../ids';
import { getLogger } from '../log';
import type { BridgeContext } from './context';
import type { NetworkBridge } from './network';
import { RateWindow } from './rate-window';
import { escapeLocalpart, renderTemplate, templateRegexSource, unescapeLocalpart } from './templates';

const log = getLogger('bridge.portals');

/** IRC invites carried to one Matrix user per minute, and new portal rooms IRC invites may
 *  open per network per minute; more are dropped and logged. */
const INVITES_PER_USER_PER_MINUTE = 5;
const INVITE_PORTALS_PER_MINUTE = 10;

export class Portals {
  private readonly creating = new Map<string, Promise<RoomId | null>>();
  /** IRC invites carried to one Matrix user, and portals opened by IRC invites on a network:
   *  anyone on IRC can send INVITEs, and each could open a room and invite a Matrix user. */
  private readonly invitesPerUser = new RateWindow(INVITES_PER_USER_PER_MINUTE, 60_000);
  private readonly invitePortals = new RateWindow(INVITE_PORTALS_PER_MINUTE, 60_000);

  constructor(private readonly ctx: BridgeContext, private readonly networks: Map<string, NetworkBridge>) {}

  /** The alias localpart of a channel's portal (`test_lobby` for `#lobby`). */
  aliasLocalpart(net: NetworkBridge, channel: string): string {
    const bare = channel.startsWith('#') ? channel.slice(1) : channel;
    return renderTemplate(net.cfg.portal_alias_template, { NETWORK: net.id, CHANNEL: escapeLocalpart(net.fold(bare)) });
  }

  alias(net: NetworkBridge, channel: string): string {
    return `#${this.aliasLocalpart(net, channel)}:${this.ctx.domain}`;
  }

  /** Parses a portal alias back to its network and channel, or null when it is not one. */
  parseAlias(alias: string): { net: NetworkBridge; channel: Channel } | null {
    const m = /^#([^:]+):(.+)$/.exec(alias);
    if (!m || m[2] !== this.ctx.domain) {
      return null;
    }
    for (const net of this.networks.values()) {
      const re = new RegExp(`^${templateRegexSource(net.cfg.portal_alias_template, { NETWORK: net.id }, 'CHANNEL')}$`);
      const cm = re.exec(m[1] as string);
      const raw = cm?.[1] !== undefined ? unescapeLocalpart(cm[1]) : null;
      if (raw && !/[\s,\x07\0\r\n]/.test(raw)) {
        // `#` was dropped when the alias was made; other channel prefixes were kept.
        const channel = /^[&+!]/.test(raw) ? raw : `#${raw}`;
        return { net, channel: channel as Channel };
      }
    }
    return null;
  }

  /** Called for the homeserver's alias query: creates the portal room when allowed. */
  async queryAlias(alias: string): Promise<boolean> {
    const parsed = this.parseAlias(alias);
    if (!parsed) {
      return false;
    }
    const { net, channel } = parsed;
    const existing = this.ctx.store.getRoomByChannel(net.id, net.fold(channel));
    if (existing) {
      // The room exists under another spelling of the alias: point this one at it too.
      await this.ctx.matrix.request('PUT', `/_matrix/client/v3/directory/room/${encodeURIComponent(alias)}`,
        { body: { room_id: existing.roomId } });
      return true;
    }
    if (!net.cfg.dynamic_portals) {
      log.info('alias query refused: dynamic portals are off', { network: net.id, channel });
      return false;
    }
    const key = `${net.id}|${net.fold(channel)}`;
    let pending = this.creating.get(key);
    if (!pending) {
      pending = this.createPortal(net, channel, alias).finally(() => this.creating.delete(key));
      this.creating.set(key, pending);
    }
    return (await pending) !== null;
  }

  /** The portal room of a channel, created when it does not exist yet (the bot joins the channel
   *  with `key`, kept for the puppets). Null when dynamic portals are off or the bot cannot join. */
  async ensurePortal(net: NetworkBridge, channel: Channel, key: string | null): Promise<RoomId | null> {
    const existing = this.ctx.store.getRoomByChannel(net.id, net.fold(channel));
    if (existing) {
      return existing.roomId;
    }
    if (!net.cfg.dynamic_portals) {
      return null;
    }
    const id = `${net.id}|${net.fold(channel)}`;
    let pending = this.creating.get(id);
    if (!pending) {
      pending = this.createPortal(net, channel, this.alias(net, channel), key).finally(() => this.creating.delete(id));
      this.creating.set(id, pending);
    }
    return pending;
  }

  private async createPortal(net: NetworkBridge, channel: Channel, alias: string, key: string | null = null): Promise<RoomId | null> {
    let state;
    try {
      state = await net.joinChannel(channel, key);
    } catch (err) {
      log.warn('portal not created: the bot cannot join the channel', { network: net.id, channel, err: (err as Error).message });
      return null;
    }
    const localpart = /^#([^:]+):/.exec(alias)?.[1] as string;
    const { room_id } = await this.ctx.matrix.createRoom({
      visibility: 'private',
      preset: 'public_chat',
      room_alias_name: localpart,
      name: state.name,
      topic: state.topic ?? undefined,
      initial_state: this.bridgeState(net, state.name),
    }, this.ctx.botUserId);
    const roomId = room_id as RoomId;
    this.ctx.store.upsertRoomMapping({ network: net.id, channel: state.name as Channel, roomId, origin: 'alias', key },
      net.fold(state.name));
    log.info('portal room created', { network: net.id, channel: state.name, room_id: roomId });
    net.syncGhosts(roomId, state);
    net.noteChannelState(state);
    return roomId;
  }

  /**
   * Someone on IRC invited a Matrix user's puppet to `channel`: the user is invited to the
   * channel's room, which is created when it does not exist yet. When that cannot be done the
   * user is told (`tell`, their admin room).
   */
  async onIrcInvite(net: NetworkBridge, userId: UserId, channel: string, by: string,
    tell: (userId: UserId, text: string) => void): Promise<void> {
    let roomId: RoomId | null = null;
    let problem: string | null = null;
    if (!this.invitesPerUser.take(userId)) {
      log.info('IRC invite dropped: too many for this user in a minute', { network: net.id, channel, user_id: userId, by });
      return;
    }
    const known = this.ctx.store.getRoomByChannel(net.id, net.fold(channel)) !== null;
    if (!known && !this.invitePortals.take(net.id)) {
      log.info('IRC invite dropped: too many new rooms from invites in a minute', { network: net.id, channel, user_id: userId, by });
      return;
    }
    if (!/^[#&+!][^\s,\x07\0]+$/.test(channel)) {
      problem = 'that is not a channel name the bridge accepts';
    } else {
      try {
        roomId = await this.ensurePortal(net, channel as Channel, null);
        problem = roomId === null ? 'the bridge could not open a room for it (it may not join that channel)' : null;
      } catch (err) {
        problem = (err as Error).message;
      }
    }
    if (roomId !== null) {
      if (this.ctx.store.getMember(roomId, userId) !== null) {
        return; // already in the room
      }
      try {
        await this.ctx.matrix.invite(roomId, userId, this.ctx.botUserId);
        log.info('IRC invite carried to Matrix', { network: net.id, channel, user_id: userId, by });
        return;
      } catch (err) {
        problem = (err as Error).message;
      }
    }
    log.info('IRC invite not carried to Matrix', { network: net.id, channel, user_id: userId, by, reason: problem });
    tell(userId, `${by} invited you to ${channel} on IRC (${net.cfg.name}), but ${problem}.`);
  }

  /** Bridges the config's static mappings: records them and makes the bot join both sides. */
  async applyStaticMappings(isOurs: (userId: string) => boolean): Promise<void> {
    for (const net of this.networks.values()) {
      for (const m of net.cfg.mappings) {
        const roomId = m.room_id as RoomId;
        const prior = this.ctx.store.getMappingByRoom(roomId);
        if (prior && (prior.network !== net.id || net.fold(prior.channel) !== net.fold(m.channel))) {
          log.warn('static mapping replaces an earlier mapping of the room', { room_id: roomId, channel: m.channel });
          this.ctx.store.removeRoomMapping(roomId);
        }
        this.ctx.store.upsertRoomMapping({ network: net.id, channel: m.channel as Channel, roomId, origin: 'static', key: m.key },
          net.fold(m.channel));
        try {
          await this.ctx.matrix.joinRoom(roomId, this.ctx.botUserId);
          for (const ev of this.bridgeState(net, m.channel)) {
            await this.ctx.matrix.sendState(roomId, ev.type, ev.state_key, ev.content, this.ctx.botUserId).catch(() => undefined);
          }
          await this.recordMatrixMembers(roomId, isOurs);
        } catch (err) {
          log.warn('bot cannot join a statically mapped room (invite it)', { room_id: roomId, err: (err as Error).message });
        }
      }
    }
  }

  /** Matrix users already in a newly bridged room get puppets like those who join later. */
  async recordMatrixMembers(roomId: RoomId, isOurs: (userId: string) => boolean): Promise<void> {
    const members = await this.ctx.matrix.joinedMembers(roomId);
    for (const [userId, info] of Object.entries(members)) {
      if (!isOurs(userId)) {
        this.ctx.store.addMember({ roomId, userId: userId as UserId, displayName: info.display_name ?? null });
      }
    }
  }

  /** MSC2346 bridge info, under both the stable and the legacy event type. */
  bridgeState(net: NetworkBridge, channel: string): Array<{ type: string; state_key: string; content: Record<string, unknown> }> {
    const content = {
      bridgebot: this.ctx.botUserId,
      protocol: { id: 'irc', displayname: 'IRC' },
      network: { id: net.id, displayname: net.cfg.name },
      channel: { id: channel, displayname: channel },
    };
    const stateKey = `org.matrix.irc/${net.id}/${channel}`;
    return [
      { type: 'm.bridge', state_key: stateKey, content },
      { type: 'uk.half-shot.bridge', state_key: stateKey, content },
    ];
  }
}
