/**
 * The store, in the bridge's own words. No SQL leaves src/store/. Every method is synchronous:
 * better-sqlite3 is synchronous and a call costs microseconds, so the callers stay simple and
 * ordering is never in doubt.
 */
import type { Channel, NetworkId, Nick, RoomId, UserId } from '../ids';

export type MappingOrigin = 'alias' | 'static' | 'plumbed';

export interface RoomMapping {
  network: NetworkId;
  channel: Channel;
  roomId: RoomId;
  origin: MappingOrigin;
  key: string | null;
}

export interface PuppetRecord {
  userId: UserId;
  network: NetworkId;
  nick: Nick;
  username: string;
}

export interface GhostRecord {
  network: NetworkId;
  nick: Nick;
  userId: UserId;
}

export type BanOrigin = 'matrix' | 'irc';

export interface LinkedBan {
  network: NetworkId;
  channelFolded: string;
  userId: UserId;
  origin: BanOrigin;
  mask: string;
}

export interface MemberRecord {
  roomId: RoomId;
  userId: UserId;
  displayName: string | null;
}

/** A Matrix member of a bridged room, with what reconnecting their puppet needs. */
export interface NetworkMember {
  userId: UserId;
  displayName: string | null;
  roomId: RoomId;
  channel: Channel;
  key: string | null;
  /** When they last spoke through their puppet (ms; 0 when unknown); null when they have no
   *  puppet record on the network yet. */
  lastActive: number | null;
}

export interface InboundEvent {
  seq: number;
  txnId: string;
  roomId: string | null;
  event: unknown;
}

/** A Matrix event to accept. One with an `eventId` already accepted before is left out. */
export interface InboundEventInput {
  roomId: string | null;
  json: string;
  eventId?: string;
  /** origin_server_ts */
  ts?: number;
}

/** A private-message room: one Matrix user and one IRC user (their ghost) on a network. */
export interface PmRoom {
  roomId: RoomId;
  network: NetworkId;
  userId: UserId;
  ghostId: UserId;
}

export interface OutboxRow {
  seq: number;
  network: NetworkId;
  roomId: RoomId;
  item: unknown;
  createdAt: number;
}

/** What a Matrix user authenticates to one IRC network with. Secrets in clear text here; the
 *  store keeps them sealed (secret-box.ts). */
export interface IrcCredentials {
  /** The services account (SASL authcid, NickServ account); null: the nick is the account. */
  account: string | null;
  /** For SASL PLAIN or NickServ IDENTIFY; null when only a client certificate is used. */
  password: string | null;
  /** PEM certificate and private key for TLS client authentication (SASL EXTERNAL, CertFP). */
  clientCert: { certificate: string; privateKey: string } | null;
}

export interface Store {
  // Room mappings. `channelFolded` is the channel case-folded by the network's casemapping.
  upsertRoomMapping(m: RoomMapping, channelFolded: string): void;
  getRoomByChannel(network: NetworkId, channelFolded: string): RoomMapping | null;
  getMappingByRoom(roomId: RoomId): RoomMapping | null;
  listRoomMappings(network?: NetworkId): RoomMapping[];
  removeRoomMapping(roomId: RoomId): void;

  // Puppets: the nick a Matrix user keeps on a network.
  getPuppet(userId: UserId, network: NetworkId): PuppetRecord | null;
  savePuppet(p: PuppetRecord): void;
  // Admin rooms (a user's direct chat with the bot) and private-message rooms.
  getAdminRoom(userId: UserId): RoomId | null;
  /** The user whose admin room this is, or null. */
  adminRoomOwner(roomId: RoomId): UserId | null;
  setAdminRoom(userId: UserId, roomId: RoomId): void;
  removeAdminRoom(roomId: RoomId): void;
  getPmRoom(network: NetworkId, userId: UserId, ghostId: UserId): PmRoom | null;
  getPmRoomById(roomId: RoomId): PmRoom | null;
  savePmRoom(pm: PmRoom): void;
  removePmRoom(roomId: RoomId): void;
  /** Every private-message room of a network. */
  listPmRooms(network: NetworkId): PmRoom[];

  /** When the user last spoke through their puppet on the network (ms; 0 when unknown). */
  getPuppetActivity(userId: UserId, network: NetworkId): number;
  /** Records that activity; does nothing until the puppet has a record. */
  setPuppetActivity(userId: UserId, network: NetworkId, at: number): void;

