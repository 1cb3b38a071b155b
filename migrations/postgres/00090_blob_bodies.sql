-- +goose Up
-- A mail's body as readers need it (Sync, ItemOperations, Search: the
-- plain-text body and the HTML body when there is one), rendered once when
-- the message is stored rather than on every read (store/bodies.go). Kept
-- once per raw message, beside the blob it is derived from, sealed under
-- the blob's data key like blob_texts; the row goes with the blob. Rows of
-- mail stored before this migration are filled by store.BackfillBodies in
-- the background at start and by `airlock migrate`; until then such mail
-- is rendered when read, as before.
CREATE TABLE blob_bodies (
    blob_id BIGINT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    sealed  BYTEA NOT NULL
);

-- +goose Down
DROP TABLE blob_bodies;
