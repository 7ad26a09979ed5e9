-- 006: the Matrix events the bridge has accepted, by event ID. A transaction that repeats an
-- event, or a catch-up from room history that finds it again, does not handle it twice; the
-- newest timestamp per room tells the catch-up where to stop. Pruned by age.
CREATE TABLE seen_events (
  event_id TEXT PRIMARY KEY,
  room_id  TEXT NOT NULL,
  ts       INTEGER NOT NULL,
  seen_at  INTEGER NOT NULL
);
CREATE INDEX seen_events_room_ts ON seen_events (room_id, ts);
CREATE INDEX seen_events_seen_at ON seen_events (seen_at);
