/**
 * Moderation and room state from IRC to Matrix: IRC bans matched against puppets, and the
 * outbox items that kick, ban, unban and set topics in Matrix. IRC lines are turned into items
 * when read (in IRC order); items are delivered by the outbox, in room order, and may throw to
 * be retried.
 */
import type { NetworkId, RoomId, UserId } from '../ids';
import { type IrcIdentity, isHostmask, maskMatches } from '../irc/masks';
import type { ModeChange } from '../irc/modes';
import { getLogger } from '../log';
import { MatrixApiError } from '../matrix/client';
import type { BridgeContext } from './context';
import type { Ghosts } from './ghosts';
import type { MatrixOutbox, OutboxItem } from './matrix-outbox';
import type { Puppets } from './puppets';

/** What of its network the IRC side of moderation uses. */
export interface ModerationNetwork {
  readonly id: NetworkId;
  readonly ghosts: Ghosts;
  readonly puppets: Puppets;
  readonly botNick: string;
  fold(s: string): string;
  isOwnNick(nick: string): boolean;
  roomOf(channel: string): RoomId | null;
  identityOf(nick: string): IrcIdentity | null;
}

type ModerationItem = Extract<OutboxItem, { kind: 'topic' | 'kick' | 'ban' | 'unban' }>;

export class IrcModeration {
  private readonly log;

  constructor(
    private readonly ctx: BridgeContext,
    private readonly net: ModerationNetwork,
    private readonly outbox: MatrixOutbox,
    private readonly notifyRoom: (roomId: RoomId, text: string) => Promise<void>,
  ) {
    this.log = getLogger('bridge.moderation.irc', { network: net.id });
  }

  // MODE <channel> +b|-b <mask>: a mask that matches exactly one bridged Matrix user's puppet
  // (and not the bot) bans that user in the room, and its removal unbans them; one that matches
  // several is only told, never turned into Matrix bans. Masks our own side set came from
  // Matrix already.
  handleIrcBan(st: { name: string; nicks: Iterable<string> }, by: string | null, c: ModeChange): void {
    const roomId = this.net.roomOf(st.name);
    const mask = c.param as string;
    if (!roomId || by === null || this.net.isOwnNick(by)) {
      return;
    }
    if (!c.adding) {
      // Only a ban this bridge carried to Matrix is lifted there.
      const userId = this.ctx.store.getLinkedBanUser(this.net.id, this.net.fold(st.name), this.net.fold(mask), 'irc');
      if (userId) {
        this.ctx.store.removeLinkedBan(this.net.id, this.net.fold(st.name), userId, 'irc');
        this.outbox.push(this.net.id, roomId, { kind: 'unban', userId, channel: st.name, by, mask });
      }
      return;
    }
    if (!isHostmask(mask)) {
      this.log.debug('IRC ban mask not evaluated (extban)', { channel: st.name, mask });
      return;
    }
    const fold = (s: string): string => this.net.fold(s);
    const matched: UserId[] = [];
    let botMatched = false;
    for (const nick of st.nicks) {
      const userId = this.net.puppets.userIdOfNick(nick);
      const isBot = this.net.fold(nick) === this.net.fold(this.net.botNick);
      if (!userId && !isBot) {
        continue;
      }
      const seen = this.net.identityOf(nick);
      const own = userId ? this.net.puppets.get(userId)?.conn?.userHost : undefined;
      const who = seen ?? (own ? { nick, ident: own.user, host: own.host } : null);
      if (who && maskMatches(mask, who, fold)) {
        if (isBot) {
          botMatched = true;
        } else if (userId) {
          matched.push(userId);
        }
      }
    }
    if (matched.length === 0 && !botMatched) {
      return;
    }
    if (matched.length > 1 || botMatched) {
      this.log.warn('IRC ban matches many bridged users; not carried to Matrix', { channel: st.name, mask, count: matched.length });
      void this.notifyRoom(roomId, `${by} set the IRC ban ${mask} in ${st.name}, which matches ` +
        `${botMatched ? 'the bridge itself and ' : ''}${matched.length} bridged Matrix user(s). The bridge does not ` +
        'ban anyone here for it; IRC applies it to their connections as to anyone\'s.');
      return;
    }
    const userId = matched[0] as UserId;
    this.ctx.store.saveLinkedBan({ network: this.net.id, channelFolded: this.net.fold(st.name), userId, origin: 'irc', mask: this.net.fold(mask) });
    this.outbox.push(this.net.id, roomId, { kind: 'ban', userId, channel: st.name, by, mask });
  }

