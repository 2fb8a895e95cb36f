-- herald ledger schema, version 11: sealed rows instead of row images in the events.
-- Additive only. Every `sends` and `conversations` row herald writes carries its seal: `seq`
-- (the event that last wrote it), `mac` (a keyed 64-bit MAC of every other column and
-- `seq`) and `tags` (3 bits per column, to name the column that differs). The events that
-- write such rows carry a digest of the batch (how many rows, the sum of their MACs, and what
-- they replaced) instead of every row's image. The MACs need the ledger key, so the rows of an
-- older ledger are sealed in code on the first open with the key, after a full verify against
-- the images its events carry, and recorded as one `rows_sealed` event (`meta.rows` =
-- 'sealed-v1' marks it done). Older herald builds refuse this version.
ALTER TABLE sends ADD COLUMN seq INTEGER;
ALTER TABLE sends ADD COLUMN mac INTEGER;
ALTER TABLE sends ADD COLUMN tags INTEGER;

-- `conversations` becomes a WITHOUT ROWID table keyed by the recipient: the rows live in the
-- key's B-tree instead of a rowid table plus an index on the key that repeated the 64-character
-- recipient (84 bytes per send at 1,000,000 sends). Same columns and rows, the seal columns
-- added; the copy fires no trigger, so `row_counts` and the checkpoint stay as they were.
CREATE TABLE conversations_v9 (
    recipient       TEXT PRIMARY KEY,
    channel         TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    seq             INTEGER,
    mac             INTEGER,
    tags            INTEGER
) WITHOUT ROWID;
INSERT INTO conversations_v9 (recipient, channel, conversation_id, updated_at)
SELECT recipient, channel, conversation_id, updated_at FROM conversations ORDER BY recipient;
DROP TABLE conversations;
ALTER TABLE conversations_v9 RENAME TO conversations;
CREATE TRIGGER conversations_count_insert AFTER INSERT ON conversations
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'conversations'; END;
CREATE TRIGGER conversations_count_delete AFTER DELETE ON conversations
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'conversations'; END;
