-- +goose Up
-- Faxes to send through the fax provider: mail to +<E.164>@fax.<domain>,
-- from any client or the staff web, written in the same transaction as the
-- sender's copy and claimed with a lease like sms_outbox. data is the whole
-- message (sealed at rest): its text and its PDF/TIFF attachments are
-- what is faxed. started_at is set, and committed, just before the
-- provider is called, so a claim after a crash knows the fax may have gone
-- (the provider drops the repeat by its idempotency key, fax-<id>@host).
-- item_id is the sender's Sent Items copy, which carries the status.
CREATE TABLE fax_outbox (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    sender       TEXT NOT NULL,
    address      TEXT NOT NULL, -- the mail address written, +442079460018@fax.example.nhs.uk
    to_number    TEXT NOT NULL, -- E.164
    data         BYTEA NOT NULL,
    subject      TEXT NOT NULL DEFAULT '',
    message_id   TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ,
    last_error   TEXT NOT NULL DEFAULT '',
    item_id      BIGINT REFERENCES items(id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX fax_outbox_due ON fax_outbox (next_attempt);

-- +goose Down
DROP TABLE fax_outbox;
