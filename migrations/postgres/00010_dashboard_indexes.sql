-- +goose Up
-- Indexes for the admin dashboard's aggregates (package web): grouping
-- devices by type, OS and decision, and bucketing them by last sync, read
-- a narrow index instead of every device row. Measured with 10,000
-- devices in docs/benchmarks.md.
CREATE INDEX devices_device_type ON devices (device_type);
CREATE INDEX devices_os ON devices (os);
CREATE INDEX devices_last_sync ON devices (last_sync);
CREATE INDEX devices_decision ON devices (state, decided_by, policy_ack_status, mdm_compliant);

-- +goose Down
DROP INDEX devices_decision;
DROP INDEX devices_last_sync;
DROP INDEX devices_os;
DROP INDEX devices_device_type;
