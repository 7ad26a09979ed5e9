/**
 * Room state and moderation from Matrix to IRC: kicks, bans and unbans of ghosts, topics, and
 * display-name changes that rename puppets. Called once per event, in order, from the queues.
 * What cannot be carried out is explained to the person in the room, logged, and changes
 * nothing else.
 */
import { nextNickCandidate, renderPuppetNick } from '../format/nick';
import type { RoomId, UserId } from '../ids';
import { localpartOf } from '../ids';
import type { IrcConnection } from '../irc/connection';
import type { IrcEvent } from '../irc/events';
import { getLogger } from '../log';
import type { MatrixEvent } from '../matrix/events';
import type { BridgeContext } from './context';
import type { NetworkBridge } from './network';
import { levelFor, powerOf, privilegedCreators } from './power-levels';
import { templateSuffix } from './puppets';

const log = getLogger('bridge.moderation.matrix');

type MemberEvent = Extract<MatrixEvent, { kind: 'member' }>;
type TopicEvent = Extract<MatrixEvent, { kind: 'topic' }>;

/** Numerics that mean "that nick is taken": the next candidate may work. */
const NICK_TAKEN = new Set(['433', '436']);
/** Numerics that refuse a nick change for good (erroneous, banned, too fast, not allowed). */
const NICK_REFUSED = new Set(['432', '435', '437', '438', '447']);
const RENAME_ATTEMPTS = 10;
const NOT_CONNECTED = 'the IRC connection that would carry it out is not connected; try again later';
const RENAME_TIMEOUT_MS = 10_000;
/** How long a kicked puppet waits to see its KICK (the actor's flood queue may hold it) before
 *  it parts or quits anyway. */
const KICK_SEEN_TIMEOUT_MS = 10_000;

/** Sends the IRC side of a moderator's action, as their puppet or as the bot. */
interface Actor {
  who: 'puppet' | 'bot';
  send(command: string, params: readonly string[]): boolean;
  /** The KICK reason: the Matrix reason, cleaned; the bot names the moderator. */
  reason(text: string | null, fallback: string): string;
}

export type Outcome<T = void> = { ok: true; value: T } | { ok: false; reason: string };

/** User text for one IRC parameter: no CR, LF or NUL, no surrounding space. */
export function ircParam(text: string): string {
  return text.replace(/[\r\n\0]+/g, ' ').trim();
}

export class MatrixModeration {
  constructor(
    private readonly ctx: BridgeContext,
    private readonly notify: (roomId: RoomId, text: string) => Promise<void>,
  ) {}

  /**
   * A Matrix moderator removed an IRC user's ghost from the room (`m.room.member` leave with a
   * sender other than the ghost). The KICK goes out as the moderator's puppet when it is a
   * channel operator, else as the bot when the bot is and the moderator's power level reaches
   * the room's kick level; otherwise the moderator is told why nothing happened on IRC.
   */
  async handleMatrixKick(net: NetworkBridge, channel: string, e: MemberEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const ghost = e.stateKey as UserId;
    const moderator = e.sender as UserId;
    net.ghosts.forgetMembership(roomId, ghost);
    const nick = this.ctx.store.getGhostByUserId(net.id, ghost)?.nick;
    if (!nick || !net.isInChannel(channel, nick)) {
      log.debug('kicked ghost is not on IRC; nothing to do', { network: net.id, room_id: roomId, user_id: ghost });
      return;
    }
    const actor = await this.actorFor(net, channel, roomId, moderator, 'kick');
    if (!actor.ok) {
      log.info('Matrix kick not carried to IRC', { network: net.id, room_id: roomId, user_id: moderator, nick, reason: actor.reason });
      await this.notify(roomId, `${moderator}: ${nick} left this room but is still in ${channel} on IRC: ${actor.reason}.`);
      return;
    }
    if (!actor.value.send('KICK', [channel, nick, actor.value.reason(e.reason, 'Kicked from Matrix')])) {
      await this.notify(roomId, `${moderator}: ${nick} left this room but is still in ${channel} on IRC: ${NOT_CONNECTED}.`);
      return;
    }
    log.info('ghost kicked on IRC', { network: net.id, room_id: roomId, user_id: moderator, nick, by: actor.value.who });
  }

