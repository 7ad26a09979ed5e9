/**
 * Private messages both ways. One Matrix room per (network, Matrix user, IRC user): a direct
 * chat between the Matrix user and the IRC user's ghost, found again for every later message
 * and after restarts. A Matrix user opens one by inviting a ghost to a direct chat; an IRC user
 * opens one by messaging a puppet, and the ghost then invites the Matrix user.
 */
import type { RoomId, UserId } from '../ids';
import type { IrcEventOf } from '../irc/events';
import { getLogger } from '../log';
import type { MatrixEvent } from '../matrix/events';
import type { BridgeContext } from './context';
import type { NetworkBridge } from './network';
import type { Puppet } from './puppets';
import { RateWindow } from './rate-window';

const log = getLogger('bridge.pm');

type MemberEvent = Extract<MatrixEvent, { kind: 'member' }>;

/** New direct chats an IRC side may open for one Matrix user per minute; more is a flood. */
const NEW_ROOMS_PER_MINUTE = 5;

export class PrivateMessages {
  private readonly opening = new Map<string, Promise<RoomId>>();
  /** Room openings per Matrix user, for the flood limit. */
  private readonly openings = new RateWindow(NEW_ROOMS_PER_MINUTE, 60_000);

  constructor(
    private readonly ctx: BridgeContext,
    private readonly networkOfGhost: (userId: string) => NetworkBridge | null,
    private readonly tellUser: (userId: UserId, text: string) => void,
  ) {}

  /** A Matrix user invited a ghost: the ghost joins and the room becomes their direct chat. */
  async onGhostInvite(e: MemberEvent): Promise<void> {
    const net = this.networkOfGhost(e.stateKey);
    const ghost = e.stateKey as UserId;
    const userId = e.sender as UserId;
    const roomId = e.roomId as RoomId;
    if (!net || this.networkOfGhost(userId) || userId === this.ctx.botUserId) {
      return;
    }
    const nick = net.ghosts.nickFor(ghost);
    if (!nick) {
      log.info('invite of a ghost whose ID is no IRC nick; declined', { room_id: roomId, ghost });
      await this.ctx.matrix.leave(roomId, ghost, 'This is not a valid IRC nick.').catch(() => undefined);
      return;
    }
    if (this.ctx.store.getMappingByRoom(roomId)) {
      return; // inviting a ghost into a bridged room is moderation's business, not a direct chat
    }
    await net.ghosts.ensureInRoom(roomId, ghost, nick);
    this.ctx.store.savePmRoom({ roomId, network: net.id, userId, ghostId: ghost });
    log.info('direct chat with an IRC user opened from Matrix', { network: net.id, room_id: roomId, user_id: userId });
  }

  /** The Matrix user left their direct chat: it is forgotten and the ghost leaves too. */
  async onLeave(roomId: RoomId, userId: string): Promise<void> {
    const pm = this.ctx.store.getPmRoomById(roomId);
    if (!pm || pm.userId !== userId) {
      return;
    }
    this.ctx.store.removePmRoom(roomId);
    await this.ctx.matrix.leave(roomId, pm.ghostId).catch(() => undefined);
  }

  /** The IRC nick a Matrix message in a direct chat goes to, or null when the room is none. */
  targetOf(roomId: RoomId, sender: string): { net: NetworkBridge; nick: string } | null {
    const pm = this.ctx.store.getPmRoomById(roomId);
    if (!pm || pm.userId !== sender) {
      return null;
    }
    const net = this.networkOfGhost(pm.ghostId);
    const nick = net?.ghosts.nickFor(pm.ghostId) ?? null;
    return net && nick ? { net, nick } : null;
  }

  /** An IRC user messaged a puppet: into the pair's direct chat, opened when there is none. */
  onIrcMessage(net: NetworkBridge, puppet: Puppet, e: IrcEventOf<'message'>): void {
    const ghost = net.ghosts.userIdFor(e.from.nick);
    const text = net.secrets.mask(puppet.userId, e.text);
    const shown = text === e.text ? e : { ...e, text }; // a password the user sent to services, repeated
    const item = { kind: 'message' as const, userId: ghost, nick: e.from.nick, content: net.matrixContentOf(shown),
      ts: e.time ?? Date.now() };
    const known = this.ctx.store.getPmRoom(net.id, puppet.userId, ghost);
    if (known) {
      net.pushToMatrix(known.roomId, item);
      return;
    }
    this.open(net, puppet.userId, ghost, e.from.nick).then((roomId) => net.pushToMatrix(roomId, item), (err: Error) => {
      log.warn('could not open a direct chat for a private message; it is lost', { network: net.id, user_id: puppet.userId,
        from: e.from.nick, err: err.message });
    });
  }

  /** The user's message held a password for services: the ghost redacts it (it can in a chat
   *  it opened), or says that it could not. */
  async hidePassword(roomId: RoomId, eventId: string, ghost: UserId): Promise<void> {
    try {
      await this.ctx.matrix.redact(roomId, eventId, 'held a password', ghost);
    } catch (err) {
      log.info('could not redact a message holding a password', { room_id: roomId, err: (err as Error).message });
      await this.ctx.matrix.sendEvent(roomId, 'm.room.message', { msgtype: 'm.notice',
        body: 'Your message held a password, and the bridge could not redact it here: delete it yourself.' }, ghost)
        .catch(() => undefined);
    }
  }

  /** The server refused a message to a nick (401): the Matrix user hears it in that chat. */
  async onRefusal(net: NetworkBridge, puppet: Puppet, e: IrcEventOf<'refused'>): Promise<void> {
    const ghost = net.ghosts.peekUserId(e.target);
    const pm = this.ctx.store.getPmRoom(net.id, puppet.userId, ghost);
    const text = `${e.target} is not on IRC right now (${e.reason}); your message was not delivered.`;
    if (!pm) {
      this.tellUser(puppet.userId, `${net.cfg.name}: ${text}`);
      return;
    }
    await this.ctx.matrix.sendEvent(pm.roomId, 'm.room.message', { msgtype: 'm.notice', body: text }, ghost)
      .catch((err: Error) => log.warn('could not tell about an undelivered private message', { room_id: pm.roomId, err: err.message }));
  }

  private open(net: NetworkBridge, userId: UserId, ghost: UserId, nick: string): Promise<RoomId> {
    const key = `${net.id}|${userId}|${ghost}`;
    let pending = this.opening.get(key);
    if (!pending) {
      pending = this.create(net, userId, ghost, nick).finally(() => this.opening.delete(key));
      this.opening.set(key, pending);
    }
    return pending;
  }

  private async create(net: NetworkBridge, userId: UserId, ghost: UserId, nick: string): Promise<RoomId> {
    if (!this.openings.take(userId)) {
      throw new Error(`more than ${NEW_ROOMS_PER_MINUTE} new direct chats a minute`);
    }
    await net.ghosts.ensureProfile(ghost, nick);
    const { room_id } = await this.ctx.matrix.createRoom({
      preset: 'trusted_private_chat',
      is_direct: true,
      invite: [userId],
    }, ghost);
    const roomId = room_id as RoomId;
    this.ctx.store.savePmRoom({ roomId, network: net.id, userId, ghostId: ghost });
    log.info('direct chat opened for a private message from IRC', { network: net.id, room_id: roomId, user_id: userId });
    return roomId;
  }
}
