-- +goose Up
-- Mailbox Search in the body (MS-ASCMD 2.2.1.16 FreeText).
--
-- The searchable text of a message (its plain body and its HTML body as
-- text, lower-cased, whitespace collapsed; store.NormalizeSearchText) is
-- kept once per raw message, beside the blob it is derived from: a message
-- delivered to several staff, or moved, shares one blob and so one text,
-- and a deleted item (which lets go of its blob) is no longer found. The
-- row goes with the blob. Rows of mail stored before this migration are
-- filled by store.BackfillSearchText at start.
CREATE TABLE blob_texts (
    blob_id BIGINT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    body    TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE blob_texts;
