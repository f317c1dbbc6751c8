-- Reminders and expiry (signet-esign's scheduler.rs). Written only by
-- signet-esign.

-- `envelopes.status` gains `expired`.
ALTER TABLE envelopes DROP CONSTRAINT envelopes_status_check;
ALTER TABLE envelopes ADD CONSTRAINT envelopes_status_check
    CHECK (status IN ('processing', 'in_progress', 'completed', 'canceled', 'failed', 'expired'));
-- When an open envelope expires (none: never), and when it did.
ALTER TABLE envelopes ADD COLUMN expires_at BIGINT;
ALTER TABLE envelopes ADD COLUMN expired_at BIGINT;
-- Reminders, in seconds (all three or none): the first this long after a
-- recipient was asked, then every `reminder_every`, at most `reminder_max`
-- per recipient.
ALTER TABLE envelopes ADD COLUMN reminder_first_after BIGINT;
ALTER TABLE envelopes ADD COLUMN reminder_every BIGINT;
ALTER TABLE envelopes ADD COLUMN reminder_max BIGINT;
-- The scheduler's expiry look-up: open envelopes by due time.
CREATE INDEX envelopes_expiry ON envelopes (status, expires_at);

-- Per recipient: reminders sent so far, when the last went, and when the
-- next is due (none: no reminder scheduled).
ALTER TABLE envelope_recipients ADD COLUMN reminder_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE envelope_recipients ADD COLUMN last_reminded_at BIGINT;
ALTER TABLE envelope_recipients ADD COLUMN next_reminder_at BIGINT;
-- The scheduler's reminder look-up.
CREATE INDEX envelope_recipients_reminder ON envelope_recipients (next_reminder_at)
    WHERE next_reminder_at IS NOT NULL;
