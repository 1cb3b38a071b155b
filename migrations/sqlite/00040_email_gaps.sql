-- +goose Up
-- Email class gaps: the whole follow-up flag of a mail (MS-ASEMAIL
-- 2.2.2.34 Flag: dates, reminder, subject, ordinal dates) as JSON; the Bcc
-- list of a draft or of the sender's own Sent Items copy (email2:Bcc,
-- 16.0); and whether the user received the mail as a Bcc recipient
-- (email2:ReceivedAsBcc, 14.0). flag_status stays the flag's Status.
ALTER TABLE items ADD COLUMN flag TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN bcc_addrs TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN received_as_bcc BOOLEAN NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE items DROP COLUMN received_as_bcc;
ALTER TABLE items DROP COLUMN bcc_addrs;
ALTER TABLE items DROP COLUMN flag;
