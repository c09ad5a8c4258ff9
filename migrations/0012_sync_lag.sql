-- How late each calendar's scheduled syncs start after their due time (admin calendar
-- page): the last one, and the longest within the last 24 hours (reset once it is older).
ALTER TABLE calendars ADD COLUMN sync_lag_ms INTEGER;
ALTER TABLE calendars ADD COLUMN sync_lag_worst_ms INTEGER;
ALTER TABLE calendars ADD COLUMN sync_lag_worst_at INTEGER;
