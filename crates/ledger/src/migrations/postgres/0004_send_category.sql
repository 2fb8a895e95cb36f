-- herald ledger schema, version 4: frequency caps across campaigns.
-- `category` (transactional | marketing, NULL for sends recorded before version 4) lets a
-- claim count a recipient's recent sends of one channel and category across every campaign;
-- `dispatched_at` is the send time. The index serves that count inside the claim transaction
-- (by recipient) and the plan's read of recent sends (by time).
ALTER TABLE sends ADD COLUMN category TEXT;
CREATE INDEX sends_recent ON sends (recipient, dispatched_at) WHERE dispatched_at IS NOT NULL;
CREATE INDEX sends_recent_by_time ON sends (dispatched_at) WHERE category IS NOT NULL;
