-- herald ledger schema, version 11: sealed rows instead of row images in the events.
-- Additive only. Every `sends` and `conversations` row herald writes carries its seal: `seq`
-- (the event that last wrote it), `mac` (a keyed 64-bit MAC of every other column and
-- `seq`) and `tags` (3 bits per column, to name the column that differs). The events that
-- write such rows carry a digest of the batch (how many rows, the sum of their MACs, and what
-- they replaced) instead of every row's image. The MACs need the ledger key, so the rows of an
-- older ledger are sealed in code on the first open with the key, after a full verify against
-- the images its events carry, and recorded as one `rows_sealed` event (`meta.rows` =
-- 'sealed-v1' marks it done). Older herald builds refuse this version.
-- `IF NOT EXISTS`: a schema rolled back by hand to an older version number keeps its seals.
ALTER TABLE sends ADD COLUMN IF NOT EXISTS seq BIGINT;
ALTER TABLE sends ADD COLUMN IF NOT EXISTS mac BIGINT;
ALTER TABLE sends ADD COLUMN IF NOT EXISTS tags BIGINT;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS seq BIGINT;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS mac BIGINT;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS tags BIGINT;
