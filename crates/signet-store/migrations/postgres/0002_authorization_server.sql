-- The authorization server: clients, connections and their grants,
-- authorization codes, refresh tokens, sign-in throttling.
-- Secrets (client secrets, codes, refresh tokens) are stored only as
-- SHA-256 hashes.

CREATE TABLE oauth_clients (
    id                         TEXT PRIMARY KEY NOT NULL,
    kind                       TEXT NOT NULL CHECK (kind IN ('dcr', 'cimd', 'manual')),
    client_name                TEXT NOT NULL,
    redirect_uris              TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    -- The registered metadata as echoed to the client (JSON).
    metadata                   TEXT NOT NULL,
    -- Hash of the normalised registration request: finds identical re-registrations.
    registration_hash          TEXT,
    secret_hash                TEXT,
    created_at                 BIGINT NOT NULL,
    last_used_at               BIGINT
);
CREATE INDEX oauth_clients_registration ON oauth_clients (registration_hash);

-- A connected application: one user's authorisation of one client for one
-- organization. Shown in Connected Applications; disconnecting sets revoked_at.
CREATE TABLE connections (
    id             TEXT PRIMARY KEY NOT NULL,
    org_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_seen_at   BIGINT,
    call_count     BIGINT NOT NULL DEFAULT 0,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE UNIQUE INDEX connections_live ON connections (org_id, user_id, client_id) WHERE revoked_at IS NULL;
CREATE INDEX connections_org ON connections (org_id, created_at);

-- One consent's worth of tokens. Re-authorising replaces the grant;
-- refresh-token reuse or revocation revokes it.
CREATE TABLE oauth_grants (
    id             TEXT PRIMARY KEY NOT NULL,
    connection_id  TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX oauth_grants_connection ON oauth_grants (connection_id);

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY NOT NULL,
    grant_id       TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    -- 1 when the authorization request named redirect_uri explicitly.
    redirect_uri_explicit BIGINT NOT NULL,
    code_challenge TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    grant_id   TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

-- Failed sign-ins per (lower-cased) email, known or not, for the growing delay.
CREATE TABLE login_failures (
    email_key      TEXT PRIMARY KEY NOT NULL,
    failures       BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL
);
