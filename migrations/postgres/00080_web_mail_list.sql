-- +goose Up
-- The staff web's message list (package web, store/webmail.go): keyset
-- pages of one folder by date and by sender, and the unread and flagged
-- filters by date, each read from one index range in order, so a page of
-- a 50,000-message folder costs the same as a page of a small one.
--
-- The sender key is the From text without a leading quote, lower-cased:
-- "Alice Jones" <alice@...> sorts as alice jones, a bare address as itself.
-- Subjects are never sorted or filtered in SQL (they may be stored
-- encrypted); store.SubjectOrder sorts them in Go.
CREATE INDEX items_list_date ON items (folder_id, deleted, date_received, id);
CREATE INDEX items_list_sender ON items (folder_id, deleted, (ltrim(lower(from_addr), '"')), id);
CREATE INDEX items_list_unread ON items (folder_id, deleted, read, date_received, id);
CREATE INDEX items_list_flagged ON items (folder_id, deleted, flag_status, date_received, id);

-- Mail always has a date (message.Parse falls back to the time it was
-- stored); give the few rows written without one their creation time so
-- keyset pages by date see every message.
UPDATE items SET date_received = created_at WHERE date_received IS NULL AND class IN ('Email', 'SMS');

-- +goose Down
DROP INDEX items_list_flagged;
DROP INDEX items_list_unread;
DROP INDEX items_list_sender;
DROP INDEX items_list_date;
