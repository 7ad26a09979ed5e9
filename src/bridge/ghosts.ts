/**
 * IRC users as ghost Matrix users. A ghost's user ID comes from the template and the nick it
 * had when first seen; after a nick change it keeps that ID and only its display name changes.
 */
import type { NetworkId, RoomId, UserId } from '../ids';
import { getLogger } from '../log';
import { MatrixApiError } from '../matrix/client';
import { type BridgeContext, userIdOf } from './context';
import { escapeLocalpart, renderTemplate, templateRegexSource, unescapeLocalpart } from './templates';

export interface GhostSettings {
  network: NetworkId;
  userTemplate: string;
  displayNameTemplate: string;
}

export class Ghosts {
  private readonly log;
  private readonly registered = new Set<string>();
  private readonly displayNames = new Map<string, string>();
  private readonly joined = new Set<string>();
  private readonly pattern: RegExp;

  constructor(
    private readonly ctx: BridgeContext,
    private readonly settings: GhostSettings,
    private readonly fold: (s: string) => string,
  ) {
    this.log = getLogger('bridge.ghosts', { network: settings.network });
    const src = templateRegexSource(settings.userTemplate, { NETWORK: settings.network }, 'NICK');
    this.pattern = new RegExp(`^@${src}:${ctx.domain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  }

  /** Is this Matrix user one of this network's ghosts? */
  isGhost(userId: string): boolean {
    return this.pattern.test(userId);
  }

  /** The IRC nick behind a ghost: the one last seen for it, else the one its ID spells (for a
   *  ghost someone invited to a direct chat before the bridge saw its nick). Null when the ID
   *  is not one of this network's ghosts or spells no valid nick. */
  nickFor(userId: string): string | null {
    const known = this.ctx.store.getGhostByUserId(this.settings.network, userId as UserId);
    if (known) {
      return known.nick;
    }
    const m = this.pattern.exec(userId);
    const nick = m?.[1] !== undefined ? unescapeLocalpart(m[1]) : null;
    return nick && /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/.test(nick) ? nick : null;
  }

  /** The user ID the ghost of `nick` has or would have, without recording anything. */
  peekUserId(nick: string): UserId {
    const folded = this.fold(nick);
    return this.ctx.store.getGhostByNick(this.settings.network, folded)?.userId ??
      userIdOf(this.ctx, renderTemplate(this.settings.userTemplate,
        { NETWORK: this.settings.network, NICK: escapeLocalpart(folded) }));
  }

  userIdFor(nick: string): UserId {
    const folded = this.fold(nick);
    const known = this.ctx.store.getGhostByNick(this.settings.network, folded);
    if (known) {
      return known.userId;
    }
    // A ghost keeps its ID when its IRC user changes nick; another IRC user who later takes
    // the old nick must not become that ghost, so a taken ID gets a `.N` suffix (escaped nicks
    // never contain '.').
    const base = escapeLocalpart(folded);
    for (let n = 1; ; n++) {
      const localpart = renderTemplate(this.settings.userTemplate,
        { NETWORK: this.settings.network, NICK: n === 1 ? base : `${base}.${n}` });
      const userId = userIdOf(this.ctx, localpart);
      if (!this.ctx.store.getGhostByUserId(this.settings.network, userId)) {
        this.ctx.store.saveGhost({ network: this.settings.network, nick: nick as never, userId }, folded);
        return userId;
      }
    }
  }

  /** Makes sure the ghost `userId` exists, carries `nick` as display name and is in the room.
   *  Idempotent and cheap when nothing changed. */
  async ensureInRoom(roomId: RoomId, userId: UserId, nick: string): Promise<UserId> {
    await this.ensureProfile(userId, nick);
    const key = `${roomId}|${userId}`;
    if (this.joined.has(key)) {
      return userId;
    }
    try {
      await this.ctx.matrix.joinRoom(roomId, userId);
    } catch (err) {
      if (!(err instanceof MatrixApiError && err.status === 403)) {
        throw err;
      }
      // Not public (invite-only, or not invited yet): the bot invites, then the ghost joins.
      await this.ctx.matrix.invite(roomId, userId, this.ctx.botUserId);
      await this.ctx.matrix.joinRoom(roomId, userId);
    }
    this.joined.add(key);
    return userId;
  }

  /** The ghost was removed from the room on the Matrix side (kick, ban): the next message
   *  joins it again instead of trusting the cache. */
  forgetMembership(roomId: RoomId, userId: UserId): void {
    this.joined.delete(`${roomId}|${userId}`);
  }

  async leaveRoom(roomId: RoomId, userId: UserId, reason?: string): Promise<void> {
    this.joined.delete(`${roomId}|${userId}`);
    try {
      await this.ctx.matrix.leave(roomId, userId, reason || undefined);
    } catch (err) {
      // Leaving a room the ghost is not in is fine.
      if (!(err instanceof MatrixApiError && (err.status === 403 || err.status === 404))) {
        throw err;
      }
    }
  }

  /** An IRC nick change: the same ghost now answers to the new nick. Synchronous, so that
   *  everything read from IRC after the NICK maps to the right ghost; the display name follows
   *  with `ensureProfile`. */
  rename(oldNick: string, newNick: string): UserId {
    const userId = this.userIdFor(oldNick);
    this.ctx.store.removeGhostNick(this.settings.network, this.fold(oldNick));
    this.ctx.store.saveGhost({ network: this.settings.network, nick: newNick as never, userId }, this.fold(newNick));
    return userId;
  }

  /** Registers the ghost (once) and sets its display name from `nick` when it changed. */
  async ensureProfile(userId: UserId, nick: string): Promise<void> {
    if (!this.registered.has(userId)) {
      await this.ctx.matrix.register(userId.slice(1, userId.indexOf(':')));
      this.registered.add(userId);
    }
    const display = renderTemplate(this.settings.displayNameTemplate, { NICK: nick, NETWORK: this.settings.network });
    if (this.displayNames.get(userId) !== display) {
      await this.ctx.matrix.setDisplayName(userId, display);
      this.displayNames.set(userId, display);
      this.log.debug('ghost display name set', { user_id: userId, nick });
    }
  }
}
