-- The sync pipeline reads the due list many times a second: walk it on one index in due
-- order (NULL = never synced sorts first) instead of every connected calendar's row.
DROP INDEX IF EXISTS calendars_next_sync;
CREATE INDEX calendars_sync_due ON calendars (status, next_sync_at, id);

-- How late each calendar's scheduled syncs start after their due time (admin calendar
-- page): the last one, and the longest within the last 24 hours (reset once it is older).
ALTER TABLE calendars ADD COLUMN sync_lag_ms INTEGER;
ALTER TABLE calendars ADD COLUMN sync_lag_worst_ms INTEGER;
ALTER TABLE calendars ADD COLUMN sync_lag_worst_at INTEGER;
