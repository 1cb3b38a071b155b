-- +goose Up
-- Health-service rules: governance roles, break-glass access,
-- delegates, quota warnings, secure domains and held mail, the SMS outbox.

-- Governance roles (not the dashboard's admin flag): "hr_director" and
-- "programme_head" approve break-glass access. Granted and revoked with
-- airlock role grant|revoke; every change is audited.
CREATE TABLE user_roles (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    granted_by TEXT NOT NULL DEFAULT '',
    granted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role)
);

-- Break-glass: access to another user's mailbox without their permission.
-- state: pending -> active (two approvals) -> ended | revoked; pending ->
-- lapsed | revoked. expires_at is set when the request becomes active.
CREATE TABLE breakglass_requests (
    id                 BIGSERIAL PRIMARY KEY,
    requester_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    owner_id           BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason             TEXT NOT NULL,
    duration_seconds   BIGINT NOT NULL,
    state              TEXT NOT NULL DEFAULT 'pending',
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    pending_until      TIMESTAMPTZ NOT NULL,
    activated_at       TIMESTAMPTZ,
    expires_at         TIMESTAMPTZ,
    ended_at           TIMESTAMPTZ,
    ended_by           TEXT NOT NULL DEFAULT '',
    notice_withheld    BOOLEAN NOT NULL DEFAULT FALSE,
    owner_notified_at  TIMESTAMPTZ,
    CHECK (requester_id <> owner_id),
    CHECK (duration_seconds > 0)
);
CREATE INDEX breakglass_requests_access ON breakglass_requests (requester_id, owner_id, state);
CREATE INDEX breakglass_requests_state ON breakglass_requests (state, expires_at);

-- One row per approval. The keys are the two-person rule in the schema:
-- one approval per person per request, one approver per role per request.
CREATE TABLE breakglass_approvals (
    request_id     BIGINT NOT NULL REFERENCES breakglass_requests(id) ON DELETE CASCADE,
    approver_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role           TEXT NOT NULL,
    withhold_notice TEXT NOT NULL DEFAULT '', -- why the owner should not be told; '' = tell
    approved_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, approver_id),
    UNIQUE (request_id, role)
);

-- Delegates: an owner lets a colleague read their mail or calendar, or send
-- mail on their behalf. scope: mail | calendar; permission: read |
-- send_on_behalf (mail only; implies read).
CREATE TABLE delegates (
    owner_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    delegate_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    permission  TEXT NOT NULL,
    granted_by  TEXT NOT NULL DEFAULT '',
    granted_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, delegate_id, scope),
    CHECK (owner_id <> delegate_id)
);
CREATE INDEX delegates_delegate ON delegates (delegate_id);

-- Users who were warned that their mailbox passed 90% of its quota; the row
-- goes when usage is seen below 90% again, so the warning comes once per
-- crossing.
CREATE TABLE quota_warnings (
    user_id   BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    warned_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Partner domains accredited for sensitive mail. "nhs.net" matches that
-- domain only; ".nhs.uk" matches every subdomain of nhs.uk.
CREATE TABLE secure_domains (
    domain   TEXT PRIMARY KEY,
    note     TEXT NOT NULL DEFAULT '',
    added_by TEXT NOT NULL DEFAULT '',
    added_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Sensitive mail held because a recipient is outside the secure domains;
-- released (into outbound_queue) or dropped by an admin.
CREATE TABLE held_mail (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT REFERENCES users(id) ON DELETE SET NULL,
    mail_from  TEXT NOT NULL,
    rcpt_to    TEXT NOT NULL, -- one per line
    subject    TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL,
    data       BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Text messages to send through the SMS provider, written in the same
-- transaction as the sender's copy; claimed with a lease like
-- outbound_queue.
CREATE TABLE sms_outbox (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    sender       TEXT NOT NULL,
    address      TEXT NOT NULL, -- the mail address written, +447700900123@sms.example.nhs.uk
    to_number    TEXT NOT NULL, -- E.164
    body         TEXT NOT NULL,
    subject      TEXT NOT NULL DEFAULT '',
    message_id   TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt TIMESTAMPTZ NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt);

-- +goose Down
DROP TABLE sms_outbox;
DROP TABLE held_mail;
DROP TABLE secure_domains;
DROP TABLE quota_warnings;
DROP TABLE delegates;
DROP TABLE breakglass_approvals;
DROP TABLE breakglass_requests;
DROP TABLE user_roles;
