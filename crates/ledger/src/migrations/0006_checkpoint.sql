-- herald ledger schema, version 6: the checkpoint covers the tables.
-- `row_counts` holds each table's row count (and the sends per state), kept by triggers, so a
-- write can tell what its own transaction changed without counting whole tables.
-- `checkpoint` is one row: the head event it was sealed at, the per-table counts and a keyed
-- digest of the suppressions (JSON `body`), and a MAC over them under a key derived from the
-- ledger key. Each write carries the previous checkpoint forward by its own changes only, so
-- rows edited behind the chain are never absorbed. Writing the first checkpoint needs the
-- key, so it is done in code (after a full verify) on the first write with the key.
CREATE TABLE row_counts (
    name TEXT PRIMARY KEY,
    n    BIGINT NOT NULL
);
CREATE TABLE checkpoint (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL,
    body TEXT NOT NULL,
    mac  TEXT NOT NULL
);
INSERT INTO row_counts (name, n) SELECT 'runs', COUNT(*) FROM runs;
INSERT INTO row_counts (name, n) SELECT 'template_bindings', COUNT(*) FROM template_bindings;
INSERT INTO row_counts (name, n) SELECT 'template_versions', COUNT(*) FROM template_versions;
INSERT INTO row_counts (name, n) SELECT 'sends', COUNT(*) FROM sends;
INSERT INTO row_counts (name, n) SELECT 'conversations', COUNT(*) FROM conversations;
INSERT INTO row_counts (name, n) SELECT 'suppressions', COUNT(*) FROM suppressions;
INSERT INTO row_counts (name, n) SELECT 'suppression_audit', COUNT(*) FROM suppression_audit;
INSERT INTO row_counts (name, n) SELECT 'inbound', COUNT(*) FROM inbound;
INSERT INTO row_counts (name, n) SELECT 'receipts', COUNT(*) FROM receipts;
INSERT INTO row_counts (name, n) SELECT 'sends:pending', COUNT(*) FROM sends WHERE state = 'pending';
INSERT INTO row_counts (name, n) SELECT 'sends:dispatching', COUNT(*) FROM sends WHERE state = 'dispatching';
INSERT INTO row_counts (name, n) SELECT 'sends:sent', COUNT(*) FROM sends WHERE state = 'sent';
INSERT INTO row_counts (name, n) SELECT 'sends:failed', COUNT(*) FROM sends WHERE state = 'failed';
INSERT INTO row_counts (name, n) SELECT 'sends:unknown', COUNT(*) FROM sends WHERE state = 'unknown';
INSERT INTO row_counts (name, n) SELECT 'sends:suppressed', COUNT(*) FROM sends WHERE state = 'suppressed';
CREATE TRIGGER runs_count_insert AFTER INSERT ON runs
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'runs'; END;
CREATE TRIGGER runs_count_delete AFTER DELETE ON runs
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'runs'; END;
CREATE TRIGGER template_bindings_count_insert AFTER INSERT ON template_bindings
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'template_bindings'; END;
CREATE TRIGGER template_bindings_count_delete AFTER DELETE ON template_bindings
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'template_bindings'; END;
CREATE TRIGGER template_versions_count_insert AFTER INSERT ON template_versions
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'template_versions'; END;
CREATE TRIGGER template_versions_count_delete AFTER DELETE ON template_versions
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'template_versions'; END;
CREATE TRIGGER sends_count_insert AFTER INSERT ON sends
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'sends'; END;
CREATE TRIGGER sends_count_delete AFTER DELETE ON sends
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'sends'; END;
CREATE TRIGGER conversations_count_insert AFTER INSERT ON conversations
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'conversations'; END;
CREATE TRIGGER conversations_count_delete AFTER DELETE ON conversations
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'conversations'; END;
CREATE TRIGGER suppressions_count_insert AFTER INSERT ON suppressions
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'suppressions'; END;
CREATE TRIGGER suppressions_count_delete AFTER DELETE ON suppressions
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'suppressions'; END;
CREATE TRIGGER suppression_audit_count_insert AFTER INSERT ON suppression_audit
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'suppression_audit'; END;
CREATE TRIGGER suppression_audit_count_delete AFTER DELETE ON suppression_audit
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'suppression_audit'; END;
CREATE TRIGGER inbound_count_insert AFTER INSERT ON inbound
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'inbound'; END;
CREATE TRIGGER inbound_count_delete AFTER DELETE ON inbound
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'inbound'; END;
CREATE TRIGGER receipts_count_insert AFTER INSERT ON receipts
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'receipts'; END;
CREATE TRIGGER receipts_count_delete AFTER DELETE ON receipts
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'receipts'; END;
CREATE TRIGGER sends_state_count_insert AFTER INSERT ON sends
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'sends:' || NEW.state; END;
CREATE TRIGGER sends_state_count_update AFTER UPDATE OF state ON sends WHEN OLD.state <> NEW.state
BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'sends:' || OLD.state;
    UPDATE row_counts SET n = n + 1 WHERE name = 'sends:' || NEW.state;
END;
CREATE TRIGGER sends_state_count_delete AFTER DELETE ON sends
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'sends:' || OLD.state; END;
