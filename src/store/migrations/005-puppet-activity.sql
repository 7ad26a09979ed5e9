-- 005: when each Matrix user last spoke through their puppet (ms since the epoch; 0: unknown).
-- After a restart or an IRC outage, the most recently active users reconnect first.
ALTER TABLE puppets ADD COLUMN last_active INTEGER NOT NULL DEFAULT 0;
