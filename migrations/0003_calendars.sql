-- Calendars: V1 calendar users and their connections, V2 calendars, one table for both so
-- token lifecycle and sync are one mechanism; synced events.

CREATE TABLE calendar_users (
    id TEXT PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,          -- the app's user_id
    preferences TEXT NOT NULL DEFAULT '{}',    -- JSON, see api.md CalendarUser.preferences
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A connected calendar. kind 'v1': a calendar user's connection (uses the platform client
-- saved in platform_clients); kind 'v2': a calendar created through /api/v2/calendars/.
CREATE TABLE calendars (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('v1', 'v2')),
    calendar_user_id TEXT REFERENCES calendar_users (id) ON DELETE CASCADE,
    platform TEXT NOT NULL CHECK (platform IN ('google_calendar', 'microsoft_outlook')),
    oauth_client_id TEXT,
    oauth_client_secret_enc TEXT,
    oauth_refresh_token_enc TEXT,
    oauth_email TEXT,
    platform_email TEXT,
    granted_scopes TEXT,
    webhook_url TEXT,
    status TEXT NOT NULL CHECK (status IN ('connecting', 'connected', 'disconnected')),
    access_token_enc TEXT,
    access_token_expires_at INTEGER,
    last_refresh_at INTEGER,
    next_refresh_at INTEGER,                   -- token sweep: refresh when due
    refresh_failures INTEGER NOT NULL DEFAULT 0,
    last_refresh_error TEXT,                   -- last transient/other refresh failure (admin)
    -- bumped whenever the credentials are replaced (PATCH, V1 reconnect): a refresh that
    -- started with older credentials must not overwrite the new ones when it commits.
    credentials_version INTEGER NOT NULL DEFAULT 0,
    -- sync state
    sync_token TEXT,                           -- Google nextSyncToken / Graph deltaLink
    sync_window_start INTEGER,                 -- window the stored sync token covers
    sync_window_end INTEGER,
    next_sync_at INTEGER,
    last_sync_at INTEGER,
    last_sync_error TEXT,
    sync_failures INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX calendars_status ON calendars (status, created_at, id);
CREATE INDEX calendars_next_sync ON calendars (next_sync_at);
CREATE INDEX calendars_next_refresh ON calendars (next_refresh_at);
CREATE INDEX calendars_created ON calendars (created_at, id);
-- One connection per platform per V1 user.
CREATE UNIQUE INDEX calendars_v1_user_platform ON calendars (calendar_user_id, platform)
    WHERE kind = 'v1';

CREATE TABLE calendar_status_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    calendar_id TEXT NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX calendar_status_changes_cal ON calendar_status_changes (calendar_id, id);

CREATE TABLE calendar_events (
    id TEXT PRIMARY KEY,
    calendar_id TEXT NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    platform_id TEXT NOT NULL,                 -- the provider's event id
    ical_uid TEXT,
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    is_all_day INTEGER NOT NULL DEFAULT 0,
    title TEXT,
    organizer_email TEXT,
    attendees TEXT NOT NULL DEFAULT '[]',      -- JSON [{name, email, is_organizer, status}]
    is_recurring INTEGER NOT NULL DEFAULT 0,
    is_hosted_by_me INTEGER NOT NULL DEFAULT 0,
    self_response TEXT,                        -- accepted|declined|tentative|not_available
    meeting_platform TEXT,
    meeting_url TEXT,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    raw TEXT NOT NULL,                         -- the provider's JSON, unchanged
    content_hash TEXT NOT NULL,                -- of the normalized event + raw
    override_should_record INTEGER,            -- V1: NULL, 0 or 1
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX calendar_events_platform_id ON calendar_events (calendar_id, platform_id);
CREATE INDEX calendar_events_start ON calendar_events (start_time, id);
CREATE INDEX calendar_events_cal_start ON calendar_events (calendar_id, start_time, id);
CREATE INDEX calendar_events_updated ON calendar_events (updated_at, id);
CREATE INDEX calendar_events_cal_updated ON calendar_events (calendar_id, updated_at, id);
CREATE INDEX calendar_events_ical ON calendar_events (ical_uid);
