-- Foundation schema: identity, signing keys, audit trail and instance state.
-- Timestamps are Unix seconds (INTEGER) and flags are 0/1 integers, so the
-- same query text serves SQLite and PostgreSQL (see ../postgres/).

CREATE TABLE instance_state (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    -- Lower-cased email: makes uniqueness and look-ups case-insensitive.
    email_key     TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX organizations_name ON organizations (name);

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY NOT NULL,
    org_id     TEXT NOT NULL UNIQUE REFERENCES organizations (id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'blocked')),
    live_mode  INTEGER NOT NULL DEFAULT 0 CHECK (live_mode IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Browser sign-in sessions. Only a hash of the cookie value is stored.
CREATE TABLE web_sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_secret  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    user_agent   TEXT,
    client_ip    TEXT
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- Ed25519 keys that sign access tokens. The private key is PKCS#8, sealed
-- with AES-256-GCM when a key-encryption key is configured.
CREATE TABLE signing_keys (
    kid                    TEXT PRIMARY KEY NOT NULL,
    algorithm              TEXT NOT NULL,
    public_key             BLOB NOT NULL,
    private_key            BLOB NOT NULL,
    private_key_encryption TEXT NOT NULL CHECK (private_key_encryption IN ('none', 'aes-256-gcm')),
    status                 TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    created_at             INTEGER NOT NULL,
    retired_at             INTEGER
);
-- At most one active key, even when several instances start at once.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY NOT NULL,
    occurred_at INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject_id  TEXT,
    org_id      TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, occurred_at);
