-- herald ledger schema, version 7: no SQL CHECK lists the channel names by hand.
-- The codec refuses a channel it does not know (`herald_core::Channel::parse`), so adding a
-- channel is a change to the channel list only. SQLite cannot drop a CHECK constraint: `sends`
-- and `suppressions` are rebuilt with the same columns, rows, indexes and triggers. The copy
-- fires no trigger, so `row_counts` and the checkpoint stay as they were.
CREATE TABLE sends_v7 (
    campaign        TEXT NOT NULL,
    row_key         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    masked          TEXT NOT NULL,
    channel         TEXT NOT NULL,
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
    category        TEXT,
    PRIMARY KEY (campaign, row_key)
) WITHOUT ROWID;
INSERT INTO sends_v7 (campaign, row_key, recipient, masked, channel, template_hash, state, attempts,
    next_attempt_at, message_id, conversation_id, error_code, note, run_id, created_at,
    dispatched_at, updated_at, receipt_status, receipt_at, category)
SELECT campaign, row_key, recipient, masked, channel, template_hash, state, attempts,
    next_attempt_at, message_id, conversation_id, error_code, note, run_id, created_at,
    dispatched_at, updated_at, receipt_status, receipt_at, category
FROM sends ORDER BY campaign, row_key;
DROP TABLE sends;
ALTER TABLE sends_v7 RENAME TO sends;
CREATE INDEX sends_state ON sends (state, campaign);
CREATE INDEX sends_recipient ON sends (campaign, recipient);
CREATE INDEX sends_message ON sends (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX sends_sent_at ON sends (updated_at) WHERE state = 'sent';
CREATE INDEX sends_recent ON sends (recipient, dispatched_at) WHERE dispatched_at IS NOT NULL;
CREATE INDEX sends_recent_by_time ON sends (dispatched_at, category, channel, state, recipient)
    WHERE category IS NOT NULL;
CREATE TRIGGER sends_count_insert AFTER INSERT ON sends
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'sends'; END;
CREATE TRIGGER sends_count_delete AFTER DELETE ON sends
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'sends'; END;
CREATE TRIGGER sends_state_count_insert AFTER INSERT ON sends
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'sends:' || NEW.state; END;
CREATE TRIGGER sends_state_count_update AFTER UPDATE OF state ON sends WHEN OLD.state <> NEW.state
BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'sends:' || OLD.state;
    UPDATE row_counts SET n = n + 1 WHERE name = 'sends:' || NEW.state;
END;
CREATE TRIGGER sends_state_count_delete AFTER DELETE ON sends
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'sends:' || OLD.state; END;

-- channel '*' = every channel.
CREATE TABLE suppressions_v7 (
    recipient TEXT NOT NULL,
    channel   TEXT NOT NULL,
    masked    TEXT NOT NULL,
    reason    TEXT NOT NULL,
    source    TEXT NOT NULL,
    since     INTEGER NOT NULL,
    PRIMARY KEY (recipient, channel)
);
INSERT INTO suppressions_v7 (rowid, recipient, channel, masked, reason, source, since)
SELECT rowid, recipient, channel, masked, reason, source, since FROM suppressions ORDER BY rowid;
DROP TABLE suppressions;
ALTER TABLE suppressions_v7 RENAME TO suppressions;
CREATE TRIGGER suppressions_count_insert AFTER INSERT ON suppressions
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'suppressions'; END;
CREATE TRIGGER suppressions_count_delete AFTER DELETE ON suppressions
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'suppressions'; END;