  /** Carries out one moderation item of the outbox. */
  async deliver(roomId: RoomId, item: ModerationItem): Promise<void> {
    switch (item.kind) {
      case 'topic':
        return this.topic(roomId, item.userId, item.nick, item.topic);
      case 'kick':
        return this.kick(roomId, item);
      case 'ban':
        return this.ban(roomId, item);
      case 'unban':
        return this.unban(roomId, item);
    }
  }

  /** The topic is set by the ghost of whoever set it on IRC; when the room does not let the
   *  ghost set it, the bot sets it and says who did. */
  private async topic(roomId: RoomId, userId: UserId, nick: string, topic: string): Promise<void> {
    await this.net.ghosts.ensureInRoom(roomId, userId, nick);
    try {
      await this.ctx.matrix.sendState(roomId, 'm.room.topic', '', { topic }, userId);
    } catch (err) {
      if (!(err instanceof MatrixApiError && err.status === 403)) {
        throw err;
      }
      await this.ctx.matrix.sendState(roomId, 'm.room.topic', '', { topic }, this.ctx.botUserId);
      await this.notifyRoom(roomId, `${nick} changed the topic on IRC.`);
    }
  }

  /** IRC kicked a Matrix user's puppet: the bot kicks the user from the room, naming the IRC
   *  kicker; the user's puppet leaves the network when that was its last channel. */
  private async kick(roomId: RoomId, item: Extract<OutboxItem, { kind: 'kick' }>): Promise<void> {
    const reason = `Kicked on IRC by ${item.by}${item.reason ? ': ' + item.reason : ''}`;
    try {
      await this.ctx.matrix.kick(roomId, item.userId, reason, this.ctx.botUserId);
    } catch (err) {
      if (!(err instanceof MatrixApiError && err.status === 403)) {
        throw err;
      }
      this.log.warn('could not kick a Matrix user kicked on IRC', { room_id: roomId, user_id: item.userId, err: err.message });
      await this.notifyRoom(roomId, `${item.userId}: ${item.by} kicked you from ${item.channel} on IRC (${item.reason || 'no reason'}), ` +
        'but the bridge may not kick you from this room. Your next message rejoins the channel.');
      return;
    }
    this.ctx.store.removeMember(roomId, item.userId);
    await this.net.puppets.partChannel(item.userId, item.channel, reason);
  }

  /** An IRC ban that matches one bridged Matrix user's puppet bans that user in the room. */
  private async ban(roomId: RoomId, item: Extract<OutboxItem, { kind: 'ban' }>): Promise<void> {
    const reason = `Banned on IRC by ${item.by} (${item.mask})`;
    try {
      await this.ctx.matrix.ban(roomId, item.userId, reason, this.ctx.botUserId);
    } catch (err) {
      if (!(err instanceof MatrixApiError && err.status === 403)) {
        throw err;
      }
      this.log.warn('could not ban a Matrix user banned on IRC', { room_id: roomId, user_id: item.userId, err: err.message });
      await this.notifyRoom(roomId, `${item.userId}: ${item.by} banned you from ${item.channel} on IRC (${item.mask}), ` +
        'but the bridge may not ban you from this room.');
      return;
    }
    this.ctx.store.removeMember(roomId, item.userId);
    await this.net.puppets.partChannel(item.userId, item.channel, reason);
  }

  private async unban(roomId: RoomId, item: Extract<OutboxItem, { kind: 'unban' }>): Promise<void> {
    try {
      await this.ctx.matrix.unban(roomId, item.userId, `Unbanned on IRC by ${item.by} (${item.mask})`, this.ctx.botUserId);
    } catch (err) {
      if (!(err instanceof MatrixApiError && err.status < 500 && err.status !== 429)) {
        throw err;
      }
      this.log.info('Matrix unban after an IRC unban refused', { room_id: roomId, user_id: item.userId, err: err.message });
    }
  }
}
