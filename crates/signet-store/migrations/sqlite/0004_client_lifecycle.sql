-- Clients leave: removed by an operator (`signet clients remove`) or, for
-- dynamically registered ones, by the idle clean-up. A removed client keeps
-- its row while connections refer to it, so Connected Applications still
-- shows their history; it can no longer authorize or obtain tokens.
ALTER TABLE oauth_clients ADD COLUMN removed_at INTEGER;
CREATE INDEX oauth_clients_kind ON oauth_clients (kind, removed_at);
