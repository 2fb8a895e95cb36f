-- herald ledger schema, version 7: no SQL CHECK lists the channel names by hand.
-- The codec refuses a channel it does not know (`herald_core::Channel::parse`), so adding a
-- channel is a change to the channel list only.
ALTER TABLE sends DROP CONSTRAINT sends_channel_check;
ALTER TABLE suppressions DROP CONSTRAINT suppressions_channel_check;
