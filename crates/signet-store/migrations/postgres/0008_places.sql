-- Fields on the page ("places"): where each recipient signs, initials,
-- types or ticks, and what they entered. Written only by signet-esign.

-- Dates stamped on the page are shown in the envelope's time zone (IANA name).
ALTER TABLE envelopes ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';

-- A Word document's pages as LibreOffice laid them out: what the signer sees
-- and the deliverable stamps. `content` keeps the original file.
ALTER TABLE envelope_documents ADD COLUMN converted BYTEA;
-- Each page's displayed size in points, as JSON [[width, height], ...].
ALTER TABLE envelope_documents ADD COLUMN page_sizes TEXT;

-- How a recipient may sign their signature and initials places: JSON, a
-- subset of ["typed", "drawn"].
ALTER TABLE envelope_recipients ADD COLUMN signature_options TEXT NOT NULL DEFAULT '["typed","drawn"]';

CREATE TABLE envelope_places (
    id              TEXT PRIMARY KEY NOT NULL,
    envelope_id     TEXT NOT NULL REFERENCES envelopes (id) ON DELETE CASCADE,
    document_id     TEXT NOT NULL REFERENCES envelope_documents (id) ON DELETE CASCADE,
    -- Order of the place in the request, over all documents.
    position        BIGINT NOT NULL,
    key             TEXT NOT NULL,
    kind            TEXT NOT NULL,
    -- The recipient (by key, so a replacement inherits the places).
    recipient_key   TEXT,
    requirement     TEXT NOT NULL,
    capture_as      TEXT,
    format          TEXT,
    -- JSON array of the dropdown's options.
    options         TEXT,
    -- A static text's value.
    value           TEXT,
    -- JSON [width, height] in points when the request gave a size.
    size            TEXT,
    -- JSON: the fixed positions asked for, and the boxes found (null until
    -- the documents have been read).
    fixed_positions TEXT NOT NULL,
    boxes           TEXT,
    filled_text     TEXT,
    -- JSON strokes of a drawn signature or initials.
    filled_drawing  TEXT,
    filled_by       TEXT,
    filled_at       BIGINT,
    UNIQUE (envelope_id, key)
);
CREATE INDEX envelope_places_document ON envelope_places (document_id, position);
