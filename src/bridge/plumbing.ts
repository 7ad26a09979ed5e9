/**
 * Plumbing: linking an existing Matrix room to an IRC channel, with the consent of a channel
 * operator, and unlinking it. A room moderator asks in their admin room (`!link`, `!unlink`);
 * a channel operator may also unlink by telling the bot `unlink #channel` on IRC.
 *
 * Consent: the bot asks one channel operator in a private message and links only when that
 * operator answers "yes" within `plumbing_consent_timeout_ms`. Any other answer, or none,
 * refuses; the requester is told either way.
 */
import type { Channel, RoomId, UserId } from '../ids';
import type { IrcEventOf } from '../irc/events';
import { getLogger } from '../log';
import type { AdminCommand, CommandCall } from './admin-room';
import { CHANNEL_PATTERN, UsageError } from './admin-room';
import type { BridgeContext } from './context';
import type { NetworkBridge } from './network';
import type { Portals } from './portals';
import { levelFor, powerOf, privilegedCreators } from './power-levels';

const log = getLogger('bridge.plumbing');

interface PendingConsent {
  net: NetworkBridge;
  /** Folded nick of the operator asked. */
  op: string;
  answer: (text: string | null) => void;
}

export class Plumbing {
  /** Requests waiting for an operator, by `network|folded channel`. */
  private readonly pending = new Map<string, PendingConsent>();

  constructor(
    private readonly ctx: BridgeContext,
    private readonly portals: Portals,
    private readonly isOurs: (userId: string) => boolean,
  ) {}

  commands(): AdminCommand[] {
    return [
      {
        // !link [network] <room_id|alias> <#channel>
        name: 'link', usage: '[network] <room_id|#alias> <#channel>', network: true, minArgs: 2, maxArgs: 2,
        help: 'bridge an existing room (you moderate it; invite the bridge bot first) to a channel, once a channel operator agrees',
        run: (c) => this.runLink(c),
      },
      {
        // !unlink [network] <room_id|alias>
        name: 'unlink', usage: '[network] <room_id|#alias>', network: true, minArgs: 1, maxArgs: 1,
        help: 'stop bridging a room you moderate that was linked with !link',
        run: (c) => this.runUnlink(c),
      },
    ];
  }

  /** A private message to the bot: the answer of an operator asked for consent, or an
   *  operator's `unlink #channel`. */
  onBotMessage(net: NetworkBridge, e: IrcEventOf<'message'>): void {
    const from = net.fold(e.from.nick);
    for (const p of this.pending.values()) {
      // Only a PRIVMSG answers: a NOTICE may be an automatic reply (away messages).
      if (p.net === net && p.op === from && e.kind === 'privmsg') {
        p.answer(e.text);
        return;
      }
    }
    const m = /^\s*!?unlink\s+(\S+)\s*$/i.exec(e.text);
    if (m && e.kind === 'privmsg') {
      void this.unlinkByOperator(net, e.from.nick, m[1] as string);
    }
  }

  private async runLink(c: CommandCall): Promise<void> {
    const net = netOf(c);
    const [roomRef, channel] = c.args as [string, string];
    if (!CHANNEL_PATTERN.test(channel)) {
      throw new UsageError(`${channel} is not a channel name.`);
    }
    const roomId = await this.resolve(roomRef);
    const r = await this.requestLink(c.userId, roomId, roomRef, net, channel, (text) => c.reply(text));
    await c.reply(r.ok ? `Asked ${r.value}, an operator of ${channel}, to agree (waiting up to ` +
      `${Math.round(net.cfg.plumbing_consent_timeout_ms / 1000)} s).` : `${roomRef} was not linked to ${channel}: ${r.reason}.`);
  }

