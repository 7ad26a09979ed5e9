import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Channel, NetworkId, Nick, RoomId, UserId } from '../ids';
import { migrate } from './migrate';
import type { SecretBox } from './secret-box';
import type {
  BanOrigin,
  GhostRecord,
  LinkedBan,
  InboundEvent,
  IrcCredentials,
  InboundEventInput,
  MappingOrigin,
  MemberRecord,
  NetworkMember,
  OutboxRow,
  PmRoom,
  PuppetRecord,
  RoomMapping,
  Store,
} from './store';

interface MappingRow {
  network: string;
  channel: string;
  room_id: string;
  origin: MappingOrigin;
  channel_key: string | null;
}

const toMapping = (r: MappingRow): RoomMapping => ({
  network: r.network as NetworkId,
  channel: r.channel as Channel,
  roomId: r.room_id as RoomId,
  origin: r.origin,
  key: r.channel_key,
});

interface CredentialRow {
  user_id: string;
  network: string;
  account: string | null;
  password_sealed: string | null;
  client_cert_sealed: string | null;
}

/** Binds a sealed credential to its row and field: moved elsewhere, it does not open. */
const credentialContext = (userId: string, network: string, field: string): string => `${userId}\0${network}\0${field}`;

/** The SQLite store: one file, WAL mode, migrations applied on open. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmt;
  /** The mapping of each bridged room read so far (every Matrix event looks its room up, some
   *  several times); emptied whenever a mapping is written or removed. Only this process
   *  writes the file while the bridge runs. */
  private readonly mappingsByRoom = new Map<string, Readonly<RoomMapping>>();
  /** The same, by network and folded channel (every IRC line to a channel looks it up). */
  private readonly mappingsByChannel = new Map<string, Readonly<RoomMapping>>();
  /** A transaction opened by batch(), committed when this turn of the event loop ends. */
  private batchOpen = false;

  /** `path` ':memory:' gives a private in-memory database (tests). `secrets` seals credentials;
   *  without it the credential methods throw. */
  constructor(path: string, private readonly secrets: SecretBox | null = null) {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
    }
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the
    // last commits), which is the failure the transaction endpoint must survive.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    try {
      migrate(this.db);
    } catch (err) {
      this.db.close();
      throw err;
    }
    const db = this.db;
    this.stmt = {
      upsertMapping: db.prepare(
        `INSERT INTO room_mappings (network, channel_folded, channel, room_id, origin, channel_key, created_at)
         VALUES (@network, @folded, @channel, @roomId, @origin, @key, @now)
         ON CONFLICT (network, channel_folded) DO UPDATE SET
           channel = excluded.channel, room_id = excluded.room_id, origin = excluded.origin,
           channel_key = excluded.channel_key`),
      mappingByChannel: db.prepare('SELECT * FROM room_mappings WHERE network = ? AND channel_folded = ?'),
      mappingByRoom: db.prepare('SELECT * FROM room_mappings WHERE room_id = ?'),
      allMappings: db.prepare('SELECT * FROM room_mappings ORDER BY network, channel_folded'),
      networkMappings: db.prepare('SELECT * FROM room_mappings WHERE network = ? ORDER BY channel_folded'),
      removeMapping: db.prepare('DELETE FROM room_mappings WHERE room_id = ?'),
      getPuppet: db.prepare('SELECT * FROM puppets WHERE user_id = ? AND network = ?'),
      savePuppet: db.prepare(
        `INSERT INTO puppets (user_id, network, nick, username, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user_id, network) DO UPDATE SET nick = excluded.nick, username = excluded.username,
           updated_at = excluded.updated_at`),
      getPuppetActivity: db.prepare('SELECT last_active FROM puppets WHERE user_id = ? AND network = ?'),
      setPuppetActivity: db.prepare('UPDATE puppets SET last_active = ? WHERE user_id = ? AND network = ?'),
      setCredentials: db.prepare(
        `INSERT INTO irc_credentials (user_id, network, account, password_sealed, client_cert_sealed, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, network) DO UPDATE SET account = excluded.account,
           password_sealed = excluded.password_sealed, client_cert_sealed = excluded.client_cert_sealed,
           updated_at = excluded.updated_at`),
      getCredentials: db.prepare('SELECT * FROM irc_credentials WHERE user_id = ? AND network = ?'),
      removeCredentials: db.prepare('DELETE FROM irc_credentials WHERE user_id = ? AND network = ?'),
      listCredentials: db.prepare('SELECT * FROM irc_credentials WHERE user_id = ? ORDER BY network'),
      getAdminRoom: db.prepare('SELECT room_id FROM admin_rooms WHERE user_id = ?'),
      adminRoomOwner: db.prepare('SELECT user_id FROM admin_rooms WHERE room_id = ?'),
      setAdminRoom: db.prepare(`INSERT INTO admin_rooms (user_id, room_id, created_at) VALUES (?, ?, ?)
        ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id, created_at = excluded.created_at`),
      removeAdminRoom: db.prepare('DELETE FROM admin_rooms WHERE room_id = ?'),
      getPmRoom: db.prepare('SELECT * FROM pm_rooms WHERE network = ? AND user_id = ? AND ghost_id = ?'),
      getPmRoomById: db.prepare('SELECT * FROM pm_rooms WHERE room_id = ?'),
      savePmRoom: db.prepare(`INSERT INTO pm_rooms (room_id, network, user_id, ghost_id, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (network, user_id, ghost_id) DO UPDATE SET room_id = excluded.room_id`),
      removePmRoom: db.prepare('DELETE FROM pm_rooms WHERE room_id = ?'),
      listPmRooms: db.prepare('SELECT * FROM pm_rooms WHERE network = ? ORDER BY room_id'),
      addMember: db.prepare(
        `INSERT INTO matrix_members (room_id, user_id, display_name) VALUES (?, ?, ?)
         ON CONFLICT (room_id, user_id) DO UPDATE SET display_name = excluded.display_name`),
      removeMember: db.prepare('DELETE FROM matrix_members WHERE room_id = ? AND user_id = ?'),
      listMembers: db.prepare('SELECT * FROM matrix_members WHERE room_id = ? ORDER BY user_id'),
      getMember: db.prepare('SELECT * FROM matrix_members WHERE room_id = ? AND user_id = ?'),
      roomsOfUser: db.prepare('SELECT room_id FROM matrix_members WHERE user_id = ? ORDER BY room_id'),
      networkMembers: db.prepare(
        `SELECT m.user_id, m.display_name, r.room_id, r.channel, r.channel_key, p.last_active
         FROM room_mappings r
         JOIN matrix_members m ON m.room_id = r.room_id
         LEFT JOIN puppets p ON p.user_id = m.user_id AND p.network = r.network
         WHERE r.network = ?
         ORDER BY COALESCE(p.last_active, 0) DESC, r.channel_folded, m.user_id`),
      ghostByNick: db.prepare('SELECT * FROM ghosts WHERE network = ? AND nick_folded = ?'),
      saveGhost: db.prepare(
        `INSERT INTO ghosts (network, nick_folded, nick, user_id, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (network, nick_folded) DO UPDATE SET nick = excluded.nick, user_id = excluded.user_id,
           updated_at = excluded.updated_at`),
      ghostByUser: db.prepare('SELECT * FROM ghosts WHERE network = ? AND user_id = ? ORDER BY updated_at DESC, rowid DESC LIMIT 1'),
      removeGhostNick: db.prepare('DELETE FROM ghosts WHERE network = ? AND nick_folded = ?'),
      saveLinkedBan: db.prepare(
        `INSERT INTO linked_bans (network, channel_folded, user_id, origin, mask, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (network, channel_folded, user_id, origin) DO UPDATE SET mask = excluded.mask, created_at = excluded.created_at`),
      linkedBanMask: db.prepare('SELECT mask FROM linked_bans WHERE network = ? AND channel_folded = ? AND user_id = ? AND origin = ?'),
      linkedBanUser: db.prepare(
        'SELECT user_id FROM linked_bans WHERE network = ? AND channel_folded = ? AND mask = ? AND origin = ? ORDER BY created_at DESC LIMIT 1'),
      removeLinkedBan: db.prepare('DELETE FROM linked_bans WHERE network = ? AND channel_folded = ? AND user_id = ? AND origin = ?'),
      usernameTaken: db.prepare('SELECT 1 FROM puppets WHERE network = ? AND username = ? AND user_id <> ? LIMIT 1'),
      txnDigest: db.prepare('SELECT digest FROM processed_txns WHERE txn_id = ?'),
      upsertTxn: db.prepare(
        `INSERT INTO processed_txns (txn_id, received_at, digest) VALUES (?, ?, ?)
         ON CONFLICT (txn_id) DO UPDATE SET received_at = excluded.received_at, digest = excluded.digest`),
      insertEvent: db.prepare(
        'INSERT INTO inbound_events (txn_id, room_id, event_json, received_at) VALUES (?, ?, ?, ?)'),
      markSeen: db.prepare('INSERT OR IGNORE INTO seen_events (event_id, room_id, ts, seen_at) VALUES (?, ?, ?, ?)'),
      lastSeenTs: db.prepare('SELECT MAX(ts) AS ts FROM seen_events WHERE room_id = ?'),
      // The newest event of each room stays: it is where a catch-up of an idle room resumes.
      pruneSeen: db.prepare(`DELETE FROM seen_events WHERE seen_at < ? AND ts < (
        SELECT MAX(s.ts) FROM seen_events s WHERE s.room_id = seen_events.room_id)`),
      listEvents: db.prepare('SELECT seq, txn_id, room_id, event_json FROM inbound_events WHERE seq > ? ORDER BY seq'),
      deleteEvent: db.prepare('DELETE FROM inbound_events WHERE seq = ?'),
      markWritten: db.prepare('UPDATE inbound_events SET written_at = ? WHERE seq = ?'),
      deleteWritten: db.prepare('DELETE FROM inbound_events WHERE written_at IS NOT NULL'),
      enqueueOutbox: db.prepare('INSERT INTO matrix_outbox (network, room_id, item_json, created_at) VALUES (?, ?, ?, ?)'),
      // LIMIT CAST(? AS INTEGER), not LIMIT ?: with the limit bound as is, each call took about
      // 25 µs instead of 8 (measured with better-sqlite3 12), and the outbox calls this twice per item.
      listOutbox: db.prepare('SELECT * FROM matrix_outbox WHERE room_id = ? ORDER BY seq LIMIT CAST(? AS INTEGER)'),
      outboxRooms: db.prepare('SELECT DISTINCT room_id FROM matrix_outbox'),
      deleteOutbox: db.prepare('DELETE FROM matrix_outbox WHERE seq = ?'),
      countOutbox: db.prepare('SELECT COUNT(*) AS n FROM matrix_outbox'),
      pruneTxns: db.prepare('DELETE FROM processed_txns WHERE received_at < ?'),
    };
  }

  upsertRoomMapping(m: RoomMapping, channelFolded: string): void {
    this.forgetMappings();
    this.stmt.upsertMapping.run({
      network: m.network, folded: channelFolded, channel: m.channel, roomId: m.roomId,
      origin: m.origin, key: m.key, now: Date.now(),
    });
  }

  private forgetMappings(): void {
    this.mappingsByRoom.clear();
    this.mappingsByChannel.clear();
  }

  getRoomByChannel(network: NetworkId, channelFolded: string): RoomMapping | null {
    const id = `${network} ${channelFolded}`; // a network ID has no space
    const cached = this.mappingsByChannel.get(id);
    if (cached) {
      return cached;
    }
    const row = this.stmt.mappingByChannel.get(network, channelFolded) as MappingRow | undefined;
    if (!row) {
      return null; // not kept, as for rooms: the channels are the server's to name
    }
    const mapping = Object.freeze(toMapping(row));
    this.mappingsByChannel.set(id, mapping);
    return mapping;
  }

  getMappingByRoom(roomId: RoomId): RoomMapping | null {
    const cached = this.mappingsByRoom.get(roomId);
    if (cached) {
      return cached;
    }
    const row = this.stmt.mappingByRoom.get(roomId) as MappingRow | undefined;
    if (!row) {
      return null; // not kept: any room can send events, only bridged ones are bounded
    }
    const mapping = Object.freeze(toMapping(row));
    this.mappingsByRoom.set(roomId, mapping);
    return mapping;
  }

  listRoomMappings(network?: NetworkId): RoomMapping[] {
    const rows = (network ? this.stmt.networkMappings.all(network) : this.stmt.allMappings.all()) as MappingRow[];
    return rows.map(toMapping);
  }

  removeRoomMapping(roomId: RoomId): void {
    this.forgetMappings();
    this.stmt.removeMapping.run(roomId);
  }

  getPuppet(userId: UserId, network: NetworkId): PuppetRecord | null {
    const row = this.stmt.getPuppet.get(userId, network) as
      { user_id: string; network: string; nick: string; username: string } | undefined;
    return row
      ? { userId: row.user_id as UserId, network: row.network as NetworkId, nick: row.nick as Nick, username: row.username }
      : null;
  }

  savePuppet(p: PuppetRecord): void {
    this.batch();
    this.stmt.savePuppet.run(p.userId, p.network, p.nick, p.username, Date.now());
  }

  getAdminRoom(userId: UserId): RoomId | null {
    return ((this.stmt.getAdminRoom.get(userId) as { room_id: string } | undefined)?.room_id ?? null) as RoomId | null;
  }

  adminRoomOwner(roomId: RoomId): UserId | null {
    return ((this.stmt.adminRoomOwner.get(roomId) as { user_id: string } | undefined)?.user_id ?? null) as UserId | null;
  }

  setAdminRoom(userId: UserId, roomId: RoomId): void {
    this.db.transaction(() => {
      this.stmt.removeAdminRoom.run(roomId); // a room is the admin room of one user only
      this.stmt.setAdminRoom.run(userId, roomId, Date.now());
    })();
  }

  removeAdminRoom(roomId: RoomId): void {
    this.stmt.removeAdminRoom.run(roomId);
  }

  getPmRoom(network: NetworkId, userId: UserId, ghostId: UserId): PmRoom | null {
    return pmRoomOf(this.stmt.getPmRoom.get(network, userId, ghostId));
  }

  getPmRoomById(roomId: RoomId): PmRoom | null {
    return pmRoomOf(this.stmt.getPmRoomById.get(roomId));
  }

  savePmRoom(pm: PmRoom): void {
    this.stmt.savePmRoom.run(pm.roomId, pm.network, pm.userId, pm.ghostId, Date.now());
  }

  removePmRoom(roomId: RoomId): void {
    this.stmt.removePmRoom.run(roomId);
  }

  listPmRooms(network: NetworkId): PmRoom[] {
    return this.stmt.listPmRooms.all(network).map((row) => pmRoomOf(row) as PmRoom);
  }

  getPuppetActivity(userId: UserId, network: NetworkId): number {
    const row = this.stmt.getPuppetActivity.get(userId, network) as { last_active: number } | undefined;
    return row?.last_active ?? 0;
  }

  setPuppetActivity(userId: UserId, network: NetworkId, at: number): void {
    this.stmt.setPuppetActivity.run(at, userId, network);
  }

  setCredentials(userId: UserId, network: NetworkId, c: IrcCredentials): void {
    const box = this.box();
    const password = c.password === null ? null : box.seal(c.password, credentialContext(userId, network, 'password'));
    const cert = c.clientCert === null ? null
      : box.seal(JSON.stringify(c.clientCert), credentialContext(userId, network, 'client_cert'));
    this.stmt.setCredentials.run(userId, network, c.account, password, cert, Date.now());
  }

  getCredentials(userId: UserId, network: NetworkId): IrcCredentials | null {
    const row = this.stmt.getCredentials.get(userId, network) as CredentialRow | undefined;
    if (!row) {
      return null;
    }
    const box = this.box();
    const cert = row.client_cert_sealed === null ? null
      : JSON.parse(box.open(row.client_cert_sealed, credentialContext(userId, network, 'client_cert'))) as
        { certificate: string; privateKey: string };
    return {
      account: row.account,
      password: row.password_sealed === null ? null : box.open(row.password_sealed, credentialContext(userId, network, 'password')),
      clientCert: cert,
    };
  }

  removeCredentials(userId: UserId, network: NetworkId): boolean {
    return this.stmt.removeCredentials.run(userId, network).changes > 0;
  }

  listCredentials(userId: UserId): Array<{ network: NetworkId; account: string | null; hasPassword: boolean; hasClientCert: boolean }> {
    return (this.stmt.listCredentials.all(userId) as CredentialRow[]).map((r) => ({
      network: r.network as NetworkId, account: r.account, hasPassword: r.password_sealed !== null,
      hasClientCert: r.client_cert_sealed !== null,
    }));
  }

  private box(): SecretBox {
    if (!this.secrets) {
      throw new Error('store: credentials need a secret box (database.key_file)');
    }
    return this.secrets;
  }

  addMember(m: MemberRecord): void {
    this.batch();
    this.stmt.addMember.run(m.roomId, m.userId, m.displayName);
  }

  removeMember(roomId: RoomId, userId: UserId): void {
    this.stmt.removeMember.run(roomId, userId);
  }

  listMembers(roomId: RoomId): MemberRecord[] {
    const rows = this.stmt.listMembers.all(roomId) as Array<{ room_id: string; user_id: string; display_name: string | null }>;
    return rows.map((r) => ({ roomId: r.room_id as RoomId, userId: r.user_id as UserId, displayName: r.display_name }));
  }

  getMember(roomId: RoomId, userId: UserId): MemberRecord | null {
    const r = this.stmt.getMember.get(roomId, userId) as { room_id: string; user_id: string; display_name: string | null } | undefined;
    return r ? { roomId: r.room_id as RoomId, userId: r.user_id as UserId, displayName: r.display_name } : null;
  }

  listRoomsOfUser(userId: UserId): RoomId[] {
    return (this.stmt.roomsOfUser.all(userId) as Array<{ room_id: string }>).map((r) => r.room_id as RoomId);
  }

  listNetworkMembers(network: NetworkId): NetworkMember[] {
    const rows = this.stmt.networkMembers.all(network) as Array<{ user_id: string; display_name: string | null; room_id: string;
      channel: string; channel_key: string | null; last_active: number | null }>;
    return rows.map((r) => ({ userId: r.user_id as UserId, displayName: r.display_name, roomId: r.room_id as RoomId,
      channel: r.channel as Channel, key: r.channel_key, lastActive: r.last_active }));
  }

  getGhostByNick(network: NetworkId, nickFolded: string): GhostRecord | null {
    const row = this.stmt.ghostByNick.get(network, nickFolded) as
      { network: string; nick: string; user_id: string } | undefined;
    return row ? { network: row.network as NetworkId, nick: row.nick as Nick, userId: row.user_id as UserId } : null;
  }

  saveGhost(g: GhostRecord, nickFolded: string): void {
    this.stmt.saveGhost.run(g.network, nickFolded, g.nick, g.userId, Date.now());
  }

  getGhostByUserId(network: NetworkId, userId: UserId): GhostRecord | null {
    const row = this.stmt.ghostByUser.get(network, userId) as { network: string; nick: string; user_id: string } | undefined;
    return row ? { network: row.network as NetworkId, nick: row.nick as Nick, userId: row.user_id as UserId } : null;
  }

  removeGhostNick(network: NetworkId, nickFolded: string): void {
    this.stmt.removeGhostNick.run(network, nickFolded);
  }

  saveLinkedBan(b: LinkedBan): void {
    this.stmt.saveLinkedBan.run(b.network, b.channelFolded, b.userId, b.origin, b.mask, Date.now());
  }

  getLinkedBanMask(network: NetworkId, channelFolded: string, userId: UserId, origin: BanOrigin): string | null {
    return (this.stmt.linkedBanMask.get(network, channelFolded, userId, origin) as { mask: string } | undefined)?.mask ?? null;
  }

  getLinkedBanUser(network: NetworkId, channelFolded: string, mask: string, origin: BanOrigin): UserId | null {
    const row = this.stmt.linkedBanUser.get(network, channelFolded, mask, origin) as { user_id: string } | undefined;
    return row ? (row.user_id as UserId) : null;
  }

  removeLinkedBan(network: NetworkId, channelFolded: string, userId: UserId, origin: BanOrigin): void {
    this.stmt.removeLinkedBan.run(network, channelFolded, userId, origin);
  }

  isUsernameTaken(network: NetworkId, username: string, exceptUserId: UserId): boolean {
    return this.stmt.usernameTaken.get(network, username, exceptUserId) !== undefined;
  }

  acceptTransaction(txnId: string, events: InboundEventInput[], digest = ''): boolean {
    return this.durably(() => {
      const now = Date.now();
      const seen = this.stmt.txnDigest.get(txnId) as { digest: string } | undefined;
      if (seen && seen.digest === digest) {
        return false;
      }
      this.stmt.upsertTxn.run(txnId, now, digest);
      this.insertEvents(txnId, events, now);
      return true;
    });
  }

  acceptEvents(label: string, events: InboundEventInput[]): number {
    return this.durably(() => this.insertEvents(label, events, Date.now()));
  }

  private insertEvents(label: string, events: InboundEventInput[], now: number): number {
    let stored = 0;
    for (const e of events) {
      if (e.eventId !== undefined && e.roomId !== null &&
        this.stmt.markSeen.run(e.eventId, e.roomId, e.ts ?? now, now).changes === 0) {
        continue; // accepted before (a repeat, or found again by a catch-up)
      }
      this.stmt.insertEvent.run(label, e.roomId, e.json, now);
      stored++;
    }
    return stored;
  }

  lastSeenEventTs(roomId: RoomId): number | null {
    const row = this.stmt.lastSeenTs.get(roomId) as { ts: number | null } | undefined;
    return row?.ts ?? null;
  }

  pruneSeenEvents(olderThanMs: number): number {
    return this.stmt.pruneSeen.run(Date.now() - olderThanMs).changes;
  }

  listInboundEvents(afterSeq = 0): InboundEvent[] {
    const rows = this.stmt.listEvents.all(afterSeq) as Array<{ seq: number; txn_id: string; room_id: string | null; event_json: string }>;
    return rows.map((r) => ({ seq: r.seq, txnId: r.txn_id, roomId: r.room_id, event: JSON.parse(r.event_json) as unknown }));
  }

  deleteInboundEvent(seq: number): void {
    this.batch();
    this.stmt.deleteEvent.run(seq);
  }

  enqueueOutbox(network: NetworkId, roomId: RoomId, item: unknown): number {
    return Number(this.stmt.enqueueOutbox.run(network, roomId, JSON.stringify(item), Date.now()).lastInsertRowid);
  }

  listOutbox(roomId: RoomId, limit: number): OutboxRow[] {
    const rows = this.stmt.listOutbox.all(roomId, limit) as
      Array<{ seq: number; network: string; room_id: string; item_json: string; created_at: number }>;
    return rows.map((r) => ({ seq: r.seq, network: r.network as NetworkId, roomId: r.room_id as RoomId,
      item: JSON.parse(r.item_json) as unknown, createdAt: r.created_at }));
  }

  listOutboxRooms(): RoomId[] {
    return (this.stmt.outboxRooms.all() as Array<{ room_id: string }>).map((r) => r.room_id as RoomId);
  }

  deleteOutbox(seq: number): void {
    this.stmt.deleteOutbox.run(seq);
  }

  countOutbox(): number {
    return (this.stmt.countOutbox.get() as { n: number }).n;
  }

  markInboundWritten(seq: number, written: boolean): void {
    this.stmt.markWritten.run(written ? Date.now() : null, seq);
  }

  deleteWrittenInbound(): number {
    return this.stmt.deleteWritten.run().changes;
  }

  pruneTransactions(olderThanMs: number): number {
    return this.stmt.pruneTxns.run(Date.now() - olderThanMs).changes;
  }

  /**
   * Opens a transaction that every statement of this turn of the event loop joins, committed
   * at its end (setImmediate). Used by the writes that come in storms: a join storm of 4000
   * users made three autocommits per user. Reads in the same turn see the writes; what needs
   * to be on disk before the bridge answers goes through durably().
   */
  private batch(): void {
    if (this.batchOpen || this.db.inTransaction) {
      return; // already batched, or inside an explicit transaction that commits itself
    }
    this.db.exec('BEGIN');
    this.batchOpen = true;
    setImmediate(this.commitBatch);
  }

  private readonly commitBatch = (): void => {
    if (this.batchOpen) {
      this.batchOpen = false;
      if (this.db.open && this.db.inTransaction) {
        this.db.exec('COMMIT');
      }
    }
  };

  /** Runs `fn` in a transaction that is committed (with any open batch) before this returns. */
  private durably<T>(fn: () => T): T {
    const result = this.db.transaction(fn)();
    this.commitBatch();
    return result;
  }

  close(): void {
    this.commitBatch();
    if (this.db.open) {
      this.db.close();
    }
  }
}

function pmRoomOf(row: unknown): PmRoom | null {
  const r = row as { room_id: string; network: string; user_id: string; ghost_id: string } | undefined;
  return r ? { roomId: r.room_id as RoomId, network: r.network as NetworkId, userId: r.user_id as UserId, ghostId: r.ghost_id as UserId }
    : null;
}
