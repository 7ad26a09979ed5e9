/**
 * The Matrix -> IRC direction: messages and membership of real Matrix users in bridged rooms.
 * Called once per event, in room order. Failures a person caused are told to them in the room.
 */
import { matrixToIrc, stripReplyFallback } from '../format/matrix-to-irc';
import { ircLineBudget, splitForIrc, utf8ByteLength } from '../format/split';
import type { RoomId, UserId } from '../ids';
import { IrcBannedError, type IrcConnection } from '../irc/connection';
import { getLogger } from '../log';
import type { MatrixEvent } from '../matrix/events';
import { type BridgeContext, mxcToHttp } from './context';
import type { NetworkBridge } from './network';

const log = getLogger('bridge.matrix');

type MessageEvent = Extract<MatrixEvent, { kind: 'message' }>;
type MemberEvent = Extract<MatrixEvent, { kind: 'member' }>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const FILE_TYPES = new Set(['m.image', 'm.file', 'm.audio', 'm.video']);

export class MatrixToIrc {
  /** Excluded users already told, once per room, that their messages stay on Matrix. */
  private readonly toldExcluded = new Set<string>();

  constructor(
    private readonly ctx: BridgeContext,
    private readonly notify: (roomId: RoomId, text: string) => Promise<void>,
  ) {}

  async handleMatrixMember(net: NetworkBridge, channel: string, key: string | null, e: MemberEvent): Promise<void> {
    const roomId = e.roomId as RoomId;
    const userId = e.stateKey as UserId;
    if (e.membership === 'join') {
      const excluded = net.exclusionOf(userId);
      if (excluded !== null) {
        log.info('excluded user joined a bridged room; no puppet', { network: net.id, room_id: roomId, user_id: userId });
        await this.notify(roomId, `${userId}: you are not connected to IRC (${net.cfg.name}): ${excluded}`);
        return;
      }
      this.ctx.store.addMember({ roomId, userId, displayName: e.displayName });
      try {
        await net.puppets.joinChannel(userId, e.displayName, channel as never, key);
      } catch (err) {
        log.warn('puppet could not connect', { network: net.id, user_id: userId, err: (err as Error).message });
        await this.notify(roomId, `${userId}: could not connect you to IRC (${(err as Error).message}). ` +
          'The bridge keeps trying; your messages here wait for it a while, and you are told of any that cannot be sent.');
      }
    } else if (e.membership === 'leave' || e.membership === 'ban') {
      this.ctx.store.removeMember(roomId, userId);
      const reason = e.sender === e.stateKey ? 'Left Matrix room' : `Removed from the Matrix room${e.reason ? ': ' + e.reason : ''}`;
      await net.puppets.partChannel(userId, channel, reason);
    }
  }

  /**
   * Sends one Matrix message as the sender's puppet. Resolves only once every line was written
   * to the IRC socket (the caller then forgets the stored event), or once the message could not
   * be delivered within `message_timeout_ms`, in which case the sender is told in the room.
   * While the puppet connects or reconnects, the message waits, and so do the sender's later
   * events (they are ordered per user).
   */
  async handleMatrixMessage(net: NetworkBridge, channel: string, key: string | null, e: MessageEvent,
    inboundSeq?: number, privateTo = false): Promise<void> {
    const roomId = e.roomId as RoomId;
    const userId = e.sender as UserId;
    const excluded = net.exclusionOf(userId);
    if (excluded !== null) {
      this.ctx.metrics.message('matrix_to_irc', 'dropped');
      if (!this.toldExcluded.has(`${roomId}|${userId}`)) {
        this.toldExcluded.add(`${roomId}|${userId}`);
        await this.notify(roomId, `${userId}: your messages here do not reach IRC (${net.cfg.name}): ${excluded}`);
      }
      return;
    }
    const deadline = Date.now() + net.cfg.message_timeout_ms;
    const member = this.ctx.store.getMember(roomId, userId);
    const action = e.msgtype === 'm.emote';
    const command = e.msgtype === 'm.notice' ? 'NOTICE' : 'PRIVMSG';
    let lines: string[] | null = null;
    let sent = 0;
    let reason = '';
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (attempt > 0) {
        await sleep(Math.min(1000 * 2 ** Math.min(attempt - 1, 5), Math.max(0, deadline - Date.now())));
      }
      let conn: IrcConnection;
      try {
        // `channel` is the nick of a direct chat's IRC user when `privateTo`: connect, join nothing.
        const joining = privateTo ? net.puppets.connection(userId, member?.displayName ?? null)
          : net.puppets.joinChannel(userId, member?.displayName ?? null, channel as never, key);
        net.puppets.touch(userId); // someone with a message waiting goes first among reconnects
        await joining;
        conn = await net.puppets.connection(userId, null);
      } catch (err) {
        reason = `could not connect (${(err as Error).message})`;
        if (net.stopping) {
          throw err; // stays stored; handled again at the next start
        }
        if (err instanceof IrcBannedError) {
          break; // waiting will not help
        }
        continue;
      }
      if (lines === null) {
        lines = await this.linesFor(net, conn, channel, e, command, action);
        if (lines.length === 0) {
          this.ctx.metrics.message('matrix_to_irc', 'dropped');
          return;
        }
      }
      const rest = lines.slice(sent).map((l) => [channel, action ? `\x01ACTION ${l}\x01` : l]);
      const before = sent;
      sent += await conn.sendAll(command, rest, () => {
        if (inboundSeq !== undefined) {
          this.ctx.store.markInboundWritten(inboundSeq, true);
        }
      });
      if (sent === before && inboundSeq !== undefined) {
        this.ctx.store.markInboundWritten(inboundSeq, false); // written into a dying connection
      }
      if (sent === lines.length) {
        net.puppets.touch(userId);
        this.ctx.metrics.message('matrix_to_irc', 'sent');
        return;
      }
      reason = 'the IRC connection was lost while sending';
      if (net.stopping) {
        throw new Error(reason);
      }
    }
    this.ctx.metrics.message('matrix_to_irc', 'failed');
    log.warn('message not delivered to IRC', { network: net.id, room_id: roomId, user_id: userId, reason });
    const what = sent > 0 ? `only the first ${sent} of ${lines?.length ?? 0} lines of your message reached IRC` : 'your message was not sent to IRC';
    await this.notify(roomId, `${userId}: ${what}: ${reason}. Please send it again later.`);
  }

  /** The IRC lines of a message, within the byte budget of the line as relayed to others. */
  private async linesFor(net: NetworkBridge, conn: IrcConnection, channel: string, e: MessageEvent,
    command: 'PRIVMSG' | 'NOTICE', action: boolean): Promise<string[]> {
    const text = this.render(net, e);
    if (!text.trim()) {
      return [];
    }
    const budget = ircLineBudget({ nick: conn.nick, ...conn.userHost, target: channel, command, lineLen: conn.lineLen, action });
    const lines = splitForIrc(text, budget);
    return lines.length > net.cfg.max_lines ? this.longMessage(net, e, text, lines, budget) : lines;
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
