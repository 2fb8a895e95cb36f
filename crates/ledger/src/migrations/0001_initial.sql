-- herald ledger schema, version 1.
-- Timestamps are Unix milliseconds (INTEGER). No raw addresses or message bodies anywhere:
-- `recipient` is the keyed HMAC (hex) and `masked` the display form.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    command     TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    host        TEXT NOT NULL,
    git_commit  TEXT,
    plan_hash   TEXT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT
);

CREATE TABLE template_bindings (
    name         TEXT PRIMARY KEY,
    response_id  TEXT NOT NULL,
    version      INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    remote_hash  TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE template_versions (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    response_id    TEXT NOT NULL,
    version        INTEGER NOT NULL,
    content_hash   TEXT NOT NULL,
    remote_hash    TEXT NOT NULL,
    git_commit     TEXT,
    overwrote_hash TEXT,
    run_id         TEXT NOT NULL REFERENCES runs (run_id),
    at             INTEGER NOT NULL
);
CREATE INDEX template_versions_name ON template_versions (name, id);

CREATE TABLE sends (
    campaign        TEXT NOT NULL,
    row_key         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    masked          TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    template_hash   TEXT NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'dispatching', 'sent', 'failed', 'unknown', 'suppressed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    message_id      TEXT,
    conversation_id TEXT,
    error_code      TEXT,
    note            TEXT,
    run_id          TEXT REFERENCES runs (run_id),
    created_at      INTEGER NOT NULL,
    dispatched_at   INTEGER,
    updated_at      INTEGER NOT NULL,
    receipt_status  TEXT,
    receipt_at      INTEGER,
    PRIMARY KEY (campaign, row_key)
) WITHOUT ROWID;
CREATE INDEX sends_state ON sends (state, campaign);
CREATE INDEX sends_recipient ON sends (campaign, recipient);
CREATE INDEX sends_message ON sends (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX sends_sent_at ON sends (updated_at) WHERE state = 'sent';

CREATE TABLE conversations (
    recipient       TEXT PRIMARY KEY,
    channel         TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- channel '*' = every channel.
CREATE TABLE suppressions (
    recipient TEXT NOT NULL,
    channel   TEXT NOT NULL CHECK (channel IN ('sms', 'email', '*')),
    masked    TEXT NOT NULL,
    reason    TEXT NOT NULL,
    source    TEXT NOT NULL,
    since     INTEGER NOT NULL,
    PRIMARY KEY (recipient, channel)
);

CREATE TABLE suppression_audit (
    id        INTEGER PRIMARY KEY,
    action    TEXT NOT NULL CHECK (action IN ('add', 'remove')),
    recipient TEXT NOT NULL,
    channel   TEXT NOT NULL,
    masked    TEXT NOT NULL,
    reason    TEXT NOT NULL,
    source    TEXT NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX suppression_audit_recipient ON suppression_audit (recipient, id);

CREATE TABLE inbound (
    message_id  TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    masked      TEXT NOT NULL,
    channel     TEXT NOT NULL,
    action      TEXT NOT NULL,
    flagged     INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);

CREATE TABLE receipts (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    at          INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX receipts_message ON receipts (message_id, at);

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);

-- Append-only tables: refuse updates and deletes through ordinary SQL. (Someone with the
-- file can drop these triggers; `verify` is what catches that kind of tampering.)
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER suppression_audit_append_only_update BEFORE UPDATE ON suppression_audit
BEGIN SELECT RAISE(ABORT, 'suppression_audit is append-only'); END;
CREATE TRIGGER suppression_audit_append_only_delete BEFORE DELETE ON suppression_audit
BEGIN SELECT RAISE(ABORT, 'suppression_audit is append-only'); END;
CREATE TRIGGER template_versions_append_only_update BEFORE UPDATE ON template_versions
BEGIN SELECT RAISE(ABORT, 'template_versions is append-only'); END;
CREATE TRIGGER template_versions_append_only_delete BEFORE DELETE ON template_versions
BEGIN SELECT RAISE(ABORT, 'template_versions is append-only'); END;