  /**
   * Asks an operator of `channel` to agree to link `roomId` for `userId`. Resolves once the
   * operator was asked (with their nick) or the request was refused at once (with the
   * reason). The outcome of the question is told later through `tell`.
   */
  async requestLink(userId: UserId, roomId: RoomId, roomRef: string, net: NetworkBridge, channel: string,
    tell: (text: string) => Promise<void>): Promise<{ ok: true; value: string } | { ok: false; reason: string }> {
    const refuse = (reason: string): { ok: false; reason: string } => {
      log.info('link refused', { network: net.id, room_id: roomId, user_id: userId, channel, reason });
      return { ok: false, reason };
    };
    if (net.cfg.plumbing_consent_timeout_ms === 0) {
      return refuse(`linking rooms is turned off on ${net.cfg.name}`);
    }
    const refusal = await this.checkLink(userId, roomId, net, channel);
    if (refusal !== null) {
      return refuse(refusal);
    }
    let state;
    try {
      state = await net.joinChannel(channel, null);
    } catch (err) {
      return refuse(`the bridge bot cannot join it (${(err as Error).message})`);
    }
    const key = `${net.id}|${net.fold(state.name)}`;
    if (this.pending.has(key)) {
      return refuse('another request for that channel is waiting for an answer');
    }
    const op = net.operatorsOf(state.name)[0];
    if (op === undefined) {
      this.leaveUnbridged(net, state.name);
      return refuse('no channel operator is there to agree');
    }
    const seconds = Math.round(net.cfg.plumbing_consent_timeout_ms / 1000);
    const consent = this.awaitConsent(net, key, op); // listening before asking
    net.sendAsBot('PRIVMSG', [op, `${userId} asks to bridge ${state.name} to the Matrix room ${roomRef}. ` +
      `Answer "yes" within ${seconds} s to allow it; any other answer refuses.`]);
    log.info('link consent asked', { network: net.id, room_id: roomId, user_id: userId, channel: state.name, nick: op });
    // The answer comes later; the caller need not wait for it.
    void consent.then(async (answer) => {
      if (answer === null || answer.trim().toLowerCase() !== 'yes') {
        const why = answer === null ? `${op} did not answer within ${seconds} s` : `${op} answered "${answer.trim().slice(0, 100)}"`;
        log.info('link not agreed', { network: net.id, room_id: roomId, channel: state.name, nick: op, answered: answer !== null });
        net.sendAsBot('NOTICE', [op, `${state.name} is not bridged to ${roomRef}.`]);
        this.leaveUnbridged(net, state.name);
        await tell(`${roomRef} was not linked to ${state.name}: ${why}.`);
        return;
      }
      const again = await this.checkLink(userId, roomId, net, state.name);
      if (again !== null) {
        this.leaveUnbridged(net, state.name);
        await tell(`${roomRef} was not linked to ${state.name}: ${again}.`);
        return;
      }
      await this.link(net, state.name as Channel, roomId);
      net.sendAsBot('NOTICE', [op, `${state.name} is now bridged to ${roomRef}. Tell me "unlink ${state.name}" to undo it.`]);
      await tell(`${roomRef} is now bridged to ${state.name} (${op} agreed).`);
    }).catch((err: Error) => log.error('link failed', { network: net.id, room_id: roomId, err: err.message }));
    return { ok: true, value: op };
  }

  /** The bot joined the channel only to ask: it leaves again when nothing came of it. */
  private leaveUnbridged(net: NetworkBridge, channel: string): void {
    if (!this.ctx.store.getRoomByChannel(net.id, net.fold(channel)) && !this.pending.has(`${net.id}|${net.fold(channel)}`)) {
      net.partChannel(channel, 'Not bridged');
    }
  }

