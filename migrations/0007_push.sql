-- Provider push notifications (push.md): Google channels and Graph subscriptions, and the
-- push status of each calendar.

-- One row per Google channel or Graph subscription. No foreign key to calendars: a row
-- outlives its calendar (state 'stopping') until the provider has been told to stop it.
CREATE TABLE push_channels (
    id TEXT PRIMARY KEY,                   -- Convene's id (Google: also the channel id)
    calendar_id TEXT NOT NULL,
    platform TEXT NOT NULL CHECK (platform IN ('google_calendar', 'microsoft_outlook')),
    state TEXT NOT NULL CHECK (state IN ('pending', 'live', 'stopping')),
    external_id TEXT,                      -- Google channel id / Graph subscription id
    resource_id TEXT,                      -- Google resourceId
    secret_enc TEXT NOT NULL,              -- channel token / clientState, sealed
    expires_at INTEGER,
    due_at INTEGER NOT NULL,               -- when the push sweep acts on the row next
    recreate INTEGER NOT NULL DEFAULT 0,   -- replace instead of renew (broken, removed)
    attempts INTEGER NOT NULL DEFAULT 0,   -- failed stop attempts
    -- 'stopping' rows of deleted or reconnected calendars: the credentials to stop with
    -- (JSON of the calendar's client id and sealed secrets at that moment).
    stop_with TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX push_channels_external ON push_channels (platform, external_id);
CREATE INDEX push_channels_calendar ON push_channels (calendar_id, state);
CREATE INDEX push_channels_due ON push_channels (due_at);

-- Per calendar: why it polls (refused / failing), when to try to subscribe again, and the
-- last valid notification.
CREATE TABLE push_status (
    calendar_id TEXT PRIMARY KEY REFERENCES calendars (id) ON DELETE CASCADE,
    reason TEXT,
    retry_at INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    last_notification_at INTEGER,
    sync_requested_at INTEGER,             -- last notification that asked for a sync
    updated_at INTEGER NOT NULL
);
CREATE INDEX push_status_retry ON push_status (retry_at);
