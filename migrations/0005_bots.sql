-- Managed bot scheduling: one bot per deduplication key, the events that use it, its
-- state history, and the durable queue of calls to the bot backend.

-- A bot Convene manages. `active` = a live dedup target: not cancelled and its join time
-- not reached yet; the partial UNIQUE index keeps one live bot per key, whatever races.
CREATE TABLE bots (
    id TEXT PRIMARY KEY,                       -- Convene's id (stable across moves)
    dedup_key TEXT NOT NULL,                   -- normalised (trimmed)
    mode TEXT NOT NULL CHECK (mode IN ('local', 'backend')),
    meeting_url TEXT NOT NULL,
    join_at INTEGER NOT NULL,
    bot_name TEXT NOT NULL,
    config TEXT NOT NULL,                      -- the last call's bot_config (JSON object)
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'dispatching', 'dispatched',
        'moving', 'cancelling', 'cancelled', 'failed')),
    active INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,        -- bumped whenever the desired bot changes
    backend_id TEXT,                           -- the backend's id of its current bot
    backend_version INTEGER,                   -- the version that backend bot was made for
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX bots_live_key ON bots (dedup_key) WHERE active = 1;
CREATE INDEX bots_active_join ON bots (active, join_at);
CREATE INDEX bots_status_join ON bots (status, join_at);

-- Which event uses which bot: at most one bot per event. Cascades away with the event
-- (and so with its calendar); the reconcile sweep cancels live bots left without events.
CREATE TABLE bot_event_links (
    event_id TEXT PRIMARY KEY REFERENCES calendar_events (id) ON DELETE CASCADE,
    bot_id TEXT NOT NULL REFERENCES bots (id),
    source TEXT NOT NULL CHECK (source IN ('api', 'autorecord')),
    bot_config TEXT NOT NULL,                  -- this event's own config, as given
    explicit_url INTEGER NOT NULL DEFAULT 0,   -- bot_config.meeting_url was given
    join_offset_ms INTEGER,                    -- bot_config.join_at minus event start, if given
    event_start_time INTEGER NOT NULL,         -- what the bot was scheduled from
    event_meeting_url TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX bot_event_links_bot ON bot_event_links (bot_id);

CREATE TABLE bot_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_id TEXT NOT NULL REFERENCES bots (id),
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL,
    event_id TEXT,                             -- no FK: history outlives the event
    created_at INTEGER NOT NULL
);
CREATE INDEX bot_history_bot ON bot_history (bot_id, id);

-- Calls to the bot backend. Ops of one bot run strictly in id order. An op is sent with
-- `Idempotency-Key: <bot id>:<version>`, so a retry after a crash cannot make a second bot.
CREATE TABLE bot_operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_id TEXT NOT NULL REFERENCES bots (id),
    bot_version INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('create', 'move', 'recreate', 'delete')),
    payload TEXT,                              -- the create body for this version
    status TEXT NOT NULL CHECK (status IN ('pending', 'in_flight', 'done', 'failed',
        'superseded')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,                       -- in_flight: reclaimable after this (crash)
    last_error TEXT,
    result_backend_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX bot_operations_due ON bot_operations (status, next_attempt_at);
CREATE INDEX bot_operations_bot ON bot_operations (bot_id, id);
