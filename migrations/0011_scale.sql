-- Issue 15: hot queries that ran inside BEGIN IMMEDIATE read history.

-- The webhook claim reads the due deliveries of each enabled endpoint (and of direct
-- calendar targets, endpoint_id IS NULL), never the held backlog of disabled endpoints.
CREATE INDEX webhook_deliveries_endpoint_due
    ON webhook_deliveries (endpoint_id, status, next_attempt_at);

-- The bot reconcile reads the links of live bots, and of events that changed since it last
-- looked (flagged here by the database itself), not every link ever made.
ALTER TABLE bot_event_links ADD COLUMN event_changed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX bot_event_links_changed ON bot_event_links (event_id) WHERE event_changed = 1;
CREATE TRIGGER calendar_events_flag_links AFTER UPDATE OF start_time, meeting_url, is_deleted
    ON calendar_events
    WHEN OLD.start_time IS NOT NEW.start_time OR OLD.meeting_url IS NOT NEW.meeting_url
        OR OLD.is_deleted IS NOT NEW.is_deleted
BEGIN
    UPDATE bot_event_links SET event_changed = 1 WHERE event_id = NEW.id;
END;
-- Links made before this migration: looked at once.
UPDATE bot_event_links SET event_changed = 1;
