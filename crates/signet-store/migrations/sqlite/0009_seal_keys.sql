-- The instance's seal (PAdES): its key, sealed with SIGNET_KEY_ENCRYPTION_KEY
-- when set, and its certificate. One row, made on first start. Written only
-- by signet-esign.
CREATE TABLE seal_keys (
    id                     TEXT PRIMARY KEY NOT NULL,
    private_key            BLOB NOT NULL,
    private_key_encryption TEXT NOT NULL,
    certificate            BLOB NOT NULL,
    created_at             INTEGER NOT NULL
);
