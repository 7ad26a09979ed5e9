/**
 * Room state from IRC to Matrix: channel statuses (op, voice, ...) as the power levels of the
 * IRC users' ghosts, and channel modes as the room's rules: +i and +k make the room
 * invite-only, +m lets only voiced or higher speak, +s and +p keep it out of the room
 * directory. The rule a mode replaced is kept in the room (state event `SAVED_RULES`) and put
 * back when the mode is removed.
 *
 * Status changes are collected per channel for `batchMs` and go out as one outbox item, so a
 * mass mode change becomes one power-levels event. Items are delivered by the outbox in room
 * order and may throw to be retried.
 */
import type { NetworkId, RoomId, UserId } from '../ids';
import { getLogger } from '../log';
import { MatrixApiError } from '../matrix/client';
import type { BridgeContext } from './context';
import type { Ghosts } from './ghosts';
import type { MatrixOutbox, OutboxItem } from './matrix-outbox';
import { type PrefixLevels, levelOfModes, privilegedCreators, withUserLevels } from './power-levels';

/** The bot's record, in the room, of the rules channel modes replaced. */
export const SAVED_RULES = 'org.matrix.irc.saved_rules';

/** The room rules that channel modes stand for. */
export interface ChannelRules {
  inviteOnly: boolean;
  moderated: boolean;
  secret: boolean;
}

export function rulesOfModes(modes: ReadonlySet<string>): ChannelRules {
  return { inviteOnly: modes.has('i') || modes.has('k'), moderated: modes.has('m'), secret: modes.has('s') || modes.has('p') };
}

/** What of its network the room state uses. */
export interface RoomStateNetwork {
  readonly id: NetworkId;
  readonly ghosts: Ghosts;
  readonly prefixLevels: PrefixLevels;
  roomOf(channel: string): RoomId | null;
  fold(s: string): string;
}

type RoomStateItem = Extract<OutboxItem, { kind: 'power_levels' | 'room_rules' }>;

export class IrcRoomState {
  private readonly log;
  /** folded channel -> ghost levels waiting to go out as one item */
  private readonly pending = new Map<string, { roomId: RoomId; users: Map<UserId, number | null>; timer: NodeJS.Timeout }>();
  /** Ghosts the bridge gave a level, per room (so a rejoin without status can take it back). */
  private readonly elevated = new Map<RoomId, Set<UserId>>();

  constructor(
    private readonly ctx: BridgeContext,
    private readonly net: RoomStateNetwork,
    private readonly outbox: MatrixOutbox,
    private readonly batchMs: number,
  ) {
    this.log = getLogger('bridge.room-state', { network: net.id });
  }

  /**
   * An IRC user's status modes in `channel` are now `modes` (letters). Called for every status
   * change the bot reads, and for every member of a NAMES list; `onlyIfElevated` skips a user
   * the bridge gave no level (a JOIN, which has no status).
   */
  noteStatus(channel: string, nick: string, modes: Iterable<string>, onlyIfElevated = false): void {
    const roomId = this.net.roomOf(channel);
    if (!roomId) {
      return;
    }
    const userId = this.net.ghosts.userIdFor(nick);
    if (onlyIfElevated && !this.elevated.get(roomId)?.has(userId)) {
      return;
    }
    const folded = this.net.fold(channel);
    let batch = this.pending.get(folded);
    if (!batch) {
      const timer = setTimeout(() => this.flush(channel), this.batchMs);
      timer.unref();
      batch = { roomId, users: new Map(), timer };
      this.pending.set(folded, batch);
    }
    batch.users.set(userId, levelOfModes(modes, this.net.prefixLevels));
  }

  /** Queues the collected status changes of `channel` now (before an item that may need them,
   *  such as a topic the ghost sets as an operator). */
  flush(channel: string): void {
    const folded = this.net.fold(channel);
    const batch = this.pending.get(folded);
    if (!batch) {
      return;
    }
    clearTimeout(batch.timer);
    this.pending.delete(folded);
    this.outbox.push(this.net.id, batch.roomId, { kind: 'power_levels', users: Object.fromEntries(batch.users) });
  }

  /** Drops what is still collected (the network stops). */
  stop(): void {
    this.pending.forEach((b) => clearTimeout(b.timer));
    this.pending.clear();
  }

  /** The channel's modes changed from `before` to `after` (or were listed, 324, when
   *  `snapshot`: then every rule is stated, so one changed while the bot was away is followed). */
  noteRules(channel: string, before: ChannelRules, after: ChannelRules, snapshot: boolean): void {
    const roomId = this.net.roomOf(channel);
    if (!roomId) {
      return;
    }
    const item: Extract<OutboxItem, { kind: 'room_rules' }> = { kind: 'room_rules', channel };
    for (const k of ['inviteOnly', 'moderated', 'secret'] as const) {
      if (snapshot || before[k] !== after[k]) {
        item[k] = after[k];
      }
    }
    if (item.inviteOnly !== undefined || item.moderated !== undefined || item.secret !== undefined) {
      this.outbox.push(this.net.id, roomId, item);
    }
  }

