-- Zoom OAuth: the app's Zoom OAuth apps, credentials made from authorization codes (Convene
-- keeps their tokens alive) and each credential's history for the admin pages.

CREATE TABLE zoom_oauth_apps (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('user_level', 'account_level')),
    -- One Convene app per Zoom app: two would let one Zoom account hold two credentials,
    -- and each code exchange revokes the other's tokens at Zoom.
    client_id TEXT NOT NULL UNIQUE,
    client_secret_enc TEXT NOT NULL,
    webhook_secret_enc TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX zoom_oauth_apps_created ON zoom_oauth_apps (created_at, id);

CREATE TABLE zoom_oauth_credentials (
    id TEXT PRIMARY KEY,
    -- RESTRICT: an app with credentials cannot be deleted (the API answers 400 first).
    oauth_app_id TEXT NOT NULL REFERENCES zoom_oauth_apps (id) ON DELETE RESTRICT,
    user_id TEXT NOT NULL,                 -- Zoom user id (/users/me `id`)
    account_id TEXT NOT NULL,              -- Zoom account id (/users/me `account_id`)
    -- What the conflict rule compares: `account:<account_id>` for account-level apps,
    -- `user:<user_id>` for user-level apps. UNIQUE with the app, so the check is atomic.
    conflict_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('healthy', 'unhealthy')),
    access_token_enc TEXT NOT NULL,
    access_token_expires_at INTEGER NOT NULL,
    refresh_token_enc TEXT NOT NULL,       -- Zoom rotates it on every refresh
    scope TEXT NOT NULL DEFAULT '',
    last_refresh_at INTEGER NOT NULL,      -- when the current refresh token was issued
    refresh_failures INTEGER NOT NULL DEFAULT 0,  -- transient failures since the last success
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX zoom_oauth_credentials_conflict
    ON zoom_oauth_credentials (oauth_app_id, conflict_key);
CREATE INDEX zoom_oauth_credentials_created ON zoom_oauth_credentials (created_at, id);
CREATE INDEX zoom_oauth_credentials_refresh ON zoom_oauth_credentials (status, last_refresh_at);
CREATE INDEX zoom_oauth_credentials_user ON zoom_oauth_credentials (oauth_app_id, user_id);
CREATE INDEX zoom_oauth_credentials_account ON zoom_oauth_credentials (oauth_app_id, account_id);

-- What happened to a credential: created, refreshed, refresh_error (transient or app-level),
-- refresh_refused (now unhealthy), deauthorized (now unhealthy).
CREATE TABLE zoom_credential_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    credential_id TEXT NOT NULL REFERENCES zoom_oauth_credentials (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    detail TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX zoom_credential_events_cred ON zoom_credential_events (credential_id, id);
