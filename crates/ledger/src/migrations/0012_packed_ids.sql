-- herald ledger schema, version 12: compact rows. The keyed ids of the two tables that grow
-- with every send are stored as bytes (`id_pack`: a form byte, then a 64-hex recipient id or
-- a `sha256:` template hash in 32 bytes, a canonical UUID in 16, anything else verbatim; read
-- back with `id_unpack`, functions the connection registers), and the indexes no query needs
-- are gone: `sends_recipient` (the per-campaign recipient set reads the primary key's range
-- of the campaign) and the `sent` rows of `sends_state` (no query looks a sent row up by
-- state through it). Seals are over the ids as strings, so no row is resealed. SQLite cannot
-- change a column's type: `sends` and `conversations` are rebuilt with the same rows,
-- triggers and remaining indexes. The copy fires no trigger, so `row_counts` and the
-- checkpoint stay as they were.
CREATE TABLE sends_v12 (
    campaign        TEXT NOT NULL,
    row_key         TEXT NOT NULL,
    recipient       BLOB NOT NULL,
    masked          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    template_hash   BLOB NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'dispatching', 'sent', 'failed', 'unknown', 'suppressed', 'handed_off')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    message_id      BLOB,
    conversation_id BLOB,
    error_code      TEXT,
    note            TEXT,
    run_id          TEXT REFERENCES runs (run_id),
    created_at      INTEGER NOT NULL,
    dispatched_at   INTEGER,
    updated_at      INTEGER NOT NULL,
    receipt_status  TEXT,
    receipt_at      INTEGER,
    category        TEXT,
    seq             INTEGER,
    mac             INTEGER,
    tags            INTEGER,
    PRIMARY KEY (campaign, row_key)
) WITHOUT ROWID;
INSERT INTO sends_v12 (campaign, row_key, recipient, masked, channel, template_hash, state, attempts,
    next_attempt_at, message_id, conversation_id, error_code, note, run_id, created_at,
    dispatched_at, updated_at, receipt_status, receipt_at, category, seq, mac, tags)
SELECT campaign, row_key, id_pack(recipient), masked, channel, id_pack(template_hash), state, attempts,
    next_attempt_at, id_pack(message_id), id_pack(conversation_id), error_code, note, run_id, created_at,
    dispatched_at, updated_at, receipt_status, receipt_at, category, seq, mac, tags
FROM sends ORDER BY campaign, row_key;
DROP TABLE sends;
ALTER TABLE sends_v12 RENAME TO sends;
CREATE INDEX sends_state ON sends (state, campaign) WHERE state <> 'sent';
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

CREATE TABLE conversations_v12 (
    recipient       BLOB PRIMARY KEY,
    channel         TEXT NOT NULL,
    conversation_id BLOB NOT NULL,
    updated_at      INTEGER NOT NULL,
    seq             INTEGER,
    mac             INTEGER,
    tags            INTEGER
) WITHOUT ROWID;
INSERT INTO conversations_v12 (recipient, channel, conversation_id, updated_at, seq, mac, tags)
SELECT id_pack(recipient), channel, id_pack(conversation_id), updated_at, seq, mac, tags
FROM conversations ORDER BY recipient;
DROP TABLE conversations;
ALTER TABLE conversations_v12 RENAME TO conversations;
CREATE TRIGGER conversations_count_insert AFTER INSERT ON conversations
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'conversations'; END;
CREATE TRIGGER conversations_count_delete AFTER DELETE ON conversations
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'conversations'; END;
