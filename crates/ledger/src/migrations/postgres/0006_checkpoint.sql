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
    id   SMALLINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
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
CREATE FUNCTION herald_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE row_counts SET n = n + 1 WHERE name = TG_TABLE_NAME;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE row_counts SET n = n - 1 WHERE name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION herald_count_send_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE row_counts SET n = n - 1 WHERE name = 'sends:' || OLD.state;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE row_counts SET n = n + 1 WHERE name = 'sends:' || NEW.state;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER runs_count AFTER INSERT OR DELETE ON runs FOR EACH ROW EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER template_bindings_count AFTER INSERT OR DELETE ON template_bindings FOR EACH ROW EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER template_versions_count AFTER INSERT OR DELETE ON template_versions FOR EACH ROW EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER sends_count AFTER INSERT OR DELETE ON sends FOR EACH ROW EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER conversations_count AFTER INSERT OR DELETE ON conversations FOR EACH ROW EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER suppressions_count AFTER INSERT OR DELETE ON suppressions FOR EACH ROW EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER suppression_audit_count AFTER INSERT OR DELETE ON suppression_audit FOR EACH ROW EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER inbound_count AFTER INSERT OR DELETE ON inbound FOR EACH ROW EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER receipts_count AFTER INSERT OR DELETE ON receipts FOR EACH ROW EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER sends_state_count AFTER INSERT OR DELETE ON sends FOR EACH ROW EXECUTE FUNCTION herald_count_send_states();
CREATE TRIGGER sends_state_change_count AFTER UPDATE OF state ON sends FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION herald_count_send_states();