  /**
   * A Matrix moderator banned an IRC user's ghost: a channel ban on a mask that targets that IRC
   * user (see `ban_mask`), then a kick, by the same rules as a kick. The mask is remembered so
   * that the unban lifts it.
   */
  async handleMatrixBan(net: NetworkBridge, channel: string, e: MemberEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const ghost = e.stateKey as UserId;
    const moderator = e.sender as UserId;
    net.ghosts.forgetMembership(roomId, ghost);
    const nick = this.ctx.store.getGhostByUserId(net.id, ghost)?.nick;
    const who = nick ? net.identityOf(nick) : null;
    if (!nick || !who) {
      log.info('Matrix ban not carried to IRC: host unknown', { network: net.id, room_id: roomId, user_id: ghost });
      await this.notify(roomId, `${moderator}: ${nick ?? ghost} is banned here, but no IRC ban was set: the bridge has not ` +
        'seen that IRC user\'s host.');
      return;
    }
    const actor = await this.actorFor(net, channel, roomId, moderator, 'ban');
    if (!actor.ok) {
      log.info('Matrix ban not carried to IRC', { network: net.id, room_id: roomId, user_id: moderator, nick, reason: actor.reason });
      await this.notify(roomId, `${moderator}: ${nick} is banned here but not on IRC in ${channel}: ${actor.reason}.`);
      return;
    }
    const mask = net.banMask(who);
    if (!actor.value.send('MODE', [channel, '+b', mask])) {
      await this.notify(roomId, `${moderator}: ${nick} is banned here but not on IRC in ${channel}: ${NOT_CONNECTED}.`);
      return;
    }
    if (net.isInChannel(channel, nick)) {
      actor.value.send('KICK', [channel, nick, actor.value.reason(e.reason, 'Banned from Matrix')]);
    }
    this.ctx.store.saveLinkedBan({ network: net.id, channelFolded: net.fold(channel), userId: ghost, origin: 'matrix', mask });
    log.info('ghost banned on IRC', { network: net.id, room_id: roomId, user_id: moderator, nick, mask, by: actor.value.who });
  }

  /**
   * A Matrix moderator kicked or banned a Matrix user: rather than only parting, their puppet is
   * kicked from the channel (for a ban, after a +b on its mask), by the moderator's puppet or
   * the bot as for a ghost. Returns whether it was; the caller then parts what is left (the
   * puppet quits when that was its last channel).
   */
  async handleMatrixKickOfUser(net: NetworkBridge, channel: string, e: MemberEvent): Promise<boolean> {
    const roomId = e.roomId as RoomId;
    const target = e.stateKey as UserId;
    const moderator = e.sender as UserId;
    const conn = net.puppets.get(target)?.conn;
    if (!conn || conn.state !== 'registered' || !net.isInChannel(channel, conn.nick)) {
      return false;
    }
    const action = e.membership === 'ban' ? 'ban' : 'kick';
    const actor = await this.actorFor(net, channel, roomId, moderator, action);
    if (!actor.ok) {
      log.info(`Matrix ${action} of a Matrix user carried to IRC as a PART only`, { network: net.id, room_id: roomId,
        user_id: moderator, reason: actor.reason });
      if (action === 'ban') {
        await this.notify(roomId, `${moderator}: ${target} is banned here and leaves ${channel}, but no IRC ban was set: ` +
          `${actor.reason}.`);
      }
      return false;
    }
    if (action === 'ban') {
      const own = conn.userHost;
      const mask = net.puppetBanMask(net.identityOf(conn.nick) ?? { nick: conn.nick, ident: own.user, host: own.host, account: null });
      if (!actor.value.send('MODE', [channel, '+b', mask])) {
        await this.notify(roomId, `${moderator}: ${target} is banned here but not on IRC in ${channel}: ${NOT_CONNECTED}.`);
        return false;
      }
      this.ctx.store.saveLinkedBan({ network: net.id, channelFolded: net.fold(channel), userId: target, origin: 'matrix', mask });
    }
    const reason = actor.value.reason(e.reason, action === 'ban' ? 'Banned from Matrix' : 'Kicked from Matrix');
    const seen = ownKickSeen(conn, channel, KICK_SEEN_TIMEOUT_MS);
    if (!actor.value.send('KICK', [channel, conn.nick, reason])) {
      seen.cancel();
      return false;
    }
    net.puppets.forgetChannel(target, channel);
    // The caller then parts the puppet's other business, and a puppet left in no channel quits:
    // a QUIT that reached the server before the KICK (sent on another connection, perhaps
    // waiting in its flood queue) would make the KICK fail and IRC see a quit, not a kick.
    await seen.promise;
    log.info(`Matrix user's puppet ${action === 'ban' ? 'banned' : 'kicked'} on IRC`, { network: net.id, room_id: roomId,
      user_id: moderator, target, by: actor.value.who });
    return true;
  }

