-- 003: a transaction is a retry only when its ID AND its events match what was accepted before.
-- Synapse on SQLite numbers appservice transactions from 1 again after a restart, so an ID
-- alone would make the bridge drop new events as "already seen".
ALTER TABLE processed_txns ADD COLUMN digest TEXT NOT NULL DEFAULT '';
