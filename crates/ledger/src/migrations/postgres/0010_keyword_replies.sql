-- herald ledger schema, version 9: the replies `herald serve` sends to HELP/INFO and the
-- confirmation after a STOP (CTIA; 47 CFR 64.1200(a)(10) allows one, within five minutes).
-- Additive only: one new table and its row count, nothing existing changes.
--
-- One row per inbound message answered, keyed by that message's id, so a replayed webhook can
-- never send a second reply: `dispatching` is written (with a `reply_claimed` event) before
-- the reply is sent, then `sent` or `failed` (a `reply_recorded` event); `skipped` says why no
-- reply went out (the number was no longer suppressed, the STOP was too old). A row left
-- `dispatching` by a crash is never sent again. The recipient is the keyed id, the number is
-- masked, the text is only its SHA-256.
CREATE TABLE keyword_replies (
    inbound_id TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('help', 'opt_out_confirmation')),
    recipient  TEXT NOT NULL,
    masked     TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('dispatching', 'sent', 'failed', 'skipped')),
    text_hash  TEXT NOT NULL,
    message_id TEXT,
    note       TEXT,
    claimed_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX keyword_replies_recipient ON keyword_replies (recipient);
INSERT INTO row_counts (name, n) SELECT 'keyword_replies', COUNT(*) FROM keyword_replies;
CREATE TRIGGER keyword_replies_count_insert AFTER INSERT ON keyword_replies REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
CREATE TRIGGER keyword_replies_count_delete AFTER DELETE ON keyword_replies REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_rows();
