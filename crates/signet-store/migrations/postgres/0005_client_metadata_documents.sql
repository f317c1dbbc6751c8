-- Clients identified by a metadata-document URL share one client id across
-- every installation, so a connection is keyed by the redirect URI too
-- (`install_key`; empty for registered clients, which are per install).
ALTER TABLE connections ADD COLUMN install_key TEXT NOT NULL DEFAULT '';
DROP INDEX connections_live;
CREATE UNIQUE INDEX connections_live ON connections (org_id, user_id, client_id, install_key) WHERE revoked_at IS NULL;

-- private_key_jwt client assertions already used (RFC 7523 §3: each jti once),
-- kept until they would have expired anyway.
CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expiry ON client_assertions (expires_at);
