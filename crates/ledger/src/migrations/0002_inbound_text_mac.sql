-- herald ledger schema, version 2.
-- `inbound.text_mac`: keyed HMAC of the reply text (never the text), so a replayed message id
-- with a different text is recognised after a restart. NULL for rows recorded before.
-- The index serves the opt-out ordering lookups (latest STOP / START of a recipient).
ALTER TABLE inbound ADD COLUMN text_mac TEXT;
CREATE INDEX inbound_recipient ON inbound (recipient, channel, action, received_at);
