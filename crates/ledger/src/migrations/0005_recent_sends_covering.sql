-- herald ledger schema, version 5: the plan reads a campaign's recent sends (frequency caps)
-- from the time index alone. Version 4's index held only the send time, so each of those rows
-- was looked up again in `sends`: half a second for half a million recent sends.
DROP INDEX sends_recent_by_time;
CREATE INDEX sends_recent_by_time ON sends (dispatched_at, category, channel, state, recipient)
    WHERE category IS NOT NULL;
