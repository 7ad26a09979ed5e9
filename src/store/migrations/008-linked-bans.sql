-- 008: bans the bridge carried from one side to the other, so that lifting a ban on one side
-- lifts the same ban on the other, even after nicks or hosts changed.
-- origin 'matrix': a Matrix ban of a ghost, carried to IRC as +b `mask`.
-- origin 'irc': an IRC +b `mask` (stored case-folded) that matched one Matrix user's puppet,
-- carried to Matrix as a ban of `user_id`.
CREATE TABLE linked_bans (
  network TEXT NOT NULL,
  channel_folded TEXT NOT NULL,
  user_id TEXT NOT NULL,
  origin TEXT NOT NULL CHECK (origin IN ('matrix', 'irc')),
  mask TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (network, channel_folded, user_id, origin)
);
CREATE INDEX linked_bans_by_mask ON linked_bans (network, channel_folded, mask);
-- Unique puppet usernames per network are looked up by username.
CREATE INDEX puppets_by_username ON puppets (network, username);
