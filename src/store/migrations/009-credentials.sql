-- 009: what a Matrix user authenticates to an IRC network with. The account name is public (the
-- network shows it in WHOIS); the password and the client certificate with its private key are
-- sealed by src/store/secret-box.ts (AES-256-GCM, key file outside the database) and bound to
-- their row, so they cannot be read from a copy of this file alone.
CREATE TABLE irc_credentials (
  user_id            TEXT NOT NULL,
  network            TEXT NOT NULL,
  account            TEXT,
  password_sealed    TEXT,
  client_cert_sealed TEXT,
  updated_at         INTEGER NOT NULL,
  PRIMARY KEY (user_id, network)
);
