-- +goose Up
-- The whole data model of Airlock: staff and their directory fields, mail and
-- PIM folders with change counters, items of every class, raw message blobs,
-- attachments, devices and their sync state, policies, device rules, the
-- device catalogue, organisation settings, audit events and login failures.

CREATE TABLE service_levels (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    quota_bytes BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id               BIGSERIAL PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL DEFAULT '',
    first_name       TEXT NOT NULL DEFAULT '',
    last_name        TEXT NOT NULL DEFAULT '',
    password_hash    TEXT NOT NULL DEFAULT '',
    role             TEXT NOT NULL DEFAULT 'user',
    disabled         BOOLEAN NOT NULL DEFAULT FALSE,
    service_level_id BIGINT REFERENCES service_levels(id) ON DELETE SET NULL,
    job_title        TEXT NOT NULL DEFAULT '',
    department       TEXT NOT NULL DEFAULT '',
    office           TEXT NOT NULL DEFAULT '',
    phone            TEXT NOT NULL DEFAULT '',
    mobile           TEXT NOT NULL DEFAULT '',
    organisation     TEXT NOT NULL DEFAULT '',
    hierarchy_modseq BIGINT NOT NULL DEFAULT 0,
    quota_used       BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX users_department ON users (department);
CREATE INDEX users_display_name ON users (lower(display_name));

CREATE TABLE user_aliases (
    id      BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address TEXT NOT NULL UNIQUE
);
CREATE INDEX user_aliases_user ON user_aliases (user_id);

CREATE TABLE folders (
    id               BIGSERIAL PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id        BIGINT NOT NULL DEFAULT 0,
    name             TEXT NOT NULL,
    type             INTEGER NOT NULL,
    class            TEXT NOT NULL,
    modseq           BIGINT NOT NULL DEFAULT 0,
    hierarchy_modseq BIGINT NOT NULL DEFAULT 0,
    deleted          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX folders_unique_name ON folders (user_id, parent_id, lower(name)) WHERE NOT deleted;
CREATE INDEX folders_hierarchy ON folders (user_id, hierarchy_modseq);

CREATE TABLE blobs (
    id         BIGSERIAL PRIMARY KEY,
    sha256     TEXT NOT NULL,
    size       BIGINT NOT NULL,
    data       BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX blobs_sha256 ON blobs (sha256);

CREATE TABLE items (
    id                 BIGSERIAL PRIMARY KEY,
    user_id            BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    folder_id          BIGINT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    class              TEXT NOT NULL,
    modseq             BIGINT NOT NULL,
    deleted            BOOLEAN NOT NULL DEFAULT FALSE,
    blob_id            BIGINT REFERENCES blobs(id) ON DELETE SET NULL,
    size               BIGINT NOT NULL DEFAULT 0,
    message_id         TEXT NOT NULL DEFAULT '',
    subject            TEXT NOT NULL DEFAULT '',
    from_addr          TEXT NOT NULL DEFAULT '',
    to_addrs           TEXT NOT NULL DEFAULT '',
    cc_addrs           TEXT NOT NULL DEFAULT '',
    reply_to           TEXT NOT NULL DEFAULT '',
    date_received      TIMESTAMPTZ,
    read               BOOLEAN NOT NULL DEFAULT FALSE,
    flag_status        INTEGER NOT NULL DEFAULT 0,
    importance         INTEGER NOT NULL DEFAULT 1,
    has_attachments    BOOLEAN NOT NULL DEFAULT FALSE,
    is_draft           BOOLEAN NOT NULL DEFAULT FALSE,
    message_class      TEXT NOT NULL DEFAULT '',
    thread_topic       TEXT NOT NULL DEFAULT '',
    conversation_id    BYTEA,
    conversation_index BYTEA,
    categories         TEXT NOT NULL DEFAULT '',
    last_verb          INTEGER NOT NULL DEFAULT 0,
    last_verb_at       TIMESTAMPTZ,
    preview            TEXT NOT NULL DEFAULT '',
    uid                TEXT NOT NULL DEFAULT '',
    start_time         TIMESTAMPTZ,
    end_time           TIMESTAMPTZ,
    props              TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- "Everything since counter N" in one folder.
CREATE INDEX items_changes ON items (folder_id, modseq);
-- Windows over live items in stable order.
CREATE INDEX items_live ON items (folder_id, deleted, id);
CREATE INDEX items_message_id ON items (user_id, message_id);
CREATE INDEX items_uid ON items (user_id, uid);
CREATE INDEX items_calendar_span ON items (folder_id, start_time, end_time);
CREATE INDEX items_blob ON items (blob_id);

CREATE TABLE attachments (
    id           BIGSERIAL PRIMARY KEY,
    item_id      BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    part_index   INTEGER NOT NULL,
    file_name    TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL DEFAULT '',
    content_id   TEXT NOT NULL DEFAULT '',
    size         BIGINT NOT NULL DEFAULT 0,
    inline       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX attachments_part ON attachments (item_id, part_index);

CREATE TABLE policies (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    version    BIGINT NOT NULL DEFAULT 1,
    settings   TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id                  BIGSERIAL PRIMARY KEY,
    user_id             BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id           TEXT NOT NULL,
    device_type         TEXT NOT NULL DEFAULT '',
    model               TEXT NOT NULL DEFAULT '',
    imei                TEXT NOT NULL DEFAULT '',
    friendly_name       TEXT NOT NULL DEFAULT '',
    os                  TEXT NOT NULL DEFAULT '',
    os_language         TEXT NOT NULL DEFAULT '',
    phone_number        TEXT NOT NULL DEFAULT '',
    user_agent          TEXT NOT NULL DEFAULT '',
    mobile_operator     TEXT NOT NULL DEFAULT '',
    protocol_version    TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL DEFAULT 'new',
    state_reason        TEXT NOT NULL DEFAULT '',
    decided_by          TEXT NOT NULL DEFAULT '',
    decided_at          TIMESTAMPTZ,
    evidence            TEXT NOT NULL DEFAULT '',
    admin_override      TEXT NOT NULL DEFAULT '',
    admin_override_by   TEXT NOT NULL DEFAULT '',
    admin_override_at   TIMESTAMPTZ,
    policy_id           BIGINT REFERENCES policies(id) ON DELETE SET NULL,
    policy_version      BIGINT NOT NULL DEFAULT 0,
    policy_key          BIGINT NOT NULL DEFAULT 0,
    policy_key_temp     BIGINT NOT NULL DEFAULT 0,
    policy_ack_status   INTEGER NOT NULL DEFAULT 0,
    provisioned_at      TIMESTAMPTZ,
    mdm_compliant       BOOLEAN,
    mdm_checked_at      TIMESTAMPTZ,
    wipe_type           TEXT NOT NULL DEFAULT '',
    wipe_requested_at   TIMESTAMPTZ,
    wipe_requested_by   TEXT NOT NULL DEFAULT '',
    wipe_acked_at       TIMESTAMPTZ,
    wipe_ack_status     INTEGER NOT NULL DEFAULT 0,
    quarantine_notified BOOLEAN NOT NULL DEFAULT FALSE,
    first_seen          TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen           TIMESTAMPTZ,
    last_sync           TIMESTAMPTZ,
    last_command        TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX devices_user_device ON devices (user_id, device_id);
CREATE INDEX devices_state ON devices (state, id);
CREATE INDEX devices_last_seen ON devices (last_seen);

-- Sync state per device and collection ("hierarchy" for FolderSync). The
-- current and the previous generation are both kept so a client that resends
-- its previous key gets the same answer.
CREATE TABLE sync_states (
    id         BIGSERIAL PRIMARY KEY,
    device_pk  BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    sync_key   BIGINT NOT NULL,
    data       BYTEA,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sync_states_key ON sync_states (device_pk, collection, sync_key);

CREATE TABLE device_rules (
    id          BIGSERIAL PRIMARY KEY,
    priority    INTEGER NOT NULL DEFAULT 100,
    field       TEXT NOT NULL,
    match       TEXT NOT NULL,
    pattern     TEXT NOT NULL,
    action      TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX device_rules_priority ON device_rules (priority, id);

CREATE TABLE org_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Append-only, hash-chained: each row's hash covers its content and the
-- previous row's hash, so an edited or deleted row breaks the chain.
CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    actor_ip    TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL DEFAULT '',
    user_id     BIGINT,
    device_pk   BIGINT,
    outcome     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    prev_hash   TEXT NOT NULL DEFAULT '',
    hash        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_device ON audit_events (device_pk, id);

-- Failed logins per key ("user:<email>" or "ip:<addr>"), shared by all nodes.
CREATE TABLE auth_failures (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL DEFAULT 0,
    window_start TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);

-- +goose Down
DROP TABLE auth_failures;
DROP TABLE audit_events;
DROP TABLE org_settings;
DROP TABLE device_rules;
DROP TABLE sync_states;
DROP TABLE devices;
DROP TABLE policies;
DROP TABLE attachments;
DROP TABLE items;
DROP TABLE blobs;
DROP TABLE folders;
DROP TABLE user_aliases;
DROP TABLE users;
DROP TABLE service_levels;
