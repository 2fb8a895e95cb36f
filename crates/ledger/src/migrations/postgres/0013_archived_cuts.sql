-- herald ledger schema, version 13: `herald ledger archive`.
-- Additive only. A cut is an `archived` event in the chain (it names the archive file, its head,
-- the campaigns moved and, per earlier event, the send rows removed); `plan` and `apply` read
-- the `archived` events to refuse an archived campaign, so they are found by kind through this
-- index (a few bytes per event) instead of a scan of the chain. Older herald builds refuse this
-- version: they know neither the event nor the refusal, and would send an archived campaign
-- again.
CREATE INDEX IF NOT EXISTS events_kind ON events (kind);