  /** Carries out one item. A room that does not let the bot change its state (a linked room
   *  where the bot's level is too low) is logged, not retried. */
  async deliver(roomId: RoomId, item: RoomStateItem): Promise<void> {
    try {
      if (item.kind === 'power_levels') {
        await this.applyLevels(roomId, item.users);
      } else {
        await this.applyRules(roomId, item);
      }
    } catch (err) {
      if (!(err instanceof MatrixApiError && err.status === 403)) {
        throw err;
      }
      this.log.warn('the room does not let the bridge follow the channel there', { room_id: roomId, kind: item.kind,
        err: err.message });
    }
  }

  private async applyLevels(roomId: RoomId, users: Record<string, number | null>): Promise<void> {
    const levels = (await this.ctx.matrix.getState(roomId, 'm.room.power_levels')) ?? {};
    const creators = privilegedCreators(await this.ctx.matrix.getStateEvent(roomId, 'm.room.create'));
    const next = withUserLevels(levels, new Map(Object.entries(users)), creators);
    const elevated = this.elevated.get(roomId) ?? new Set();
    this.elevated.set(roomId, elevated);
    for (const [userId, level] of Object.entries(users)) {
      if (level === null) {
        elevated.delete(userId as UserId);
      } else {
        elevated.add(userId as UserId);
      }
    }
    if (next === null) {
      return;
    }
    await this.ctx.matrix.sendState(roomId, 'm.room.power_levels', '', next, this.ctx.botUserId);
    this.log.info('ghost power levels follow IRC statuses', { room_id: roomId, count: Object.keys(users).length });
  }

  /**
   * Sets or restores the room rules an item names. The rule a mode replaces is recorded before
   * it is replaced (so a crash in between loses nothing), and only the first time, so a
   * repeated +i does not record "invite" as the rule to go back to.
   */
  private async applyRules(roomId: RoomId, item: Extract<OutboxItem, { kind: 'room_rules' }>): Promise<void> {
    const m = this.ctx.matrix;
    const bot = this.ctx.botUserId;
    const saved: Record<string, unknown> = { ...((await m.getState(roomId, SAVED_RULES)) ?? {}) };
    const save = async (key: string, value: unknown): Promise<void> => {
      if (!(key in saved)) {
        saved[key] = value;
        await m.sendState(roomId, SAVED_RULES, '', saved, bot);
      }
    };
    let restored = false;
    if (item.inviteOnly) {
      const current = (await m.getState(roomId, 'm.room.join_rules')) ?? { join_rule: 'invite' };
      if (current.join_rule !== 'invite') {
        await save('join_rules', current);
        await m.sendState(roomId, 'm.room.join_rules', '', { join_rule: 'invite' }, bot);
      }
    } else if (item.inviteOnly === false && 'join_rules' in saved) {
      await m.sendState(roomId, 'm.room.join_rules', '', saved.join_rules as Record<string, unknown>, bot);
      delete saved.join_rules;
      restored = true;
    }
    if (item.moderated !== undefined && (item.moderated || 'events_default' in saved)) {
      restored = (await this.applyModerated(roomId, item.moderated, saved, save)) || restored;
    }
    if (item.secret) {
      const current = await m.getDirectoryVisibility(roomId);
      if (current === 'public') {
        await save('visibility', current);
        await m.setDirectoryVisibility(roomId, 'private', bot);
      }
    } else if (item.secret === false && 'visibility' in saved) {
      if (saved.visibility === 'public') {
        await m.setDirectoryVisibility(roomId, 'public', bot);
      }
      delete saved.visibility;
      restored = true;
    }
    if (restored) {
      await m.sendState(roomId, SAVED_RULES, '', saved, bot);
    }
    this.log.info('room rules follow channel modes', { room_id: roomId, channel: item.channel, invite_only: item.inviteOnly,
      moderated: item.moderated, hidden: item.secret });
  }

  /** +m: sending messages needs the voice level (`events_default`); -m puts the old one back.
   *  Returns whether a saved rule was used up. */
  private async applyModerated(roomId: RoomId, on: boolean, saved: Record<string, unknown>,
    save: (key: string, value: unknown) => Promise<void>): Promise<boolean> {
    const read = (await this.ctx.matrix.getState(roomId, 'm.room.power_levels')) ?? {};
    // Room version 12: power levels that name a creator in `users` are refused; drop such names.
    const creators = privilegedCreators(await this.ctx.matrix.getStateEvent(roomId, 'm.room.create'));
    const levels = withUserLevels(read, new Map(), creators) ?? read;
    const current = typeof levels.events_default === 'number' ? levels.events_default : 0;
    const voice = this.net.prefixLevels.v ?? 1;
    if (on && current < voice) {
      await save('events_default', current);
      await this.ctx.matrix.sendState(roomId, 'm.room.power_levels', '', { ...levels, events_default: voice }, this.ctx.botUserId);
      return false;
    }
    if (!on && 'events_default' in saved) {
      await this.ctx.matrix.sendState(roomId, 'm.room.power_levels', '', { ...levels, events_default: saved.events_default },
        this.ctx.botUserId);
      delete saved.events_default;
      return true;
    }
    return false;
  }
}
