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

-- Words are matched with LIKE '%word%'. A trigram index (pg_trgm, a
-- trusted contrib extension on PostgreSQL 13+) answers that without
-- reading every text; where the extension cannot be created (a managed
-- server without contrib, no CREATE privilege) the search still works by
-- reading the texts of the user's items, so its absence is only noted.
-- +goose StatementBegin
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX blob_texts_body_trgm ON blob_texts USING gin (body gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'no trigram index for mailbox search: %', SQLERRM;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE blob_texts;
