-- herald ledger schema, version 9: sends through Genesys outbound messaging campaigns.
--
-- `sends.state` may be 'handed_off': the row is a contact of one wave's contact list, in
-- Genesys' hands until the wave's outcome read or `reconcile` resolves it. No column is
-- added to `sends` (the wave of a handed-off row is in its `note`, `wave N`; its Genesys
-- contact id is a keyed id of (campaign, row key), derived, never stored). SQLite cannot
-- change a CHECK constraint: `sends` is rebuilt with the same columns, rows, indexes and
-- triggers, as in version 7. The copy fires no trigger, so `row_counts` and the checkpoint
-- stay as they were.
CREATE TABLE sends_v9 (
    campaign        TEXT NOT NULL,
    row_key         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    masked          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    template_hash   TEXT NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'dispatching', 'sent', 'failed', 'unknown', 'suppressed', 'handed_off')),
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
INSERT INTO sends_v9 (campaign, row_key, recipient, masked, channel, template_hash, state, attempts,
    next_attempt_at, message_id, conversation_id, error_code, note, run_id, created_at,
    dispatched_at, updated_at, receipt_status, receipt_at, category)
SELECT campaign, row_key, recipient, masked, channel, template_hash, state, attempts,
    next_attempt_at, message_id, conversation_id, error_code, note, run_id, created_at,
    dispatched_at, updated_at, receipt_status, receipt_at, category
FROM sends ORDER BY campaign, row_key;
DROP TABLE sends;
ALTER TABLE sends_v9 RENAME TO sends;
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


-- One row per wave: the contact list and messaging campaign herald made for it in Genesys,
-- and how far the wave got (`recorded` → `uploaded` → `created` → `started` → `done`, or
-- `stopped`). Written only with a `wave_recorded` event; ids are Genesys' (no personal data).
CREATE TABLE waves (
    campaign            TEXT NOT NULL,
    wave                INTEGER NOT NULL,
    channel             TEXT NOT NULL,
    status              TEXT NOT NULL,
    contacts            INTEGER NOT NULL,
    contact_list_id     TEXT,
    genesys_campaign_id TEXT,
    run_id              TEXT REFERENCES runs (run_id),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (campaign, wave)
) WITHOUT ROWID;
INSERT INTO row_counts (name, n) VALUES ('waves', 0);
INSERT INTO row_counts (name, n) VALUES ('sends:handed_off', 0);
CREATE TRIGGER waves_count_insert AFTER INSERT ON waves
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'waves'; END;
CREATE TRIGGER waves_count_delete AFTER DELETE ON waves
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'waves'; END;
