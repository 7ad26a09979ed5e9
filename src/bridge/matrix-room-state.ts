/**
 * Room state from Matrix to IRC: power-level changes become +o/+h/+v (or their removal) on the
 * user's puppet or the IRC user behind a ghost; the join rule `invite` and an `events_default`
 * at the voice level become +i and +m (and back); an invite of a ghost becomes an IRC INVITE
 * from the inviter's puppet. Called once per event, in order, from the queues. What cannot be
 * carried out is explained to the person in the room, logged, and changes nothing else.
 */
import type { RoomId, UserId } from '../ids';
import { getLogger } from '../log';
import type { MatrixEvent } from '../matrix/events';
import type { BridgeContext } from './context';
import type { NetworkBridge } from './network';
import { SETTABLE_STATUS, modeForLevel } from './power-levels';

const log = getLogger('bridge.room-state.matrix');

type PowerLevelsEvent = Extract<MatrixEvent, { kind: 'power_levels' }>;
type MemberEvent = Extract<MatrixEvent, { kind: 'member' }>;
type JoinRulesEvent = Extract<MatrixEvent, { kind: 'join_rules' }>;

/** Join rules that are a channel mode: invite-only is +i, public is none. */
const JOIN_RULE_INVITE_ONLY: Readonly<Record<string, boolean>> = { invite: true, public: false };

/** The MODE that makes someone holding `held` (status letters) hold `wanted` instead: statuses
 *  the bridge sets that rank above `wanted` are taken, `wanted` is given. `order` is the
 *  server's status modes, highest first. Null when nothing changes. */
export function statusChange(held: readonly string[], wanted: string | null, order: readonly string[]): string | null {
  const rank = (m: string): number => order.indexOf(m);
  const take = held.filter((m) => (SETTABLE_STATUS as readonly string[]).includes(m) &&
    (wanted === null || rank(m) < rank(wanted)));
  const give = wanted !== null && !held.includes(wanted) ? wanted : null;
  if (take.length === 0 && give === null) {
    return null;
  }
  return `${give ? '+' + give : ''}${take.length > 0 ? '-' + take.join('') : ''}`;
}

export class MatrixRoomState {
  constructor(
    private readonly ctx: BridgeContext,
    private readonly notify: (roomId: RoomId, text: string) => Promise<void>,
  ) {}

  /**
   * A Matrix user changed the room's power levels: each user whose level changed and who is in
   * the channel (a Matrix user's puppet, or the IRC user behind a ghost) gets the status the
   * level stands for (`prefix_power_levels`), set by the bot when it is a channel operator,
   * else by the sender's puppet when that is one.
   */
  async handleMatrixPowerLevels(net: NetworkBridge, channel: string, e: PowerLevelsEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const sender = e.sender as UserId;
    const voice = net.prefixLevels.v ?? 1;
    if (e.prevEventsDefault !== null && (e.eventsDefault >= voice) !== (e.prevEventsDefault >= voice)) {
      await this.sendChannelMode(net, channel, roomId, sender, e.eventsDefault >= voice ? '+m' : '-m');
    }
    const order = net.statusPrefix().map((p) => p.mode);
    const levelOf = (users: Record<string, number>, u: string): number => users[u] ?? e.usersDefault;
    const users = new Set([...Object.keys(e.users), ...Object.keys(e.prevUsers ?? {})]);
    for (const userId of users) {
      if (e.prevUsers !== null && levelOf(e.users, userId) === levelOf(e.prevUsers, userId)) {
        continue;
      }
      if (userId === this.ctx.botUserId) {
        continue;
      }
      const nick = this.nickIn(net, channel, userId);
      if (nick === null) {
        log.debug('power level of a user not in the channel; nothing to do on IRC', { network: net.id, room_id: roomId, user_id: userId });
        continue;
      }
      const level = levelOf(e.users, userId);
      const wanted = modeForLevel(level, net.prefixLevels, order);
      if (wanted !== null && !(SETTABLE_STATUS as readonly string[]).includes(wanted)) {
        log.info('power level not carried to IRC: above what the bridge sets', { network: net.id, room_id: roomId, user_id: userId, level });
        await this.notify(roomId, `${sender}: power level ${level} of ${userId} stands for +${wanted} in ${channel}, which the ` +
          'bridge does not set (it gives at most +o); IRC stays as it is.');
        continue;
      }
      const change = statusChange(net.statusModes(channel, nick), wanted, order);
      if (change === null) {
        continue;
      }
      await this.sendStatus(net, channel, roomId, sender, nick, change);
    }
  }

  /**
   * A Matrix user changed the room's join rule: `invite` sets +i, `public` removes it. Other
   * rules (knock, restricted) have no channel mode; the sender is told and IRC stays as it is.
   */
  async handleMatrixJoinRules(net: NetworkBridge, channel: string, e: JoinRulesEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const sender = e.sender as UserId;
    if (e.joinRule === e.prevJoinRule) {
      return;
    }
    const inviteOnly = JOIN_RULE_INVITE_ONLY[e.joinRule];
    if (inviteOnly === undefined) {
      log.info('join rule not carried to IRC: no channel mode for it', { network: net.id, room_id: roomId, user_id: sender,
        join_rule: e.joinRule });
      await this.notify(roomId, `${sender}: the join rule "${e.joinRule.slice(0, 40)}" has no IRC channel mode; ${channel} stays ` +
        'as it is.');
      return;
    }
    if (net.hasChannelMode(channel, 'i') === inviteOnly) {
      return; // IRC already says so (or this rule came from IRC)
    }
    await this.sendChannelMode(net, channel, roomId, sender, inviteOnly ? '+i' : '-i');
  }

