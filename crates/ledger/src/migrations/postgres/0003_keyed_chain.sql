-- herald ledger schema, version 3: the keyed chain.
-- No table changes. From this version every event's link is an HMAC under a key derived from
-- the ledger key (see chain.rs). Re-linking the events of a version-1 ledger needs that key,
-- so it is done in code on the first open with the key (after verifying the old plain chain)
-- and recorded as a `chain_keyed` event; `meta.chain` = 'hmac-sha256-v2' marks it done.
-- Older herald builds refuse this version instead of appending plain links.
SELECT 1;
