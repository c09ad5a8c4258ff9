//! Managed bots: one live bot per deduplication key, the events linked to it, its state
//! history and the durable queue of bot-backend operations. Plain SQL only; the rules live
//! in `crate::scheduling`.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use super::{ms_to_rfc3339, StoreError};

/// The fields of a calendar event that scheduling needs (and the event JSON shows).
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: String,
    pub calendar_id: String,
    pub calendar_user_id: Option<String>,
    /// `google_calendar` | `microsoft_outlook`
    pub platform: String,
    pub platform_id: String,
    pub ical_uid: Option<String>,
    pub start_time: i64,
    pub end_time: i64,
    pub meeting_platform: Option<String>,
    pub meeting_url: Option<String>,
    pub is_deleted: bool,
    pub raw: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn get_event(conn: &Connection, id: &str) -> Result<Option<EventRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT e.id, e.calendar_id, c.calendar_user_id, c.platform, e.platform_id,
                    e.ical_uid, e.start_time, e.end_time, e.meeting_platform, e.meeting_url,
                    e.is_deleted, e.raw, e.created_at, e.updated_at
             FROM calendar_events e JOIN calendars c ON c.id = e.calendar_id
             WHERE e.id = ?1",
            [id],
            |r| {
                Ok(EventRow {
                    id: r.get(0)?,
                    calendar_id: r.get(1)?,
                    calendar_user_id: r.get(2)?,
                    platform: r.get(3)?,
                    platform_id: r.get(4)?,
                    ical_uid: r.get(5)?,
                    start_time: r.get(6)?,
                    end_time: r.get(7)?,
                    meeting_platform: r.get(8)?,
                    meeting_url: r.get(9)?,
                    is_deleted: r.get(10)?,
                    raw: r.get(11)?,
                    created_at: r.get(12)?,
                    updated_at: r.get(13)?,
                })
            },
        )
        .optional()?)
}

/// An event's API-visible fields changed (its `bots`): bump `updated_at` for the change feed.
pub fn touch_event(conn: &Connection, event_id: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE calendar_events SET updated_at = MAX(updated_at, ?2) WHERE id = ?1",
        params![event_id, now_ms],
    )?;
    Ok(())
}

pub fn touch_events_of_bot(conn: &Connection, bot_id: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE calendar_events SET updated_at = MAX(updated_at, ?2)
         WHERE id IN (SELECT event_id FROM bot_event_links WHERE bot_id = ?1)",
        params![bot_id, now_ms],
    )?;
    Ok(())
}

/// The stored preferences JSON of a V1 calendar user.
pub fn user_preferences(conn: &Connection, user_id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT preferences FROM calendar_users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?)
}

// ---------------------------------------------------------------------------------------
// Bots

#[derive(Debug, Clone)]
pub struct Bot {
    pub id: String,
    pub dedup_key: String,
    /// `local` (Convene id + webhooks) or `backend` (created at the bot backend).
    pub mode: String,
    pub meeting_url: String,
    pub join_at: i64,
    pub bot_name: String,
    pub config: String,
    pub status: String,
    pub active: bool,
    pub version: i64,
    pub backend_id: Option<String>,
    pub backend_version: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const BOT_COLUMNS: &str = "id, dedup_key, mode, meeting_url, join_at, bot_name, config, status,
    active, version, backend_id, backend_version, last_error, created_at, updated_at";

fn bot_row(r: &Row) -> rusqlite::Result<Bot> {
    Ok(Bot {
        id: r.get(0)?,
        dedup_key: r.get(1)?,
        mode: r.get(2)?,
        meeting_url: r.get(3)?,
        join_at: r.get(4)?,
        bot_name: r.get(5)?,
        config: r.get(6)?,
        status: r.get(7)?,
        active: r.get(8)?,
        version: r.get(9)?,
        backend_id: r.get(10)?,
        backend_version: r.get(11)?,
        last_error: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

pub fn get_bot(conn: &Connection, id: &str) -> Result<Option<Bot>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {BOT_COLUMNS} FROM bots WHERE id = ?1"),
            [id],
            bot_row,
        )
        .optional()?)
}

/// The live bot (dedup target) for a normalised key, if any.
pub fn live_bot_for_key(conn: &Connection, key: &str) -> Result<Option<Bot>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {BOT_COLUMNS} FROM bots WHERE dedup_key = ?1 AND active = 1"),
            [key],
            bot_row,
        )
        .optional()?)
}

