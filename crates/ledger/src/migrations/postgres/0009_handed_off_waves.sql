-- herald ledger schema, version 9: sends through Genesys outbound messaging campaigns.
--
-- `sends.state` may be 'handed_off': the row is a contact of one wave's contact list, in
-- Genesys' hands until the wave's outcome read or `reconcile` resolves it. No column is
-- added to `sends` (the wave of a handed-off row is in its `note`, `wave N`; its Genesys
-- contact id is a keyed id of (campaign, row key), derived, never stored).
ALTER TABLE sends DROP CONSTRAINT sends_state_check;
ALTER TABLE sends ADD CONSTRAINT sends_state_check
    CHECK (state IN ('pending', 'dispatching', 'sent', 'failed', 'unknown', 'suppressed', 'handed_off'));

-- One row per wave: the contact list and messaging campaign herald made for it in Genesys,
-- and how far the wave got (`recorded` → `uploaded` → `created` → `started` → `done`, or
-- `stopped`). Written only with a `wave_recorded` event; ids are Genesys' (no personal data).
CREATE TABLE waves (
    campaign            TEXT COLLATE "C" NOT NULL,
    wave                BIGINT NOT NULL,
    channel             TEXT COLLATE "C" NOT NULL,
    status              TEXT NOT NULL,
    contacts            BIGINT NOT NULL,
    contact_list_id     TEXT,
    genesys_campaign_id TEXT,
    run_id              TEXT COLLATE "C" REFERENCES runs (run_id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (campaign, wave)
);
INSERT INTO row_counts (name, n) VALUES ('waves', 0);
INSERT INTO row_counts (name, n) VALUES ('sends:handed_off', 0);
CREATE TRIGGER waves_count_insert AFTER INSERT ON waves REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER waves_count_delete AFTER DELETE ON waves REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
