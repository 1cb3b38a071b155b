-- +goose Up
-- Encryption at rest (internal/keyring, store/keys.go). The master key is
-- not in the database; this table holds what it wraps: a check value that
-- must open under it at start, and the long-lived named keys (settings,
-- fields, dedupe, search, audit-chain). Rotation re-wraps these rows and
-- every blob's data key, in one transaction.
CREATE TABLE keyring (
    name       TEXT PRIMARY KEY,
    wrapped    BLOB NOT NULL,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Each blob's own data key, wrapped by the master key; data is sealed
-- under it. NULL: stored in clear by an older release, sealed at start.
-- blobs.sha256 is from now on an HMAC under the dedupe key.
ALTER TABLE blobs ADD COLUMN dek BLOB;

-- The search text sealed under its blob's data key, and a keyed trigram
-- filter that lets mailbox search skip a text without opening it. body
-- stays for rows stored in clear by an older release until they are
-- sealed at start, then it is ''.
ALTER TABLE blob_texts ADD COLUMN sealed BLOB;
ALTER TABLE blob_texts ADD COLUMN grams BLOB;

-- +goose Down
ALTER TABLE blob_texts DROP COLUMN grams;
ALTER TABLE blob_texts DROP COLUMN sealed;
ALTER TABLE blobs DROP COLUMN dek;
DROP TABLE keyring;