/// Every bot ever made for a key, live or not, oldest first.
pub fn bots_for_key(conn: &Connection, key: &str) -> Result<Vec<Bot>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {BOT_COLUMNS} FROM bots WHERE dedup_key = ?1 ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([key], bot_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub struct NewBot<'a> {
    pub id: &'a str,
    pub dedup_key: &'a str,
    pub mode: &'a str,
    pub meeting_url: &'a str,
    pub join_at: i64,
    pub bot_name: &'a str,
    pub config: &'a str,
    pub status: &'a str,
}

pub fn insert_bot(conn: &Connection, b: &NewBot, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO bots (id, dedup_key, mode, meeting_url, join_at, bot_name, config, status,
                           active, version, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, 1, ?9, ?9)",
        params![
            b.id,
            b.dedup_key,
            b.mode,
            b.meeting_url,
            b.join_at,
            b.bot_name,
            b.config,
            b.status,
            now_ms
        ],
    )?;
    Ok(())
}

/// Sets what the bot should be and bumps its version; returns the new version.
pub fn set_desired(
    conn: &Connection,
    id: &str,
    meeting_url: &str,
    join_at: i64,
    bot_name: &str,
    config: &str,
    now_ms: i64,
) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "UPDATE bots SET meeting_url = ?2, join_at = ?3, bot_name = ?4, config = ?5,
                         version = version + 1, updated_at = ?6
         WHERE id = ?1 RETURNING version",
        params![id, meeting_url, join_at, bot_name, config, now_ms],
        |r| r.get(0),
    )?)
}

/// The bot is no longer wanted: not a dedup target any more; returns the new version.
pub fn set_cancelled_desired(conn: &Connection, id: &str, now_ms: i64) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "UPDATE bots SET active = 0, version = version + 1, updated_at = ?2
         WHERE id = ?1 RETURNING version",
        params![id, now_ms],
        |r| r.get(0),
    )?)
}

pub fn set_status(
    conn: &Connection,
    id: &str,
    status: &str,
    last_error: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bots SET status = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, status, last_error, now_ms],
    )?;
    Ok(())
}

pub fn set_backend(
    conn: &Connection,
    id: &str,
    backend_id: Option<&str>,
    backend_version: Option<i64>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bots SET backend_id = ?2, backend_version = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, backend_id, backend_version, now_ms],
    )?;
    Ok(())
}

/// Live bots whose join time has come: they stop being dedup targets (keys apply to future
/// bots only). Returns (id, version, status) of each.
pub fn retire_started(
    conn: &Connection,
    now_ms: i64,
) -> Result<Vec<(String, i64, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "UPDATE bots SET active = 0, updated_at = ?1 WHERE active = 1 AND join_at <= ?1
         RETURNING id, version, status",
    )?;
    let rows = stmt.query_map([now_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Live bots no event uses any more (their events vanished with a calendar or user).
pub fn orphan_live_bots(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT b.id FROM bots b WHERE b.active = 1
           AND NOT EXISTS (SELECT 1 FROM bot_event_links l WHERE l.bot_id = b.id)",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------
// Links

#[derive(Debug, Clone)]
pub struct Link {
    pub event_id: String,
    pub bot_id: String,
    /// `api` (V2 endpoint) or `autorecord` (V1 will_record)
    pub source: String,
    pub bot_config: String,
    pub explicit_url: bool,
    pub join_offset_ms: Option<i64>,
    pub event_start_time: i64,
    pub event_meeting_url: Option<String>,
}

const LINK_COLUMNS: &str = "l.event_id, l.bot_id, l.source, l.bot_config, l.explicit_url,
    l.join_offset_ms, l.event_start_time, l.event_meeting_url";

fn link_row(r: &Row) -> rusqlite::Result<Link> {
    Ok(Link {
        event_id: r.get(0)?,
        bot_id: r.get(1)?,
        source: r.get(2)?,
        bot_config: r.get(3)?,
        explicit_url: r.get(4)?,
        join_offset_ms: r.get(5)?,
        event_start_time: r.get(6)?,
        event_meeting_url: r.get(7)?,
    })
}

pub fn link_for_event(conn: &Connection, event_id: &str) -> Result<Option<Link>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {LINK_COLUMNS} FROM bot_event_links l WHERE l.event_id = ?1"),
            [event_id],
            link_row,
        )
        .optional()?)
}

