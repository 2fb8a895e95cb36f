-- herald ledger schema, version 8: Do-Not-Call registries and the facts of each send.
-- Additive only: three new tables, nothing existing changes.
--
-- `dnc_registries`: one row per loaded registry (`national` or a two-letter state code), as of
-- its latest import: the date the list was downloaded (YYYY-MM-DD, from the operator), when it
-- was imported, how many numbers it holds, the SHA-256 of the last file read and whether that
-- file was a full list or a change list.
CREATE TABLE dnc_registries (
    source        TEXT PRIMARY KEY,
    downloaded_on TEXT NOT NULL,
    imported_at   INTEGER NOT NULL,
    numbers       INTEGER NOT NULL,
    file_digest   TEXT NOT NULL,
    file_kind     TEXT NOT NULL CHECK (file_kind IN ('full', 'changes'))
) WITHOUT ROWID;

-- The registries' numbers as keyed recipient ids (the SMS recipient id of the E.164 number):
-- never a raw number.
CREATE TABLE dnc_numbers (
    recipient TEXT NOT NULL,
    source    TEXT NOT NULL,
    PRIMARY KEY (recipient, source)
) WITHOUT ROWID;

-- Why a send was allowed, recorded when it was claimed: a compact JSON object (zones, state,
-- local time, rules and their data version, consent reference, registry check). No raw
-- address or personal value.
CREATE TABLE send_facts (
    campaign   TEXT NOT NULL,
    row_key    TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    facts      TEXT NOT NULL,
    PRIMARY KEY (campaign, row_key)
) WITHOUT ROWID;
