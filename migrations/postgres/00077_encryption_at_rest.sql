-- +goose Up
-- Encryption at rest (internal/keyring, store/keys.go). The master key is
-- not in the database; this table holds what it wraps: a check value that
-- must open under it at start, and the long-lived named keys (settings,
-- fields, dedupe, search, audit-chain). Rotation re-wraps these rows and
-- every blob's data key, in one transaction.
CREATE TABLE keyring (
    name       TEXT PRIMARY KEY,
    wrapped    BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Each blob's own data key, wrapped by the master key; data is sealed
-- under it. NULL: stored in clear by an older release, sealed at start.
-- blobs.sha256 is from now on an HMAC under the dedupe key.
ALTER TABLE blobs ADD COLUMN dek BYTEA;

-- The search text sealed under its blob's data key, and a keyed trigram
-- filter that lets mailbox search skip a text without opening it. body
-- stays for rows stored in clear by an older release until they are
-- sealed at start, then it is ''. A trigram index over sealed text finds
-- nothing, so it goes.
ALTER TABLE blob_texts ADD COLUMN sealed BYTEA;
ALTER TABLE blob_texts ADD COLUMN grams BYTEA;
DROP INDEX IF EXISTS blob_texts_body_trgm;

-- +goose Down
ALTER TABLE blob_texts DROP COLUMN grams;
ALTER TABLE blob_texts DROP COLUMN sealed;
ALTER TABLE blobs DROP COLUMN dek;
DROP TABLE keyring;
-- +goose StatementBegin
DO $$
BEGIN
    CREATE INDEX blob_texts_body_trgm ON blob_texts USING gin (body gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'no trigram index for mailbox search: %', SQLERRM;
END
$$;
-- +goose StatementEnd