/// Links the event to a bot, replacing any previous link of that event.
pub fn upsert_link(conn: &Connection, link: &Link, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO bot_event_links (event_id, bot_id, source, bot_config, explicit_url,
             join_offset_ms, event_start_time, event_meeting_url, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
         ON CONFLICT (event_id) DO UPDATE SET bot_id = excluded.bot_id,
             source = excluded.source, bot_config = excluded.bot_config,
             explicit_url = excluded.explicit_url, join_offset_ms = excluded.join_offset_ms,
             event_start_time = excluded.event_start_time,
             event_meeting_url = excluded.event_meeting_url, updated_at = excluded.updated_at",
        params![
            link.event_id,
            link.bot_id,
            link.source,
            link.bot_config,
            link.explicit_url,
            link.join_offset_ms,
            link.event_start_time,
            link.event_meeting_url,
            now_ms
        ],
    )?;
    Ok(())
}

pub fn delete_link(conn: &Connection, event_id: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM bot_event_links WHERE event_id = ?1",
        [event_id],
    )?;
    Ok(())
}

pub fn update_link_snapshot(
    conn: &Connection,
    event_id: &str,
    start_time: i64,
    meeting_url: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bot_event_links SET event_start_time = ?2, event_meeting_url = ?3,
             updated_at = ?4 WHERE event_id = ?1",
        params![event_id, start_time, meeting_url, now_ms],
    )?;
    Ok(())
}

pub fn link_count(conn: &Connection, bot_id: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM bot_event_links WHERE bot_id = ?1",
        [bot_id],
        |r| r.get(0),
    )?)
}