  // IRC credentials, per Matrix user and network; sealed at rest. Reading or writing them without a
  // secret box (see SqliteStore's constructor) throws.
  /** Replaces what is stored for the user on the network. */
  setCredentials(userId: UserId, network: NetworkId, c: IrcCredentials): void;
  /** Null when nothing is stored. Throws SecretOpenError when the stored value does not open
   *  (another key file, or tampered). */
  getCredentials(userId: UserId, network: NetworkId): IrcCredentials | null;
  /** Returns false when nothing was stored. */
  removeCredentials(userId: UserId, network: NetworkId): boolean;
  /** The networks the user has credentials for, with the account name (never the secrets). */
  listCredentials(userId: UserId): Array<{ network: NetworkId; account: string | null; hasPassword: boolean; hasClientCert: boolean }>;

  // Matrix members of bridged rooms (real Matrix users only, never ghosts).
  addMember(m: MemberRecord): void;
  removeMember(roomId: RoomId, userId: UserId): void;
  listMembers(roomId: RoomId): MemberRecord[];
  getMember(roomId: RoomId, userId: UserId): MemberRecord | null;
  listRoomsOfUser(userId: UserId): RoomId[];
  /** Every member of the network's bridged rooms with the room's channel and key and their
   *  puppet activity, the most recently active first (then by channel and user): what a restart
   *  reconnects, in one read. */
  listNetworkMembers(network: NetworkId): NetworkMember[];

  // Ghosts.
  getGhostByNick(network: NetworkId, nickFolded: string): GhostRecord | null;
  saveGhost(g: GhostRecord, nickFolded: string): void;
  /** Forgets that a nick belongs to a ghost (the IRC user changed nick). */
  removeGhostNick(network: NetworkId, nickFolded: string): void;
  /** The nick a ghost last had on a network. */
  getGhostByUserId(network: NetworkId, userId: UserId): GhostRecord | null;

  // Bans carried across: 'matrix' = a Matrix ban of a ghost set as IRC +b `mask`; 'irc' = an
  // IRC +b `mask` carried to Matrix as a ban of one user. One per user, channel and origin.
  saveLinkedBan(b: LinkedBan): void;
  getLinkedBanMask(network: NetworkId, channelFolded: string, userId: UserId, origin: BanOrigin): string | null;
  getLinkedBanUser(network: NetworkId, channelFolded: string, mask: string, origin: BanOrigin): UserId | null;
  removeLinkedBan(network: NetworkId, channelFolded: string, userId: UserId, origin: BanOrigin): void;
  /** Does another Matrix user's puppet on `network` already use this IRC username? */
  isUsernameTaken(network: NetworkId, username: string, exceptUserId: UserId): boolean;

  // Transactions: accepted atomically with their events, so a 200 means "stored".
  /** Stores the transaction ID and its events in one SQLite transaction. Returns false (and
   *  stores nothing) when the same ID with the same `digest` (of its events) was accepted
   *  before: a retry. The same ID with other events is a new transaction (the homeserver
   *  restarted its numbering) and is accepted. */
  acceptTransaction(txnId: string, events: InboundEventInput[], digest?: string): boolean;
  /** Stores events found outside a transaction (a catch-up), under `label`, leaving out those
   *  accepted before; returns how many were new. */
  acceptEvents(label: string, events: InboundEventInput[]): number;
  /** The newest origin_server_ts among accepted events of a room, or null when none is known. */
  lastSeenEventTs(roomId: RoomId): number | null;
  /** Forgets accepted event IDs first seen more than `olderThanMs` ago; returns how many. */
  pruneSeenEvents(olderThanMs: number): number;
  /** Stored events in arrival order, those after sequence number `afterSeq` only. */
  listInboundEvents(afterSeq?: number): InboundEvent[];
  deleteInboundEvent(seq: number): void;
  /** Records (or clears) that an event's IRC lines were all written to a socket. */
  markInboundWritten(seq: number, written: boolean): void;
  /** Forgets events whose lines were written before a crash; returns how many. */
  deleteWrittenInbound(): number;
  /** Forgets transaction IDs older than `olderThanMs` (the homeserver retries within minutes). */
  pruneTransactions(olderThanMs: number): number;

  // The IRC -> Matrix outbox: kept until the homeserver accepted each item.
  /** Appends an item; returns its sequence number. */
  enqueueOutbox(network: NetworkId, roomId: RoomId, item: unknown): number;
  /** The oldest items of one room, in order. */
  listOutbox(roomId: RoomId, limit: number): OutboxRow[];
  /** Rooms with items waiting. */
  listOutboxRooms(): RoomId[];
  deleteOutbox(seq: number): void;
  countOutbox(): number;

  close(): void;
}
