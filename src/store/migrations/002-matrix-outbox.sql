-- 002: what the bridge read from IRC and has not yet delivered to the homeserver, in arrival
-- order per room. A row is deleted once the homeserver accepted it, so nothing read from IRC is
-- lost while the homeserver is down or when the bridge restarts.
CREATE TABLE matrix_outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  network    TEXT NOT NULL,
  room_id    TEXT NOT NULL,
  item_json  TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX matrix_outbox_room ON matrix_outbox (room_id, seq);