pub fn linked_event_ids(conn: &Connection, bot_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT event_id FROM bot_event_links WHERE bot_id = ?1 ORDER BY event_id")?;
    let rows = stmt.query_map([bot_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Events of a calendar linked to a live bot.
pub fn live_linked_events_of_calendar(
    conn: &Connection,
    calendar_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT l.event_id FROM bot_event_links l
         JOIN calendar_events e ON e.id = l.event_id
         JOIN bots b ON b.id = l.bot_id
         WHERE e.calendar_id = ?1 AND b.active = 1 ORDER BY l.event_id",
    )?;
    let rows = stmt.query_map([calendar_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A link whose event no longer matches what its bot was scheduled from.
#[derive(Debug, Clone)]
pub struct Drift {
    pub link: Link,
    pub event_start_time: i64,
    pub event_end_time: i64,
    pub event_meeting_url: Option<String>,
    pub event_is_deleted: bool,
}

/// Links whose event moved, changed link or was deleted, for live bots and for events that
/// moved into the future (even if their old bot already started).
pub fn drifted_links(conn: &Connection, now_ms: i64, limit: i64) -> Result<Vec<Drift>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {LINK_COLUMNS}, e.start_time, e.end_time, e.meeting_url, e.is_deleted
         FROM bot_event_links l
         JOIN calendar_events e ON e.id = l.event_id
         JOIN bots b ON b.id = l.bot_id
         WHERE (b.active = 1 OR e.start_time > ?1)
           AND (e.is_deleted = 1 OR e.start_time != l.event_start_time
                OR IFNULL(e.meeting_url, '') != IFNULL(l.event_meeting_url, ''))
         ORDER BY e.start_time, l.event_id
         LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![now_ms, limit], |r| {
        Ok(Drift {
            link: link_row(r)?,
            event_start_time: r.get(8)?,
            event_end_time: r.get(9)?,
            event_meeting_url: r.get(10)?,
            event_is_deleted: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------
// History

#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub version: i64,
    pub status: String,
    pub note: String,
    pub event_id: Option<String>,
    pub created_at: i64,
}

pub fn add_history(
    conn: &Connection,
    bot_id: &str,
    version: i64,
    status: &str,
    note: &str,
    event_id: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO bot_history (bot_id, version, status, note, event_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![bot_id, version, status, note, event_id, now_ms],
    )?;
    Ok(())
}

/// The latest `limit` entries, oldest first.
pub fn history(
    conn: &Connection,
    bot_id: &str,
    limit: i64,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT version, status, note, event_id, created_at FROM
           (SELECT * FROM bot_history WHERE bot_id = ?1 ORDER BY id DESC LIMIT ?2)
         ORDER BY id",
    )?;
    let rows = stmt.query_map(params![bot_id, limit], |r| {
        Ok(HistoryEntry {
            version: r.get(0)?,
            status: r.get(1)?,
            note: r.get(2)?,
            event_id: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------
// Backend operations

#[derive(Debug, Clone)]
pub struct Op {
    pub id: i64,
    pub bot_id: String,
    pub bot_version: i64,
    /// `create` | `move` | `recreate` | `delete`
    pub op: String,
    pub payload: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

const OP_COLUMNS: &str =
    "o.id, o.bot_id, o.bot_version, o.op, o.payload, o.status, o.attempts, o.next_attempt_at, o.last_error";

fn op_row(r: &Row) -> rusqlite::Result<Op> {
    Ok(Op {
        id: r.get(0)?,
        bot_id: r.get(1)?,
        bot_version: r.get(2)?,
        op: r.get(3)?,
        payload: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        last_error: r.get(8)?,
    })
}

/// Whether the backend may hold a bot for this Convene bot: it has a backend id, or an op was
/// sent (or is being sent) whose outcome is not known to have made nothing.
pub fn backend_may_have_bot(conn: &Connection, bot_id: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM bots WHERE id = ?1 AND backend_id IS NOT NULL)
             OR EXISTS (SELECT 1 FROM bot_operations WHERE bot_id = ?1 AND op != 'delete'
                        AND (status = 'in_flight' OR (status = 'pending' AND attempts > 0)))",
        [bot_id],
        |r| r.get(0),
    )?)
}

/// Ops never sent are replaced by a newer one (sent ones must finish: they may have made a
/// backend bot whose id we need to delete it).
pub fn supersede_unsent_ops(
    conn: &Connection,
    bot_id: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE bot_operations SET status = 'superseded', updated_at = ?2
         WHERE bot_id = ?1 AND status = 'pending' AND attempts = 0",
        params![bot_id, now_ms],
    )?)
}

pub fn insert_op(
    conn: &Connection,
    bot_id: &str,
    bot_version: i64,
    op: &str,
    payload: Option<&str>,
    now_ms: i64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO bot_operations (bot_id, bot_version, op, payload, status, attempts,
                                     next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5)",
        params![bot_id, bot_version, op, payload, now_ms],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Claims up to `limit` due ops (the first unfinished op of each bot only, so a bot's ops
/// run in order): marks them in flight with a lease and counts the attempt.
pub fn claim_due_ops(
    conn: &Connection,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Op>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {OP_COLUMNS} FROM bot_operations o
         WHERE ((o.status = 'pending' AND o.next_attempt_at <= ?1)
                OR (o.status = 'in_flight' AND o.lease_until <= ?1))
           AND NOT EXISTS (SELECT 1 FROM bot_operations p WHERE p.bot_id = o.bot_id
                           AND p.id < o.id AND p.status IN ('pending', 'in_flight'))
         ORDER BY o.next_attempt_at, o.id LIMIT ?2"
    ))?;
    let ops: Vec<Op> = stmt
        .query_map(params![now_ms, limit], op_row)?
        .collect::<Result<_, _>>()?;
    let mut claimed = Vec::with_capacity(ops.len());
    for mut op in ops {
        conn.execute(
            "UPDATE bot_operations SET status = 'in_flight', attempts = attempts + 1,
                 lease_until = ?2, updated_at = ?3 WHERE id = ?1",
            params![op.id, now_ms + lease_ms, now_ms],
        )?;
        op.status = "in_flight".into();
        op.attempts += 1;
        claimed.push(op);
    }
    Ok(claimed)
}

pub fn get_op(conn: &Connection, id: i64) -> Result<Option<Op>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {OP_COLUMNS} FROM bot_operations o WHERE o.id = ?1"),
            [id],
            op_row,
        )
        .optional()?)
}

pub fn finish_op(
    conn: &Connection,
    id: i64,
    status: &str,
    result_backend_id: Option<&str>,
    last_error: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bot_operations SET status = ?2, result_backend_id = ?3, last_error = ?4,
             lease_until = NULL, updated_at = ?5 WHERE id = ?1",
        params![id, status, result_backend_id, last_error, now_ms],
    )?;
    Ok(())
}

pub fn retry_op_at(
    conn: &Connection,
    id: i64,
    next_attempt_at: i64,
    last_error: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bot_operations SET status = 'pending', next_attempt_at = ?2, last_error = ?3,
             lease_until = NULL, updated_at = ?4 WHERE id = ?1",
        params![id, next_attempt_at, last_error, now_ms],
    )?;
    Ok(())
}

/// Unfinished ops after `op_id` for the same bot (a newer desired state is queued).
pub fn has_later_ops(conn: &Connection, bot_id: &str, op_id: i64) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM bot_operations WHERE bot_id = ?1 AND id > ?2
                        AND status IN ('pending', 'in_flight'))",
        params![bot_id, op_id],
        |r| r.get(0),
    )?)
}

