/**
 * The admin room: each Matrix user's direct chat with the bridge bot. Commands typed there
 * (`!help` lists them) act on the user's own IRC connections; the bridge also tells the user
 * there what concerns their connections (a ban, a failed login), opening the room if needed.
 */
import type { Channel, RoomId, UserId } from '../ids';
import { getLogger } from '../log';
import type { MatrixEvent } from '../matrix/events';
import type { BridgeContext } from './context';
import type { NetworkBridge } from './network';

const log = getLogger('bridge.admin');

type MemberEvent = Extract<MatrixEvent, { kind: 'member' }>;
type MessageEvent = Extract<MatrixEvent, { kind: 'message' }>;

const NICK = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/;
const CHANNEL = /^[#&+!][^\s,\x07\0\r\n]{1,199}$/;

/** What a command needs of the rest of the bridge. */
export interface AdminServices {
  networks: Map<string, NetworkBridge>;
  /** The portal room of a channel, created when missing; null when that is not possible. */
  ensurePortal(net: NetworkBridge, channel: Channel, key: string | null): Promise<RoomId | null>;
  /** The portal alias of a channel. */
  aliasOf(net: NetworkBridge, channel: string): string;
  isBridgeAdmin(userId: string): boolean;
  version: string;
}

/** One call of a command. */
export interface CommandCall {
  userId: UserId;
  roomId: RoomId;
  eventId: string;
  /** The network named or implied, for commands that take one. */
  net: NetworkBridge | null;
  /** Words after the command (and its network). */
  args: string[];
  /** The text after the command (and its network), spaces kept. */
  rest: string;
  reply(text: string): Promise<void>;
}

export interface AdminCommand {
  name: string;
  /** Usage after the command name, e.g. `[network] <nick>`. */
  usage: string;
  help: string;
  /** Whether the first word may name a network (optional where only one is configured). */
  network: boolean;
  minArgs: number;
  maxArgs: number;
  /** Bridge administrators only. */
  admin?: boolean;
  run(call: CommandCall): Promise<void>;
}

/** A wrong use of a command: answered with the message and the usage line. */
export class UsageError extends Error {}

export class AdminRooms {
  private readonly commands = new Map<string, AdminCommand>();
  private readonly opening = new Map<UserId, Promise<RoomId>>();

  constructor(private readonly ctx: BridgeContext, private readonly services: AdminServices, commands: AdminCommand[]) {
    for (const c of commands) {
      this.commands.set(c.name, c);
    }
  }

  /** Registers more commands (other parts of the bridge bring their own). */
  addCommands(commands: AdminCommand[]): void {
    for (const c of commands) {
      this.commands.set(c.name, c);
    }
  }

  ownerOf(roomId: RoomId): UserId | null {
    return this.ctx.store.adminRoomOwner(roomId);
  }

  /** The bot was invited: it joins a direct chat (or a room of just the two) as that user's
   *  admin room; any other room it declines. */
  async onBotInvite(e: MemberEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const userId = e.sender as UserId;
    if (this.ctx.store.getMappingByRoom(roomId)) {
      return; // a bridged room: nothing to do here
    }
    await this.ctx.matrix.joinRoom(roomId, this.ctx.botUserId);
    let direct = e.isDirect;
    if (!direct) {
      const members = Object.keys(await this.ctx.matrix.joinedMembers(roomId).catch(() => ({})));
      direct = members.length <= 2;
    }
    if (!direct) {
      // It stays: a moderator may link this room to a channel (!link in their admin room).
      await this.send(roomId, 'To bridge this room to an IRC channel, a moderator of this room says ' +
        '`!link <this room\'s ID or alias> <#channel>` in their admin room (a direct chat with this bot); a channel ' +
        'operator on IRC is asked to agree. To join a channel without that, use its portal alias.');
      return;
    }
    this.ctx.store.setAdminRoom(userId, roomId);
    log.info('admin room opened by its user', { user_id: userId, room_id: roomId });
    await this.send(roomId, 'This is your admin room for the IRC bridge. Say !help for the commands.');
  }

  /** The owner left their admin room: it is forgotten and the bot leaves too. */
  async onLeave(roomId: RoomId, userId: string): Promise<void> {
    if (this.ownerOf(roomId) !== userId) {
      return;
    }
    this.ctx.store.removeAdminRoom(roomId);
    await this.ctx.matrix.leave(roomId, this.ctx.botUserId).catch(() => undefined);
  }

  /** Tells a user something about their connections in their admin room (opened if needed). */
  async tell(userId: UserId, text: string): Promise<void> {
    try {
      const roomId = this.ctx.store.getAdminRoom(userId) ?? await this.open(userId);
      await this.send(roomId, text);
    } catch (err) {
      log.warn('could not tell a user in their admin room', { user_id: userId, err: (err as Error).message });
    }
  }

  /** A message in an admin room from its owner. */
  async onMessage(e: MessageEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const userId = e.sender as UserId;
    const text = e.body.trim();
    if (e.msgtype !== 'm.text' || !text.startsWith('!')) {
      if (e.msgtype === 'm.text') {
        await this.send(roomId, 'Commands start with "!". Say !help for the list.');
      }
      return;
    }
    const m = /^!(\S+)\s*([\s\S]*)$/.exec(text);
    const name = (m?.[1] ?? '').toLowerCase();
    const command = this.commands.get(name);
    if (!command || (command.admin && !this.services.isBridgeAdmin(userId))) {
      await this.send(roomId, `Unknown command !${name.slice(0, 40)}. Say !help for the list.`);
      return;
    }
    let rest = (m?.[2] ?? '').trim();
    let net: NetworkBridge | null = null;
    if (command.network) {
      const first = /^(\S+)\s*([\s\S]*)$/.exec(rest);
      const named = first?.[1] ? this.services.networks.get(first[1]) : undefined;
      if (named) {
        net = named;
        rest = (first?.[2] ?? '').trim();
      } else if (this.services.networks.size === 1) {
        net = [...this.services.networks.values()][0] ?? null;
      } else {
        await this.send(roomId, `Which network? Say !${command.name} <network> ..., one of: ` +
          `${[...this.services.networks.keys()].join(', ')}.`);
        return;
      }
    }
    const args = rest === '' ? [] : rest.split(/\s+/);
    const usage = `Usage: !${command.name}${command.usage ? ' ' + command.usage : ''}`;
    if (args.length < command.minArgs || args.length > command.maxArgs) {
      await this.send(roomId, usage);
      return;
    }
    try {
      await command.run({ userId, roomId, eventId: e.eventId, net, args, rest, reply: (t) => this.send(roomId, t) });
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof UsageError) {
        await this.send(roomId, `${message}\n${usage}`);
      } else {
        log.warn('admin command failed', { user_id: userId, command: command.name, err: message });
        await this.send(roomId, `!${command.name} failed: ${message}`);
      }
    }
  }

  /** The help text: every command the user may use, with its usage. */
  helpFor(userId: UserId): string {
    const lines = [...this.commands.values()]
      .filter((c) => !c.admin || this.services.isBridgeAdmin(userId))
      .map((c) => `!${c.name}${c.usage ? ' ' + c.usage : ''} - ${c.help}${c.admin ? ' (bridge admins)' : ''}`);
    const nets = [...this.services.networks.keys()];
    const note = nets.length === 1 ? `The network (${nets[0]}) may be left out.` : `Networks: ${nets.join(', ')}.`;
    return `${lines.join('\n')}\n${note}`;
  }

  private async send(roomId: RoomId, text: string): Promise<void> {
    await this.ctx.matrix.sendEvent(roomId, 'm.room.message', { msgtype: 'm.notice', body: text }, this.ctx.botUserId);
  }

  private open(userId: UserId): Promise<RoomId> {
    let pending = this.opening.get(userId);
    if (!pending) {
      pending = (async (): Promise<RoomId> => {
        const { room_id } = await this.ctx.matrix.createRoom({
          preset: 'trusted_private_chat', is_direct: true, invite: [userId], name: 'IRC bridge',
        }, this.ctx.botUserId);
        const roomId = room_id as RoomId;
        this.ctx.store.setAdminRoom(userId, roomId);
        log.info('admin room opened by the bridge', { user_id: userId, room_id: roomId });
        await this.send(roomId, 'This is your admin room for the IRC bridge. Say !help for the commands.');
        return roomId;
      })().finally(() => this.opening.delete(userId));
      this.opening.set(userId, pending);
    }
    return pending;
  }
}

export { NICK as NICK_PATTERN, CHANNEL as CHANNEL_PATTERN };
