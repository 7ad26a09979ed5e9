-- 007: each Matrix user's admin room (a direct chat with the bridge bot, where commands go and
-- the bridge tells them about their IRC connections), and private-message rooms: one Matrix
-- room per Matrix user and IRC user (ghost) pair, reused across restarts.
CREATE TABLE admin_rooms (
  user_id    TEXT PRIMARY KEY,
  room_id    TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);

CREATE TABLE pm_rooms (
  room_id    TEXT PRIMARY KEY,
  network    TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  ghost_id   TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (network, user_id, ghost_id)
);
