-- no-transaction
-- Reminders and expiry (signet-esign's scheduler.rs). Written only by
-- signet-esign.
--
-- `envelopes.status` gains `expired`. SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt the documented way
-- (https://www.sqlite.org/lang_altertable.html#otheralter): with foreign
-- keys off, so that dropping the old table does not cascade to its
-- children. That pragma has no effect inside a transaction, hence the
-- `no-transaction` line above: this file runs its own transaction.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE envelopes_new (
    id                   TEXT PRIMARY KEY NOT NULL,
    org_id               TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    mode                 TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    status               TEXT NOT NULL CHECK (status IN ('processing', 'in_progress', 'completed', 'canceled', 'failed', 'expired')),
    title                TEXT NOT NULL,
    message              TEXT,
    label                TEXT,
    routing              TEXT NOT NULL CHECK (routing IN ('sequential', 'parallel')),
    topics               TEXT NOT NULL,
    metadata             TEXT NOT NULL,
    failure_reason       TEXT,
    cancel_reason        TEXT,
    created_by           TEXT NOT NULL,
    connection_id        TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    completed_at         INTEGER,
    canceled_at          INTEGER,
    timezone             TEXT NOT NULL DEFAULT 'UTC',
    -- When an open envelope expires (none: never), and when it did.
    expires_at           INTEGER,
    expired_at           INTEGER,
    -- Reminders, in seconds (all three or none): the first this long after
    -- a recipient was asked, then every `reminder_every`, at most
    -- `reminder_max` per recipient.
    reminder_first_after INTEGER,
    reminder_every       INTEGER,
    reminder_max         INTEGER
);
INSERT INTO envelopes_new (id, org_id, mode, status, title, message, label, routing, topics, metadata,
    failure_reason, cancel_reason, created_by, connection_id, created_at, updated_at, completed_at,
    canceled_at, timezone)
SELECT id, org_id, mode, status, title, message, label, routing, topics, metadata,
    failure_reason, cancel_reason, created_by, connection_id, created_at, updated_at, completed_at,
    canceled_at, timezone
FROM envelopes;
DROP TABLE envelopes;
ALTER TABLE envelopes_new RENAME TO envelopes;
CREATE INDEX envelopes_org_created ON envelopes (org_id, created_at DESC, id DESC);
CREATE INDEX envelopes_status ON envelopes (status);
-- The scheduler's expiry look-up: open envelopes by due time.
CREATE INDEX envelopes_expiry ON envelopes (status, expires_at);

-- Per recipient: reminders sent so far, when the last went, and when the
-- next is due (none: no reminder scheduled).
ALTER TABLE envelope_recipients ADD COLUMN reminder_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE envelope_recipients ADD COLUMN last_reminded_at INTEGER;
ALTER TABLE envelope_recipients ADD COLUMN next_reminder_at INTEGER;
-- The scheduler's reminder look-up.
CREATE INDEX envelope_recipients_reminder ON envelope_recipients (next_reminder_at)
    WHERE next_reminder_at IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
