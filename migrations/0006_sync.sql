-- Event sync: indexes for the events API.
-- ical_uid lookups are ordered by start time (a Google series shares one iCalUID across its
-- occurrences), so the index carries the sort key and no sort happens in memory.
DROP INDEX IF EXISTS calendar_events_ical;
CREATE INDEX calendar_events_ical ON calendar_events (ical_uid, start_time, id);