  private awaitConsent(net: NetworkBridge, key: string, op: string): Promise<string | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), net.cfg.plumbing_consent_timeout_ms);
      const done = (text: string | null): void => {
        clearTimeout(timer);
        this.pending.delete(key);
        resolve(text);
      };
      this.pending.set(key, { net, op: net.fold(op), answer: done });
    });
  }

  /** Why `userId` may not link `roomId` to the channel now, or null when they may. */
  private async checkLink(userId: UserId, roomId: RoomId, net: NetworkBridge, channel: string): Promise<string | null> {
    if (this.ctx.store.getMappingByRoom(roomId)) {
      return 'that room is already bridged';
    }
    const other = this.ctx.store.getRoomByChannel(net.id, net.fold(channel));
    if (other) {
      return `${channel} is already bridged to ${other.roomId}`;
    }
    try {
      await this.ctx.matrix.joinRoom(roomId, this.ctx.botUserId);
    } catch {
      return 'the bridge bot cannot join that room (invite it first)';
    }
    return this.moderatorProblem(userId, roomId);
  }

  /** Null when `userId` moderates the room (may change its state) and the bot may send the
   *  bridge's state in it. */
  private async moderatorProblem(userId: UserId, roomId: RoomId): Promise<string | null> {
    let levels: Record<string, unknown> | null;
    let creators: Set<string>;
    try {
      levels = await this.ctx.matrix.getState(roomId, 'm.room.power_levels');
      creators = privilegedCreators(await this.ctx.matrix.getStateEvent(roomId, 'm.room.create'));
    } catch (err) {
      return `the bridge could not read the room's power levels (${(err as Error).message})`;
    }
    const needed = levelFor(levels, 'state_default');
    if (powerOf(levels, creators, userId) < needed) {
      return `your power level there is below ${needed} (the level to change the room's state)`;
    }
    if (powerOf(levels, creators, this.ctx.botUserId) < needed) {
      return `the bridge bot needs power level ${needed} there`;
    }
    return null;
  }

  /** Bridges the room: the mapping, MSC2346 state, ghosts of the channel's users, puppets of
   *  the room's Matrix users. */
  private async link(net: NetworkBridge, channel: Channel, roomId: RoomId): Promise<void> {
    this.ctx.store.upsertRoomMapping({ network: net.id, channel, roomId, origin: 'plumbed', key: null }, net.fold(channel));
    for (const ev of this.portals.bridgeState(net, channel)) {
      await this.ctx.matrix.sendState(roomId, ev.type, ev.state_key, ev.content, this.ctx.botUserId);
    }
    const state = await net.joinChannel(channel, null);
    net.syncGhosts(roomId, state);
    net.noteChannelState(state);
    await this.portals.recordMatrixMembers(roomId, this.isOurs);
    for (const m of this.ctx.store.listMembers(roomId)) {
      if (net.exclusionOf(m.userId) === null) {
        void net.puppets.joinChannel(m.userId, m.displayName, channel, null).catch((err: Error) =>
          log.warn('puppet could not join a linked channel', { network: net.id, user_id: m.userId, err: err.message }));
      }
    }
    log.info('room linked to a channel', { network: net.id, channel, room_id: roomId });
  }

  private async runUnlink(c: CommandCall): Promise<void> {
    const net = netOf(c);
    const roomRef = c.args[0] as string;
    const r = await this.requestUnlink(c.userId, await this.resolve(roomRef), net);
    await c.reply(r.ok ? `${roomRef} is no longer bridged to ${r.value}.` : `${roomRef} stays as it is: ${r.reason}.`);
  }

  /** Unlinks a room linked with !link, when `userId` moderates it. */
  async requestUnlink(userId: UserId, roomId: RoomId, net: NetworkBridge):
    Promise<{ ok: true; value: string } | { ok: false; reason: string }> {
    const mapping = this.ctx.store.getMappingByRoom(roomId);
    if (!mapping || mapping.network !== net.id) {
      return { ok: false, reason: `it is not bridged on ${net.cfg.name}` };
    }
    if (mapping.origin !== 'plumbed') {
      return { ok: false, reason: `it is a ${mapping.origin === 'static' ? 'room mapped in the configuration' : 'portal room'}; ` +
        'only rooms linked with !link can be unlinked' };
    }
    const problem = await this.moderatorProblem(userId, roomId);
    if (problem !== null) {
      return { ok: false, reason: problem };
    }
    await this.unlink(net, roomId, mapping.channel, `Unlinked by ${userId}`);
    return { ok: true, value: mapping.channel };
  }

  // PRIVMSG <bot> :unlink <#channel>, from an operator of that channel
  private async unlinkByOperator(net: NetworkBridge, nick: string, channel: string): Promise<void> {
    const mapping = this.ctx.store.getRoomByChannel(net.id, net.fold(channel));
    let answer: string;
    if (!mapping || mapping.origin !== 'plumbed') {
      answer = `${channel} is not a channel linked to a Matrix room with !link.`;
    } else if (!net.isOperator(channel, nick)) {
      answer = `Only an operator of ${channel} can unlink it.`;
    } else {
      await this.unlink(net, mapping.roomId, mapping.channel, `Unlinked on IRC by ${nick}`);
      answer = `${mapping.channel} is no longer bridged to Matrix.`;
    }
    net.sendAsBot('NOTICE', [nick, answer]);
  }

  /** Ends the bridge of a linked room: puppets part, ghosts leave, the bridge state is
   *  emptied, the bot leaves both sides. */
  private async unlink(net: NetworkBridge, roomId: RoomId, channel: string, reason: string): Promise<void> {
    const members = this.ctx.store.listMembers(roomId);
    this.ctx.store.removeRoomMapping(roomId);
    for (const m of members) {
      this.ctx.store.removeMember(roomId, m.userId);
      await net.puppets.partChannel(m.userId, channel, reason);
    }
    const joined = await this.ctx.matrix.joinedMembers(roomId).catch(() => ({}));
    for (const userId of Object.keys(joined)) {
      if (net.ghosts.isGhost(userId)) {
        await net.ghosts.leaveRoom(roomId, userId as UserId, reason);
      }
    }
    for (const ev of this.portals.bridgeState(net, channel)) {
      await this.ctx.matrix.sendState(roomId, ev.type, ev.state_key, {}, this.ctx.botUserId).catch(() => undefined);
    }
    net.partChannel(channel, reason);
    await this.ctx.matrix.leave(roomId, this.ctx.botUserId, reason).catch(() => undefined);
    log.info('room unlinked from its channel', { network: net.id, channel, room_id: roomId, reason });
  }

  /** A room ID, or the room an alias names. */
  async resolve(ref: string): Promise<RoomId> {
    if (/^![^\s]+$/.test(ref)) { // room version 12 IDs have no server part
      return ref as RoomId;
    }
    if (/^#[^:\s]+:\S+$/.test(ref)) {
      const roomId = await this.ctx.matrix.resolveAlias(ref);
      if (roomId) {
        return roomId as RoomId;
      }
      throw new UsageError(`No room has the alias ${ref}.`);
    }
    throw new UsageError(`${ref} is neither a room ID (!id) nor an alias (#alias:server).`);
  }
}

function netOf(c: CommandCall): NetworkBridge {
  if (!c.net) {
    throw new UsageError('Name a network.');
  }
  return c.net;
}
