-- 004: when a Matrix message's IRC lines were all written to the socket. A bridge that crashes
-- after that point must not send them again at its next start: the kernel still delivers what
-- a killed process wrote to a healthy connection.
ALTER TABLE inbound_events ADD COLUMN written_at INTEGER;
