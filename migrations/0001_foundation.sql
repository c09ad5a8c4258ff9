-- Foundation: workspace settings, API keys, admin sessions, platform OAuth clients, jobs.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    last4 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);

-- OAuth clients for the hosted V1 flows (google, microsoft) and Zoom defaults.
CREATE TABLE platform_clients (
    platform TEXT PRIMARY KEY CHECK (platform IN ('google', 'microsoft', 'zoom')),
    client_id TEXT NOT NULL,
    client_secret_enc TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE redirect_origins (
    origin TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- Health of each periodic sweep, shown on the overview page.
CREATE TABLE job_runs (
    name TEXT PRIMARY KEY,
    last_started_at INTEGER,
    last_finished_at INTEGER,
    last_error TEXT,
    runs INTEGER NOT NULL DEFAULT 0
);
