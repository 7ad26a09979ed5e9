/**
 * The typed events src/irc/ emits. Bridge code switches on `type`; nothing else of
 * irc-framework leaks out of src/irc/.
 */
import type { ModeChange } from './modes';

export interface IrcSource {
  nick: string;
  ident: string;
  host: string;
}

export type IrcEvent =
  | { type: 'registered'; nick: string }
  | { type: 'message'; kind: 'privmsg' | 'notice' | 'action'; from: IrcSource; target: string; text: string;
      tags: Record<string, string>; time: number | null }
  | { type: 'join'; channel: string; user: IrcSource; account: string | null }
  | { type: 'part'; channel: string; nick: string; reason: string }
  | { type: 'kick'; channel: string; nick: string; by: string; reason: string }
  | { type: 'quit'; nick: string; reason: string }
  | { type: 'nick'; nick: string; newNick: string }
  /** `ident` and `host` are there when the server sends userhost-in-names. */
  | { type: 'names'; channel: string; users: Array<{ nick: string; prefixes: string; ident?: string; host?: string }> }
  /** account-notify: `account` is null when the user logged out. */
  | { type: 'account'; nick: string; account: string | null }
  | { type: 'topic'; channel: string; topic: string; by: string | null }
  /** A channel MODE line, one change per letter; `by` is null when a server set it.
   *  `snapshot`: the channel's full mode list (324), every mode not in it is off. */
  | { type: 'mode'; channel: string; by: string | null; changes: ModeChange[]; snapshot?: boolean }
  /** INVITE: `by` invites `nick` (this connection, or someone else with invite-notify). */
  | { type: 'invite'; channel: string; nick: string; by: string }
  /** The server refused something this connection asked for. */
  | { type: 'refused'; code: string; target: string; reason: string }
  /** The outcome of identifying to services (SASL at registration, or NickServ IDENTIFY after).
   *  `reason`: the server's words on failure, never the credentials. */
  | { type: 'auth'; ok: boolean; mechanism: 'PLAIN' | 'EXTERNAL' | 'NICKSERV'; account: string | null; reason: string }
  /** The connection is gone. `banned`: the network refused it as banned (do not reconnect). */
  | { type: 'closed'; reason: string; banned: boolean };

export type IrcEventOf<T extends IrcEvent['type']> = Extract<IrcEvent, { type: T }>;