/// When the next attempt of the bot's pending op is due, if one is waiting after a failure.
pub fn next_retry_at(conn: &Connection, bot_id: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT MIN(next_attempt_at) FROM bot_operations
             WHERE bot_id = ?1 AND status = 'pending' AND attempts > 0",
            [bot_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub fn ops_for_bot(conn: &Connection, bot_id: &str) -> Result<Vec<Op>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {OP_COLUMNS} FROM bot_operations o WHERE o.bot_id = ?1 ORDER BY o.id"
    ))?;
    let rows = stmt.query_map([bot_id], op_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Bots whose last backend call failed (for the admin overview).
pub fn failed_bot_count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM bots WHERE status = 'failed'",
        [],
        |r| r.get(0),
    )?)
}

/// Upcoming (live) and failed bots for the admin page: failures first, then by join time.
pub fn upcoming_bots(conn: &Connection, limit: i64) -> Result<Vec<Bot>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {BOT_COLUMNS} FROM bots WHERE active = 1 OR status = 'failed'
         ORDER BY (status = 'failed') DESC, join_at, id LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit], bot_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------
// JSON

/// How many history entries the event JSON shows per bot.
const HISTORY_SHOWN: i64 = 20;

/// The `bots` list of a CalendarEvent: `[{bot_id, start_time, deduplication_key,
/// meeting_url}]` plus `status`, `last_error`, `next_retry_at`, `backend_bot_id`, `history`.
pub fn bots_json_for_event(conn: &Connection, event_id: &str) -> Result<Vec<Value>, StoreError> {
    let Some(link) = link_for_event(conn, event_id)? else {
        return Ok(Vec::new());
    };
    let Some(bot) = get_bot(conn, &link.bot_id)? else {
        return Ok(Vec::new());
    };
    let history: Vec<Value> = history(conn, &bot.id, HISTORY_SHOWN)?
        .into_iter()
        .map(|h| {
            json!({
                "status": h.status,
                "note": h.note,
                "version": h.version,
                "event_id": h.event_id,
                "created_at": ms_to_rfc3339(h.created_at),
            })
        })
        .collect();
    let retry = if bot.status == "failed" {
        next_retry_at(conn, &bot.id)?.map(ms_to_rfc3339)
    } else {
        None
    };
    Ok(vec![json!({
        "bot_id": bot.id,
        "start_time": ms_to_rfc3339(bot.join_at),
        "deduplication_key": bot.dedup_key,
        "meeting_url": bot.meeting_url,
        "bot_name": bot.bot_name,
        "status": bot.status,
        "last_error": bot.last_error,
        "next_retry_at": retry,
        "backend_bot_id": bot.backend_id,
        "history": history,
    })])
}
