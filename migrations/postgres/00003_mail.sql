-- +goose Up
-- ClientIds of the mail each user sent from a device (MS-ASCMD 2.2.3.28.1),
-- so that a resend after a lost response is recognised (Status 118) and
-- nothing goes out twice. Rows older than a few days are pruned.
CREATE TABLE sent_client_ids (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX sent_client_ids_created ON sent_client_ids (created_at);

-- Mail waiting for the relay (the smarthost). A row is written in the same
-- transaction as the sender's Sent Items copy and the local deliveries, and
-- deleted once the relay accepted it or the sender got a bounce, so a crash
-- loses nothing (it may send a message twice: at least once, like any MTA).
-- A worker claims a due row by moving next_attempt forward (a lease).
CREATE TABLE outbound_queue (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT REFERENCES users(id) ON DELETE SET NULL, -- the sender, who gets any bounce
    mail_from    TEXT NOT NULL,                                  -- envelope sender
    rcpt_to      TEXT NOT NULL,                                  -- envelope recipients, one per line
    data         BYTEA NOT NULL,                                 -- the message as it goes out
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt TIMESTAMPTZ NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outbound_queue_due ON outbound_queue (next_attempt);

-- +goose Down
DROP TABLE outbound_queue;
DROP TABLE sent_client_ids;