  /** A Matrix moderator lifted a ban: the IRC ban the bridge set for it (from Matrix), or the
   *  IRC ban that caused it (for a Matrix user), is removed. */
  async handleMatrixUnban(net: NetworkBridge, channel: string, e: MemberEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const ghost = e.stateKey as UserId;
    const moderator = e.sender as UserId;
    const origins = net.ghosts.isGhost(ghost) ? (['matrix'] as const) : (['matrix', 'irc'] as const);
    const origin = origins.find((o) => this.ctx.store.getLinkedBanMask(net.id, net.fold(channel), ghost, o) !== null) ?? 'matrix';
    const mask = this.ctx.store.getLinkedBanMask(net.id, net.fold(channel), ghost, origin);
    if (mask === null) {
      log.debug('unbanned ghost has no IRC ban set by the bridge', { network: net.id, room_id: roomId, user_id: ghost });
      return;
    }
    const actor = await this.actorFor(net, channel, roomId, moderator, 'ban');
    if (!actor.ok) {
      log.info('Matrix unban not carried to IRC', { network: net.id, room_id: roomId, user_id: moderator, mask, reason: actor.reason });
      await this.notify(roomId, `${moderator}: the IRC ban ${mask} in ${channel} stays: ${actor.reason}.`);
      return;
    }
    if (!actor.value.send('MODE', [channel, '-b', mask])) {
      await this.notify(roomId, `${moderator}: the IRC ban ${mask} in ${channel} stays: ${NOT_CONNECTED}.`);
      return;
    }
    this.ctx.store.removeLinkedBan(net.id, net.fold(channel), ghost, origin);
    log.info('unbanned on IRC', { network: net.id, room_id: roomId, user_id: moderator, mask, by: actor.value.who });
  }

  /** A Matrix topic change: the sender's puppet sets the channel topic. IRC's refusal (not an
   *  operator in a +t channel) reaches the sender as a notice through the puppet's events. */
  async handleMatrixTopic(net: NetworkBridge, channel: string, key: string | null, e: TopicEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const userId = e.sender as UserId;
    const excluded = net.exclusionOf(userId);
    if (excluded !== null) {
      await this.notify(roomId, `${userId}: the topic was not set on IRC: ${excluded}`);
      return;
    }
    const topic = ircParam(e.topic);
    if (net.channelTopic(channel) === topic) {
      return; // the topic IRC already has (set from there, or a repeat)
    }
    try {
      await net.puppets.joinChannel(userId, this.ctx.store.getMember(roomId, userId)?.displayName ?? null, channel as never, key);
      const conn = await net.puppets.connection(userId, null);
      if (!conn.topic(channel, topic)) {
        throw new Error(NOT_CONNECTED);
      }
    } catch (err) {
      log.warn('topic not set on IRC', { network: net.id, room_id: roomId, user_id: userId, err: (err as Error).message });
      await this.notify(roomId, `${userId}: the topic was not set on IRC: ${(err as Error).message}`);
    }
  }

  /**
   * A Matrix user's display name changed (a join after a join): their puppet takes the nick the
   * template gives the new name, fitted and disambiguated as at connect. Called once per room
   * the user is in; the second call finds the nick already right.
   */
  async handleMatrixDisplayName(net: NetworkBridge, roomId: RoomId, userId: UserId, displayName: string | null): Promise<void> {
    if (!net.cfg.puppet_nick_follows_display_name) {
      return;
    }
    const nickLen = net.nickLen();
    const wanted = renderPuppetNick(net.cfg.puppet_nick_template, { display: displayName, localpart: localpartOf(userId) }, nickLen);
    const p = net.puppets.get(userId);
    if (p) {
      p.displayName = displayName;
    }
    const conn = p?.conn;
    if (!conn || conn.state !== 'registered') {
      // Not connected: the next connection starts from the new nick.
      const stored = this.ctx.store.getPuppet(userId, net.id);
      if (stored && net.fold(stored.nick) !== net.fold(wanted)) {
        this.ctx.store.savePuppet({ ...stored, nick: wanted as never });
      }
      return;
    }
    const stored = this.ctx.store.getPuppet(userId, net.id);
    if (net.fold(conn.nick) === net.fold(wanted) || (stored && net.fold(stored.nick) === net.fold(wanted))) {
      return; // already the nick, or the one a stand-in is regaining
    }
    const before = conn.nick;
    const result = await renameConnection(conn, (attempt) =>
      attempt === 0 ? wanted : nextNickCandidate(wanted, attempt, nickLen, templateSuffix(net.cfg.puppet_nick_template)),
    (a, b) => net.fold(a) === net.fold(b));
    if (result.ok) {
      net.puppets.stopNickRegain(userId);
      log.info('puppet renamed after a display-name change', { network: net.id, user_id: userId, nick: result.value });
      return;
    }
    log.info('IRC refused a puppet rename', { network: net.id, user_id: userId, nick: wanted, reason: result.reason });
    await this.notify(roomId, `${userId}: IRC refused the nick ${wanted} (${result.reason}); you are still ${before} there.`);
  }

