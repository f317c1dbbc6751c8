-- What a deliverable holds and how it was sealed: the type asked for at
-- create_envelope (standard adds the certificate of completion; simple has
-- the documents only), and for each deliverable the digest its seal signed,
-- the sealing certificate's fingerprint and the timestamp's time, so that
-- verification can find the deliverable a file claims to be. Generation that
-- fails (a TSA outage) is retried: attempts and the next try live on the
-- envelope. Written only by signet-esign.
ALTER TABLE envelopes ADD COLUMN deliverable_type TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE envelopes ADD COLUMN deliverable_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE envelopes ADD COLUMN deliverable_retry_at BIGINT;
ALTER TABLE deliverables ADD COLUMN seal_digest TEXT;
ALTER TABLE deliverables ADD COLUMN seal_fingerprint TEXT;
ALTER TABLE deliverables ADD COLUMN timestamped_at BIGINT;
CREATE INDEX deliverables_seal_digest ON deliverables (seal_digest);
CREATE INDEX deliverables_seal_fingerprint ON deliverables (seal_fingerprint);
CREATE INDEX envelopes_deliverable_retry ON envelopes (deliverable_retry_at);
