/**
 * The Matrix -> IRC direction: messages and membership of real Matrix users in bridged rooms.
 * Called once per event, in room order. Failures a person caused are told to them in the room.
 */
import { matrixToIrc, stripReplyFallback } from '../format/matrix-to-irc';
import { ircLineBudget, splitForIrc, utf8ByteLength } from '../format/split';
import type { RoomId, UserId } from '../ids';
import type { IrcConnection } from '../irc/connection';
import { getLogger } from '../log';
import type { MatrixEvent } from '../matrix/events';
import { type BridgeContext, mxcToHttp } from './context';
import type { NetworkBridge } from './network';

const log = getLogger('bridge.matrix');

type MessageEvent = Extract<MatrixEvent, { kind: 'message' }>;
type MemberEvent = Extract<MatrixEvent, { kind: 'member' }>;

const FILE_TYPES = new Set(['m.image', 'm.file', 'm.audio', 'm.video']);

export class MatrixToIrc {
  constructor(
    private readonly ctx: BridgeContext,
    private readonly notify: (roomId: RoomId, text: string) => Promise<void>,
  ) {}

  async handleMatrixMember(net: NetworkBridge, channel: string, key: string | null, e: MemberEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const userId = e.stateKey as UserId;
    if (e.membership === 'join') {
      this.ctx.store.addMember({ roomId, userId, displayName: e.displayName });
      if (e.prevMembership === 'join') {
        return; // a profile change, not a join
      }
      try {
        await net.puppets.joinChannel(userId, e.displayName, channel as never, key);
      } catch (err) {
        log.warn('puppet could not connect', { network: net.id, user_id: userId, err: (err as Error).message });
        await this.notify(roomId, `${userId}: could not connect you to IRC (${(err as Error).message}). ` +
          'Your messages in this room will not reach IRC until this works; the bridge will try again on your next message.');
      }
    } else if (e.membership === 'leave' || e.membership === 'ban') {
      this.ctx.store.removeMember(roomId, userId);
      const reason = e.sender === e.stateKey ? 'Left Matrix room' : `Removed from the Matrix room${e.reason ? ': ' + e.reason : ''}`;
      await net.puppets.partChannel(userId, channel, reason);
    }
  }

  async handleMatrixMessage(net: NetworkBridge, channel: string, key: string | null, e: MessageEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const userId = e.sender as UserId;
    const member = this.ctx.store.getMember(roomId, userId);
    let conn: IrcConnection;
    try {
      await net.puppets.joinChannel(userId, member?.displayName ?? null, channel as never, key);
      conn = await net.puppets.connection(userId, null);
    } catch (err) {
      this.ctx.metrics.message('matrix_to_irc', 'failed');
      await this.notify(roomId, `${userId}: your message was not sent to IRC: ` +
        `could not connect (${(err as Error).message}).`);
      return;
    }
    const text = this.render(net, e);
    if (!text.trim()) {
      this.ctx.metrics.message('matrix_to_irc', 'dropped');
      return;
    }
    const action = e.msgtype === 'm.emote';
    const command = e.msgtype === 'm.notice' ? 'NOTICE' : 'PRIVMSG';
    const budget = ircLineBudget({ nick: conn.nick, ...conn.userHost, target: channel, command, lineLen: conn.lineLen, action });
    let lines = splitForIrc(text, budget);
    if (lines.length > net.cfg.max_lines) {
      lines = await this.longMessage(net, e, text, lines, budget);
    }
    for (const line of lines) {
      const ok = action ? conn.action(channel, line) : command === 'NOTICE' ? conn.notice(channel, line) : conn.say(channel, line);
      if (!ok) {
        this.ctx.metrics.message('matrix_to_irc', 'failed');
        await this.notify(roomId, `${userId}: part of your message was not sent to IRC: the connection is not ready.`);
        return;
      }
    }
    this.ctx.metrics.message('matrix_to_irc', 'sent');
  }

  /** IRC text for a Matrix message: formatting, pills as current nicks, files as links. */
  private render(net: NetworkBridge, e: MessageEvent): string {
    const resolveUserPill = (userId: string): string | null => {
      if (net.ghosts.isGhost(userId)) {
        return this.ctx.store.getGhostByUserId(net.id, userId as UserId)?.nick ?? null;
      }
      return net.puppets.get(userId as UserId)?.conn?.nick ?? null;
    };
    let text: string;
    if (FILE_TYPES.has(e.msgtype) && e.url) {
      const link = mxcToHttp(this.ctx, e.url);
      text = `${e.body.replace(/[\r\n]+/g, ' ')}${link ? ` <${link}>` : ''}`;
    } else {
      const body = e.inReplyTo && !e.html ? stripReplyFallback(e.body) : e.body;
      text = matrixToIrc(body, e.html, { resolveUserPill });
    }
    if (e.inReplyTo && !e.replaces) {
      text = this.replyPrefix(net, e) + text;
    }
    return e.replaces ? `* ${text.split('\n')[0] ?? ''}` : text;
  }

  /** "nick: " when the message answers someone whose IRC nick we know. */
  private replyPrefix(net: NetworkBridge, e: MessageEvent): string {
    const m = /^> <(@[^>]+)>/.exec(e.body);
    if (!m?.[1]) {
      return '';
    }
    const target = m[1];
    const nick = net.ghosts.isGhost(target)
      ? this.ctx.store.getGhostByUserId(net.id, target as UserId)?.nick
      : net.puppets.get(target as UserId)?.conn?.nick;
    return nick ? `${nick}: ` : '';
  }

  /** Too many lines for IRC: the full text goes to the media repository; IRC gets the first
   *  line and a link. */
  private async longMessage(net: NetworkBridge, e: MessageEvent, text: string, lines: string[],
    budget: number): Promise<string[]> {
    try {
      const mxc = await this.ctx.matrix.upload(Buffer.from(text, 'utf8'), 'text/plain; charset=utf-8',
        'message.txt', this.ctx.botUserId);
      const link = mxcToHttp(this.ctx, mxc) ?? mxc;
      const suffix = ` (full message: ${link})`;
      const first = splitForIrc(lines[0] ?? '', Math.max(16, budget - utf8ByteLength(suffix)))[0] ?? '';
      return utf8ByteLength(first + suffix) <= budget ? [first + suffix] : [first, `(full message: ${link})`];
    } catch (err) {
      log.warn('long message upload failed; sending it in full', { network: net.id, room_id: e.roomId, err: (err as Error).message });
      return lines;
    }
  }
}
