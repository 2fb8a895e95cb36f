-- herald ledger schema, version 7: no SQL CHECK lists the channel names by hand, and the
-- row counts are kept per statement.
-- The codec refuses a channel it does not know (`herald_core::Channel::parse`), so adding a
-- channel is a change to the channel list only.
ALTER TABLE sends DROP CONSTRAINT sends_channel_check;
ALTER TABLE suppressions DROP CONSTRAINT suppressions_channel_check;

-- The row counts are kept by statement-level triggers over transition tables: one update of
-- `row_counts` per statement instead of one per row. Row-level triggers made a bulk import
-- (`COPY` of thousands of rows in one transaction) update the same `row_counts` row once per
-- row, and every update inside one transaction walks the versions the earlier ones left:
-- quadratic time, hours for a million sends.
DROP TRIGGER runs_count ON runs;
DROP TRIGGER template_bindings_count ON template_bindings;
DROP TRIGGER template_versions_count ON template_versions;
DROP TRIGGER sends_count ON sends;
DROP TRIGGER conversations_count ON conversations;
DROP TRIGGER suppressions_count ON suppressions;
DROP TRIGGER suppression_audit_count ON suppression_audit;
DROP TRIGGER inbound_count ON inbound;
DROP TRIGGER receipts_count ON receipts;
DROP TRIGGER sends_state_count ON sends;
DROP TRIGGER sends_state_change_count ON sends;
CREATE OR REPLACE FUNCTION herald_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE row_counts SET n = n + (SELECT COUNT(*) FROM new_rows) WHERE name = TG_TABLE_NAME;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE row_counts SET n = n - (SELECT COUNT(*) FROM old_rows) WHERE name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION herald_count_send_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE row_counts r SET n = r.n - c.k
        FROM (SELECT 'sends:' || state AS name, COUNT(*) AS k FROM old_rows GROUP BY 1) c
        WHERE r.name = c.name;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE row_counts r SET n = r.n + c.k
        FROM (SELECT 'sends:' || state AS name, COUNT(*) AS k FROM new_rows GROUP BY 1) c
        WHERE r.name = c.name;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER runs_count_insert AFTER INSERT ON runs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER runs_count_delete AFTER DELETE ON runs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER template_bindings_count_insert AFTER INSERT ON template_bindings REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER template_bindings_count_delete AFTER DELETE ON template_bindings REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER template_versions_count_insert AFTER INSERT ON template_versions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER template_versions_count_delete AFTER DELETE ON template_versions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER sends_count_insert AFTER INSERT ON sends REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER sends_count_delete AFTER DELETE ON sends REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER conversations_count_insert AFTER INSERT ON conversations REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER conversations_count_delete AFTER DELETE ON conversations REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER suppressions_count_insert AFTER INSERT ON suppressions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER suppressions_count_delete AFTER DELETE ON suppressions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER suppression_audit_count_insert AFTER INSERT ON suppression_audit REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER suppression_audit_count_delete AFTER DELETE ON suppression_audit REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER inbound_count_insert AFTER INSERT ON inbound REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER inbound_count_delete AFTER DELETE ON inbound REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER receipts_count_insert AFTER INSERT ON receipts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER receipts_count_delete AFTER DELETE ON receipts REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER sends_state_count_insert AFTER INSERT ON sends REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_send_states();
CREATE TRIGGER sends_state_count_delete AFTER DELETE ON sends REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_send_states();
CREATE TRIGGER sends_state_count_update AFTER UPDATE ON sends
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_send_states();
