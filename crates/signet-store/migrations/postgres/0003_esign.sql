-- The e-signature engine: envelopes with their documents, recipients,
-- events and outbox, uploads and deliverables. Document bytes live in the
-- database, so every instance of a PostgreSQL deployment serves them
-- without a shared file system.

-- Per-organization event counter. Every transaction that records events
-- bumps this row first: it serialises event writers of one organization,
-- so event sequence numbers are gap-free and commit in order, and a
-- cursor (`after`) never skips an event committed late.
CREATE TABLE esign_counters (
    org_id     TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    last_event BIGINT NOT NULL
);

CREATE TABLE envelopes (
    id             TEXT PRIMARY KEY NOT NULL,
    org_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    mode           TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    status         TEXT NOT NULL CHECK (status IN ('processing', 'in_progress', 'completed', 'canceled', 'failed')),
    title          TEXT NOT NULL,
    message        TEXT,
    label          TEXT,
    routing        TEXT NOT NULL CHECK (routing IN ('sequential', 'parallel')),
    topics         TEXT NOT NULL,
    metadata       TEXT NOT NULL,
    failure_reason TEXT,
    cancel_reason  TEXT,
    created_by     TEXT NOT NULL,
    connection_id  TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    completed_at   BIGINT,
    canceled_at    BIGINT
);
CREATE INDEX envelopes_org_created ON envelopes (org_id, created_at DESC, id DESC);
CREATE INDEX envelopes_status ON envelopes (status);

CREATE TABLE envelope_topics (
    envelope_id TEXT NOT NULL REFERENCES envelopes (id) ON DELETE CASCADE,
    topic       TEXT NOT NULL,
    PRIMARY KEY (topic, envelope_id)
);

CREATE TABLE envelope_documents (
    id           TEXT PRIMARY KEY NOT NULL,
    envelope_id  TEXT NOT NULL REFERENCES envelopes (id) ON DELETE CASCADE,
    position     BIGINT NOT NULL,
    name         TEXT NOT NULL,
    source_url   TEXT NOT NULL,
    upload_id    TEXT,
    kind         TEXT CHECK (kind IN ('pdf', 'docx')),
    size_bytes   BIGINT,
    sha256       TEXT,
    pages        BIGINT,
    content      BYTEA,
    UNIQUE (envelope_id, position)
);

CREATE TABLE envelope_recipients (
    id                   TEXT PRIMARY KEY NOT NULL,
    envelope_id          TEXT NOT NULL REFERENCES envelopes (id) ON DELETE CASCADE,
    position             BIGINT NOT NULL,
    key                  TEXT NOT NULL,
    type                 TEXT NOT NULL CHECK (type IN ('signer', 'approver')),
    name                 TEXT NOT NULL,
    email                TEXT NOT NULL,
    delivery_type        TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'awaiting', 'sent', 'completed', 'rejected', 'soft_bounced', 'hard_bounced', 'failed', 'replaced')),
    signing_token_hash   TEXT UNIQUE,
    released_at          BIGINT,
    sent_at              BIGINT,
    viewed_at            BIGINT,
    completed_at         BIGINT,
    rejected_at          BIGINT,
    rejection_reason     TEXT,
    replaced_at          BIGINT,
    replaced_by          TEXT,
    typed_signature      TEXT,
    ip_address           TEXT,
    user_agent           TEXT,
    resend_count         BIGINT NOT NULL DEFAULT 0,
    last_sent_at         BIGINT,
    created_at           BIGINT NOT NULL
);
CREATE INDEX envelope_recipients_envelope ON envelope_recipients (envelope_id, position);

CREATE TABLE envelope_events (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    envelope_id  TEXT NOT NULL REFERENCES envelopes (id) ON DELETE CASCADE,
    recipient_id TEXT,
    type         TEXT NOT NULL,
    data         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (org_id, seq)
);
CREATE INDEX envelope_events_envelope ON envelope_events (envelope_id, seq);

-- Every email Signet sends or, in test mode, would have sent. Test-mode
-- bodies hold the signing links (that is what the outbox is for); live-mode
-- rows keep the body with the link replaced, never the secret itself.
CREATE TABLE envelope_emails (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    envelope_id  TEXT NOT NULL REFERENCES envelopes (id) ON DELETE CASCADE,
    recipient_id TEXT,
    mode         TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    kind         TEXT NOT NULL,
    to_name      TEXT NOT NULL,
    to_email     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    link         TEXT,
    status       TEXT NOT NULL CHECK (status IN ('captured', 'sending', 'sent', 'failed')),
    error        TEXT,
    created_at   BIGINT NOT NULL,
    sent_at      BIGINT
);
CREATE INDEX envelope_emails_org ON envelope_emails (org_id, created_at DESC, id DESC);

-- A file put through a signed URL, usable as a document for 24 hours.
CREATE TABLE uploads (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    put_token_hash  TEXT NOT NULL UNIQUE,
    content_type    TEXT NOT NULL,
    filename        TEXT,
    created_at      BIGINT NOT NULL,
    put_expires_at  BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    uploaded_at     BIGINT,
    size_bytes      BIGINT,
    content         BYTEA
);
CREATE INDEX uploads_expiry ON uploads (expires_at);

CREATE TABLE deliverables (
    id           TEXT PRIMARY KEY NOT NULL,
    envelope_id  TEXT NOT NULL UNIQUE REFERENCES envelopes (id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    sha256       TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    pages        BIGINT NOT NULL,
    content      BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);
