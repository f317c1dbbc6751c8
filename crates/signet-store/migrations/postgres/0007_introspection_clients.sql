-- Introspection (RFC 7662) tells who is behind any token, so only clients an
-- operator registered for it (`signet clients add --introspection`: resource
-- servers) may call it; a client that registered itself never may.
ALTER TABLE oauth_clients ADD COLUMN introspection BIGINT NOT NULL DEFAULT 0 CHECK (introspection IN (0, 1));