  private async sendChannelMode(net: NetworkBridge, channel: string, roomId: RoomId, sender: UserId, change: string): Promise<void> {
    if (net.hasChannelMode(channel, change.slice(1)) === change.startsWith('+')) {
      return;
    }
    const puppet = net.puppets.get(sender)?.conn;
    let sent = false;
    if (net.isOperator(channel, net.botNick)) {
      sent = net.sendAsBot('MODE', [channel, change]);
    } else if (puppet?.state === 'registered' && net.isOperator(channel, puppet.nick)) {
      sent = puppet.send('MODE', [channel, change]);
    } else {
      log.info('channel mode not set: no operator', { network: net.id, room_id: roomId, user_id: sender, change });
      await this.notify(roomId, `${sender}: ${channel} stays as it is on IRC (${change} not set): neither the bridge bot nor ` +
        'your IRC connection is a channel operator there.');
      return;
    }
    if (!sent) {
      await this.notify(roomId, `${sender}: ${change} was not set on ${channel}: the IRC connection that would carry it out is ` +
        'not connected; try again later.');
      return;
    }
    log.info('channel mode set on IRC from the room\'s rules', { network: net.id, room_id: roomId, user_id: sender, change });
  }

  /**
   * A Matrix user invited a ghost into a bridged room: their puppet (joined to the channel)
   * sends `INVITE nick #channel`. IRC's refusal (not an operator in a +i channel) reaches the
   * user as a notice through the puppet's events.
   */
  async handleMatrixInvite(net: NetworkBridge, channel: string, key: string | null, e: MemberEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const inviter = e.sender as UserId;
    const excluded = net.exclusionOf(inviter);
    const nick = net.ghosts.nickFor(e.stateKey);
    let problem: string | null = null;
    if (excluded !== null) {
      problem = excluded;
    } else if (nick === null) {
      problem = 'the bridge does not know which IRC user that is';
    } else if (net.isInChannel(channel, nick)) {
      return; // already there: their ghost joins when invited
    } else if ((await net.whois(nick)) === null) {
      problem = `${nick} is not on IRC now`;
    }
    if (problem === null) {
      try {
        await net.puppets.joinChannel(inviter, this.ctx.store.getMember(roomId, inviter)?.displayName ?? null, channel as never, key);
        const conn = await net.puppets.connection(inviter, null);
        if (!conn.send('INVITE', [nick as string, channel])) {
          problem = 'your IRC connection is not ready; try again later';
        }
      } catch (err) {
        problem = (err as Error).message;
      }
    }
    if (problem !== null) {
      log.info('Matrix invite not carried to IRC', { network: net.id, room_id: roomId, user_id: inviter, nick, reason: problem });
      await this.notify(roomId, `${inviter}: ${nick ?? e.stateKey} was not invited to ${channel} on IRC: ${problem}.`);
      return;
    }
    log.info('ghost invited on IRC', { network: net.id, room_id: roomId, user_id: inviter, nick });
  }

  /** The nick `userId` has in the channel: their puppet's, or the IRC user's behind a ghost. */
  private nickIn(net: NetworkBridge, channel: string, userId: string): string | null {
    const nick = net.ghosts.isGhost(userId)
      ? this.ctx.store.getGhostByUserId(net.id, userId as UserId)?.nick ?? null
      : net.puppets.get(userId as UserId)?.conn?.nick ?? null;
    return nick !== null && net.isInChannel(channel, nick) ? nick : null;
  }

  private async sendStatus(net: NetworkBridge, channel: string, roomId: RoomId, sender: UserId, nick: string,
    change: string): Promise<void> {
    const letters = change.replace(/[+-]/g, '').length;
    const params = [channel, change, ...Array.from({ length: letters }, () => nick)];
    const puppet = net.puppets.get(sender)?.conn;
    let sent = false;
    if (net.isOperator(channel, net.botNick)) {
      sent = net.sendAsBot('MODE', params);
    } else if (puppet?.state === 'registered' && net.isOperator(channel, puppet.nick)) {
      sent = puppet.send('MODE', params);
    } else {
      log.info('power level not carried to IRC: no operator', { network: net.id, room_id: roomId, user_id: sender, nick, change });
      await this.notify(roomId, `${sender}: ${nick} keeps their status in ${channel} on IRC (${change} not set): neither the ` +
        'bridge bot nor your IRC connection is a channel operator there.');
      return;
    }
    if (!sent) {
      await this.notify(roomId, `${sender}: ${change} for ${nick} in ${channel} was not set on IRC: the IRC connection that ` +
        'would carry it out is not connected; try again later.');
      return;
    }
    log.info('status set on IRC from a power level', { network: net.id, room_id: roomId, user_id: sender, nick, change });
  }
}
