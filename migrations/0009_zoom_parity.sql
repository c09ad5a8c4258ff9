-- The rest of the hosted Zoom surface (api.md "Zoom: the rest of the hosted surface"):
-- webhook validations, meeting sync state and its map, app logs, customer-managed tokens.

-- When Zoom last sent a valid (signed) endpoint.url_validation challenge to the app.
ALTER TABLE zoom_oauth_apps ADD COLUMN webhook_last_validation INTEGER;

ALTER TABLE zoom_oauth_credentials ADD COLUMN meeting_sync_status TEXT NOT NULL
    DEFAULT 'not_started'
    CHECK (meeting_sync_status IN ('not_started', 'in_progress', 'completed', 'failed'));
-- When the next meeting sync is due (NULL: never scheduled); hourly after a sync.
ALTER TABLE zoom_oauth_credentials ADD COLUMN next_meeting_sync_at INTEGER;
ALTER TABLE zoom_oauth_credentials ADD COLUMN last_meeting_sync_at INTEGER;
-- Customer-managed tokens: the app's URL that answers a fresh access token (sealed, it
-- usually carries a secret). Such a credential has no refresh token ('') and is never
-- refreshed; its access token is a cache of at most 5 minutes.
ALTER TABLE zoom_oauth_credentials ADD COLUMN access_token_callback_url_enc TEXT;
CREATE INDEX zoom_oauth_credentials_meeting_sync
    ON zoom_oauth_credentials (status, next_meeting_sync_at);

-- Which credential can mint tokens for which Zoom meeting (the meeting sync's result).
CREATE TABLE zoom_meetings (
    meeting_id INTEGER NOT NULL,
    credential_id TEXT NOT NULL REFERENCES zoom_oauth_credentials (id) ON DELETE CASCADE,
    synced_at INTEGER NOT NULL,
    PRIMARY KEY (meeting_id, credential_id)
);
CREATE INDEX zoom_meetings_credential ON zoom_meetings (credential_id, meeting_id);
CREATE INDEX zoom_meetings_synced ON zoom_meetings (synced_at);

-- What happened to an app: webhook validations, refused or unverifiable events.
CREATE TABLE zoom_app_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL REFERENCES zoom_oauth_apps (id) ON DELETE CASCADE,
    level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX zoom_app_events_app ON zoom_app_events (app_id, created_at, id);
CREATE INDEX zoom_app_events_created ON zoom_app_events (created_at, id);
CREATE INDEX zoom_credential_events_created ON zoom_credential_events (created_at, id);
