-- +goose Up
-- The last Ping parameters of each device. MS-ASCMD 3.1.5.8: the server
-- caches HeartbeatInterval and Folders, and a Ping that omits either (or
-- has no body at all) reuses them. Kept in the database, not in memory, so
-- that the next Ping may reach any node.
CREATE TABLE ping_states (
    device_pk  BIGINT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    heartbeat  INTEGER NOT NULL,
    folders    TEXT NOT NULL DEFAULT '', -- folder ids, comma-separated
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE ping_states;
