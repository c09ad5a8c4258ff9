-- A year of operation: operator-client alarms, unreadable provider items, Zoom retry
-- scheduling, and the indexes the daily retention sweep walks.

-- The provider refused a platform's OAuth client itself (expired secret, deleted client).
-- That is not the end users' fault, so no calendar is disconnected for it; the overview
-- shows the alarm until a refresh with a working client succeeds.
CREATE TABLE platform_alarms (
    platform TEXT PRIMARY KEY,              -- platform_clients.platform
    code TEXT NOT NULL,                     -- e.g. AADSTS7000222, deleted_client
    message TEXT NOT NULL,
    client_id TEXT NOT NULL,                -- the client that was refused
    client_updated_at INTEGER NOT NULL,     -- platform_clients.updated_at of that client
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL
);

-- Provider items a sync could not read: the stored copy is kept, the sync does not move
-- past them, and the admin calendar page lists them. Cleared once the item reads again.
CREATE TABLE sync_item_failures (
    calendar_id TEXT NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    platform_id TEXT NOT NULL,              -- '' when not even the id could be read
    error TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (calendar_id, platform_id)
);

-- When the Zoom sweep may try a credential again after a failure (NULL: when due).
ALTER TABLE zoom_oauth_credentials ADD COLUMN next_attempt_at INTEGER;

-- Retention (`CONVENE_RETENTION_DAYS`): what each prune walks, oldest first. Deleting a
-- message cascades to its deliveries, which needs them indexed by message.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (status, updated_at);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id);
CREATE INDEX calendar_events_end ON calendar_events (end_time);
CREATE INDEX calendar_events_deleted ON calendar_events (updated_at) WHERE is_deleted = 1;
CREATE INDEX calendar_status_changes_created ON calendar_status_changes (created_at);
CREATE INDEX bot_history_created ON bot_history (created_at);
CREATE INDEX bot_operations_finished ON bot_operations (updated_at)
    WHERE status IN ('done', 'failed', 'superseded');
