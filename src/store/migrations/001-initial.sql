-- 001: the foundation schema. Migrations are append-only: never edit a released file.

-- One Matrix room <-> one IRC channel on one network.
CREATE TABLE room_mappings (
  network        TEXT NOT NULL,
  channel_folded TEXT NOT NULL,
  channel        TEXT NOT NULL,
  room_id        TEXT NOT NULL,
  origin         TEXT NOT NULL CHECK (origin IN ('alias', 'static', 'plumbed')),
  channel_key    TEXT,
  created_at     INTEGER NOT NULL,
  PRIMARY KEY (network, channel_folded)
);
CREATE UNIQUE INDEX room_mappings_room ON room_mappings (room_id);

-- The IRC nick (and username) each Matrix user has on each network.
CREATE TABLE puppets (
  user_id    TEXT NOT NULL,
  network    TEXT NOT NULL,
  nick       TEXT NOT NULL,
  username   TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, network)
);

-- Matrix users (not ghosts) joined to bridged rooms: after a restart their puppets reconnect.
CREATE TABLE matrix_members (
  room_id      TEXT NOT NULL,
  user_id      TEXT NOT NULL,
  display_name TEXT,
  PRIMARY KEY (room_id, user_id)
);
CREATE INDEX matrix_members_user ON matrix_members (user_id);

-- IRC users as ghost Matrix users. The ghost keeps its user ID across nick changes.
CREATE TABLE ghosts (
  network     TEXT NOT NULL,
  nick_folded TEXT NOT NULL,
  nick        TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (network, nick_folded)
);
CREATE INDEX ghosts_user ON ghosts (user_id);

-- Appservice transactions already accepted (retries are acknowledged, not processed again).
CREATE TABLE processed_txns (
  txn_id      TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL
);

-- Events accepted from the homeserver and not yet handled; survives a crash between the
-- 200 answer and the end of processing.
CREATE TABLE inbound_events (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  txn_id      TEXT NOT NULL,
  room_id     TEXT,
  event_json  TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
