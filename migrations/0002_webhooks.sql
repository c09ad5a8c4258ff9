-- Webhooks: endpoints, the outbox of messages, one delivery per (message, target), attempts.

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    event_types TEXT NOT NULL DEFAULT '[]',   -- JSON array; empty = all
    enabled INTEGER NOT NULL DEFAULT 1,
    secret_enc TEXT NOT NULL,
    previous_secret_enc TEXT,
    previous_secret_expires_at INTEGER,
    disabled_reason TEXT,
    failing_since INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE webhook_messages (
    id TEXT PRIMARY KEY,                     -- `msg_...`, sent as webhook-id
    event_type TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    payload TEXT NOT NULL,                   -- the exact JSON body sent
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_messages_created ON webhook_messages (created_at);

-- target_key is the endpoint id, or `url:<webhook_url>` for a V2 calendar's own URL
-- (signed with the workspace secret). Ordering holds per (target_key, ordering_key).
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    endpoint_id TEXT REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    target_url TEXT,
    target_key TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status_code INTEGER,
    last_error TEXT,
    -- Set while an attempt is running; next_attempt_at is then the end of the lease, so a
    -- crash mid-attempt makes the delivery due again (sent again: at least once).
    in_flight_since INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (target_key, ordering_key, status, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    response_body TEXT,                       -- the first 2 KB of the response
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