  /** Who carries out a moderator's `action` on IRC: their own puppet when it is a channel
   *  operator, else the bot when it is one and the moderator's power level allows. */
  private async actorFor(net: NetworkBridge, channel: string, roomId: RoomId, moderator: UserId,
    action: 'kick' | 'ban'): Promise<Outcome<Actor>> {
    const puppet = net.puppets.get(moderator)?.conn;
    if (puppet?.state === 'registered' && net.isOperator(channel, puppet.nick)) {
      return { ok: true, value: {
        who: 'puppet',
        send: (command, params) => puppet.send(command, params),
        reason: (text, fallback) => ircParam(text ?? '') || fallback,
      } };
    }
    const allowed = await this.botMayAct(net, channel, roomId, moderator, action);
    if (!allowed.ok) {
      return allowed;
    }
    return { ok: true, value: {
      who: 'bot',
      send: (command, params) => net.sendAsBot(command, params),
      reason: (text) => `${moderator}${ircParam(text ?? '') ? ': ' + ircParam(text ?? '') : ''}`,
    } };
  }

  /** May the bot carry out `action` for `userId`: is it a channel operator, and does the user's
   *  power level reach the room's level for that action? */
  private async botMayAct(net: NetworkBridge, channel: string, roomId: RoomId, userId: UserId,
    action: 'kick' | 'ban'): Promise<Outcome> {
    if (!net.isOperator(channel, net.botNick)) {
      return { ok: false, reason: 'neither your IRC connection nor the bridge bot is a channel operator there' };
    }
    let levels: Record<string, unknown> | null;
    let creators: Set<string>;
    try {
      levels = await this.ctx.matrix.getState(roomId, 'm.room.power_levels');
      creators = privilegedCreators(await this.ctx.matrix.getStateEvent(roomId, 'm.room.create'));
    } catch (err) {
      return { ok: false, reason: `the bridge could not read the room's power levels (${(err as Error).message})` };
    }
    const mine = powerOf(levels, creators, userId);
    const needed = levelFor(levels, action);
    if (mine < needed) {
      return { ok: false, reason: `your power level (${mine}) is below the room's ${action} level (${needed})` };
    }
    return { ok: true, value: undefined };
  }
}

/**
 * Sends NICK with candidate 0, 1, ... until the server confirms one (resolves with it), refuses
 * the change for good, or stops answering. Taken nicks move on to the next candidate.
 */
function renameConnection(conn: IrcConnection, candidate: (attempt: number) => string,
  same: (a: string, b: string) => boolean): Promise<Outcome<string>> {
  return new Promise((resolve) => {
    let attempt = 0;
    let current = candidate(0);
    const done = (o: Outcome<string>): void => {
      clearTimeout(timer);
      conn.off('event', onEvent);
      resolve(o);
    };
    const onEvent = (e: IrcEvent): void => {
      if (e.type === 'nick' && same(e.newNick, current)) {
        done({ ok: true, value: e.newNick });
      } else if (e.type === 'closed') {
        done({ ok: false, reason: 'the IRC connection was lost' });
      } else if (e.type === 'refused' && NICK_TAKEN.has(e.code) && same(e.target, current)) {
        if (++attempt >= RENAME_ATTEMPTS) {
          done({ ok: false, reason: e.reason });
          return;
        }
        current = candidate(attempt);
        if (same(current, conn.nick)) {
          done({ ok: true, value: conn.nick }); // already ours (servers do not answer NICK to the same nick)
          return;
        }
        conn.send('NICK', [current]);
      } else if (e.type === 'refused' && NICK_REFUSED.has(e.code)) {
        done({ ok: false, reason: e.reason });
      }
    };
    const timer = setTimeout(() => done({ ok: false, reason: 'the server did not answer' }), RENAME_TIMEOUT_MS);
    conn.on('event', onEvent);
    if (!conn.send('NICK', [current])) {
      done({ ok: false, reason: 'the IRC connection is not ready' });
    }
  });
}

/** Resolves once `conn` sees itself kicked from `channel` (or closes), or after `timeoutMs`. */
function ownKickSeen(conn: IrcConnection, channel: string, timeoutMs: number): { promise: Promise<void>; cancel(): void } {
  let cancel = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    const onEvent = (ev: IrcEvent): void => {
      if (ev.type === 'closed' || (ev.type === 'kick' && conn.fold(ev.channel) === conn.fold(channel) &&
        conn.fold(ev.nick) === conn.fold(conn.nick))) {
        cancel();
      }
    };
    const timer = setTimeout(() => cancel(), timeoutMs);
    cancel = (): void => {
      clearTimeout(timer);
      conn.off('event', onEvent);
      resolve();
    };
    conn.on('event', onEvent);
  });
  return { promise, cancel };
}
