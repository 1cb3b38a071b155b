-- +goose Up
-- Diary and directory.
--
-- Out-of-office settings, one row per user (MS-ASCMD 2.2.3.119 Oof):
-- settings is the JSON of oof.Settings. generation increases on every
-- change, so "one automatic reply per sender per OOF period" restarts when
-- the user sets their OOF again.
CREATE TABLE oof_settings (
    user_id    BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    settings   TEXT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 1,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- The senders who already got an automatic reply in a generation.
CREATE TABLE oof_replies (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    generation BIGINT NOT NULL,
    sender     TEXT NOT NULL,
    sent_at    DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id, generation, sender)
);

-- Staff photographs for the GAL (Search/ResolveRecipients/Find Picture).
CREATE TABLE user_photos (
    user_id      BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    content_type TEXT NOT NULL DEFAULT 'image/jpeg',
    data         BLOB NOT NULL,
    updated_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Directory searches match name, e-mail, department and job title prefixes.
CREATE INDEX users_first_name ON users (lower(first_name));
CREATE INDEX users_last_name ON users (lower(last_name));
CREATE INDEX users_job_title ON users (lower(job_title));

-- +goose Down
DROP INDEX users_job_title;
DROP INDEX users_last_name;
DROP INDEX users_first_name;
DROP TABLE user_photos;
DROP TABLE oof_replies;
DROP TABLE oof_settings;
