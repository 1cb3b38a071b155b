-- +goose Up
-- The EAS SMS class. A text message sent from mail is also kept
-- as an SMS item in the sender's Sent Items; the outbox row names it, so
-- the gateway can record the delivery status on it.
ALTER TABLE sms_outbox ADD COLUMN item_id BIGINT REFERENCES items(id) ON DELETE SET NULL;

-- +goose Down
ALTER TABLE sms_outbox DROP COLUMN item_id;
