-- +goose Up
-- Resends of EAS 12.x mail. SendMail, SmartReply and SmartForward
-- carry no ClientId before 14.0, so a device that lost the response and
-- sends the same message again is recognised by a fingerprint of what it
-- sent (the command, its source item and the exact MIME bytes), per device,
-- until expires_at; the resend is answered as a success and nothing goes
-- out twice. Recorded in the same transaction as the delivery.
CREATE TABLE compose_resends (
    device_pk   BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,         -- hex SHA-256
    expires_at  TIMESTAMPTZ NOT NULL,  -- a later identical message is a new one
    PRIMARY KEY (device_pk, fingerprint)
);
CREATE INDEX compose_resends_expires ON compose_resends (expires_at);

-- When a relay worker last began DATA for the message and has not settled
-- it since. A claimed row that still has it was interrupted between DATA and
-- the settlement (a crash): the relay may have taken the message, so the
-- next attempt can be a duplicate (same bytes, same Message-ID), which RFC
-- 5321 6.1 prefers to a loss.
ALTER TABLE outbound_queue ADD COLUMN data_started_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE outbound_queue DROP COLUMN data_started_at;
DROP TABLE compose_resends;
