-- Signer assurance: a recipient may have to enter a one-time code sent to
-- their email before the signing link opens the ceremony. Written only by
-- signet-esign.

-- How the recipient proves who they are: JSON, a non-empty subset of
-- ["email_link", "email_code"] (`email_code` asks for a code).
ALTER TABLE envelope_recipients ADD COLUMN authentication TEXT NOT NULL DEFAULT '["email_link"]';

-- A test-mode verification email's code, readable with `list_emails` as the
-- signing link is; never set for live mail.
ALTER TABLE envelope_emails ADD COLUMN code TEXT;

-- Each code sent: only a salted digest of it; valid until `expires_at`,
-- locked after 5 wrong attempts, usable once. Only the newest of a
-- recipient's codes counts; older rows are kept an hour to limit resends.
CREATE TABLE recipient_codes (
    id              TEXT PRIMARY KEY NOT NULL,
    recipient_id    TEXT NOT NULL REFERENCES envelope_recipients (id) ON DELETE CASCADE,
    code_digest     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    used_at         BIGINT
);
CREATE INDEX recipient_codes_recipient ON recipient_codes (recipient_id, created_at);

-- A browser that entered the right code: the digest of the secret in its
-- cookie, good for this recipient until `expires_at`.
CREATE TABLE recipient_sessions (
    secret_digest TEXT PRIMARY KEY NOT NULL,
    recipient_id  TEXT NOT NULL REFERENCES envelope_recipients (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX recipient_sessions_expiry ON recipient_sessions (expires_at);
